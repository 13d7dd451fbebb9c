DROP TABLE data_imports;
DROP TABLE data_row_uniques;
DROP TABLE data_rows;

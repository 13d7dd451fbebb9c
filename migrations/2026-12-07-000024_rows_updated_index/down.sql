DROP INDEX data_rows_table_updated;

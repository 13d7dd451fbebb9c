DROP TABLE table_recalculations;
ALTER TABLE data_rows DROP COLUMN calc_version;
ALTER TABLE data_tables DROP COLUMN calc_version;

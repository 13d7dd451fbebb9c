ALTER TABLE data_fields DROP COLUMN unit, DROP COLUMN total;

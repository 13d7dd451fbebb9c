DROP TABLE schema_changes;
DROP TABLE data_fields;
DROP TABLE data_tables;

ALTER TABLE registered_documents DROP COLUMN created_by_api_key;
ALTER TABLE data_rows DROP COLUMN created_by_api_key;
ALTER TABLE activity_events DROP COLUMN api_key_id;
DROP TABLE api_keys;

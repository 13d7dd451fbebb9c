-- rows(updatedSince:) reads a table's rows written after an instant (an integration's sync).
CREATE INDEX data_rows_table_updated ON data_rows (table_id, updated_at);

-- Rows of user-defined tables (values keyed by field key), the unique-value claims that
-- enforce unique fields under concurrency, and the record of CSV imports.

CREATE TABLE data_rows (
    id uuid PRIMARY KEY,
    table_id uuid NOT NULL REFERENCES data_tables (id) ON DELETE CASCADE,
    -- cycles are never deleted on their own; they go with their project, rows and all
    cycle_id uuid REFERENCES cycles (id) ON DELETE CASCADE,
    cells jsonb NOT NULL CHECK (jsonb_typeof(cells) = 'object'),
    version integer NOT NULL DEFAULT 1,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
-- the default order of a table's rows, with and without a cycle
CREATE INDEX data_rows_table_idx ON data_rows (table_id, created_at, id);
CREATE INDEX data_rows_cycle_idx ON data_rows (table_id, cycle_id, created_at, id);
-- equality, IN and multi-select filters (cells @> {"key": value})
CREATE INDEX data_rows_values_idx ON data_rows USING gin (cells jsonb_path_ops);

-- One claim per (unique field, canonical value): the primary key makes two writers of the
-- same value collide even when their transactions run at the same time.
CREATE TABLE data_row_uniques (
    field_id uuid NOT NULL REFERENCES data_fields (id) ON DELETE CASCADE,
    value text NOT NULL,
    row_id uuid NOT NULL REFERENCES data_rows (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (field_id, value)
);
CREATE INDEX data_row_uniques_row_idx ON data_row_uniques (row_id);

CREATE TABLE data_imports (
    id uuid PRIMARY KEY,
    table_id uuid NOT NULL REFERENCES data_tables (id) ON DELETE CASCADE,
    cycle_id uuid REFERENCES cycles (id) ON DELETE SET NULL,
    actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
    mode text NOT NULL CHECK (mode IN ('all_or_nothing', 'skip_invalid')),
    -- completed (something or nothing was wrong, as the counts say) or rejected (nothing stored)
    status text NOT NULL CHECK (status IN ('completed', 'rejected')),
    lines integer NOT NULL,
    inserted integer NOT NULL,
    rejected integer NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX data_imports_table_idx ON data_imports (table_id, created_at, id);

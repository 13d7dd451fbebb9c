-- User-defined data tables: their typed fields and the history of their schema.

CREATE TABLE data_tables (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    module_id uuid REFERENCES modules (id) ON DELETE SET NULL,
    name text NOT NULL,
    description text,
    -- bumped by every field change
    schema_version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX data_tables_project_idx ON data_tables (project_id, created_at, id);

CREATE TABLE data_fields (
    id uuid PRIMARY KEY,
    table_id uuid NOT NULL REFERENCES data_tables (id) ON DELETE CASCADE,
    key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$'),
    label text NOT NULL,
    field_type text NOT NULL CHECK (field_type IN ('text', 'long_text', 'integer', 'decimal', 'boolean', 'date',
        'datetime', 'single_select', 'multi_select', 'email', 'url', 'reference', 'formula')),
    required boolean NOT NULL DEFAULT false,
    is_unique boolean NOT NULL DEFAULT false,
    position integer NOT NULL CHECK (position >= 0),
    options jsonb,
    min_value double precision,
    max_value double precision,
    pattern text,
    reference_table_id uuid REFERENCES data_tables (id),
    formula text,
    restricted boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    UNIQUE (table_id, key)
);
CREATE INDEX data_fields_table_idx ON data_fields (table_id, position);
CREATE INDEX data_fields_reference_idx ON data_fields (reference_table_id) WHERE reference_table_id IS NOT NULL;

CREATE TABLE schema_changes (
    id uuid PRIMARY KEY,
    table_id uuid NOT NULL REFERENCES data_tables (id) ON DELETE CASCADE,
    actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
    -- field_added, field_updated or field_removed
    change text NOT NULL,
    field_key text NOT NULL,
    before jsonb,
    after jsonb,
    schema_version integer NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX schema_changes_table_idx ON schema_changes (table_id, created_at, id);

-- Formula values are recomputed in the background after what they read changes. A
-- table's calc_version counts those changes; each row keeps the one its formula values
-- were computed at, so a read during a recalculation can say which rows are not yet done.
ALTER TABLE data_tables ADD COLUMN calc_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE data_rows ADD COLUMN calc_version INTEGER NOT NULL DEFAULT 0;

-- One recalculation under way per table: the version it brings the rows to, how far it has
-- walked them (by created_at, id) and what it found. A newer change starts it again.
CREATE TABLE table_recalculations (
    table_id UUID PRIMARY KEY REFERENCES data_tables (id) ON DELETE CASCADE,
    company_id UUID NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    project_id UUID NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    calc_version INTEGER NOT NULL,
    reason TEXT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    changed BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    failures JSONB NOT NULL DEFAULT '[]',
    after_created_at TIMESTAMPTZ,
    after_id UUID
);
CREATE INDEX table_recalculations_requested ON table_recalculations (requested_at);

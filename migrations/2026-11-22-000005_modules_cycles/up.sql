-- Modules (a project's sections, e.g. scopes 1-3) and reporting cycles (quarters, years).

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE modules (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    scope integer CHECK (scope IN (1, 2, 3)),
    -- 0-based and dense within a project
    position integer NOT NULL CHECK (position >= 0),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX modules_project_idx ON modules (project_id, position);

CREATE TABLE cycles (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name text NOT NULL,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    closed_at timestamptz,
    created_at timestamptz NOT NULL,
    CHECK (starts_on < ends_on),
    -- the cycles of one project never overlap
    CONSTRAINT cycles_no_overlap EXCLUDE USING gist (
        project_id WITH =,
        daterange(starts_on, ends_on, '[]') WITH &&
    )
);
CREATE INDEX cycles_project_idx ON cycles (project_id, starts_on);

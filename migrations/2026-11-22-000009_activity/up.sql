-- Activity events, notifications and row changes: each stream is ordered by `seq`.
-- Writers take a transaction-level advisory lock per stream (company for activity, user
-- for notifications) before drawing `seq`, so within a stream rows commit in `seq` order
-- and a reader that has seen `seq` N has seen everything before it.

CREATE TABLE activity_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    -- No foreign key: the history of a deleted project stays readable.
    project_id uuid,
    actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
    verb text NOT NULL CHECK (verb ~ '^[a-z_]+\.[a-z_]+$'),
    target_type text NOT NULL,
    target_id uuid NOT NULL,
    summary text NOT NULL CHECK (length(summary) <= 500),
    data jsonb,
    -- "resource:action" a reader needs (in the event's project when it has one).
    visible_with text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX activity_events_company ON activity_events (company_id, seq DESC);
CREATE INDEX activity_events_project ON activity_events (company_id, project_id, seq DESC)
    WHERE project_id IS NOT NULL;
CREATE INDEX activity_events_actor ON activity_events (company_id, actor_id, seq DESC);

CREATE TABLE notifications (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    company_id uuid REFERENCES companies (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind ~ '^[a-z_]+\.[a-z_]+$'),
    title text NOT NULL,
    body text NOT NULL,
    link text,
    read_at timestamptz,
    created_at timestamptz NOT NULL
);

CREATE INDEX notifications_user ON notifications (user_id, seq DESC);
CREATE INDEX notifications_unread ON notifications (user_id, seq DESC) WHERE read_at IS NULL;

-- Which rows one row event touched, for live grids (the event itself stays small).
CREATE TABLE row_changes (
    event_seq bigint NOT NULL REFERENCES activity_events (seq) ON DELETE CASCADE,
    row_id uuid NOT NULL,
    table_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('CREATED', 'UPDATED', 'DELETED')),
    PRIMARY KEY (event_seq, row_id)
);

-- Row-level security: a second line behind every store function's own company filter.
-- The server's pool logs in as a role that owns nothing and cannot bypass these policies
-- (see src/db/roles.rs); each of its transactions first says whom it works for with
-- transaction-local settings (src/db/scope.rs):
--   app.user_id     a person, who reaches the companies they are a member of;
--   app.company_id  one company (an API key's);
--   app.crossing    a named path that works across companies (listed in the README).
-- The owner, which runs migrations, backups and index builds, is not held to them.

-- Data tables carry their company, so a policy finds a caller's tables by index.
ALTER TABLE data_tables ADD COLUMN company_id uuid;
UPDATE data_tables t SET company_id = p.company_id FROM projects p WHERE p.id = t.project_id;
ALTER TABLE data_tables ALTER COLUMN company_id SET NOT NULL;
CREATE INDEX data_tables_company_idx ON data_tables (company_id);

-- The person the transaction works for, if any.
CREATE FUNCTION rls_user() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('app.user_id', true), '')::uuid
$$;

-- The companies the transaction reaches. It reads memberships as their owner: the
-- policies below ask it, and memberships are themselves behind one.
CREATE FUNCTION rls_reach() RETURNS uuid[] LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
    SELECT ARRAY(
        SELECT m.company_id FROM memberships m WHERE m.user_id = rls_user()
        UNION
        SELECT c FROM (SELECT NULLIF(current_setting('app.company_id', true), '')::uuid AS c) one
        WHERE c IS NOT NULL
    )
$$;

-- Whether the transaction is on a path that works across companies.
CREATE FUNCTION rls_crossing() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE(current_setting('app.crossing', true), '') <> ''
$$;

-- Each policy asks through sub-selects, which PostgreSQL runs once per statement rather
-- than once per row.

-- Tables that name their company.
ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON companies
    USING (id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON memberships
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON roles
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON invitations
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON projects
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

ALTER TABLE data_tables ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_tables
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

ALTER TABLE table_recalculations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON table_recalculations
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

ALTER TABLE activity_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON activity_events
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON api_keys
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON webhooks
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));

-- A person's notifications are theirs wherever they come from; a company's are written by
-- its members (those without a company, for someone who is no member, by a crossing path).
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON notifications
    USING (user_id = (SELECT rls_user()) OR company_id = ANY ((SELECT rls_reach())::uuid[])
           OR (SELECT rls_crossing()));

-- Entries without a company are a person's own security events: written by sign-in
-- flows before anyone is known, read only by that person.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_log
    USING (company_id = ANY ((SELECT rls_reach())::uuid[])
           OR (company_id IS NULL AND actor_id = (SELECT rls_user()))
           OR (SELECT rls_crossing()));
CREATE POLICY personal_entries ON audit_log FOR INSERT
    WITH CHECK (company_id IS NULL);

-- Rows without a company are shared by all (the shipped factors, documents registered
-- for every company): anyone reads them, only crossing paths write them.
ALTER TABLE emission_factors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON emission_factors
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));
CREATE POLICY shared_rows ON emission_factors FOR SELECT
    USING (company_id IS NULL);

ALTER TABLE registered_documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON registered_documents
    USING (company_id = ANY ((SELECT rls_reach())::uuid[]) OR (SELECT rls_crossing()));
CREATE POLICY shared_rows ON registered_documents FOR SELECT
    USING (company_id IS NULL);

-- Tables that belong to a project, a table, a field, a role or a webhook: reached through
-- their parent's own policy.
ALTER TABLE project_role_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON project_role_grants
    USING (project_id IN (SELECT id FROM projects) OR (SELECT rls_crossing()));

ALTER TABLE modules ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON modules
    USING (project_id IN (SELECT id FROM projects) OR (SELECT rls_crossing()));

ALTER TABLE cycles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON cycles
    USING (project_id IN (SELECT id FROM projects) OR (SELECT rls_crossing()));

ALTER TABLE data_fields ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_fields
    USING (table_id IN (SELECT id FROM data_tables) OR (SELECT rls_crossing()));

ALTER TABLE data_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_rows
    USING (table_id IN (SELECT id FROM data_tables) OR (SELECT rls_crossing()));

ALTER TABLE data_imports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_imports
    USING (table_id IN (SELECT id FROM data_tables) OR (SELECT rls_crossing()));

ALTER TABLE schema_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON schema_changes
    USING (table_id IN (SELECT id FROM data_tables) OR (SELECT rls_crossing()));

ALTER TABLE row_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON row_changes
    USING (table_id IN (SELECT id FROM data_tables) OR (SELECT rls_crossing()));

ALTER TABLE data_row_uniques ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_row_uniques
    USING (field_id IN (SELECT id FROM data_fields) OR (SELECT rls_crossing()));

ALTER TABLE role_permissions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON role_permissions
    USING (role_id IN (SELECT id FROM roles) OR (SELECT rls_crossing()));

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON webhook_deliveries
    USING (webhook_id IN (SELECT id FROM webhooks) OR (SELECT rls_crossing()));

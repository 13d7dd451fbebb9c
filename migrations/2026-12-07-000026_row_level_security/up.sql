-- Row-level security: a second line behind every store function's own company filter.
-- The server's pool logs in as a role that owns nothing and cannot bypass these policies
-- (see src/db/roles.rs); each of its transactions first says whom it works for with
-- transaction-local settings (src/db/scope.rs):
--   app.user_id     a person, who reaches the companies they are a member of;
--   app.company_id  one company (an API key's);
--   app.crossing    a named path that works across companies (listed in the README).
-- The owner, which runs migrations, backups and index builds, is not held to them.

-- Data tables carry their company, so a policy finds a caller's tables by index; the key
-- below keeps it their project's.
ALTER TABLE data_tables ADD COLUMN company_id uuid;
UPDATE data_tables t SET company_id = p.company_id FROM projects p WHERE p.id = t.project_id;
ALTER TABLE data_tables ALTER COLUMN company_id SET NOT NULL;
CREATE INDEX data_tables_company_idx ON data_tables (company_id);
ALTER TABLE projects ADD CONSTRAINT projects_id_company_key UNIQUE (id, company_id);
ALTER TABLE data_tables ADD CONSTRAINT data_tables_project_company_fkey
    FOREIGN KEY (project_id, company_id) REFERENCES projects (id, company_id) ON DELETE CASCADE;

-- The person the transaction works for, if any.
CREATE FUNCTION rls_user() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('app.user_id', true), '')::uuid
$$;

-- The companies the transaction reaches. It reads memberships as their owner: the
-- policies below ask it, and memberships are themselves behind one. In PL/pgSQL its query
-- is planned once per connection, not at every call.
CREATE FUNCTION rls_reach() RETURNS uuid[] LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    reach uuid[];
    key_company uuid := NULLIF(current_setting('app.company_id', true), '')::uuid;
BEGIN
    SELECT COALESCE(array_agg(m.company_id), '{}') INTO reach
    FROM memberships m WHERE m.user_id = NULLIF(current_setting('app.user_id', true), '')::uuid;
    IF key_company IS NOT NULL THEN
        reach := reach || key_company;
    END IF;
    RETURN reach;
END
$$;

-- Whether the transaction is on a path that works across companies.
CREATE FUNCTION rls_crossing() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE(current_setting('app.crossing', true), '') <> ''
$$;

-- Each policy asks through sub-selects, which PostgreSQL runs once per statement rather
-- than once per row; the crossing test comes first, so a crossing path skips the rest.
-- A child table's policy looks its parent up by key (EXISTS), which the planner runs per
-- row for a few rows and hashed for many.

-- Tables that name their company.
ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON companies
    USING ((SELECT rls_crossing()) OR id = ANY ((SELECT rls_reach())::uuid[]));
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON memberships
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON roles
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON invitations
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON projects
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
ALTER TABLE data_tables ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_tables
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
ALTER TABLE table_recalculations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON table_recalculations
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
ALTER TABLE activity_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON activity_events
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON api_keys
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON webhooks
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));

-- A person's notifications are theirs alone; they are written by a crossing path, since
-- their writer may not read them back.
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON notifications
    USING ((SELECT rls_crossing()) OR user_id = (SELECT rls_user()));

-- Entries without a company are a person's own security events: written by sign-in
-- flows (before anyone is known, or by that person), read only by that person.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_log
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[])
           OR (company_id IS NULL AND actor_id = (SELECT rls_user())));
CREATE POLICY personal_entries ON audit_log FOR INSERT
    WITH CHECK (company_id IS NULL AND ((SELECT rls_user()) IS NULL OR actor_id = (SELECT rls_user())));

-- Rows without a company are shared by all (the shipped factors, documents registered
-- for every company): anyone reads them, only crossing paths write them.
ALTER TABLE emission_factors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON emission_factors
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
CREATE POLICY shared_rows ON emission_factors FOR SELECT
    USING (company_id IS NULL);

ALTER TABLE registered_documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON registered_documents
    USING ((SELECT rls_crossing()) OR company_id = ANY ((SELECT rls_reach())::uuid[]));
CREATE POLICY shared_rows ON registered_documents FOR SELECT
    USING (company_id IS NULL);

-- Tables that belong to a project, a table, a field, a role or a webhook.
ALTER TABLE project_role_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON project_role_grants
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM projects p WHERE p.id = project_role_grants.project_id
        AND p.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE modules ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON modules
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM projects p WHERE p.id = modules.project_id
        AND p.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE cycles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON cycles
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM projects p WHERE p.id = cycles.project_id
        AND p.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE data_fields ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_fields
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM data_tables t WHERE t.id = data_fields.table_id
        AND t.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE data_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_rows
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM data_tables t WHERE t.id = data_rows.table_id
        AND t.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE data_imports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_imports
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM data_tables t WHERE t.id = data_imports.table_id
        AND t.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE schema_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON schema_changes
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM data_tables t WHERE t.id = schema_changes.table_id
        AND t.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE row_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON row_changes
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM data_tables t WHERE t.id = row_changes.table_id
        AND t.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE role_permissions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON role_permissions
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM roles r WHERE r.id = role_permissions.role_id
        AND r.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON webhook_deliveries
    USING ((SELECT rls_crossing()) OR EXISTS (SELECT FROM webhooks w WHERE w.id = webhook_deliveries.webhook_id
        AND w.company_id = ANY ((SELECT rls_reach())::uuid[])));

ALTER TABLE data_row_uniques ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_row_uniques
    USING ((SELECT rls_crossing()) OR EXISTS (
        SELECT FROM data_fields f JOIN data_tables t ON t.id = f.table_id
        WHERE f.id = data_row_uniques.field_id AND t.company_id = ANY ((SELECT rls_reach())::uuid[])));

-- Projects, and project-scoped role grants.

CREATE TABLE projects (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    archived_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX projects_company_order_idx ON projects (company_id, created_at, id);
CREATE INDEX projects_company_name_idx ON projects (company_id, lower(name));

-- A user's role inside one project, on top of (never instead of) their company role.
CREATE TABLE project_role_grants (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_role_grants_user_idx ON project_role_grants (user_id);
CREATE INDEX project_role_grants_role_idx ON project_role_grants (role_id);

-- Companies, their roles, memberships and invitations.

CREATE TABLE companies (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    -- URL-safe, unique, and stable: renaming a company keeps its slug
    slug text NOT NULL UNIQUE,
    industry text,
    size text,
    website text,
    logo_url text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE roles (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    name text NOT NULL,
    -- set for the five roles every company gets; NULL for custom roles
    built_in text CHECK (built_in IN ('owner', 'admin', 'manager', 'editor', 'viewer')),
    description text,
    created_at timestamptz NOT NULL,
    UNIQUE (company_id, name)
);
CREATE UNIQUE INDEX roles_built_in_key ON roles (company_id, built_in) WHERE built_in IS NOT NULL;

CREATE TABLE memberships (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id uuid NOT NULL REFERENCES roles (id),
    joined_at timestamptz NOT NULL,
    UNIQUE (company_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);
CREATE INDEX memberships_company_role_idx ON memberships (company_id, role_id);
CREATE INDEX memberships_company_order_idx ON memberships (company_id, joined_at, id);

ALTER TABLE users ADD COLUMN active_company_id uuid REFERENCES companies (id) ON DELETE SET NULL;

CREATE TABLE invitations (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    email text NOT NULL,
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
    message text,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at timestamptz,
    -- set on an expired invitation when a new one to the same address replaces it
    replaced_at timestamptz
);
CREATE INDEX invitations_company_idx ON invitations (company_id, created_at, id);
-- at most one open (neither accepted, revoked nor replaced) invitation per address and company
CREATE UNIQUE INDEX invitations_open_key ON invitations (company_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL AND replaced_at IS NULL;

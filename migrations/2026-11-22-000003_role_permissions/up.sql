-- The permissions of custom roles. Built-in roles' permissions are defined in code and
-- never stored, so they cannot drift or be edited.
CREATE TABLE role_permissions (
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    resource text NOT NULL,
    action text NOT NULL,
    PRIMARY KEY (role_id, resource, action)
);

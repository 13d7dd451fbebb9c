DROP TRIGGER project_role_grants_standing ON project_role_grants;
DROP TRIGGER role_permissions_standing ON role_permissions;
DROP TRIGGER roles_standing ON roles;
DROP TRIGGER memberships_standing ON memberships;
DROP FUNCTION announce_standing_change();

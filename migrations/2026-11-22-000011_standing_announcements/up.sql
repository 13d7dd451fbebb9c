-- Instances remember members' standing (company roles, their permissions, project grants)
-- briefly. Any commit that changes it is announced on the event channel, whatever code or
-- cascade made the change, so every instance forgets what it remembered. NOTIFY sends on
-- commit only and folds repeats within a transaction into one.
CREATE FUNCTION announce_standing_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('guildhall_events', 'standing');
    RETURN NULL;
END
$$;

CREATE TRIGGER memberships_standing AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION announce_standing_change();
CREATE TRIGGER roles_standing AFTER UPDATE OR DELETE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION announce_standing_change();
CREATE TRIGGER role_permissions_standing AFTER INSERT OR UPDATE OR DELETE ON role_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION announce_standing_change();
CREATE TRIGGER project_role_grants_standing AFTER INSERT OR UPDATE OR DELETE ON project_role_grants
    FOR EACH STATEMENT EXECUTE FUNCTION announce_standing_change();

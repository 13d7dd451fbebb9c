CREATE OR REPLACE FUNCTION rls_reach() RETURNS uuid[] LANGUAGE plpgsql STABLE SECURITY DEFINER
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
DROP FUNCTION rls_reach_of(uuid);

-- The companies a person reaches are read once, as each transaction opens, instead of at
-- every statement and policy: the scope (src/db/scope.rs) sets app.reach from
-- rls_reach_of(app.user_id) in the same round trip as BEGIN, or to an API key's one
-- company, and the policies read that setting. Memberships changed later in the same
-- transaction do not widen it; the paths that join or leave a company cross instead.

-- A person's companies, read as the memberships' owner (memberships are behind a policy
-- themselves). Every name is qualified, so no search path reaches into it.
CREATE FUNCTION rls_reach_of(person uuid) RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
    RETURN (SELECT COALESCE(pg_catalog.array_agg(m.company_id), '{}')::pg_catalog.text
            FROM public.memberships m WHERE m.user_id OPERATOR(pg_catalog.=) person);
END
$$;
REVOKE EXECUTE ON FUNCTION rls_reach_of(uuid) FROM PUBLIC;

-- The companies the transaction reaches, as its scope set them (none when unset).
CREATE OR REPLACE FUNCTION rls_reach() RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT COALESCE(NULLIF(current_setting('app.reach', true), ''), '{}')::uuid[]
$$;

//! The role the server's pool works as. DATABASE_URL names the owner: it creates the
//! database, runs migrations, backups and index builds. Requests and workers run as
//! `guildhall_app` instead, which owns no table, is no superuser and cannot bypass
//! row-level security, so the policies of the `row_level_security` migration hold it.
//!
//! By default the pool logs in as `guildhall_app` itself on DATABASE_URL's server; its
//! password (when the owner's URL carries one) is derived from the owner's, so every
//! instance that shares DATABASE_URL derives the same one and no instance has to store
//! another secret. DATABASE_APP_URL names any other login role (a member of
//! `guildhall_app`, or the role itself with a password an operator manages).

use anyhow::{Context, anyhow};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{Config, redact_url_password};

/// The role whose grants the pool works with.
pub const APP_ROLE: &str = "guildhall_app";

/// Creates the role if it is missing (without login) and grants it what the server does
/// with the tables: read and write rows, never change the schema, and learn whom a
/// transaction's person reaches (see [`crate::db::scope`]); and lets the planner
/// trust the functions row filters use. Idempotent; run by the owner after every
/// migration, since neither is part of a backup.
const GRANTS: &str = "\
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'guildhall_app') THEN
        CREATE ROLE guildhall_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- another database of the same server created it meanwhile
END $$;
BEGIN;
SELECT pg_advisory_xact_lock(7261001);
GRANT USAGE ON SCHEMA public TO guildhall_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO guildhall_app;
REVOKE ALL ON __diesel_schema_migrations FROM guildhall_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO guildhall_app;
GRANT EXECUTE ON FUNCTION rls_reach_of(uuid) TO guildhall_app;
DO $$
BEGIN
    -- Under a policy PostgreSQL uses an index for a filter only when every function in
    -- it is marked leakproof. Row filters (src/rows/store/list.rs) and their indexes
    -- (src/rows/indexes.rs) use these; in the expressions the server builds none of them
    -- fails on a stored value (numeric input only after data_numeric's pattern check),
    -- and the server runs no SQL from clients. Only a superuser may mark them.
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION jsonb_contains(jsonb, jsonb) LEAKPROOF;
        ALTER FUNCTION jsonb_object_field_text(jsonb, text) LEAKPROOF;
        ALTER FUNCTION textregexeq(text, text) LEAKPROOF;
        ALTER FUNCTION textout(text) LEAKPROOF;
        ALTER FUNCTION numeric_in(cstring, oid, integer) LEAKPROOF;
        ALTER FUNCTION numeric_eq(numeric, numeric) LEAKPROOF;
        ALTER FUNCTION numeric_ne(numeric, numeric) LEAKPROOF;
        ALTER FUNCTION numeric_lt(numeric, numeric) LEAKPROOF;
        ALTER FUNCTION numeric_le(numeric, numeric) LEAKPROOF;
        ALTER FUNCTION numeric_gt(numeric, numeric) LEAKPROOF;
        ALTER FUNCTION numeric_ge(numeric, numeric) LEAKPROOF;
    ELSE
        RAISE WARNING 'row filters cannot use field indexes: a superuser must mark the functions in src/db/roles.rs LEAKPROOF';
    END IF;
END $$;
COMMIT;";

/// Gives [`APP_ROLE`] its grants in the database `owner` is connected to.
pub async fn grant_app_role(owner: &mut AsyncPgConnection) -> anyhow::Result<()> {
    owner.batch_execute(GRANTS).await.map_err(|err| {
        anyhow!(
            "cannot prepare the role {APP_ROLE}: {err}. Connect DATABASE_URL as a role that may \
             create roles, or create it yourself: CREATE ROLE {APP_ROLE} NOLOGIN"
        )
    })
}

/// Refuses a pool whose role the policies would not hold (a superuser, a role with
/// BYPASSRLS, or one that owns tables): row-level security would silently be off.
pub async fn check_held(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Held {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        held: bool,
    }
    let role: Held = diesel::sql_query(
        "SELECT current_user::text AS name, NOT (r.rolsuper OR r.rolbypassrls) AND NOT EXISTS \
         (SELECT FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user) AS held \
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .get_result(conn)
    .await?;
    if role.held {
        Ok(())
    } else {
        Err(anyhow!(
            "the pool connects as {}, which row-level security does not hold (a superuser, \
             BYPASSRLS, or the tables' owner); point DATABASE_APP_URL at a role granted {APP_ROLE}",
            role.name
        ))
    }
}

/// The URL the pool connects with: DATABASE_APP_URL, or DATABASE_URL as [`APP_ROLE`].
pub fn app_url(config: &Config) -> anyhow::Result<String> {
    match &config.database_app_url {
        Some(url) => Ok(url.clone()),
        None => derived_url(&config.database_url),
    }
}

/// The URL the event listener connects with: DATABASE_DIRECT_URL, or the pool's.
pub fn listen_url(config: &Config) -> anyhow::Result<String> {
    match &config.database_direct_url {
        Some(url) => Ok(url.clone()),
        None => app_url(config),
    }
}

/// DATABASE_URL with [`APP_ROLE`] as its user and, if it carries a password, the derived
/// one. The user and password may sit in the URL's authority or in its query (the form
/// Unix-socket URLs use).
pub fn derived_url(owner_url: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(owner_url)
        .with_context(|| format!("DATABASE_URL {} is not a URL", redact_url_password(owner_url)))?;
    let mut query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let password = url.password().map(str::to_owned).or_else(|| {
        query
            .iter()
            .find(|(key, _)| key == "password")
            .map(|(_, value)| value.clone())
    });
    let app_password = password.as_deref().map(derived_password).transpose()?;
    if url.host_str().is_some_and(|host| !host.is_empty()) && !query.iter().any(|(key, _)| key == "user") {
        url.set_username(APP_ROLE)
            .map_err(|()| anyhow!("DATABASE_URL cannot carry a user name"))?;
        if url.password().is_some() {
            url.set_password(app_password.as_deref())
                .map_err(|()| anyhow!("DATABASE_URL cannot carry a password"))?;
        }
    } else {
        query.retain(|(key, _)| key != "user");
        query.push(("user".to_owned(), APP_ROLE.to_owned()));
    }
    if let Some(entry) = query.iter_mut().find(|(key, _)| key == "password") {
        entry.1 = app_password.clone().unwrap_or_default();
    }
    if query.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(&query);
    }
    Ok(url.to_string())
}

/// The pool role's password, from the owner's: HMAC-SHA256 keyed by it, in hex.
fn derived_password(owner_password: &str) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(owner_password.as_bytes())
        .map_err(|err| anyhow!("cannot derive the pool's password: {err}"))?;
    mac.update(APP_ROLE.as_bytes());
    Ok(mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// Lets [`APP_ROLE`] log in with the URL [`derived_url`] gives, when it cannot yet; run
/// by the owner at startup when DATABASE_APP_URL is not set.
pub async fn allow_login(owner: &mut AsyncPgConnection, owner_url: &str) -> anyhow::Result<()> {
    let app_url = derived_url(owner_url)?;
    if AsyncPgConnection::establish(&app_url).await.is_ok() {
        return Ok(());
    }
    let password = app_url_password(&app_url);
    let statement = match password {
        Some(password) => format!("ALTER ROLE {APP_ROLE} LOGIN PASSWORD '{password}'"),
        None => format!("ALTER ROLE {APP_ROLE} LOGIN"),
    };
    // Another instance may change the role at the same moment; once is enough.
    if let Err(first) = diesel::sql_query(&statement).execute(owner).await {
        diesel::sql_query(&statement)
            .execute(owner)
            .await
            .map_err(|err| {
                anyhow!("cannot let {APP_ROLE} log in: {err} (first attempt: {first}); set DATABASE_APP_URL")
            })?;
    }
    AsyncPgConnection::establish(&app_url).await.map_err(|err| {
        anyhow!(
            "the server's pool cannot log in as {APP_ROLE} ({}): {}. Allow that role in \
             pg_hba.conf or set DATABASE_APP_URL to a role granted {APP_ROLE}",
            redact_url_password(&app_url),
            err.to_string().trim()
        )
    })?;
    Ok(())
}

/// The password a derived URL carries (hex digits only, safe to quote).
fn app_url_password(app_url: &str) -> Option<String> {
    let url = url::Url::parse(app_url).ok()?;
    url.password()
        .map(str::to_owned)
        .or_else(|| {
            url.query_pairs()
                .find(|(key, _)| key == "password")
                .map(|(_, value)| value.into_owned())
        })
        .filter(|password| !password.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_url_swaps_the_owner_for_the_app_role_and_derives_its_password() {
        assert_eq!(
            derived_url("postgres://postgres@127.0.0.1:5432/guildhall").unwrap(),
            "postgres://guildhall_app@127.0.0.1:5432/guildhall"
        );
        let with_password = derived_url("postgres://owner:secret@db:5432/guildhall?sslmode=require").unwrap();
        let expected = derived_password("secret").unwrap();
        assert_eq!(
            with_password,
            format!("postgres://guildhall_app:{expected}@db:5432/guildhall?sslmode=require")
        );
        assert_ne!(expected, derived_password("other").unwrap());
        assert_eq!(
            derived_url("postgres:///guildhall?user=postgres&host=%2Ftmp%2Fpg").unwrap(),
            "postgres:///guildhall?host=%2Ftmp%2Fpg&user=guildhall_app"
        );
    }
}

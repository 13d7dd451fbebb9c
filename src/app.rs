//! The App: everything a request, a worker or a CLI command needs, built once by
//! [`AppBuilder`] — the same builder tests use to swap the clock or the password cost.

use std::ops::Deref;
use std::sync::Arc;

use rand::RngCore;

use crate::api_keys::memory::KeyMemory;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::Passwords;
use crate::auth::sealing::Sealer;
use crate::auth::signed_link::LinkSigner;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{self, DbPool, StatementCounter};
use crate::events::hub::Hub;
use crate::graphql::socket_budget::SocketsPerUser;
use crate::mail::Mailer;
use crate::persisted::admission::Admissions;
use crate::rbac::standing::Standings;
use crate::rows::indexes::IndexBuilds;
use crate::sessions::cache::SessionCache;
use crate::tables::homes::TableHomes;

/// Shared handle to the application state; cheap to clone.
#[derive(Clone)]
pub struct App(Arc<AppState>);

/// The application state behind [`App`].
pub struct AppState {
    pub config: Config,
    pub pool: DbPool,
    /// SQL statements run through `pool` since startup.
    pub statements: Arc<StatementCounter>,
    pub clock: Arc<dyn Clock>,
    pub passwords: Passwords,
    pub jwt: JwtKeys,
    /// Signs short-lived links (CSV downloads).
    pub links: LinkSigner,
    /// Seals the secrets the server must read back (webhook signing secrets).
    pub sealer: Sealer,
    /// Sessions recently found live.
    pub sessions: SessionCache,
    /// Members' and keys' standing recently read.
    pub standings: Standings,
    /// API keys recently found by their secret, and their request budgets.
    pub api_keys: KeyMemory,
    /// Registered documents recently found runnable by persisted-only callers.
    pub admissions: Admissions,
    /// Where tables live (never changes).
    pub table_homes: TableHomes,
    /// Live subscribers on this instance, by topic.
    pub hub: Hub,
    /// Open websockets per account on this instance.
    pub sockets: Arc<SocketsPerUser>,
    /// Places for CSV imports running on this instance (`IMPORT_MAX_CONCURRENT`).
    pub import_slots: tokio::sync::Semaphore,
    /// Field index builds on this instance.
    pub index_builds: IndexBuilds,
    pub mailer: Mailer,
    /// Wakes this instance's webhook senders: an event was recorded somewhere.
    pub webhooks_due: tokio::sync::Notify,
    /// Wakes this instance's recalculator when a change here asked for one.
    pub recalculation_due: tokio::sync::Notify,
}

impl App {
    /// Forgets everyone's remembered standing, every key found and every document found
    /// runnable: after a commit that changed memberships, roles, permissions, grants, keys
    /// or removed a registered document, here or (announced) elsewhere.
    pub fn forget_standing(&self) {
        self.standings.forget_all();
        self.api_keys.forget_all();
        self.admissions.forget_all();
    }
}

impl Deref for App {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.0
    }
}

/// Builds an [`App`] from a [`Config`], with optional replacements for tests.
pub struct AppBuilder {
    config: Config,
    clock: Arc<dyn Clock>,
    password_params: argon2::Params,
}

impl AppBuilder {
    /// A builder with the production clock and password cost.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            clock: Arc::new(SystemClock),
            password_params: Passwords::owasp_params(),
        }
    }

    /// Uses `clock` instead of the system clock.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses a different argon2 cost (tests: cheaper; never weaker in production).
    #[must_use]
    pub fn password_params(mut self, params: argon2::Params) -> Self {
        self.password_params = params;
        self
    }

    /// Builds the App. The database must already exist and be migrated.
    pub fn build(self) -> anyhow::Result<App> {
        let config = self.config;
        let statements = Arc::new(StatementCounter::default());
        let pool = db::build_pool(
            &db::roles::app_url(&config)?,
            config.database_pool_size,
            config.database_keep_prepared,
            Arc::clone(&statements),
        )?;
        let secret = match config.jwt_secret.as_deref().filter(|s| !s.is_empty()) {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                tracing::warn!("JWT_SECRET is not set: using a random secret; tokens end with this process");
                let mut secret = vec![0u8; 32];
                rand::rng().fill_bytes(&mut secret);
                secret
            }
        };
        let jwt = JwtKeys::new(
            &secret,
            &config.jwt_issuer,
            &config.jwt_audience,
            config.access_token_ttl().as_secs(),
        );
        let links = LinkSigner::new(&secret)?;
        let sealer = Sealer::new(config.secrets_key.as_deref())?;
        let sessions = SessionCache::new(std::time::Duration::from_secs(config.session_cache_secs));
        let standings = Standings::new(std::time::Duration::from_secs(config.standing_cache_secs));
        let api_keys = KeyMemory::new(
            std::time::Duration::from_secs(config.standing_cache_secs),
            config.api_key_requests_per_minute,
        );
        let config_standing_secs = config.standing_cache_secs;
        let hub = Hub::new(config.subscriber_queue);
        let passwords = Passwords::new(self.password_params)?;
        let mailer = Mailer::new(&config.product_name, &config.app_url())?;
        let import_slots = tokio::sync::Semaphore::new(config.import_max_concurrent);
        Ok(App(Arc::new(AppState {
            config,
            import_slots,
            pool,
            statements,
            clock: self.clock,
            passwords,
            jwt,
            links,
            sealer,
            sessions,
            standings,
            api_keys,
            admissions: Admissions::new(std::time::Duration::from_secs(config_standing_secs)),
            table_homes: TableHomes::default(),
            hub,
            sockets: Arc::default(),
            index_builds: IndexBuilds::default(),
            mailer,
            webhooks_due: tokio::sync::Notify::new(),
            recalculation_due: tokio::sync::Notify::new(),
        })))
    }
}

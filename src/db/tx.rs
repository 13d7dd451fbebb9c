//! The one way the server uses its database: every use of a pooled connection is one
//! transaction opened in a [`Scope`], which row-level security holds it to.
//! - [`write`] checks that the caller acts in companies (a verified user or an API key, see
//!   [`Caller::acting`]), runs the change in the caller's scope, and after the commit does
//!   what the change said it touched (forget everyone's standing, wake the mail worker).
//! - [`transaction`] is the same for flows without such a caller (sign-up, sign-in, links
//!   from mail, workers), in the scope they name.
//! - [`read`] runs reads (and small writes of the caller's own, like marking a
//!   notification read) in a scope; [`within`] does so on a connection already held.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use futures_util::future::BoxFuture;

use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::db::scope::Scope;
use crate::error::AppResult;

/// What a change touches beyond its own rows, acted on after it commits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Touches {
    /// Memberships, roles, role permissions or grants: remembered standing is forgotten.
    pub standing: bool,
    /// Mail was queued: the worker is woken.
    pub mail: bool,
    /// Formula values were asked to be recomputed: this instance's recalculator is woken
    /// (the others find the request when they next look).
    pub calculation: bool,
}

impl Touches {
    /// Only the change's own rows (and their events).
    pub const ROWS: Self = Self {
        standing: false,
        mail: false,
        calculation: false,
    };
    /// Someone's standing.
    pub const STANDING: Self = Self {
        standing: true,
        mail: false,
        calculation: false,
    };
    /// The mail outbox.
    pub const MAIL: Self = Self {
        standing: false,
        mail: true,
        calculation: false,
    };
    /// Standing and the mail outbox.
    pub const STANDING_AND_MAIL: Self = Self {
        standing: true,
        mail: true,
        calculation: false,
    };
    /// What formulas read (fields, factor versions): rows may await recomputing.
    pub const CALCULATION: Self = Self {
        standing: false,
        mail: false,
        calculation: true,
    };

    fn after_commit(self, app: &App) {
        if self.standing {
            app.forget_standing();
        }
        if self.mail {
            app.mailer.wake();
        }
        if self.calculation {
            app.recalculation_due.notify_one();
        }
    }
}

/// What a change runs with: the transaction's connection, who acts, and the
/// moment it happens (one clock reading for every row it writes). `'a` is the service
/// call's own lifetime: a change may borrow the service's arguments.
pub struct Change<'c, 'a> {
    pub conn: &'c mut AsyncPgConnection,
    pub actor: Actor,
    pub now: DateTime<Utc>,
    /// Ties the transaction to the call (`'a` outlives `'c`).
    pub scope: PhantomData<&'c &'a ()>,
}

/// What a change without a verified caller runs with (see [`transaction`]).
pub struct Work<'c, 'a> {
    pub conn: &'c mut AsyncPgConnection,
    pub now: DateTime<Utc>,
    /// Ties the transaction to the call (`'a` outlives `'c`).
    pub scope: PhantomData<&'c &'a ()>,
}

/// Runs `change` in one transaction for `caller`, who must act in companies (a verified
/// user or an API key: acts for people alone check [`Caller::verified`] first); after it
/// commits, acts on what it `touches`.
pub async fn write<'a, T: Send>(
    app: &'a App,
    caller: &'a Caller,
    touches: Touches,
    change: impl for<'c> FnOnce(Change<'c, 'a>) -> BoxFuture<'c, AppResult<T>> + Send + 'a,
) -> AppResult<T> {
    let actor = caller.acting()?;
    let now = app.clock.now();
    let mut conn = app.pool.get().await?;
    let value = within(&mut conn, actor.scope(), async |conn| {
        describe_client(conn, caller).await?;
        change(Change {
            conn,
            actor,
            now,
            scope: PhantomData,
        })
        .await
    })
    .await?;
    touches.after_commit(app);
    Ok(value)
}

/// Tells the database, for this transaction only, where the change comes from: the audit
/// entry written with each activity event records it (see `activity_trail` in the webhooks migration).
async fn describe_client(conn: &mut AsyncPgConnection, caller: &Caller) -> AppResult<()> {
    use diesel::sql_types::{Nullable, Text};
    diesel::sql_query(
        "SELECT set_config('guildhall.client_ip', COALESCE($1, ''), true), \
                set_config('guildhall.user_agent', COALESCE($2, ''), true), \
                set_config('guildhall.request_id', $3, true)",
    )
    .bind::<Nullable<Text>, _>(caller.client.ip.as_deref())
    .bind::<Nullable<Text>, _>(caller.client.user_agent.as_deref())
    .bind::<Text, _>(&caller.request_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Runs `work` in one transaction in `scope` on a pooled connection, with the moment it
/// happens; after it commits, acts on what it `touches`. For flows whose caller is not
/// (yet) a verified user.
pub async fn transaction<'a, T: Send>(
    app: &'a App,
    scope: Scope,
    touches: Touches,
    work: impl for<'c> FnOnce(Work<'c, 'a>) -> BoxFuture<'c, AppResult<T>> + Send + 'a,
) -> AppResult<T> {
    let now = app.clock.now();
    let mut conn = app.pool.get().await?;
    let value = within(&mut conn, scope, async |conn| {
        work(Work {
            conn,
            now,
            scope: PhantomData,
        })
        .await
    })
    .await?;
    touches.after_commit(app);
    Ok(value)
}

/// Runs `work` in one transaction in `scope` on a pooled connection.
pub async fn read<T>(
    app: &App,
    scope: Scope,
    work: impl AsyncFnOnce(&mut AsyncPgConnection) -> AppResult<T>,
) -> AppResult<T> {
    let mut conn = app.pool.get().await?;
    within(&mut conn, scope, work).await
}

/// Runs `work` in one transaction in `scope` on `conn`: committed when it succeeds, rolled
/// back when it fails. A transaction dropped half-way leaves the connection marked broken,
/// and the pool never hands it out again.
pub async fn within<T>(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    work: impl AsyncFnOnce(&mut AsyncPgConnection) -> AppResult<T>,
) -> AppResult<T> {
    AnsiTransactionManager::begin_transaction_sql(conn, &scope.begin_sql()).await?;
    match work(conn).await {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(err) => {
            roll_back(conn).await;
            Err(err)
        }
    }
}

/// Ends a failed transaction. If even that fails, the transaction manager marks the
/// connection broken, which keeps it out of the pool, so the failure only needs logging.
async fn roll_back(conn: &mut AsyncPgConnection) {
    if let Err(err) = AnsiTransactionManager::rollback_transaction(conn).await {
        tracing::warn!(%err, "rolling back failed");
    }
}

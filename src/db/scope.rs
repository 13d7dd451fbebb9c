//! Whose rows a transaction may touch: the server's half of row-level security. Every use
//! of a pooled connection runs in a transaction that begins by saying, with
//! transaction-local settings, who it works for; the policies of the
//! `row_level_security` migration then let it see and write only the rows of the companies
//! that caller belongs to, even if a store function forgets its own company filter. A
//! setting made this way ends with its transaction, so a connection returned to the pool
//! carries none.
//!
//! The settings the policies read:
//! - `app.user_id`: a person (their notifications and personal audit entries);
//! - `app.reach`: the companies the transaction reaches: the person's memberships, read
//!   once as it opens (`rls_reach_of`, in the same round trip as `BEGIN`), or an API key's
//!   one company. Memberships changed later in the transaction do not widen it: the paths
//!   that join or leave a company cross instead;
//! - `app.crossing`: the name of a [`Crossing`], a path that legitimately works across
//!   companies (each one is listed in the README).

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::prepared::prepared;
use crate::error::AppResult;

/// Who a transaction works for, which decides the companies whose rows it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A person: the companies they are a member of (and their own notifications).
    Person(Uuid),
    /// One company: an API key's, or the one a subscriber whose access was checked follows.
    Company(Uuid),
    /// No company at all: flows that touch only accounts, sessions and tokens.
    Nobody,
    /// A path that works across companies by design.
    Crossing(Crossing),
}

/// The paths that legitimately read or write more than one company's rows, or a company
/// nobody reaches yet. Each has a name the database sees and the README lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// The event listener: fetches each committed event to fan it out to every subscriber.
    EventListener,
    /// The webhook outbox worker: claims due deliveries of any company.
    WebhookOutbox,
    /// The formula recalculator: claims waiting tables of any company.
    Recalculation,
    /// Creating a company: its first rows exist before anyone is its member.
    NewCompany,
    /// Invitation links: the invitee is not (yet) a member of the inviting company.
    Invitation,
    /// Batched loads by id, shared by concurrent requests; every value is checked against
    /// the caller's standing by the resolver that asked for it.
    Loaders,
    /// Finding the session or API key a request presents, before anyone is known.
    Authentication,
    /// Looking up a registered document by its hash, in any company or none.
    PersistedDocuments,
    /// A person's data export: audit entries of companies they have since left.
    PersonalExport,
    /// Deleting an account: it leaves every company, which may then be deleted.
    AccountDeletion,
    /// Writing notices: each is its recipient's alone to read, and may concern a company
    /// the recipient is no member of (an invitation, a removal).
    Notices,
    /// A member leaving or removed: the act is recorded after the leaver stopped reaching the
    /// company, and their active company moves to one they still belong to.
    Leaving,
    /// Deleting a company: its members are told after nobody reaches it any more.
    CompanyDeletion,
    /// Background upkeep across companies: audit retention, default emission factors,
    /// metrics' outbox figures.
    Upkeep,
}

impl Crossing {
    /// The name `app.crossing` carries.
    pub fn name(self) -> &'static str {
        match self {
            Self::EventListener => "event-listener",
            Self::WebhookOutbox => "webhook-outbox",
            Self::Recalculation => "recalculation",
            Self::NewCompany => "new-company",
            Self::Invitation => "invitation",
            Self::Loaders => "loaders",
            Self::Authentication => "authentication",
            Self::PersistedDocuments => "persisted-documents",
            Self::PersonalExport => "personal-export",
            Self::AccountDeletion => "account-deletion",
            Self::Notices => "notices",
            Self::Leaving => "leaving",
            Self::CompanyDeletion => "company-deletion",
            Self::Upkeep => "upkeep",
        }
    }
}

impl Scope {
    /// The statement that opens a transaction in this scope: `BEGIN` and the settings in
    /// one round trip. Only ids and fixed names are written into it, never client text.
    pub fn begin_sql(self) -> String {
        let set = |name: &str, value: &str| format!("; SELECT set_config('{name}', '{value}', true)");
        match self {
            Self::Person(user_id) => format!(
                "BEGIN; SELECT set_config('app.user_id', '{user_id}', true), \
                 set_config('app.reach', rls_reach_of('{user_id}'), true)"
            ),
            Self::Company(company_id) => format!("BEGIN{}", set("app.reach", &format!("{{{company_id}}}"))),
            Self::Nobody => "BEGIN".to_owned(),
            Self::Crossing(crossing) => format!("BEGIN{}", set("app.crossing", crossing.name())),
        }
    }
}

/// Widens the running transaction to `crossing` for the rest of it: for a change that must
/// reach a company its caller does not belong to (yet, or any more).
pub async fn cross(conn: &mut AsyncPgConnection, crossing: Crossing) -> diesel::QueryResult<()> {
    set_crossing(conn, crossing.name()).await
}

/// Runs `work` crossing companies, then gives the transaction back the scope it had.
pub async fn while_crossing<T>(
    conn: &mut AsyncPgConnection,
    crossing: Crossing,
    work: impl AsyncFnOnce(&mut AsyncPgConnection) -> AppResult<T>,
) -> AppResult<T> {
    #[derive(QueryableByName)]
    struct Current {
        #[diesel(sql_type = Text)]
        crossing: String,
    }
    let before: Current = prepared(diesel::sql_query(
        "SELECT COALESCE(current_setting('app.crossing', true), '') AS crossing",
    ))
    .get_result(conn)
    .await?;
    set_crossing(conn, crossing.name()).await?;
    let outcome = work(conn).await?;
    set_crossing(conn, &before.crossing).await?;
    Ok(outcome)
}

async fn set_crossing(conn: &mut AsyncPgConnection, name: &str) -> diesel::QueryResult<()> {
    prepared(diesel::sql_query("SELECT set_config('app.crossing', $1, true)").bind::<Text, _>(name))
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_opens_its_transaction_with_transaction_local_settings_only() {
        let user = Uuid::from_u128(7);
        assert_eq!(
            Scope::Person(user).begin_sql(),
            format!(
                "BEGIN; SELECT set_config('app.user_id', '{user}', true), \
                 set_config('app.reach', rls_reach_of('{user}'), true)"
            )
        );
        let company = Uuid::from_u128(9);
        assert_eq!(
            Scope::Company(company).begin_sql(),
            format!("BEGIN; SELECT set_config('app.reach', '{{{company}}}', true)")
        );
        assert_eq!(Scope::Nobody.begin_sql(), "BEGIN");
        assert!(
            Scope::Crossing(Crossing::EventListener)
                .begin_sql()
                .ends_with("set_config('app.crossing', 'event-listener', true)")
        );
    }
}

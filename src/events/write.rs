//! How mutations leave a trace: one activity event per change, notifications for the
//! people it concerns, and the rows a row event touched — all inside the mutation's
//! transaction, so they exist exactly when the change does. Each insert also NOTIFYs the
//! new row's stream position, which PostgreSQL delivers to listeners only at commit.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::access::permission_name;
use super::verb::Verb;
use crate::auth::caller::Actor;
use crate::db::scope::{self, Crossing};
use crate::error::AppResult;
use crate::rbac::catalog::{Action, Permission, Resource};

/// The channel every instance LISTENs on; payloads are `a:<company id>:<seq>` (activity,
/// ending in [`WEBHOOKS_DUE`] when it queued webhook deliveries) or `n:<user id>:<seq>`
/// (a notification): ids only, far below NOTIFY's 8 KB.
pub const CHANNEL: &str = "guildhall_events";

/// The text of [`WEBHOOKS_DUE`], for the SQL that writes it.
macro_rules! webhooks_due {
    () => {
        ":w"
    };
}

/// What ends an event's announcement on [`CHANNEL`] when the event queued webhook
/// deliveries (`a:<company id>:<seq>:w`; see `activity_trail`).
pub const WEBHOOKS_DUE: &str = webhooks_due!();

/// Longest summary kept (the column's CHECK allows 500).
const SUMMARY_CHARS: usize = 300;

/// An activity event, as a mutation describes it.
#[derive(Debug, Clone)]
pub struct Activity {
    company_id: Uuid,
    project_id: Option<Uuid>,
    actor: Option<Actor>,
    verb: Verb,
    target_type: &'static str,
    target_id: Uuid,
    summary: String,
    data: Option<serde_json::Value>,
    visible_with: (Resource, Action),
}

impl Activity {
    /// `actor` (a person or a key; None: nobody, e.g. a timer) did `verb` to a
    /// `target_type` object in a company. Who may read the event follows from the verb (see
    /// [`Verb::revealed_by`] and [`Activity::visible_with`]).
    pub fn new(
        company_id: Uuid,
        actor: Option<Actor>,
        verb: Verb,
        target: (&'static str, Uuid),
        summary: impl Into<String>,
    ) -> Self {
        let mut summary: String = summary.into();
        if let Some((cut, _)) = summary.char_indices().nth(SUMMARY_CHARS) {
            summary.truncate(cut);
        }
        Self {
            company_id,
            project_id: None,
            actor,
            verb,
            target_type: target.0,
            target_id: target.1,
            summary,
            data: None,
            visible_with: verb.revealed_by(),
        }
    }

    /// `actor` did `verb` to something in `project` (company and project taken from it).
    pub fn in_project_of(
        project: &impl ProjectScope,
        actor: Actor,
        verb: Verb,
        target: (&'static str, Uuid),
        summary: impl Into<String>,
    ) -> Self {
        Self::new(project.company_id(), Some(actor), verb, target, summary).in_project(project.project_id())
    }

    /// The project the event happened in (its readers' permissions are taken there).
    #[must_use]
    pub fn in_project(mut self, project_id: Uuid) -> Self {
        self.project_id = Some(project_id);
        self
    }

    /// Small structured details (counts, names, before/after).
    #[must_use]
    pub fn data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// Readers need (resource, action) instead of view on the verb's subject, e.g.
    /// table:manage for a change to a restricted field.
    #[must_use]
    pub fn visible_with(mut self, resource: Resource, action: Action) -> Self {
        self.visible_with = (resource, action);
        self
    }
}

/// The summary and data of a change to something's name and description: "Project Fuel
/// updated", or "Project Fuel renamed to Energy" when the name changed, with the name and
/// description before and after.
pub fn name_change(
    noun: &str,
    before: (&str, Option<&str>),
    after: (&str, Option<&str>),
) -> (String, serde_json::Value) {
    let summary = if before.0 == after.0 {
        format!("{noun} {} updated", after.0)
    } else {
        format!("{noun} {} renamed to {}", before.0, after.0)
    };
    let data = serde_json::json!({
        "before": { "name": before.0, "description": before.1 },
        "after": { "name": after.0, "description": after.1 },
    });
    (summary, data)
}

/// Something that belongs to one project of one company, as events need to know it (the
/// projects feature implements it for its rows, so events need not know projects).
pub trait ProjectScope {
    /// The company the project belongs to.
    fn company_id(&self) -> Uuid;
    /// The project itself.
    fn project_id(&self) -> Uuid;
}

/// A notification for one person.
#[derive(Debug, Clone)]
pub struct Notice {
    pub user_id: Uuid,
    pub company_id: Option<Uuid>,
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
}

/// What announces on [`CHANNEL`] that a company was deleted: `d:<company id>`.
pub const COMPANY_DELETED: &str = "d:";

/// Announces, at commit, that the company is deleted: its live feeds on every instance end
/// (they would otherwise wait for an event that never comes).
pub async fn announce_company_deleted(conn: &mut AsyncPgConnection, company_id: Uuid) -> AppResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(CHANNEL)
        .bind::<Text, _>(format!("{COMPANY_DELETED}{company_id}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// The SQL expression taking a stream's transaction lock: `$kind` names the stream, `$owner`
/// the parameter holding its company or person id. Every writer and every waiter uses this
/// one text, so they always contend on the same lock.
macro_rules! stream_lock {
    ($kind:literal, $owner:literal) => {
        concat!(
            "pg_advisory_xact_lock(hashtextextended('",
            $kind,
            ":' || ",
            $owner,
            "::text, 0))"
        )
    };
}

/// Takes the company's stream lock (the one [`record`] takes) until the transaction ends:
/// deleting a company's events waits for writers still holding it.
pub async fn lock_stream(conn: &mut AsyncPgConnection, company_id: Uuid) -> AppResult<()> {
    diesel::sql_query(concat!("SELECT ", stream_lock!("activity", "$1")))
        .bind::<SqlUuid, _>(company_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records `activity`, and first what follows from it (its audit entry and webhook
/// deliveries: the database's `activity_trail`, written in the same statement before the
/// stream lock is taken, so the lock is held no longer than the event's own insert needs);
/// returns its stream position. Call it as the transaction's last write: it holds the
/// company's stream lock until commit.
pub async fn record(conn: &mut AsyncPgConnection, now: DateTime<Utc>, activity: Activity) -> AppResult<i64> {
    insert_event(conn, now, activity, None).await
}

/// The rows a row event touched, which live grids receive as row changes.
#[derive(Debug, Clone, Copy)]
pub struct TouchedRows<'r> {
    pub table_id: Uuid,
    /// CREATED, UPDATED or DELETED.
    pub kind: &'static str,
    pub row_ids: &'r [Uuid],
}

/// [`record`]s a row event with the rows it touched, in the event's own statement: a
/// write holding the company's stream lock makes no further round trip before it commits.
pub async fn record_touching(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    activity: Activity,
    rows: TouchedRows<'_>,
) -> AppResult<i64> {
    insert_event(conn, now, activity, Some(rows)).await
}

async fn insert_event(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    activity: Activity,
    rows: Option<TouchedRows<'_>>,
) -> AppResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Recorded {
        #[diesel(sql_type = BigInt)]
        seq: i64,
    }
    let visible_with = permission_name(Permission {
        resource: activity.visible_with.0,
        action: activity.visible_with.1,
    });
    let id = Uuid::now_v7();
    let actor_id = activity.actor.and_then(Actor::user_id);
    let api_key_id = activity.actor.and_then(Actor::api_key_id);
    // The trail is written first, then the lock is taken (it reads the trail's row), then
    // the identity is drawn (the insert reads the lock's row) and the touched rows are
    // written with it: one statement, the lock held only from the event's own insert, and a
    // company's events commit in `seq` order.
    let recorded: Recorded = diesel::sql_query(concat!(
        "WITH trail AS MATERIALIZED (SELECT activity_trail($1, $2, $4, $13, $5, $6, $7, $9, $11) AS queued), \
         stream AS MATERIALIZED (SELECT ",
        stream_lock!("activity", "$2"),
        ", trail.queued FROM trail), inserted AS ( \
             INSERT INTO activity_events (id, company_id, project_id, actor_id, verb, target_type, \
                 target_id, summary, data, visible_with, created_at, api_key_id) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13 FROM stream \
             RETURNING seq \
         ), touched AS ( \
             INSERT INTO row_changes (event_seq, row_id, table_id, kind) \
             SELECT inserted.seq, row_id, $14, $15 FROM inserted CROSS JOIN unnest($16::uuid[]) AS row_id \
             ON CONFLICT DO NOTHING \
         ) \
         SELECT inserted.seq FROM inserted CROSS JOIN stream CROSS JOIN LATERAL pg_notify($12, \
             'a:' || $2::text || ':' || inserted.seq || CASE WHEN stream.queued THEN '",
        webhooks_due!(),
        "' ELSE '' END) AS sent",
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(activity.company_id)
    .bind::<Nullable<SqlUuid>, _>(activity.project_id)
    .bind::<Nullable<SqlUuid>, _>(actor_id)
    .bind::<Text, _>(activity.verb.as_str())
    .bind::<Text, _>(activity.target_type)
    .bind::<SqlUuid, _>(activity.target_id)
    .bind::<Text, _>(&activity.summary)
    .bind::<Nullable<Jsonb>, _>(activity.data.as_ref())
    .bind::<Text, _>(&visible_with)
    .bind::<Timestamptz, _>(now)
    .bind::<Text, _>(CHANNEL)
    .bind::<Nullable<SqlUuid>, _>(api_key_id)
    .bind::<Nullable<SqlUuid>, _>(rows.map(|rows| rows.table_id))
    .bind::<Nullable<Text>, _>(rows.map(|rows| rows.kind))
    .bind::<Array<SqlUuid>, _>(rows.map_or(&[][..], |rows| rows.row_ids))
    .get_result(conn)
    .await?;
    Ok(recorded.seq)
}

/// Delivers notices, one per distinct recipient, each in its recipient's stream order.
/// Call after [`record`]: locks go company first, then people in id order.
pub async fn notify(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    mut notices: Vec<Notice>,
) -> AppResult<()> {
    notices.sort_by_key(|notice| notice.user_id);
    notices.dedup_by_key(|notice| notice.user_id);
    if notices.is_empty() {
        return Ok(());
    }
    // A notice is its recipient's alone to read, so its writer, who cannot read it back,
    // writes it crossing companies.
    scope::while_crossing(conn, Crossing::Notices, async |conn| {
        for notice in &notices {
            deliver(conn, now, notice).await?;
        }
        Ok(())
    })
    .await
}

/// Writes one notice in its recipient's stream and announces it.
async fn deliver(conn: &mut AsyncPgConnection, now: DateTime<Utc>, notice: &Notice) -> AppResult<()> {
    diesel::sql_query(concat!(
        "WITH stream AS MATERIALIZED (SELECT ",
        stream_lock!("notifications", "$2"),
        "), inserted AS ( \
             INSERT INTO notifications (id, user_id, company_id, kind, title, body, link, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM stream \
             RETURNING seq \
         ) \
         SELECT inserted.seq FROM inserted CROSS JOIN LATERAL pg_notify($9, 'n:' || $2::text || ':' || inserted.seq) AS sent",
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(notice.user_id)
    .bind::<Nullable<SqlUuid>, _>(notice.company_id)
    .bind::<Text, _>(notice.kind)
    .bind::<Text, _>(&notice.title)
    .bind::<Text, _>(&notice.body)
    .bind::<Nullable<Text>, _>(notice.link.as_deref())
    .bind::<Timestamptz, _>(now)
    .bind::<Text, _>(CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

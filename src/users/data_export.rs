//! `exportMyData`: a signed link, valid five minutes, to a JSON file of everything the
//! server holds about the signed-in person: profile and preferences, live sessions,
//! memberships, notifications, their own security events and what they did in the
//! companies they belong to. Fetching it checks the session still stands, then streams
//! the file in batches, never holding the long lists in memory.

use axum::body::Bytes;
use chrono::Duration;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::store as user_store;
use crate::app::App;
use crate::audit::model::AuditRow;
use crate::audit::service::{self as audit, SecurityEvent, cursor_of};
use crate::audit::store::{self as audit_store, AuditFilter};
use crate::auth::caller::{Caller, LinkRequester};
use crate::companies::access;
use crate::companies::store as company_store;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult};
use crate::events::store as event_store;
use crate::sessions::store as session_store;

/// How long a link works.
const LINK_TTL: Duration = Duration::minutes(5);
/// Items read per round trip while streaming.
const BATCH: i64 = 1_000;

/// What a link stands for.
#[derive(Debug, Serialize, Deserialize)]
struct PersonalExportClaims {
    requester: LinkRequester,
    /// Unix seconds after which the link is dead.
    expires: i64,
}

/// The chunks of a download being streamed.
pub type Chunks = mpsc::Receiver<Result<Bytes, std::io::Error>>;

/// A signed link to the caller's data (a person's act; audited as `account.data_exported`).
pub async fn export_link(app: &App, caller: &Caller) -> AppResult<String> {
    let person = caller.verified()?;
    let requester = LinkRequester::of(caller)?;
    tx::write(app, caller, Touches::ROWS, |Change { conn, now, .. }| {
        Box::pin(async move {
            let event = SecurityEvent {
                user_id: Some(person.user_id),
                action: "account.data_exported",
                target: ("user", Some(person.user_id)),
                details: None,
                client: &caller.client,
                request_id: Some(&caller.request_id),
            };
            audit::record_security(conn, now, event).await
        })
    })
    .await?;
    let claims = PersonalExportClaims {
        requester,
        expires: (app.clock.now() + LINK_TTL).timestamp(),
    };
    Ok(format!(
        "{}/exports/me/{}",
        app.config.public_url(),
        app.links.sign(&claims)
    ))
}

/// Checks a link (signature, expiry, the session still standing) and starts streaming.
/// NOT_FOUND for anything wrong, so links reveal nothing.
pub async fn open_download(app: &App, token: &str) -> AppResult<Chunks> {
    let not_found = || AppError::not_found("export link (it may have expired)");
    let claims: PersonalExportClaims = app.links.verify(token).ok_or_else(not_found)?;
    if claims.expires < app.clock.now().timestamp() {
        return Err(not_found());
    }
    let user_id = tx::read(app, claims.requester.scope(), async |conn| {
        access::still_acting(conn, claims.requester, app.clock.now())
            .await?
            .and_then(crate::auth::caller::Actor::user_id)
            .ok_or_else(not_found)
    })
    .await?;
    let (sender, chunks) = mpsc::channel(4);
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(err) = stream_file(&app, user_id, &sender).await {
            tracing::error!(error = ?err.source, "personal data export stopped");
            let _ = sender.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    Ok(chunks)
}

type Sender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Sends `text`; false when the client stopped reading.
async fn send(sender: &Sender, text: impl Into<Bytes>) -> bool {
    sender.send(Ok(text.into())).await.is_ok()
}

fn to_json(value: &impl Serialize) -> AppResult<String> {
    serde_json::to_string(value).map_err(AppError::internal)
}

async fn stream_file(app: &App, user_id: Uuid, sender: &Sender) -> AppResult<()> {
    let now = app.clock.now();
    let (user, sessions, memberships) = tx::read(app, Scope::Person(user_id), async |conn| {
        Ok((
            user_store::find_by_id(conn, user_id)
                .await?
                .ok_or_else(|| AppError::not_found("account"))?,
            session_store::list_live_for_user(conn, user_id, now).await?,
            company_store::memberships_of_user_detailed(conn, user_id).await?,
        ))
    })
    .await?;
    let head = json!({
        "exportedAt": now,
        "profile": {
            "id": user.id, "email": user.email, "name": user.name, "phone": user.phone,
            "bio": user.bio, "avatarUrl": user.avatar_url, "emailVerifiedAt": user.email_verified_at,
            "totpEnabled": user.totp_enabled, "createdAt": user.created_at,
            "lastLoginAt": user.last_login_at, "activeCompanyId": user.active_company_id,
        },
        "preferences": user.preferences,
        "sessions": sessions.iter().map(|s| json!({
            "id": s.id, "createdAt": s.created_at, "lastUsedAt": s.last_used_at,
            "expiresAt": s.expires_at, "ip": s.ip, "userAgent": s.user_agent,
        })).collect::<Vec<_>>(),
        "memberships": memberships.iter().map(|(membership, role, company, _)| json!({
            "companyId": company.id, "company": company.name, "role": role.name,
            "joinedAt": membership.joined_at,
        })).collect::<Vec<_>>(),
    });
    // The head object without its closing brace; the long lists follow.
    let head = to_json(&head)?;
    let Some(head) = head.strip_suffix('}') else {
        return Err(AppError::internal(anyhow::anyhow!("a JSON object ends with }}")));
    };
    if !send(sender, format!("{head},\"notifications\":[")).await {
        return Ok(());
    }
    let notifications = stream_pages(
        app,
        Scope::Person(user_id),
        sender,
        |conn, after| {
            Box::pin(event_store::notifications_after(
                conn,
                user_id,
                after.unwrap_or(0),
                BATCH,
            ))
        },
        |row| row.seq,
        |row| {
            json!({
                "kind": row.kind, "title": row.title, "body": row.body, "link": row.link,
                "companyId": row.company_id, "readAt": row.read_at, "createdAt": row.created_at,
            })
        },
    );
    if !notifications.await? {
        return Ok(());
    }
    if !send(sender, "],\"securityEvents\":[").await
        || !stream_audit(app, Scope::Person(user_id), sender, |conn, after| {
            Box::pin(audit_store::security_page(conn, user_id, after, BATCH))
        })
        .await?
    {
        return Ok(());
    }
    // What they did in each company, those they left included (each keeps its own log).
    if !send(sender, "],\"companyAuditEntries\":[").await {
        return Ok(());
    }
    let filter = AuditFilter {
        actor_id: Some(user_id),
        ..AuditFilter::default()
    };
    let former = Scope::Crossing(Crossing::PersonalExport);
    let companies = tx::read(app, former, async |conn| {
        Ok(audit_store::companies_acted_in(conn, user_id).await?)
    })
    .await?;
    let mut first_company = true;
    for company_id in companies {
        let prefix = if first_company { "" } else { "," };
        first_company = false;
        if !send(
            sender,
            format!("{prefix}{{\"companyId\":\"{company_id}\",\"entries\":["),
        )
        .await
            || !stream_audit(app, former, sender, |conn, after| {
                let filter = filter.clone();
                Box::pin(
                    async move { audit_store::company_page(conn, company_id, &filter, after, BATCH).await },
                )
            })
            .await?
            || !send(sender, "]}").await
        {
            return Ok(());
        }
    }
    send(sender, "]}").await;
    Ok(())
}

/// Streams audit entries page by page, newest first, as JSON array items; false when the
/// client stopped reading.
async fn stream_audit(
    app: &App,
    scope: Scope,
    sender: &Sender,
    page: impl for<'c> Fn(
        &'c mut diesel_async::AsyncPgConnection,
        Option<crate::pagination::Cursor>,
    ) -> BoxFuture<'c, diesel::QueryResult<Vec<AuditRow>>>,
) -> AppResult<bool> {
    stream_pages(app, scope, sender, page, cursor_of, |row| {
        json!({
            "createdAt": row.created_at, "action": row.action, "targetType": row.target_type,
            "targetId": row.target_id, "apiKeyId": row.api_key_id, "ip": row.ip,
            "userAgent": row.user_agent, "requestId": row.request_id, "changes": row.changes,
        })
    })
    .await
}

/// Streams rows page by page as JSON array items, each page read in `scope`: `page` reads the rows after a position
/// (None: from the start), `position` names a row's, `item` writes one; false when the
/// client stopped reading.
async fn stream_pages<Row, Position: Copy>(
    app: &App,
    scope: Scope,
    sender: &Sender,
    page: impl for<'c> Fn(
        &'c mut diesel_async::AsyncPgConnection,
        Option<Position>,
    ) -> BoxFuture<'c, diesel::QueryResult<Vec<Row>>>,
    position: impl Fn(&Row) -> Position,
    item: impl Fn(&Row) -> serde_json::Value,
) -> AppResult<bool> {
    let mut after = None;
    let mut first = true;
    loop {
        let batch = tx::read(app, scope, async |conn| Ok(page(conn, after).await?)).await?;
        let mut text = String::new();
        for row in &batch {
            if !first {
                text.push(',');
            }
            first = false;
            text.push_str(&to_json(&item(row))?);
        }
        if !send(sender, text).await {
            return Ok(false);
        }
        match batch.last() {
            Some(last) if usize::try_from(BATCH).is_ok_and(|size| batch.len() == size) => {
                after = Some(position(last));
            }
            _ => return Ok(true),
        }
    }
}

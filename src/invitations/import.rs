//! Bulk invitations from a CSV file with the columns email, name, role: every line is
//! checked first, each bad line is reported, and the good ones are invited together.

use std::collections::{HashMap, HashSet};

use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::service::{
    INVITATIONS_PER_COMPANY, INVITATIONS_PER_INVITER, Invite, invited_notices, send_invitation,
};
use crate::app::App;
use crate::auth::caller::Caller;
use crate::companies::access;
use crate::companies::model::RoleRow;
use crate::companies::store as company_store;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::rate_limit;
use crate::rbac::catalog::{Action, Resource};
use crate::rbac::standing::role_permissions;
use crate::users::email::Email;

/// Most data lines one upload may hold.
pub const MAX_IMPORT_LINES: usize = 1_000;

/// A refused line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the file (the header is line 1).
    pub line: i32,
    pub field: Option<String>,
    pub message: String,
}

/// The outcome of an import.
#[derive(Debug)]
pub struct ImportReport {
    pub import_id: Uuid,
    pub invited: i32,
    pub errors: Vec<LineError>,
}

struct Line {
    number: i32,
    email: String,
    name: Option<String>,
    role: String,
}

fn line_error(number: i32, field: &str, message: impl Into<String>) -> LineError {
    LineError {
        line: number,
        field: Some(field.to_owned()),
        message: message.into(),
    }
}

/// Reads the file: the header names the columns (any order, any case); `name` is optional.
fn read_lines(csv: &[u8]) -> AppResult<(Vec<Line>, Vec<LineError>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(csv);
    let headers = reader
        .headers()
        .map_err(|err| AppError::invalid("csv", format!("cannot read the header line: {err}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(email_at), Some(role_at)) = (column("email"), column("role")) else {
        return Err(AppError::invalid(
            "csv",
            "the header line must name the columns email, name and role",
        ));
    };
    let name_at = column("name");
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for (index, record) in reader.records().enumerate() {
        if index >= MAX_IMPORT_LINES {
            return Err(AppError::invalid(
                "csv",
                format!("at most {MAX_IMPORT_LINES} lines per upload"),
            ));
        }
        let fallback = i32::try_from(index + 2).unwrap_or(i32::MAX);
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                let number = err
                    .position()
                    .and_then(|p| i32::try_from(p.line()).ok())
                    .unwrap_or(fallback);
                errors.push(LineError {
                    line: number,
                    field: None,
                    message: format!("not valid CSV: {err}"),
                });
                continue;
            }
        };
        let number = record
            .position()
            .and_then(|p| i32::try_from(p.line()).ok())
            .unwrap_or(fallback);
        lines.push(Line {
            number,
            email: record.get(email_at).unwrap_or("").to_owned(),
            name: name_at
                .and_then(|at| record.get(at))
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
            role: record.get(role_at).unwrap_or("").to_owned(),
        });
    }
    Ok((lines, errors))
}

/// Largest member list file: 1,000 lines of address, name and role fit easily.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads an uploaded member list (at most [`MAX_FILE_BYTES`]) into memory.
pub async fn read_upload(file: std::fs::File) -> AppResult<Vec<u8>> {
    use std::io::Read;
    let read = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map(|_| bytes)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)?;
    if read.len() as u64 > MAX_FILE_BYTES {
        return Err(AppError::invalid(
            "csv",
            format!("a member list is at most {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(read)
}

/// Whether `actor` may import a member list into the company (invitation:create): asked
/// before an upload's file is received.
pub async fn may_import(app: &App, caller: &Caller, company_id: Uuid) -> AppResult<()> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        access::member(conn, company_id, actor)
            .await?
            .require(Resource::Invitation, Action::Create)
    })
    .await
}

/// Invites every valid line of `csv` (Owner or Admin) and reports the others.
pub async fn import_members(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    csv: &[u8],
) -> AppResult<ImportReport> {
    tx::write(app, caller, Touches::MAIL, |Change { conn, actor, now, .. }| {
        async move {
            let caller = access::member(conn, company_id, actor).await?;
            caller.require(Resource::Invitation, Action::Create)?;
            let (lines, mut errors) = read_lines(csv)?;
                        let roles = company_store::list_roles(conn, company_id).await?;
            // Why each role may not be handed out by this caller (None: it may).
            let mut refusals = Vec::with_capacity(roles.len());
            for role in &roles {
                let permissions = role_permissions(conn, role).await?;
                refusals.push(caller.require_can_grant(role, permissions).err().map(|e| e.message));
            }
            let members: HashSet<String> = company_store::member_contacts(conn, company_id)
                .await?
                .into_iter()
                .filter_map(|(_, email)| email)
                .collect();
            let mut first_seen: HashMap<String, i32> = HashMap::new();
            let mut valid: Vec<(i32, Email, Option<String>, &RoleRow)> = Vec::new();
            for line in lines {
                let Ok(email) = Email::parse(&line.email, "email") else {
                    errors.push(line_error(line.number, "email", "is not a valid email address"));
                    continue;
                };
                if let Some(first) = first_seen.get(email.as_str()) {
                    errors.push(line_error(
                        line.number,
                        "email",
                        format!("duplicates line {first}"),
                    ));
                    continue;
                }
                let Some(role) = roles
                    .iter()
                    .find(|r| r.name.eq_ignore_ascii_case(line.role.trim()))
                else {
                    errors.push(line_error(
                        line.number,
                        "role",
                        format!("there is no role named {:?}", line.role),
                    ));
                    continue;
                };
                                let position = roles.iter().position(|r| r.id == role.id).unwrap_or(0);
                if let Some(Some(refusal)) = refusals.get(position) {
                    errors.push(line_error(line.number, "role", refusal.clone()));
                    continue;
                }
                if members.contains(email.as_str()) {
                    errors.push(line_error(line.number, "email", "is already a member"));
                    continue;
                }
                // Only a line that passed every check claims its address.
                first_seen.insert(email.as_str().to_owned(), line.number);
                valid.push((line.number, email, line.name, role));
            }
            // Lines beyond the company's or the inviter's hourly invitation quota are
            // reported, not sent.
            let company_quota = rate_limit::remaining(conn, INVITATIONS_PER_COMPANY, &company_id.to_string(), now).await?;
            let inviter_quota =
                rate_limit::remaining(conn, INVITATIONS_PER_INVITER, &actor.id().to_string(), now).await?;
            let quota = usize::try_from(company_quota.min(inviter_quota)).unwrap_or(usize::MAX);
            let mut invited = Vec::new();
            for (number, email, name, role) in &valid {
                if invited.len() >= quota {
                    errors.push(LineError {
                        line: *number,
                        field: None,
                        message: format!(
                            "not sent: a company may send {} and a person {} invitations an hour; import this line again later",
                            INVITATIONS_PER_COMPANY.max, INVITATIONS_PER_INVITER.max
                        ),
                    });
                    continue;
                }
                let invite = Invite {
                    email,
                    name: name.as_deref(),
                    role,
                    message: None,
                };
                invited.push((send_invitation(app, conn, &caller, invite, now).await?, *role));
            }
            errors.sort_by_key(|e| e.line);
            let import_id = Uuid::new_v4();
            if !invited.is_empty() {
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::MemberInvited,
                    ("invitation_import", import_id),
                    format!("{} people invited from a CSV file", invited.len()),
                )
                .visible_with(Resource::Invitation, Action::View)
                .data(json!({ "invited": invited.len(), "rejected": errors.len() }));
                write::record(conn, now, activity).await?;
                let pairs: Vec<_> = invited.iter().map(|(invitation, role)| (invitation, *role)).collect();
                let notices = invited_notices(conn, &pairs).await?;
                write::notify(conn, now, notices).await?;
            }
            Ok(ImportReport {
                import_id,
                invited: i32::try_from(invited.len()).unwrap_or(i32::MAX),
                errors,
            })
        }
        .boxed()
    })
    .await
}

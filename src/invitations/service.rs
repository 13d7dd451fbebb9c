//! Invitation rules: who may invite, what a link allows, and joining through it.

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::model::{InvitationRow, InvitationState, NewInvitation};
use super::store;
use crate::app::App;
use crate::auth::caller::{Actor, Caller, ClientInfo};
use crate::auth::tokens::{OpaqueToken, hash_token};
use crate::companies::access::{self, Member, MemberRights};
use crate::companies::model::{MembershipRow, NewMembership, RoleRow};
use crate::companies::service::company::activate_if_none;
use crate::companies::store as company_store;
use crate::db::scope::{self, Crossing, Scope};
use crate::db::tx::{self, Change, Touches, Work};
use crate::error::{AppError, AppResult, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity, Notice};
use crate::input;
use crate::mail::{Letter, MailKind};
use crate::pagination::{Page, PageRequest};
use crate::rate_limit::{self, Limit};
use crate::rbac::catalog::{Action, Resource};
use crate::rbac::standing::role_permissions;
use crate::sessions::service::{self as sessions, SignIn};
use crate::users::email::Email;
use crate::users::model::NewUser;
use crate::users::store as user_store;

/// Invitations a company may send per hour.
pub const INVITATIONS_PER_COMPANY: Limit = Limit::per_hour("invitations_company", 100);
/// Invitations one person may send per hour, whatever the company: companies are cheap to
/// create, and each invitation mails a stranger.
pub const INVITATIONS_PER_INVITER: Limit = Limit::per_hour("invitations_inviter", 100);
/// How long an invitation link works.
pub const INVITATION_TTL: Duration = Duration::days(7);
const MAX_MESSAGE_CHARS: usize = 1_000;

/// What an inviter submits.
pub struct InviteInput {
    pub company_id: Uuid,
    pub email: String,
    pub role_id: Uuid,
    pub message: Option<String>,
}

/// Invites someone to the company by email (Owner or Admin; only an Owner invites Owners).
/// Returns the invitation and what the inviter may see of members (for its `invitedBy`).
pub async fn invite(
    app: &App,
    caller: &Caller,
    input: InviteInput,
) -> AppResult<(InvitationRow, MemberRights)> {
    caller.acting()?;
    let mut check = InputCheck::default();
    let email = check.take(Email::parse(&input.email, "input.email"));
    let message = check.take(input::optional_text(
        input.message,
        "input.message",
        MAX_MESSAGE_CHARS,
    ));
    let invitation = tx::write(
        app,
        caller,
        Touches::MAIL,
        |Change { conn, actor, now, .. }| {
            async move {
                company_store::lock_company(conn, input.company_id).await?;
                let caller = access::member(conn, input.company_id, actor).await?;
                caller.require(Resource::Invitation, Action::Create)?;
                check.finish()?;
                let (Some(email), Some(message)) = (email, message) else {
                    return Err(AppError::internal(anyhow::anyhow!(
                        "input check passed without values"
                    )));
                };
                let role = company_store::find_role(conn, input.company_id, input.role_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("role"))?;
                let invite = Invite {
                    email: &email,
                    name: None,
                    role: &role,
                    message: message.as_deref(),
                };
                let invitation = send_invitation(app, conn, &caller, invite, now).await?;
                let activity = Activity::new(
                    invitation.company_id,
                    Some(actor),
                    Verb::MemberInvited,
                    ("invitation", invitation.id),
                    format!("{} invited as {}", invitation.email, role.name),
                )
                .visible_with(Resource::Invitation, Action::View)
                .data(json!({ "email": invitation.email, "role": role.name }));
                write::record(conn, now, activity).await?;
                let notices = invited_notices(conn, &[(&invitation, &role)]).await?;
                write::notify(conn, now, notices).await?;
                Ok((invitation, caller.member_rights()))
            }
            .boxed()
        },
    )
    .await?;
    Ok(invitation)
}

/// Notifications for invitees who already have a verified account (others learn by mail
/// only: an unverified account has not shown that the address is its holder's).
pub async fn invited_notices(
    conn: &mut AsyncPgConnection,
    invitations: &[(&InvitationRow, &RoleRow)],
) -> AppResult<Vec<Notice>> {
    let Some((first, _)) = invitations.first() else {
        return Ok(Vec::new());
    };
    let company = company_store::companies_by_ids(conn, &[first.company_id])
        .await?
        .pop()
        .map(|c| c.name)
        .unwrap_or_default();
    let mut notices = Vec::new();
    for (invitation, role) in invitations {
        let invitee = user_store::find_by_email(conn, &invitation.email).await?;
        if let Some(user) = invitee.filter(|user| user.email_verified_at.is_some()) {
            notices.push(Notice {
                user_id: user.id,
                company_id: None,
                kind: "invitation.received",
                title: format!("You were invited to {company}"),
                body: format!(
                    "You were invited to join {company} as {}. The email we sent has the link to accept.",
                    role.name
                ),
                link: None,
            });
        }
    }
    Ok(notices)
}

/// One invitation to send.
pub struct Invite<'a> {
    pub email: &'a Email,
    /// The invitee's name, when the inviter gave one (CSV import), for the greeting.
    pub name: Option<&'a str>,
    pub role: &'a RoleRow,
    pub message: Option<&'a str>,
}

/// Creates and mails an invitation in the caller's transaction: replaces an open one for
/// the same address, refuses existing members, counts toward the company's and the
/// inviter's hourly limits.
pub async fn send_invitation(
    app: &App,
    conn: &mut AsyncPgConnection,
    inviter: &Member,
    invite: Invite<'_>,
    now: DateTime<Utc>,
) -> AppResult<InvitationRow> {
    let company_id = inviter.company_id;
    inviter.require_can_grant(invite.role, role_permissions(conn, invite.role).await?)?;
    if is_member(conn, company_id, invite.email).await? {
        return Err(AppError::conflict(format!(
            "{} is already a member",
            invite.email.as_str()
        )));
    }
    rate_limit::hit(conn, INVITATIONS_PER_COMPANY, &company_id.to_string(), now).await?;
    let inviter_id = inviter.actor.id().to_string();
    rate_limit::hit(conn, INVITATIONS_PER_INVITER, &inviter_id, now).await?;
    store::retire_open(conn, company_id, invite.email.as_str(), now).await?;
    let token = OpaqueToken::generate();
    let invitation = store::insert(
        conn,
        &NewInvitation {
            id: Uuid::new_v4(),
            company_id,
            email: invite.email.as_str(),
            role_id: invite.role.id,
            invited_by: inviter.actor.user_id(),
            message: invite.message,
            token_hash: &token.hash,
            created_at: now,
            expires_at: now + INVITATION_TTL,
        },
    )
    .await?;
    mail_invitation(
        app,
        conn,
        &invitation,
        invite.role,
        invite.name,
        &token.secret,
        now,
    )
    .await?;
    Ok(invitation)
}

/// Whether the address belongs to a member of the company.
pub async fn is_member(conn: &mut AsyncPgConnection, company_id: Uuid, email: &Email) -> AppResult<bool> {
    let Some(user) = user_store::find_by_email(conn, email.as_str()).await? else {
        return Ok(false);
    };
    Ok(company_store::find_membership(conn, company_id, user.id)
        .await?
        .is_some())
}

async fn mail_invitation(
    app: &App,
    conn: &mut AsyncPgConnection,
    invitation: &InvitationRow,
    role: &RoleRow,
    name: Option<&str>,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let company = company_store::companies_by_ids(conn, &[invitation.company_id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("company"))?;
    let inviter = match invitation.invited_by {
        Some(id) => user_store::find_by_id(conn, id).await?.map(|u| u.name),
        None => None,
    };
    let mut letter = Letter::new(
        MailKind::Invitation,
        &invitation.email,
        name.unwrap_or(""),
        app.mailer.link("accept-invitation", token),
    )
    .with("company", company.name)
    .with("inviter", inviter.unwrap_or_else(|| "A colleague".to_owned()))
    .with("role", role.name.clone());
    if let Some(message) = &invitation.message {
        letter = letter.with("message", message.clone());
    }
    app.mailer.queue(conn, letter, now).await
}

/// An invitation of a company the caller belongs to, if they may do `action` to invitations.
async fn invitation_for(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    id: Uuid,
    action: Action,
) -> AppResult<(InvitationRow, Member)> {
    let invitation = store::find_for(conn, id, actor)
        .await?
        .ok_or_else(|| AppError::not_found("invitation"))?;
    let caller = access::member(conn, invitation.company_id, actor).await?;
    caller.require(Resource::Invitation, action)?;
    Ok((invitation, caller))
}

/// Mails a new link for an open invitation and extends its expiry; the old link dies.
/// Returns it with what the caller may see of members.
pub async fn resend(app: &App, caller: &Caller, id: Uuid) -> AppResult<(InvitationRow, MemberRights)> {
    let invitation = tx::write(
        app,
        caller,
        Touches::MAIL,
        |Change { conn, actor, now, .. }| {
            async move {
                let (invitation, caller) = invitation_for(conn, actor, id, Action::Create).await?;
                if invitation.replaced_at.is_some() {
                    return Err(AppError::conflict(
                        "a newer invitation to this address replaced this one",
                    ));
                }
                match invitation.state(now) {
                    InvitationState::Accepted => {
                        return Err(AppError::conflict("the invitation was already accepted"));
                    }
                    InvitationState::Revoked => {
                        return Err(AppError::conflict("the invitation was revoked; send a new one"));
                    }
                    InvitationState::Pending | InvitationState::Expired => {}
                }
                rate_limit::hit(
                    conn,
                    INVITATIONS_PER_COMPANY,
                    &invitation.company_id.to_string(),
                    now,
                )
                .await?;
                rate_limit::hit(conn, INVITATIONS_PER_INVITER, &actor.id().to_string(), now).await?;
                let token = OpaqueToken::generate();
                let invitation =
                    store::reissue(conn, invitation.id, &token.hash, now + INVITATION_TTL).await?;
                let role = company_store::find_role(conn, invitation.company_id, invitation.role_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("role"))?;
                caller.require_can_grant(&role, role_permissions(conn, &role).await?)?;
                mail_invitation(app, conn, &invitation, &role, None, &token.secret, now).await?;
                let activity = Activity::new(
                    invitation.company_id,
                    Some(actor),
                    Verb::InvitationResent,
                    ("invitation", invitation.id),
                    format!("Invitation to {} sent again", invitation.email),
                );
                write::record(conn, now, activity).await?;
                Ok((invitation, caller.member_rights()))
            }
            .boxed()
        },
    )
    .await?;
    Ok(invitation)
}

/// Kills an invitation's link. Returns it with what the caller may see of members.
pub async fn revoke(app: &App, caller: &Caller, id: Uuid) -> AppResult<(InvitationRow, MemberRights)> {
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let (invitation, caller) = invitation_for(conn, actor, id, Action::Delete).await?;
                let rights = caller.member_rights();
                match invitation.state(now) {
                    InvitationState::Accepted => {
                        Err(AppError::conflict("the invitation was already accepted"))
                    }
                    InvitationState::Revoked => Ok((invitation, rights)),
                    InvitationState::Pending | InvitationState::Expired => {
                        let revoked = store::revoke(conn, invitation.id, now).await?;
                        let activity = Activity::new(
                            invitation.company_id,
                            Some(actor),
                            Verb::InvitationRevoked,
                            ("invitation", invitation.id),
                            format!("Invitation to {} revoked", invitation.email),
                        );
                        write::record(conn, now, activity).await?;
                        Ok((revoked, rights))
                    }
                }
            }
            .boxed()
        },
    )
    .await
}

/// A page of the company's invitations (invitation:view), for a viewer whose standing this
/// request already loaded.
pub async fn list(
    app: &App,
    viewer: &Member,
    state: Option<InvitationState>,
    page: PageRequest,
) -> AppResult<Page<InvitationRow>> {
    viewer.require(Resource::Invitation, Action::View)?;
    let company_id = viewer.company_id;
    let now = app.clock.now();
    tx::read(app, viewer.actor.scope(), async |conn| {
        let rows = store::list(conn, company_id, state, page, now).await?;
        let total = store::count(conn, company_id, state, now).await?;
        Ok(Page::from_rows(rows, page, total))
    })
    .await
}

/// What an invitation link shows before sign-in.
pub struct Preview {
    pub company_name: String,
    pub inviter_name: Option<String>,
    pub email: String,
    pub role_name: String,
    pub state: InvitationState,
    pub expires_at: DateTime<Utc>,
    pub existing_account: bool,
}

/// The invitation behind a link, for anyone holding the link.
pub async fn preview(app: &App, token: &str) -> AppResult<Preview> {
    let now = app.clock.now();
    tx::read(app, Scope::Crossing(Crossing::Invitation), async |conn| {
        let invitation = store::find_by_token(conn, &hash_token(token), false)
            .await?
            .filter(|invitation| invitation.state(now) != InvitationState::Revoked)
            .ok_or_else(|| AppError::not_found("invitation"))?;
        let company = company_store::companies_by_ids(conn, &[invitation.company_id])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| AppError::not_found("invitation"))?;
        let role = company_store::find_role(conn, invitation.company_id, invitation.role_id)
            .await?
            .ok_or_else(|| AppError::not_found("invitation"))?;
        let inviter_name = match invitation.invited_by {
            Some(id) => user_store::find_by_id(conn, id).await?.map(|u| u.name),
            None => None,
        };
        let existing_account = user_store::find_by_email(conn, &invitation.email)
            .await?
            .is_some_and(|user| user.email_verified_at.is_some());
        Ok(Preview {
            company_name: company.name,
            inviter_name,
            state: invitation.state(now),
            email: invitation.email,
            role_name: role.name,
            expires_at: invitation.expires_at,
            existing_account,
        })
    })
    .await
}

/// Locks the pending invitation behind a token; NOT_FOUND or CONFLICT otherwise.
async fn pending_invitation(
    conn: &mut AsyncPgConnection,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<InvitationRow> {
    let invitation = store::find_by_token(conn, &hash_token(token), true)
        .await?
        .ok_or_else(|| AppError::not_found("invitation"))?;
    match invitation.state(now) {
        InvitationState::Pending => Ok(invitation),
        InvitationState::Accepted => Err(AppError::conflict("the invitation was already accepted")),
        InvitationState::Expired => Err(AppError::conflict(
            "the invitation has expired; ask for a new one",
        )),
        InvitationState::Revoked => Err(AppError::not_found("invitation")),
    }
}

async fn join(
    conn: &mut AsyncPgConnection,
    invitation: &InvitationRow,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<MembershipRow> {
    if company_store::find_membership(conn, invitation.company_id, user_id)
        .await?
        .is_some()
    {
        return Err(AppError::conflict("you are already a member of this company"));
    }
    let membership = company_store::insert_membership(
        conn,
        &NewMembership {
            id: Uuid::new_v4(),
            company_id: invitation.company_id,
            user_id,
            role_id: invitation.role_id,
            joined_at: now,
        },
    )
    .await?;
    store::accept(conn, invitation.id, user_id, now).await?;
    activate_if_none(conn, user_id, invitation.company_id).await?;
    let role = company_store::find_role(conn, invitation.company_id, invitation.role_id).await?;
    let role = role.map(|r| r.name).unwrap_or_default();
    let person = user_store::find_by_id(conn, user_id)
        .await?
        .map_or_else(|| invitation.email.clone(), |u| u.name);
    let activity = Activity::new(
        invitation.company_id,
        Some(Actor::User(user_id)),
        Verb::MemberJoined,
        ("user", user_id),
        format!("{person} joined as {role}"),
    )
    .data(json!({ "invitationId": invitation.id, "role": role }));
    write::record(conn, now, activity).await?;
    if let Some(inviter) = invitation.invited_by.filter(|inviter| *inviter != user_id) {
        let company = company_store::companies_by_ids(conn, &[invitation.company_id])
            .await?
            .pop()
            .map(|c| c.name)
            .unwrap_or_default();
        let notice = Notice {
            user_id: inviter,
            company_id: Some(invitation.company_id),
            kind: "invitation.accepted",
            title: format!("{person} accepted your invitation"),
            body: format!("{person} ({}) joined {company} as {role}.", invitation.email),
            link: None,
        };
        write::notify(conn, now, vec![notice]).await?;
    }
    Ok(membership)
}

/// Joins the company with the invited role; the caller's verified address must be the
/// invited one.
pub async fn accept(app: &App, caller: &Caller, token: &str) -> AppResult<MembershipRow> {
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                let user_id = actor.person()?;
                scope::cross(conn, Crossing::Invitation).await?;
                let invitation = pending_invitation(conn, token, now).await?;
                let user = user_store::find_by_id(conn, user_id)
                    .await?
                    .ok_or_else(|| AppError::unauthenticated("the account no longer exists"))?;
                if user.email.as_deref() != Some(invitation.email.as_str()) {
                    return Err(AppError::forbidden("this invitation was sent to another address"));
                }
                join(conn, &invitation, user.id, now).await
            }
            .boxed()
        },
    )
    .await
}

/// Creates an account for the invited address (verified: the link proves it), joins the
/// company and signs in. An account registered for the address that never verified it
/// does not stand in the way: it is discarded (with its sessions), as the link proves the
/// address is the invitee's.
pub async fn register_with_invitation(
    app: &App,
    token: &str,
    name: &str,
    password: &str,
    client: &ClientInfo,
) -> AppResult<SignIn> {
    let mut check = InputCheck::default();
    let name = check.take(input::text(name, "input.name", 1, 100));
    let password = check.take(app.passwords.check_new(password, "input.password"));
    check.finish()?;
    let (Some(name), Some(password)) = (name, password) else {
        return Err(AppError::internal(anyhow::anyhow!(
            "input check passed without values"
        )));
    };
    // Check the link before spending a password hash on it.
    tx::transaction(
        app,
        Scope::Crossing(Crossing::Invitation),
        Touches::ROWS,
        |Work { conn, now, .. }| {
            async move { pending_invitation(conn, token, now).await.map(|_| ()) }.boxed()
        },
    )
    .await?;
    let password_hash = app.passwords.hash(password).await?;
    let (user, session_id, refresh_token, discarded, now) = tx::transaction(
        app,
        Scope::Crossing(Crossing::Invitation),
        Touches::STANDING,
        |Work { conn, now, .. }| {
            async move {
                let invitation = pending_invitation(conn, token, now).await?;
                let discarded = user_store::delete_unverified(conn, &invitation.email).await?;
                let created = user_store::insert_user(
                    conn,
                    &NewUser {
                        id: Uuid::new_v4(),
                        email: &invitation.email,
                        name: &name,
                        password_hash: &password_hash,
                        email_verified_at: Some(now),
                        created_at: now,
                        updated_at: now,
                    },
                )
                .await?
                .ok_or_else(|| AppError::conflict("an account exists for this address; sign in to accept"))?;
                join(conn, &invitation, created.id, now).await?;
                let user = user_store::touch_last_login(conn, created.id, now).await?;
                let (session_id, refresh_token) =
                    sessions::open_session(app, conn, user.id, client, now).await?;
                Ok((user, session_id, refresh_token, discarded, now))
            }
            .boxed()
        },
    )
    .await?;
    if let Some(discarded) = discarded {
        app.sessions.forget_user(discarded);
    }
    sessions::sign_in(app, user, session_id, refresh_token, now)
}

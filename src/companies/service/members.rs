//! The team: listing members, changing their roles, removing them, leaving, and handing
//! ownership on. A company always keeps at least one Owner.

use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::move_active_company_off;
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::companies::access::{self, Member};
use crate::companies::model::{BuiltIn, CompanyRow, MembershipRow, RoleRow};
use crate::companies::store::{self, MemberFilter};
use crate::db::scope::{self, Crossing};
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity, Notice};
use crate::pagination::{Page, PageRequest};
use crate::projects::store as project_store;
use crate::rbac::catalog::{Action, Resource, built_in_permissions};
use crate::rbac::standing::role_permissions;
use crate::users::model::UserRow;

/// A page of the company's members with their users and roles (member:view), for a viewer
/// whose standing this request already loaded.
pub async fn list_members(
    app: &App,
    viewer: &Member,
    filter: MemberFilter,
    page: PageRequest,
) -> AppResult<Page<(MembershipRow, UserRow, RoleRow)>> {
    viewer.require(Resource::Member, Action::View)?;
    let company_id = viewer.company_id;
    tx::read(app, viewer.actor.scope(), async |conn| {
        let rows = store::list_members(conn, company_id, &filter, page).await?;
        let total = store::count_members(conn, company_id, &filter).await?;
        Ok(Page::from_rows(rows, page, total))
    })
    .await
}

/// Fails with CONFLICT when `target` is the company's last Owner.
async fn ensure_other_owner(conn: &mut AsyncPgConnection, target: &Member, what: &str) -> AppResult<()> {
    if !target.is_owner() {
        return Ok(());
    }
    let owners = store::lock_and_count_owners(conn, target.company_id, target.role.id).await?;
    if owners <= 1 {
        return Err(AppError::conflict(format!(
            "the company's last owner cannot {what}; make another member owner first"
        )));
    }
    Ok(())
}

async fn target_member(conn: &mut AsyncPgConnection, company_id: Uuid, user_id: Uuid) -> AppResult<Member> {
    access::member_without_two_factor(conn, company_id, Actor::User(user_id))
        .await
        .map_err(|_| AppError::not_found("member"))
}

/// Locks the company and returns (caller, target) when the caller may manage the target:
/// member:manage, and the target holds nothing the caller lacks.
async fn manageable_member(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    company_id: Uuid,
    user_id: Uuid,
) -> AppResult<(Member, Member)> {
    store::lock_company(conn, company_id).await?;
    let caller = access::member(conn, company_id, actor).await?;
    caller.require(Resource::Member, Action::Manage)?;
    let target = target_member(conn, company_id, user_id).await?;
    caller.require_outranks(&target)?;
    Ok((caller, target))
}

/// Gives a member another company-wide role (member:manage; only an Owner touches or makes
/// an Owner, and nobody hands out more than they hold).
pub async fn change_member_role(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    user_id: Uuid,
    role_id: Uuid,
) -> AppResult<MembershipRow> {
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                let (caller, target) = manageable_member(conn, actor, company_id, user_id).await?;
                let role = store::find_role(conn, company_id, role_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("role"))?;
                let grants_owner = role.built_in() == Some(BuiltIn::Owner);
                caller.require_can_grant(&role, role_permissions(conn, &role).await?)?;
                if !grants_owner {
                    ensure_other_owner(conn, &target, "be given another role").await?;
                }
                let membership = store::set_member_role(conn, target.membership()?.id, role.id).await?;
                let (company, person) = names(conn, company_id, user_id).await?;
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::MemberRoleChanged,
                    ("user", user_id),
                    format!("{person} is now {}", role.name),
                )
                .data(json!({ "userId": user_id, "before": target.role.name, "after": role.name }));
                write::record(conn, now, activity).await?;
                let notice = Notice {
                    user_id,
                    company_id: Some(company_id),
                    kind: "member.role_changed",
                    title: format!("Your role in {company} changed"),
                    body: format!(
                        "You are now {} in {company} (you were {}).",
                        role.name, target.role.name
                    ),
                    link: None,
                };
                write::notify(conn, now, vec![notice]).await?;
                Ok(membership)
            }
            .boxed()
        },
    )
    .await
}

/// Removes a member from the company (member:manage; only an Owner removes an Owner).
pub async fn remove_member(app: &App, caller: &Caller, company_id: Uuid, user_id: Uuid) -> AppResult<()> {
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                let (_, target) = manageable_member(conn, actor, company_id, user_id).await?;
                ensure_other_owner(conn, &target, "be removed").await?;
                store::delete_membership(conn, target.membership()?.id).await?;
                project_store::delete_grants_in_company(conn, company_id, user_id).await?;
                move_active_company_off(conn, user_id, company_id).await?;
                let (company, person) = names(conn, company_id, user_id).await?;
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::MemberRemoved,
                    ("user", user_id),
                    format!("{person} was removed from the company"),
                )
                .data(json!({ "userId": user_id, "role": target.role.name }));
                write::record(conn, now, activity).await?;
                let notice = Notice {
                    user_id,
                    company_id: None,
                    kind: "member.removed",
                    title: format!("You were removed from {company}"),
                    body: format!("You no longer have access to {company}."),
                    link: None,
                };
                write::notify(conn, now, vec![notice]).await
            }
            .boxed()
        },
    )
    .await
}

/// The caller leaves the company.
pub async fn leave_company(app: &App, caller: &Caller, company_id: Uuid) -> AppResult<()> {
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                let user_id = actor.person()?;
                store::lock_company(conn, company_id).await?;
                let member = access::member_without_two_factor(conn, company_id, actor).await?;
                ensure_other_owner(conn, &member, "leave").await?;
                // The leaver no longer reaches the company, yet records leaving it.
                scope::cross(conn, Crossing::Leaving).await?;
                store::delete_membership(conn, member.membership()?.id).await?;
                project_store::delete_grants_in_company(conn, company_id, user_id).await?;
                move_active_company_off(conn, user_id, company_id).await?;
                let (_, person) = names(conn, company_id, user_id).await?;
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::MemberLeft,
                    ("user", user_id),
                    format!("{person} left the company"),
                );
                write::record(conn, now, activity).await.map(|_| ())
            }
            .boxed()
        },
    )
    .await
}

/// Makes another member Owner and the caller Admin, in one transaction.
pub async fn transfer_ownership(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    user_id: Uuid,
) -> AppResult<(CompanyRow, Member)> {
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                store::lock_company(conn, company_id).await?;
                let caller = access::member(conn, company_id, actor).await?;
                caller.require_owner()?;
                let target = target_member(conn, company_id, user_id).await?;
                if target.actor == caller.actor {
                    return Err(AppError::invalid("userId", "is already an owner: it is you"));
                }
                let owner = store::built_in_role(conn, company_id, BuiltIn::Owner).await?;
                let admin = store::built_in_role(conn, company_id, BuiltIn::Admin).await?;
                store::set_member_role(conn, target.membership()?.id, owner.id).await?;
                let membership = store::set_member_role(conn, caller.membership()?.id, admin.id).await?;
                let company = store::find_for(conn, company_id, actor)
                    .await?
                    .ok_or_else(|| AppError::not_found("company"))?;
                let (_, person) = names(conn, company_id, user_id).await?;
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::MemberOwnershipTransferred,
                    ("user", user_id),
                    format!("{person} is now the owner"),
                )
                .data(json!({ "userId": user_id }));
                write::record(conn, now, activity).await?;
                let notice = Notice {
                    user_id,
                    company_id: Some(company_id),
                    kind: "member.role_changed",
                    title: format!("You now own {}", company.name),
                    body: format!("Ownership of {} was handed to you.", company.name),
                    link: None,
                };
                write::notify(conn, now, vec![notice]).await?;
                let member = Member {
                    company_id,
                    actor,
                    membership: Some(membership),
                    role: admin,
                    permissions: built_in_permissions(BuiltIn::Admin),
                };
                Ok((company, member))
            }
            .boxed()
        },
    )
    .await
}

/// CONFLICT while the user is the only Owner of any company (their account cannot go).
/// Locks those companies first, like every other change to who owns them.
pub async fn ensure_not_sole_owner(conn: &mut AsyncPgConnection, user_id: Uuid) -> AppResult<()> {
    store::lock_companies_owned_by(conn, user_id).await?;
    let companies = store::companies_where_sole_owner(conn, user_id).await?;
    if companies.is_empty() {
        return Ok(());
    }
    Err(AppError::conflict(format!(
        "you are the only owner of {}; transfer ownership or delete the company first",
        companies.join(", ")
    )))
}

/// The company's and the user's names, for event summaries and notifications.
async fn names(conn: &mut AsyncPgConnection, company_id: Uuid, user_id: Uuid) -> AppResult<(String, String)> {
    let company = store::companies_by_ids(conn, &[company_id])
        .await?
        .pop()
        .map(|c| c.name)
        .unwrap_or_default();
    let person = crate::users::store::users_by_ids(conn, &[user_id])
        .await?
        .pop()
        .map_or_else(|| "A member".to_owned(), |u| u.name);
    Ok((company, person))
}

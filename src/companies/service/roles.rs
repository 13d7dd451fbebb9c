//! Custom roles of a company. Built-in roles are fixed; custom roles hold any
//! subset of the catalog, but nobody creates, edits or deletes a role that holds more than
//! they do.

use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use crate::api_keys::store as key_store;
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::companies::access::{self, Member};
use crate::companies::model::BuiltIn;
use crate::companies::model::{NewRole, RoleRow};
use crate::companies::store as company_store;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, FieldError, InputCheck};
use crate::events::access::permission_name;
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::input;
use crate::rbac::catalog::{Action, Permission, PermissionSet, Resource};
use crate::rbac::standing::role_permissions;
use crate::rbac::store;
use crate::webhooks::store as webhook_store;

/// A custom role as submitted.
pub struct RoleSpec {
    pub company_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<Permission>,
}

struct CheckedSpec {
    name: String,
    description: Option<String>,
    permissions: PermissionSet,
}

fn check_spec(spec: RoleSpec) -> AppResult<CheckedSpec> {
    let mut check = InputCheck::default();
    let name = check.take(input::text(&spec.name, "input.name", 1, 60));
    let description = check.take(input::optional_text(spec.description, "input.description", 500));
    let unknown: Vec<FieldError> = spec
        .permissions
        .iter()
        .enumerate()
        .filter(|(_, p)| !PermissionSet::exists(**p))
        .map(|(index, p)| FieldError {
            path: format!("input.permissions.{index}"),
            message: format!(
                "{}:{} is not in the permission catalog",
                p.resource.as_str(),
                p.action.as_str()
            ),
        })
        .collect();
    if !unknown.is_empty() {
        check.take::<()>(Err(AppError::invalid_fields(unknown)));
    }
    check.finish()?;
    let (Some(name), Some(description)) = (name, description) else {
        return Err(AppError::internal(anyhow::anyhow!(
            "input check passed without values"
        )));
    };
    Ok(CheckedSpec {
        name,
        description,
        permissions: spec.permissions.into_iter().collect(),
    })
}

/// FORBIDDEN unless the caller holds every permission in `set`.
fn require_holds(caller: &Member, set: PermissionSet, what: &str) -> AppResult<()> {
    let excess: Vec<String> = set
        .without(caller.permissions)
        .iter()
        .map(|p| format!("{}:{}", p.resource.as_str(), p.action.as_str()))
        .collect();
    if excess.is_empty() {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "you cannot {what} permissions you do not hold: {}",
            excess.join(", ")
        )))
    }
}

/// Creates a custom role (role:manage, and only with permissions the caller holds).
pub async fn create_role(app: &App, caller: &Caller, spec: RoleSpec) -> AppResult<RoleRow> {
    caller.acting()?;
    let company_id = spec.company_id;
    let checked = check_spec(spec);
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                company_store::lock_company(conn, company_id).await?;
                let caller = access::member(conn, company_id, actor).await?;
                caller.require(Resource::Role, Action::Manage)?;
                let spec = checked?;
                require_holds(&caller, spec.permissions, "grant")?;
                if company_store::find_role_by_name(conn, company_id, &spec.name)
                    .await?
                    .is_some()
                {
                    return Err(AppError::conflict(format!(
                        "the company already has a role named {}",
                        spec.name
                    )));
                }
                let role = NewRole {
                    id: Uuid::new_v4(),
                    company_id,
                    name: &spec.name,
                    built_in: None,
                    description: spec.description.as_deref(),
                    created_at: now,
                };
                let role = company_store::insert_roles(conn, &[role])
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| AppError::internal(anyhow::anyhow!("role insert returned nothing")))?;
                store::replace_permissions(conn, role.id, spec.permissions).await?;
                record_role(conn, now, actor, &role, Verb::RoleCreated, Some(spec.permissions)).await?;
                Ok(role)
            }
            .boxed()
        },
    )
    .await
}

/// The event of a custom role change, with its permissions when it has any.
async fn record_role(
    conn: &mut diesel_async::AsyncPgConnection,
    now: chrono::DateTime<chrono::Utc>,
    actor: Actor,
    role: &RoleRow,
    verb: Verb,
    permissions: Option<PermissionSet>,
) -> AppResult<()> {
    let done = match verb {
        Verb::RoleCreated => "created",
        Verb::RoleDeleted => "deleted",
        _ => "changed",
    };
    let mut activity = Activity::new(
        role.company_id,
        Some(actor),
        verb,
        ("role", role.id),
        format!("Role {} {done}", role.name),
    );
    if let Some(permissions) = permissions {
        let names: Vec<String> = permissions.iter().map(permission_name).collect();
        activity = activity.data(json!({ "name": role.name, "permissions": names }));
    }
    write::record(conn, now, activity).await.map(|_| ())
}

/// A custom role of a company the caller belongs to, which they may change: role:manage,
/// not built-in, and holding nothing the caller lacks.
async fn changeable_role(
    conn: &mut diesel_async::AsyncPgConnection,
    actor: Actor,
    role_id: Uuid,
) -> AppResult<(RoleRow, Member)> {
    let role = company_store::find_role_for(conn, role_id, actor)
        .await?
        .ok_or_else(|| AppError::not_found("role"))?;
    company_store::lock_company(conn, role.company_id).await?;
    let caller = access::member(conn, role.company_id, actor).await?;
    caller.require(Resource::Role, Action::Manage)?;
    if role.built_in().is_some() {
        return Err(AppError::forbidden(
            "built-in roles cannot be changed; create a custom role instead",
        ));
    }
    require_holds(
        &caller,
        role_permissions(conn, &role).await?,
        "change a role holding",
    )?;
    Ok((role, caller))
}

/// Renames, describes and re-permissions a custom role.
pub async fn update_role(app: &App, caller: &Caller, role_id: Uuid, spec: RoleSpec) -> AppResult<RoleRow> {
    caller.acting()?;
    let company_id = spec.company_id;
    let checked = check_spec(spec);
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                let (role, caller) = changeable_role(conn, actor, role_id).await?;
                if role.company_id != company_id {
                    return Err(AppError::not_found("role"));
                }
                let spec = checked?;
                require_holds(&caller, spec.permissions, "grant")?;
                if let Some(other) = company_store::find_role_by_name(conn, company_id, &spec.name).await?
                    && other.id != role.id
                {
                    return Err(AppError::conflict(format!(
                        "the company already has a role named {}",
                        spec.name
                    )));
                }
                let role = company_store::update_role(conn, role.id, &spec.name, spec.description.as_deref())
                    .await?;
                store::replace_permissions(conn, role.id, spec.permissions).await?;
                record_role(conn, now, actor, &role, Verb::RoleUpdated, Some(spec.permissions)).await?;
                Ok(role)
            }
            .boxed()
        },
    )
    .await
}

/// Deletes a custom role nobody holds any more.
pub async fn delete_role(app: &App, caller: &Caller, role_id: Uuid) -> AppResult<()> {
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                let (role, _) = changeable_role(conn, actor, role_id).await?;
                let (members, grants, invitations) = store::holders(conn, role.id, now).await?;
                let keys = key_store::count_live_with_role(conn, role.id, now).await?;
                let webhooks = webhook_store::count_with_role(conn, role.id).await?;
                if members + grants + invitations + keys + webhooks > 0 {
                    return Err(AppError::conflict(format!(
                        "the role {} is still in use ({members} member(s), {grants} project grant(s), \
                 {invitations} pending invitation(s), {keys} live API key(s), {webhooks} webhook(s)); \
                 move, revoke or delete them first",
                        role.name
                    )));
                }
                // Keys that no longer act (revoked, expired) stay, so what they did still
                // names them; they are shown with the company's Viewer role instead.
                let viewer = company_store::built_in_role(conn, role.company_id, BuiltIn::Viewer).await?;
                key_store::move_dead_to_role(conn, role.id, viewer.id, now).await?;
                company_store::delete_role(conn, role.id).await?;
                record_role(conn, now, actor, &role, Verb::RoleDeleted, None).await
            }
            .boxed()
        },
    )
    .await
}

//! Creating, reading, editing, switching to and deleting companies.

use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use uuid::Uuid;

use super::move_active_company_off;
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::companies::access::{self, Member};
use crate::companies::model::{
    BuiltIn, CompanyChanges, CompanyRow, MembershipRow, NewCompany, NewMembership, NewRole, RoleRow,
};
use crate::companies::store;
use crate::db::scope::{self, Crossing, Scope};
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, ErrorCode, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::input;
use crate::mail::{Letter, MailKind};
use crate::rate_limit::{self, Limit};
use crate::rbac::catalog::{Action, Resource, built_in_permissions};
use crate::rbac::standing::permissions_of;
use crate::users::store as user_store;

const MAX_SLUG_CHARS: usize = 48;

/// What a user submits to create a company.
#[derive(Debug, Default)]
pub struct NewCompanyInput {
    pub name: String,
    pub industry: Option<String>,
    pub size: Option<String>,
    pub website: Option<String>,
}

/// Company edits: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct CompanyUpdate {
    pub name: Option<Option<String>>,
    pub industry: Option<Option<String>>,
    pub size: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub logo_url: Option<Option<String>>,
    /// Whether members need a second factor (company:manage).
    pub require_two_factor: Option<bool>,
}

fn parse_company_name(raw: &str, path: &str) -> AppResult<String> {
    input::text(raw, path, 2, 100)
}

/// Companies one account may create per day: each can mail invitations in its name.
pub const COMPANIES_PER_USER: Limit = Limit::per_day("companies_user", 10);

/// Creates a company with its five built-in roles; the caller becomes its Owner.
pub async fn create_company(
    app: &App,
    caller: &Caller,
    new: NewCompanyInput,
) -> AppResult<(CompanyRow, Member)> {
    let user_id = caller.verified()?.user_id;
    let mut check = InputCheck::default();
    let name = check.take(parse_company_name(&new.name, "input.name"));
    let industry = check
        .take(input::optional_text(new.industry, "input.industry", 100))
        .flatten();
    let size = check
        .take(input::optional_text(new.size, "input.size", 50))
        .flatten();
    let website = check
        .take(input::optional_url(new.website, "input.website"))
        .flatten();
    check.finish()?;
    let Some(name) = name else {
        return Err(AppError::internal(anyhow::anyhow!(
            "input check passed without a name"
        )));
    };
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                rate_limit::hit(conn, COMPANIES_PER_USER, &user_id.to_string(), now).await?;
                // Its first rows exist before the caller is its member.
                scope::cross(conn, Crossing::NewCompany).await?;
                let base = slugify(&name);
                let mut attempt = 1;
                let company = loop {
                    let slug = if attempt == 1 {
                        base.clone()
                    } else {
                        format!("{base}-{attempt}")
                    };
                    let row = NewCompany {
                        id: Uuid::new_v4(),
                        name: &name,
                        slug: &slug,
                        industry: industry.as_deref(),
                        size: size.as_deref(),
                        website: website.as_deref(),
                        created_at: now,
                        updated_at: now,
                    };
                    if let Some(company) = store::insert_company(conn, &row).await? {
                        break company;
                    }
                    attempt += 1;
                };
                let roles: Vec<NewRole<'_>> = BuiltIn::ALL
                    .iter()
                    .map(|role| NewRole {
                        id: Uuid::new_v4(),
                        company_id: company.id,
                        name: role.display_name(),
                        built_in: Some(role.as_str()),
                        description: Some(role.description()),
                        created_at: now,
                    })
                    .collect();
                let roles = store::insert_roles(conn, &roles).await?;
                let owner = roles
                    .into_iter()
                    .find(|role| role.built_in() == Some(BuiltIn::Owner))
                    .ok_or_else(|| AppError::internal(anyhow::anyhow!("owner role was not created")))?;
                let membership = store::insert_membership(
                    conn,
                    &NewMembership {
                        id: Uuid::new_v4(),
                        company_id: company.id,
                        user_id,
                        role_id: owner.id,
                        joined_at: now,
                    },
                )
                .await?;
                activate_if_none(conn, user_id, company.id).await?;
                let summary = format!("Company {} created", company.name);
                write::record(
                    conn,
                    now,
                    Activity::new(
                        company.id,
                        Some(actor),
                        Verb::CompanyCreated,
                        ("company", company.id),
                        summary,
                    ),
                )
                .await?;
                let company_id = company.id;
                Ok((
                    company,
                    Member {
                        company_id,
                        actor,
                        membership: Some(membership),
                        role: owner,
                        permissions: built_in_permissions(BuiltIn::Owner),
                    },
                ))
            }
            .boxed()
        },
    )
    .await
}

/// Makes `company_id` the user's active company when they have none yet.
pub async fn activate_if_none(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    company_id: Uuid,
) -> AppResult<()> {
    let user = user_store::find_by_id(conn, user_id).await?;
    if user.is_some_and(|u| u.active_company_id.is_none()) {
        store::set_active_company(conn, user_id, Some(company_id)).await?;
    }
    Ok(())
}

/// A company the caller belongs to, with their standing in it.
pub async fn get_company(app: &App, caller: &Caller, company_id: Uuid) -> AppResult<(CompanyRow, Member)> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let member = access::member(conn, company_id, actor).await?;
        member.require(Resource::Company, Action::View)?;
        let company = store::find_for(conn, company_id, actor)
            .await?
            .ok_or_else(|| AppError::not_found("company"))?;
        Ok((company, member))
    })
    .await
}

/// Edits the company's profile (Owner or Admin).
pub async fn update_company(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    update: CompanyUpdate,
) -> AppResult<(CompanyRow, Member)> {
    caller.acting()?;
    let mut check = InputCheck::default();
    let changes = CompanyChanges {
        name: match update.name {
            None => None,
            Some(None) => check.take(Err(AppError::invalid("input.name", "must not be null"))),
            Some(Some(name)) => check.take(parse_company_name(&name, "input.name")),
        },
        industry: update.industry.map(|v| {
            check
                .take(input::optional_text(v, "input.industry", 100))
                .flatten()
        }),
        size: update
            .size
            .map(|v| check.take(input::optional_text(v, "input.size", 50)).flatten()),
        website: update
            .website
            .map(|v| check.take(input::optional_url(v, "input.website")).flatten()),
        logo_url: update
            .logo_url
            .map(|v| check.take(input::optional_url(v, "input.logoUrl")).flatten()),
        require_two_factor: update.require_two_factor,
    };
    let touches = if changes.require_two_factor.is_some() {
        Touches::STANDING
    } else {
        Touches::ROWS
    };
    tx::write(app, caller, touches, |Change { conn, actor, now, .. }| {
        async move {
            let member = access::member(conn, company_id, actor).await?;
            member.require(Resource::Company, Action::Edit)?;
            if let Some(required) = changes.require_two_factor {
                member.require(Resource::Company, Action::Manage)?;
                // A rule about people's sign-in is a person's to set.
                member.membership()?;
                if required {
                    require_own_second_factor(conn, &member).await?;
                }
            }
            check.finish()?;
            let company = store::update_company(conn, company_id, &changes, now).await?;
            let summary = match changes.require_two_factor {
                Some(true) => format!("{} now requires two-factor sign-in", company.name),
                Some(false) => format!("{} no longer requires two-factor sign-in", company.name),
                None => format!("Company profile of {} updated", company.name),
            };
            write::record(
                conn,
                now,
                Activity::new(
                    company.id,
                    Some(actor),
                    Verb::CompanyUpdated,
                    ("company", company.id),
                    summary,
                ),
            )
            .await?;
            Ok((company, member))
        }
        .boxed()
    })
    .await
}

/// Deletes the company and everything it owns (company:delete, a person's act whatever a
/// key's role holds, with the name typed to confirm); every member is told by mail.
pub async fn delete_company(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    confirm_name: &str,
) -> AppResult<()> {
    caller.verified()?;
    tx::write(
        app,
        caller,
        Touches::STANDING_AND_MAIL,
        |Change { conn, actor, now, .. }| {
            async move {
                store::lock_company(conn, company_id).await?;
                let member = access::member(conn, company_id, actor).await?;
                member.require(Resource::Company, Action::Delete)?;
                let company = store::find_for(conn, company_id, actor)
                    .await?
                    .ok_or_else(|| AppError::not_found("company"))?;
                if confirm_name.trim() != company.name {
                    return Err(AppError::invalid("confirmName", "must equal the company's name"));
                }
                let contacts = store::member_contacts(conn, company_id).await?;
                let members = store::member_ids(conn, company_id).await?;
                write::lock_stream(conn, company_id).await?;
                // Once it is gone nobody reaches it, yet its members are told.
                scope::cross(conn, Crossing::CompanyDeletion).await?;
                store::delete_company(conn, company_id).await?;
                write::announce_company_deleted(conn, company_id).await?;
                for user_id in members {
                    move_active_company_off(conn, user_id, company_id).await?;
                }
                for (name, email) in &contacts {
                    if let Some(email) = email.as_deref() {
                        let letter = Letter::new(MailKind::CompanyDeleted, email, name, app.mailer.page(""))
                            .with("company", company.name.clone());
                        app.mailer.queue(conn, letter, now).await?;
                    }
                }
                Ok(())
            }
            .boxed()
        },
    )
    .await?;
    Ok(())
}

/// The company's roles (role:view), for a viewer whose standing this request already loaded.
pub async fn list_roles(app: &App, viewer: &Member) -> AppResult<Vec<RoleRow>> {
    viewer.require(Resource::Role, Action::View)?;
    tx::read(app, viewer.actor.scope(), async |conn| {
        Ok(store::list_roles(conn, viewer.company_id).await?)
    })
    .await
}

/// BAD_USER_INPUT unless the person requiring a second factor of everyone has one: they
/// would otherwise lock themselves out of the company with the same stroke.
async fn require_own_second_factor(conn: &mut AsyncPgConnection, member: &Member) -> AppResult<()> {
    let user_id = member.actor.person()?;
    let has_one = user_store::find_by_id(conn, user_id)
        .await?
        .is_some_and(|user| user.totp_enabled);
    if has_one {
        Ok(())
    } else {
        Err(AppError::invalid(
            "input.requireTwoFactor",
            "turn on two-factor sign-in for your own account first",
        ))
    }
}

/// Makes a company the caller's active one.
pub async fn set_active_company(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
) -> AppResult<(CompanyRow, Member)> {
    let actor = caller.signed_in()?.user_id;
    let (company, member) = get_company(app, caller, company_id).await?;
    tx::read(app, Scope::Person(actor), async |conn| {
        store::set_active_company(conn, actor, Some(company_id)).await?;
        Ok((company, member))
    })
    .await
}

/// One of the caller's memberships, with their standing and its company.
pub struct OwnMembership {
    pub membership: MembershipRow,
    pub member: Member,
    pub company: CompanyRow,
    /// Whether the company holds the caller back until they turn on a second factor (its
    /// data is then out of reach, though the membership stands).
    pub held_back: bool,
}

/// The caller's memberships with their standing and companies, oldest first.
pub async fn my_memberships(app: &App, caller: &Caller) -> AppResult<Vec<OwnMembership>> {
    let actor = caller.signed_in()?.user_id;
    tx::read(app, Scope::Person(actor), async |conn| {
        let rows = store::memberships_of_user_detailed(conn, actor).await?;
        let roles: Vec<RoleRow> = rows.iter().map(|(_, role, _, _)| role.clone()).collect();
        let permissions = permissions_of(conn, &roles).await?;
        Ok(rows
            .into_iter()
            .map(|(membership, role, company, held_back)| {
                let permissions = permissions.get(&role.id).copied().unwrap_or_default();
                let member = Member {
                    company_id: membership.company_id,
                    actor: Actor::User(actor),
                    membership: Some(membership.clone()),
                    role,
                    permissions,
                };
                OwnMembership {
                    membership,
                    member,
                    company,
                    held_back,
                }
            })
            .collect())
    })
    .await
}

/// The caller's active company, if they belong to any.
pub async fn active_company(app: &App, caller: &Caller) -> AppResult<Option<(CompanyRow, Member)>> {
    let user_id = caller.signed_in()?.user_id;
    let actor = Actor::User(user_id);
    tx::read(app, actor.scope(), async |conn| {
        let Some(company_id) = user_store::find_by_id(conn, user_id)
            .await?
            .and_then(|user| user.active_company_id)
        else {
            return Ok(None);
        };
        let member = match access::member(conn, company_id, actor).await {
            Ok(member) => member,
            Err(error) if error.code == ErrorCode::NotFound => {
                // No longer a member there: fall back to another company of theirs.
                store::move_active_company_off(conn, user_id, company_id).await?;
                return Ok(None);
            }
            // Held back until they turn on a second factor: the choice stands for then.
            Err(error) if error.code == ErrorCode::Forbidden => return Ok(None),
            Err(error) => return Err(error),
        };
        let company = store::find_for(conn, company_id, actor).await?;
        Ok(company.map(|company| (company, member)))
    })
    .await
}

/// A URL-safe slug: lower-case ASCII letters and digits joined by single dashes.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= MAX_SLUG_CHARS {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "company".to_owned()
    } else {
        slug
    }
}

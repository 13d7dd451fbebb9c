//! SQL for companies, roles and memberships. Reads of tenant data take the company id, or
//! reach a company only as the caller does ([`reached_by`]): a person through their own
//! memberships, an API key in its one company.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{
    BuiltIn, CompanyChanges, CompanyRow, MembershipRow, NewCompany, NewMembership, NewRole, RoleRow,
};
use crate::auth::caller::Actor;
use crate::db::schema::{activity_events, companies, memberships, notifications, roles, users};
use crate::pagination::{Cursor, PageRequest};
use crate::users::model::UserRow;

/// Inserts a company; None when its slug is taken.
pub async fn insert_company(
    conn: &mut AsyncPgConnection,
    company: &NewCompany<'_>,
) -> QueryResult<Option<CompanyRow>> {
    diesel::insert_into(companies::table)
        .values(company)
        .on_conflict(companies::slug)
        .do_nothing()
        .returning(CompanyRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Locks the company row until the transaction ends: every change to its team takes this
/// lock first, so two changes can never both see an owner that the other removes.
pub async fn lock_company(conn: &mut AsyncPgConnection, company_id: Uuid) -> QueryResult<()> {
    companies::table
        .find(company_id)
        .select(companies::id)
        .for_update()
        .load::<Uuid>(conn)
        .await
        .map(|_| ())
}

/// Locks every company in which the user is an owner (in id order, so concurrent callers
/// cannot deadlock).
pub async fn lock_companies_owned_by(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<()> {
    let owned = memberships::table
        .inner_join(roles::table)
        .filter(memberships::user_id.eq(user_id))
        .filter(roles::built_in.eq(BuiltIn::Owner.as_str()))
        .select(memberships::company_id);
    companies::table
        .filter(companies::id.eq_any(owned))
        .order(companies::id)
        .select(companies::id)
        .for_update()
        .load::<Uuid>(conn)
        .await
        .map(|_| ())
}

/// The companies a person belongs to, as a subquery.
type MemberCompanies = diesel::dsl::Select<
    diesel::dsl::Filter<memberships::table, diesel::dsl::Eq<memberships::user_id, Uuid>>,
    memberships::company_id,
>;

/// The condition [`reached_by`] builds.
pub type Reached<C> = diesel::dsl::Or<diesel::dsl::Eq<C, Uuid>, diesel::dsl::EqAny<C, MemberCompanies>>;

/// The condition "`company_id` is a company `actor` reaches", for any query naming a
/// company id column: a person's companies are those they belong to, a key's is its own.
/// Every lookup of tenant data by id goes through it, so nothing of another company is
/// ever found. One shape serves both (`company_id = $key's OR company_id IN (the person's)`,
/// the side that does not apply given the nil id, which no company or person has), so
/// queries stay unboxed and `Send`.
pub fn reached_by<C>(actor: Actor, company_id: C) -> Reached<C>
where
    C: ExpressionMethods + Expression<SqlType = diesel::sql_types::Uuid> + Copy,
    diesel::dsl::Eq<C, Uuid>: Expression<SqlType = diesel::sql_types::Bool>,
    diesel::dsl::EqAny<C, MemberCompanies>: Expression<SqlType = diesel::sql_types::Bool>,
{
    let (person, own_company) = reach_ids(actor);
    company_id.eq(own_company).or(company_id.eq_any(
        memberships::table
            .filter(memberships::user_id.eq(person))
            .select(memberships::company_id),
    ))
}

/// The (person, company) pair [`reached_by`] compares with: a person's id and the nil id,
/// or the nil id and a key's company (for SQL written by hand that states the same rule).
pub fn reach_ids(actor: Actor) -> (Uuid, Uuid) {
    match actor {
        Actor::User(user_id) => (user_id, Uuid::nil()),
        Actor::ApiKey { company_id, .. } => (Uuid::nil(), company_id),
    }
}

/// The company, if `actor` reaches it.
pub async fn find_for(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    actor: Actor,
) -> QueryResult<Option<CompanyRow>> {
    companies::table
        .filter(companies::id.eq(company_id))
        .filter(reached_by(actor, companies::id))
        .select(CompanyRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Companies by id, for the loader (ids come from rows already scoped to the caller).
pub async fn companies_by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<CompanyRow>> {
    companies::table
        .filter(companies::id.eq_any(ids))
        .select(CompanyRow::as_select())
        .load(conn)
        .await
}

/// Applies company changes.
pub async fn update_company(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: &CompanyChanges,
    now: DateTime<Utc>,
) -> QueryResult<CompanyRow> {
    diesel::update(companies::table.find(id))
        .set((changes, companies::updated_at.eq(now)))
        .returning(CompanyRow::as_returning())
        .get_result(conn)
        .await
}

/// Deletes a company; its roles, memberships and invitations go with it (ON DELETE CASCADE).
pub async fn delete_company(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::delete(memberships::table.filter(memberships::company_id.eq(id)))
        .execute(conn)
        .await?;
    diesel::delete(activity_events::table.filter(activity_events::company_id.eq(id)))
        .execute(conn)
        .await?;
    diesel::delete(notifications::table.filter(notifications::company_id.eq(Some(id))))
        .execute(conn)
        .await?;
    diesel::delete(companies::table.find(id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Creates roles.
pub async fn insert_roles(
    conn: &mut AsyncPgConnection,
    new_roles: &[NewRole<'_>],
) -> QueryResult<Vec<RoleRow>> {
    diesel::insert_into(roles::table)
        .values(new_roles)
        .returning(RoleRow::as_returning())
        .get_results(conn)
        .await
}

/// The company's roles, built-in ones first in rank order, then custom ones by name.
pub async fn list_roles(conn: &mut AsyncPgConnection, company_id: Uuid) -> QueryResult<Vec<RoleRow>> {
    let mut rows: Vec<RoleRow> = roles::table
        .filter(roles::company_id.eq(company_id))
        .select(RoleRow::as_select())
        .load(conn)
        .await?;
    rows.sort_by_key(|role| {
        let rank = role
            .built_in()
            .and_then(|b| BuiltIn::ALL.iter().position(|x| *x == b));
        (rank.unwrap_or(usize::MAX), role.name.to_lowercase())
    });
    Ok(rows)
}

/// One of the company's roles.
pub async fn find_role(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    role_id: Uuid,
) -> QueryResult<Option<RoleRow>> {
    roles::table
        .find(role_id)
        .filter(roles::company_id.eq(company_id))
        .select(RoleRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// A role of a company `actor` reaches.
pub async fn find_role_for(
    conn: &mut AsyncPgConnection,
    role_id: Uuid,
    actor: Actor,
) -> QueryResult<Option<RoleRow>> {
    roles::table
        .filter(roles::id.eq(role_id))
        .filter(reached_by(actor, roles::company_id))
        .select(RoleRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Renames and describes a role.
pub async fn update_role(
    conn: &mut AsyncPgConnection,
    role_id: Uuid,
    name: &str,
    description: Option<&str>,
) -> QueryResult<RoleRow> {
    diesel::update(roles::table.find(role_id))
        .set((roles::name.eq(name), roles::description.eq(description)))
        .returning(RoleRow::as_returning())
        .get_result(conn)
        .await
}

/// Deletes a role (its pending invitations go with it).
pub async fn delete_role(conn: &mut AsyncPgConnection, role_id: Uuid) -> QueryResult<()> {
    diesel::delete(roles::table.find(role_id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The company's role with this name (case-insensitive).
pub async fn find_role_by_name(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    name: &str,
) -> QueryResult<Option<RoleRow>> {
    roles::table
        .filter(roles::company_id.eq(company_id))
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = lower(")
                .bind::<diesel::sql_types::Text, _>(name)
                .sql(")"),
        )
        .select(RoleRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The company's built-in role.
pub async fn built_in_role(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    role: BuiltIn,
) -> QueryResult<RoleRow> {
    roles::table
        .filter(roles::company_id.eq(company_id))
        .filter(roles::built_in.eq(role.as_str()))
        .select(RoleRow::as_select())
        .first(conn)
        .await
}

/// Roles by id, for the loader.
pub async fn roles_by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<RoleRow>> {
    roles::table
        .filter(roles::id.eq_any(ids))
        .select(RoleRow::as_select())
        .load(conn)
        .await
}

/// Adds a member.
pub async fn insert_membership(
    conn: &mut AsyncPgConnection,
    membership: &NewMembership,
) -> QueryResult<MembershipRow> {
    diesel::insert_into(memberships::table)
        .values(membership)
        .returning(MembershipRow::as_returning())
        .get_result(conn)
        .await
}

/// The user's membership of the company with its role.
pub async fn find_membership(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    user_id: Uuid,
) -> QueryResult<Option<(MembershipRow, RoleRow)>> {
    memberships::table
        .inner_join(roles::table)
        .filter(memberships::company_id.eq(company_id))
        .filter(memberships::user_id.eq(user_id))
        .select((MembershipRow::as_select(), RoleRow::as_select()))
        .first(conn)
        .await
        .optional()
}

/// The user's membership in the company with its role, and whether the company holds
/// them back because it requires a second factor they have not turned on.
pub async fn find_member(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    user_id: Uuid,
) -> QueryResult<Option<(MembershipRow, RoleRow, bool)>> {
    memberships::table
        .inner_join(roles::table)
        .inner_join(companies::table)
        .inner_join(users::table)
        .filter(memberships::company_id.eq(company_id))
        .filter(memberships::user_id.eq(user_id))
        .select((
            MembershipRow::as_select(),
            RoleRow::as_select(),
            held_back_by_two_factor(),
        ))
        .first(conn)
        .await
        .optional()
}

/// Whether a membership's company requires a second factor its member has not turned on
/// (for queries joining memberships to companies and users).
#[diesel::dsl::auto_type]
fn held_back_by_two_factor() -> _ {
    companies::require_two_factor.and(diesel::dsl::not(users::totp_enabled))
}

/// The user's memberships with their roles and companies, oldest first, each saying
/// whether its company holds them back for want of a second factor.
pub async fn memberships_of_user_detailed(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<(MembershipRow, RoleRow, CompanyRow, bool)>> {
    memberships::table
        .inner_join(roles::table)
        .inner_join(companies::table)
        .inner_join(users::table)
        .filter(memberships::user_id.eq(user_id))
        .order((memberships::joined_at, memberships::id))
        .select((
            MembershipRow::as_select(),
            RoleRow::as_select(),
            CompanyRow::as_select(),
            held_back_by_two_factor(),
        ))
        .load(conn)
        .await
}

/// Each company the user belongs to, with their role there and whether it holds them back
/// for want of a second factor.
pub async fn roles_of_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<(Uuid, RoleRow, bool)>> {
    memberships::table
        .inner_join(roles::table.on(roles::id.eq(memberships::role_id)))
        .inner_join(companies::table)
        .inner_join(users::table)
        .filter(memberships::user_id.eq(user_id))
        .select((
            memberships::company_id,
            RoleRow::as_select(),
            held_back_by_two_factor(),
        ))
        .load(conn)
        .await
}

/// The user's memberships, oldest first.
pub async fn memberships_of_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<MembershipRow>> {
    memberships::table
        .filter(memberships::user_id.eq(user_id))
        .order((memberships::joined_at, memberships::id))
        .select(MembershipRow::as_select())
        .load(conn)
        .await
}

/// Narrows a member list.
#[derive(Debug, Default, Clone)]
pub struct MemberFilter {
    /// Matched case-insensitively against name and email.
    pub search: Option<String>,
    pub role_id: Option<Uuid>,
}

type MembersQuery<'a> =
    diesel::dsl::IntoBoxed<'a, diesel::dsl::InnerJoin<memberships::table, users::table>, Pg>;

fn filtered_members<'a>(company_id: Uuid, filter: &MemberFilter) -> MembersQuery<'a> {
    let mut query = memberships::table
        .inner_join(users::table)
        .into_boxed()
        .filter(memberships::company_id.eq(company_id));
    if let Some(role_id) = filter.role_id {
        query = query.filter(memberships::role_id.eq(role_id));
    }
    if let Some(search) = filter.search.as_deref() {
        let pattern = format!("%{}%", escape_like(search));
        query = query.filter(users::name.ilike(pattern.clone()).or(users::email.ilike(pattern)));
    }
    query
}

/// One page of the company's members in join order, each with its user and role.
pub async fn list_members(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    filter: &MemberFilter,
    page: PageRequest,
) -> QueryResult<Vec<(MembershipRow, UserRow, RoleRow)>> {
    let mut query = filtered_members(company_id, filter);
    if let Some(Cursor { at, id }) = page.after {
        query = query.filter(
            memberships::joined_at
                .gt(at)
                .or(memberships::joined_at.eq(at).and(memberships::id.gt(id))),
        );
    }
    let rows: Vec<(MembershipRow, UserRow)> = query
        .order((memberships::joined_at, memberships::id))
        .limit(page.limit())
        .select((MembershipRow::as_select(), UserRow::as_select()))
        .load(conn)
        .await?;
    let roles = list_roles(conn, company_id).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(membership, user)| {
            let role = roles.iter().find(|r| r.id == membership.role_id)?.clone();
            Some((membership, user, role))
        })
        .collect())
}

/// How many members match the filter.
pub async fn count_members(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    filter: &MemberFilter,
) -> QueryResult<i64> {
    filtered_members(company_id, filter)
        .count()
        .get_result(conn)
        .await
}

/// Gives a member another company-wide role.
pub async fn set_member_role(
    conn: &mut AsyncPgConnection,
    membership_id: Uuid,
    role_id: Uuid,
) -> QueryResult<MembershipRow> {
    diesel::update(memberships::table.find(membership_id))
        .set(memberships::role_id.eq(role_id))
        .returning(MembershipRow::as_returning())
        .get_result(conn)
        .await
}

/// Removes a member.
pub async fn delete_membership(conn: &mut AsyncPgConnection, membership_id: Uuid) -> QueryResult<()> {
    diesel::delete(memberships::table.find(membership_id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Locks the company's owner memberships and counts them (serialises concurrent changes
/// that could otherwise leave a company without an owner).
pub async fn lock_and_count_owners(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    owner_role: Uuid,
) -> QueryResult<usize> {
    let owners: Vec<Uuid> = memberships::table
        .filter(memberships::company_id.eq(company_id))
        .filter(memberships::role_id.eq(owner_role))
        .select(memberships::id)
        .for_update()
        .load(conn)
        .await?;
    Ok(owners.len())
}

/// Companies in which the user is the only owner.
pub async fn companies_where_sole_owner(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<String>> {
    diesel::sql_query(
        "SELECT c.name FROM companies c \
         JOIN roles r ON r.company_id = c.id AND r.built_in = 'owner' \
         JOIN memberships m ON m.company_id = c.id AND m.role_id = r.id AND m.user_id = $1 \
         WHERE (SELECT count(*) FROM memberships o WHERE o.company_id = c.id AND o.role_id = r.id) = 1 \
         ORDER BY c.name",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .load::<CompanyName>(conn)
    .await
    .map(|rows| rows.into_iter().map(|row| row.name).collect())
}

#[derive(QueryableByName)]
struct CompanyName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Removes all of a user's memberships (their account is being deleted); returns the
/// companies they belonged to.
pub async fn delete_memberships_of_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<Uuid>> {
    diesel::delete(memberships::table.filter(memberships::user_id.eq(user_id)))
        .returning(memberships::company_id)
        .get_results(conn)
        .await
}

/// Makes a company the user's active one if they are a member; false otherwise.
pub async fn activate_membership(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    company_id: Uuid,
) -> QueryResult<bool> {
    let member = memberships::table
        .filter(memberships::company_id.eq(company_id))
        .filter(memberships::user_id.eq(user_id));
    diesel::update(users::table.find(user_id).filter(diesel::dsl::exists(member)))
        .set(users::active_company_id.eq(company_id))
        .execute(conn)
        .await
        .map(|count| count > 0)
}

/// Sets (or clears) the user's active company.
pub async fn set_active_company(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    company_id: Option<Uuid>,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::active_company_id.eq(company_id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Points the user's active company at their oldest remaining membership, if it was
/// `left` or is unset.
pub async fn move_active_company_off(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    left: Uuid,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE users SET active_company_id = (\
             SELECT m.company_id FROM memberships m WHERE m.user_id = $1 AND m.company_id <> $2 \
             ORDER BY m.joined_at, m.id LIMIT 1) \
         WHERE id = $1 AND (active_company_id IS NULL OR active_company_id = $2)",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .bind::<diesel::sql_types::Uuid, _>(left)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Names and addresses of the company's members, for mail to all of them.
pub async fn member_contacts(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
) -> QueryResult<Vec<(String, Option<String>)>> {
    memberships::table
        .inner_join(users::table)
        .filter(memberships::company_id.eq(company_id))
        .select((users::name, users::email))
        .load(conn)
        .await
}

/// Ids of the company's members.
pub async fn member_ids(conn: &mut AsyncPgConnection, company_id: Uuid) -> QueryResult<Vec<Uuid>> {
    memberships::table
        .filter(memberships::company_id.eq(company_id))
        .select(memberships::user_id)
        .load(conn)
        .await
}

/// Escapes `%`, `_` and `\` so user text matches literally in LIKE.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

//! Companies, memberships and the rules that keep a company owned.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use guildhall::db::schema::{companies, memberships, users};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code, error_fields};

const COMPANY: &str =
    "query($id: ID!) { company(id: $id) { id name slug myRole { name builtIn } roles { name builtIn } } }";
const CHANGE_ROLE: &str = "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { role { name } } }";
const REMOVE: &str = "mutation($c: ID!, $u: ID!) { removeMember(companyId: $c, userId: $u) }";
const LEAVE: &str = "mutation($c: ID!) { leaveCompany(companyId: $c) }";

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_company_makes_the_caller_owner_with_five_built_in_roles() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let created = t
        .ok(
            Some(&ann),
            "mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id name slug industry website myRole { builtIn } } }",
            json!({ "input": { "name": "Acme Carbon Ltd.", "industry": "Energy", "website": "https://acme.example.com" } }),
        )
        .await;
    let company = &created["createCompany"];
    assert_eq!(company["slug"], "acme-carbon-ltd");
    assert_eq!(company["myRole"]["builtIn"], "OWNER");
    let id = company["id"].as_str().unwrap();

    let read = t.ok(Some(&ann), COMPANY, json!({ "id": id })).await;
    let roles: Vec<&str> = read["company"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["Owner", "Admin", "Manager", "Editor", "Viewer"]);

    let me = t
        .ok(
            Some(&ann),
            "{ me { memberships { isPrimary company { id } role { builtIn } } activeCompany { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"]["activeCompany"]["id"], id, "the first company is active");
    assert_eq!(me["me"]["memberships"][0]["isPrimary"], true);

    // A second company of the same name gets its own slug; renaming keeps a slug.
    let twin = t.create_company(&ann, "Acme Carbon Ltd").await;
    let twin_slug = t.ok(Some(&ann), COMPANY, json!({ "id": twin.id })).await["company"]["slug"].clone();
    assert_eq!(twin_slug, "acme-carbon-ltd-2");
    let renamed = t
        .ok(
            Some(&ann),
            "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { name slug } }",
            json!({ "input": { "companyId": id, "name": "Acme Climate" } }),
        )
        .await;
    assert_eq!(
        renamed["updateCompany"],
        json!({ "name": "Acme Climate", "slug": "acme-carbon-ltd" })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn company_input_is_validated_field_by_field() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let bad = t
        .gql(
            Some(&ann),
            "mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id } }",
            json!({ "input": { "name": "A", "website": "ftp://files.example.com" } }),
        )
        .await;
    assert_eq!(error_fields(&bad), ["input.name", "input.website"]);
    let company = t.create_company(&ann, "Acme").await;
    let update = "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { name } }";
    let long = "x".repeat(101);
    let bad = t
        .gql(
            Some(&ann),
            update,
            json!({ "input": { "companyId": company.id, "name": long, "logoUrl": "not a url" } }),
        )
        .await;
    assert_eq!(error_fields(&bad), ["input.name", "input.logoUrl"]);
    let mut conn = t.db.connect().await;
    let name: String = companies::table
        .select(companies::name)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(name, "Acme");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_company_is_invisible_to_non_members() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let bob = t.verified_user("bob@example.com", "Bob").await;
    let company = t.create_company(&ann, "Acme").await;
    let foreign = t.gql(Some(&bob), COMPANY, json!({ "id": company.id })).await;
    let missing = t
        .gql(Some(&bob), COMPANY, json!({ "id": uuid::Uuid::new_v4() }))
        .await;
    assert_eq!(foreign["data"]["company"], Value::Null);
    assert_eq!(error_code(&foreign), "NOT_FOUND");
    assert_eq!(foreign["errors"][0]["message"], missing["errors"][0]["message"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_owners_and_admins_change_the_company() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let ada = t.member(&ann, &company, "ada@example.com", "Ada", "Admin").await;
    let vic = t.member(&ann, &company, "vic@example.com", "Vic", "Viewer").await;
    let update = "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { industry } }";
    let input = json!({ "input": { "companyId": company.id, "industry": "Steel" } });
    t.ok(Some(&ada), update, input.clone()).await;
    assert_eq!(error_code(&t.gql(Some(&vic), update, input).await), "FORBIDDEN");
    let delete = "mutation($c: ID!, $n: String!) { deleteCompany(companyId: $c, confirmName: $n) }";
    assert_eq!(
        error_code(
            &t.gql(Some(&ada), delete, json!({ "c": company.id, "n": "Acme" }))
                .await
        ),
        "FORBIDDEN"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn members_can_be_searched_filtered_and_paged_in_a_stable_order() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann Owner").await;
    let company = t.create_company(&ann, "Acme").await;
    t.member(&ann, &company, "bea@example.com", "Bea Carbon", "Editor")
        .await;
    t.member(&ann, &company, "cal@example.com", "Cal", "Viewer").await;
    t.member(&ann, &company, "dee@carbon.example.com", "Dee", "Viewer")
        .await;

    let query = "query($id: ID!, $first: Int, $after: String, $search: String, $role: ID) {
        company(id: $id) { members(first: $first, after: $after, search: $search, roleId: $role) {
            totalCount pageInfo { hasNextPage endCursor } edges { cursor node { user { name email } role { name } } } } } }";
    let page = |data: &Value| data["company"]["members"].clone();
    let names = |members: &Value| -> Vec<String> {
        members["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["user"]["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let first = page(
        &t.ok(Some(&ann), query, json!({ "id": company.id, "first": 2 }))
            .await,
    );
    assert_eq!(first["totalCount"], 4);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(names(&first), ["Ann Owner", "Bea Carbon"]);
    let cursor = first["pageInfo"]["endCursor"].clone();
    let second = page(
        &t.ok(
            Some(&ann),
            query,
            json!({ "id": company.id, "first": 2, "after": cursor }),
        )
        .await,
    );
    assert_eq!(names(&second), ["Cal", "Dee"]);
    assert_eq!(second["pageInfo"]["hasNextPage"], false);

    let carbon = page(
        &t.ok(Some(&ann), query, json!({ "id": company.id, "search": "CARBON" }))
            .await,
    );
    assert_eq!(names(&carbon), ["Bea Carbon", "Dee"], "name or email");
    assert_eq!(carbon["totalCount"], 2);
    let viewers = page(
        &t.ok(
            Some(&ann),
            query,
            json!({ "id": company.id, "role": company.role("Viewer") }),
        )
        .await,
    );
    assert_eq!(names(&viewers), ["Cal", "Dee"]);
    let literal = page(
        &t.ok(Some(&ann), query, json!({ "id": company.id, "search": "%" }))
            .await,
    );
    assert_eq!(literal["totalCount"], 0, "LIKE wildcards match literally");

    let bad = t
        .gql(Some(&ann), query, json!({ "id": company.id, "after": "garbage" }))
        .await;
    assert_eq!(error_fields(&bad), ["after"]);
}

async fn seed_members(t: &TestApp, company_id: &str, role_id: &str, count: usize) {
    let mut conn = t.db.connect().await;
    let company_id: uuid::Uuid = company_id.parse().unwrap();
    let role_id: uuid::Uuid = role_id.parse().unwrap();
    let now = chrono::Utc::now();
    for n in 0..count {
        let user_id = uuid::Uuid::new_v4();
        diesel::insert_into(users::table)
            .values((
                users::id.eq(user_id),
                users::email.eq(format!("seed{n}-{user_id}@example.com")),
                users::name.eq(format!("Seed {n}")),
                users::created_at.eq(now),
                users::updated_at.eq(now),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        diesel::insert_into(memberships::table)
            .values((
                memberships::id.eq(uuid::Uuid::new_v4()),
                memberships::company_id.eq(company_id),
                memberships::user_id.eq(user_id),
                memberships::role_id.eq(role_id),
                memberships::joined_at.eq(now),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_members_costs_the_same_statements_for_3_or_100() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let small = t.create_company(&ann, "Small").await;
    let large = t.create_company(&ann, "Large").await;
    seed_members(&t, &small.id, small.role("Editor"), 2).await;
    seed_members(&t, &large.id, large.role("Editor"), 99).await;
    let query = "query($id: ID!) { company(id: $id) { members(first: 100) { totalCount edges { node {
        id isPrimary joinedAt user { name email } role { name builtIn } company { name } } } } } }";
    t.stop_workers().await;
    let mut costs = Vec::new();
    for (company, expected) in [(&small, 3), (&large, 100)] {
        let before = t.app.statements.total();
        let data = t.ok(Some(&ann), query, json!({ "id": company.id })).await;
        costs.push(t.app.statements.total() - before);
        assert_eq!(
            data["company"]["members"]["edges"].as_array().unwrap().len(),
            expected
        );
    }
    assert_eq!(costs[0], costs[1], "statements for 3 and 100 members: {costs:?}");
    assert!(costs[0] <= 12, "{costs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_manage_members_but_never_owners() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let ada = t.member(&ann, &company, "ada@example.com", "Ada", "Admin").await;
    let ed = t.member(&ann, &company, "ed@example.com", "Ed", "Editor").await;
    let (ann_id, ed_id) = (t.user_id(&ann).await, t.user_id(&ed).await);
    let vars = |user: &str, role: &str| json!({ "c": company.id, "u": user, "r": company.role(role) });

    let changed = t.ok(Some(&ada), CHANGE_ROLE, vars(&ed_id, "Manager")).await;
    assert_eq!(changed["changeMemberRole"]["role"]["name"], "Manager");
    assert_eq!(
        error_code(&t.gql(Some(&ada), CHANGE_ROLE, vars(&ann_id, "Viewer")).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&t.gql(Some(&ada), CHANGE_ROLE, vars(&ed_id, "Owner")).await),
        "FORBIDDEN"
    );
    let ada_id = t.user_id(&ada).await;
    assert_eq!(
        error_code(&t.gql(Some(&ada), CHANGE_ROLE, vars(&ada_id, "Owner")).await),
        "FORBIDDEN",
        "no self-promotion"
    );
    assert_eq!(
        error_code(
            &t.gql(Some(&ada), REMOVE, json!({ "c": company.id, "u": ann_id }))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            &t.gql(Some(&ed), REMOVE, json!({ "c": company.id, "u": ada_id }))
                .await
        ),
        "FORBIDDEN"
    );

    t.ok(Some(&ada), REMOVE, json!({ "c": company.id, "u": ed_id }))
        .await;
    assert_eq!(
        error_code(&t.gql(Some(&ed), COMPANY, json!({ "id": company.id })).await),
        "NOT_FOUND"
    );
    let unknown = t
        .gql(
            Some(&ada),
            REMOVE,
            json!({ "c": company.id, "u": uuid::Uuid::new_v4() }),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_owner_can_neither_be_demoted_removed_nor_leave() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let ann_id = t.user_id(&ann).await;
    let demote = t
        .gql(
            Some(&ann),
            CHANGE_ROLE,
            json!({ "c": company.id, "u": ann_id, "r": company.role("Admin") }),
        )
        .await;
    assert_eq!(error_code(&demote), "CONFLICT");
    assert_eq!(
        error_code(
            &t.gql(Some(&ann), REMOVE, json!({ "c": company.id, "u": ann_id }))
                .await
        ),
        "CONFLICT"
    );
    assert_eq!(
        error_code(&t.gql(Some(&ann), LEAVE, json!({ "c": company.id })).await),
        "CONFLICT"
    );
    let delete = t
        .gql(
            Some(&ann),
            "mutation($p: String!) { deleteAccount(password: $p) }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&delete), "CONFLICT");
    assert!(delete["errors"][0]["message"].as_str().unwrap().contains("Acme"));

    // With a second owner, the first may step down and leave.
    let ola = t.member(&ann, &company, "ola@example.com", "Ola", "Owner").await;
    t.ok(
        Some(&ann),
        CHANGE_ROLE,
        json!({ "c": company.id, "u": ann_id, "r": company.role("Admin") }),
    )
    .await;
    t.ok(Some(&ann), LEAVE, json!({ "c": company.id })).await;
    let ola_id = t.user_id(&ola).await;
    assert_eq!(
        error_code(&t.gql(Some(&ola), LEAVE, json!({ "c": company.id })).await),
        "CONFLICT"
    );
    let _ = ola_id;
}

#[tokio::test(flavor = "multi_thread")]
async fn ownership_transfers_in_one_step() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let bea = t.member(&ann, &company, "bea@example.com", "Bea", "Editor").await;
    let bea_id = t.user_id(&bea).await;
    let transfer =
        "mutation($c: ID!, $u: ID!) { transferOwnership(companyId: $c, userId: $u) { myRole { builtIn } } }";
    assert_eq!(
        error_code(
            &t.gql(Some(&bea), transfer, json!({ "c": company.id, "u": bea_id }))
                .await
        ),
        "FORBIDDEN"
    );
    let done = t
        .ok(Some(&ann), transfer, json!({ "c": company.id, "u": bea_id }))
        .await;
    assert_eq!(done["transferOwnership"]["myRole"]["builtIn"], "ADMIN");
    let bea_role = t.ok(Some(&bea), COMPANY, json!({ "id": company.id })).await;
    assert_eq!(bea_role["company"]["myRole"]["builtIn"], "OWNER");
}

#[tokio::test(flavor = "multi_thread")]
async fn switching_and_leaving_companies_moves_the_active_one() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let bob = t.verified_user("bob@example.com", "Bob").await;
    let first = t.create_company(&bob, "First").await;
    let second = t.create_company(&ann, "Second").await;
    let token = t.invite(&bob, &first, "ann@example.com", "Editor").await;
    t.ok(
        Some(&ann),
        "mutation($t: String!) { acceptInvitation(token: $t) { id } }",
        json!({ "t": token }),
    )
    .await;
    let active = "{ me { activeCompany { name } memberships { company { name } isPrimary } } }";
    let me = t.ok(Some(&ann), active, json!({})).await;
    assert_eq!(
        me["me"]["activeCompany"]["name"], "Second",
        "joining keeps the active company"
    );

    t.ok(
        Some(&ann),
        "mutation($c: ID!) { setActiveCompany(companyId: $c) { name } }",
        json!({ "c": first.id }),
    )
    .await;
    assert_eq!(
        t.ok(Some(&ann), active, json!({})).await["me"]["activeCompany"]["name"],
        "First"
    );
    t.ok(Some(&ann), LEAVE, json!({ "c": first.id })).await;
    assert_eq!(
        t.ok(Some(&ann), active, json!({})).await["me"]["activeCompany"]["name"],
        "Second"
    );
    let _ = second;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_company_needs_its_name_removes_everything_and_tells_the_members() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let bea = t.member(&ann, &company, "bea@example.com", "Bea", "Editor").await;
    let delete = "mutation($c: ID!, $n: String!) { deleteCompany(companyId: $c, confirmName: $n) }";
    let wrong = t
        .gql(Some(&ann), delete, json!({ "c": company.id, "n": "acme" }))
        .await;
    assert_eq!(error_fields(&wrong), ["confirmName"]);

    t.ok(Some(&ann), delete, json!({ "c": company.id, "n": "Acme" }))
        .await;
    t.smtp.wait_for("bea@example.com", "Acme was deleted").await;
    t.smtp.wait_for("ann@example.com", "Acme was deleted").await;
    assert_eq!(
        error_code(&t.gql(Some(&ann), COMPANY, json!({ "id": company.id })).await),
        "NOT_FOUND"
    );
    let me = t
        .ok(
            Some(&bea),
            "{ me { memberships { id } activeCompany { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"], json!({ "memberships": [], "activeCompany": null }));
    let mut conn = t.db.connect().await;
    let left: i64 = memberships::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(left, 0);
    // Nothing stops Ann from deleting her account now.
    t.ok(
        Some(&ann),
        "mutation($p: String!) { deleteAccount(password: $p) }",
        json!({ "p": PASSWORD }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_owners_leaving_at_once_leave_one_owner_behind() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let ola = t.member(&ann, &company, "ola@example.com", "Ola", "Owner").await;
    let vars = json!({ "c": company.id });
    let (first, second) = tokio::join!(
        t.gql(Some(&ann), LEAVE, vars.clone()),
        t.gql(Some(&ola), LEAVE, vars.clone())
    );
    let conflicts = [&first, &second]
        .iter()
        .filter(|r| error_code(r) == "CONFLICT")
        .count();
    assert_eq!(conflicts, 1, "{first} {second}");
    let mut conn = t.db.connect().await;
    let left: i64 = memberships::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(left, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_account_creates_at_most_ten_companies_a_day() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("maker@example.com", "Maker").await;
    for n in 0..10 {
        t.create_company(&token, &format!("Company {n}")).await;
    }
    let refused = t
        .gql(
            Some(&token),
            "mutation { createCompany(input: { name: \"One too many\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&refused), "RATE_LIMITED", "{refused}");
    assert!(refused["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0);
    t.advance(chrono::Duration::days(1) + chrono::Duration::seconds(1));
    let (token, _) = t.login("maker@example.com", PASSWORD).await;
    t.create_company(&token, "The next day").await;
}

//! Invitations: by email, by link, by CSV; replaced, resent, revoked, expired.

use chrono::Duration;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use guildhall::db::schema::{rate_limit_hits, users};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code, error_fields};

const INVITE: &str = "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { id email status role { name } invitedBy { name email } message } }";
const PREVIEW: &str = "query($t: String!) { invitationPreview(token: $t) { companyName inviterName email roleName status expiresAt existingAccount } }";
const ACCEPT: &str =
    "mutation($t: String!) { acceptInvitation(token: $t) { role { name } company { name } user { email } } }";
const REGISTER: &str = "mutation($input: RegisterWithInvitationInput!) { registerWithInvitation(input: $input) { accessToken user { email emailVerified } } }";

#[tokio::test(flavor = "multi_thread")]
async fn an_invitee_registers_from_the_link_and_lands_in_the_company() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let invited = t
        .ok(
            Some(&ann),
            INVITE,
            json!({ "input": { "companyId": company.id, "email": "New@Example.com", "roleId": company.role("Editor"), "message": "Welcome aboard!" } }),
        )
        .await;
    assert_eq!(
        invited["inviteMember"],
        json!({ "id": invited["inviteMember"]["id"], "email": "new@example.com", "status": "PENDING", "role": { "name": "Editor" },
                "invitedBy": { "name": "Ann", "email": "ann@example.com" }, "message": "Welcome aboard!" })
    );
    let mail = t
        .smtp
        .wait_for("new@example.com", "Ann invited you to join Acme")
        .await;
    assert!(
        mail.link()
            .starts_with("http://app.guildhall.test/accept-invitation?token=")
    );
    assert!(mail.text.contains("Welcome aboard!") && mail.text.contains("as Editor"));
    assert!(mail.html.contains("Welcome aboard!"));

    let preview = t.ok(None, PREVIEW, json!({ "t": mail.token() })).await["invitationPreview"].clone();
    assert_eq!(preview["companyName"], "Acme");
    assert_eq!(preview["inviterName"], "Ann");
    assert_eq!(preview["roleName"], "Editor");
    assert_eq!(preview["status"], "PENDING");
    assert_eq!(preview["existingAccount"], false);

    let joined = t
        .ok(
            None,
            REGISTER,
            json!({ "input": { "token": mail.token(), "name": "Newt", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(
        joined["registerWithInvitation"]["user"],
        json!({ "email": "new@example.com", "emailVerified": true })
    );
    let token = joined["registerWithInvitation"]["accessToken"].as_str().unwrap();
    let me = t
        .ok(
            Some(token),
            "{ me { activeCompany { name myRole { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["me"]["activeCompany"],
        json!({ "name": "Acme", "myRole": { "name": "Editor" } })
    );

    let again = t
        .gql(
            None,
            REGISTER,
            json!({ "input": { "token": mail.token(), "name": "Newt", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(error_code(&again), "CONFLICT");
    let page = t
        .http
        .get(format!(
            "{}/accept-invitation?token={}",
            t.base_url(),
            mail.token()
        ))
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("invitationPreview"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_user_accepts_once_and_only_for_their_own_address() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let bob = t.verified_user("bob@example.com", "Bob").await;
    let eve = t.verified_user("eve@example.com", "Eve").await;
    let company = t.create_company(&ann, "Acme").await;
    let token = t.invite(&ann, &company, "bob@example.com", "Manager").await;
    assert_eq!(
        t.ok(None, PREVIEW, json!({ "t": token })).await["invitationPreview"]["existingAccount"],
        true
    );

    assert_eq!(
        error_code(&t.gql(Some(&eve), ACCEPT, json!({ "t": token })).await),
        "FORBIDDEN"
    );
    let registering = t
        .gql(
            None,
            REGISTER,
            json!({ "input": { "token": token, "name": "Bob 2", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(
        error_code(&registering),
        "CONFLICT",
        "the address has an account: sign in instead"
    );
    let accepted = t.ok(Some(&bob), ACCEPT, json!({ "t": token })).await;
    assert_eq!(
        accepted["acceptInvitation"],
        json!({ "role": { "name": "Manager" }, "company": { "name": "Acme" }, "user": { "email": "bob@example.com" } })
    );
    assert_eq!(
        error_code(&t.gql(Some(&bob), ACCEPT, json!({ "t": token })).await),
        "CONFLICT"
    );
    assert_eq!(
        error_code(&t.gql(Some(&bob), ACCEPT, json!({ "t": "no-such-token" })).await),
        "NOT_FOUND"
    );
    let invite_member = t
        .gql(Some(&ann), INVITE, json!({ "input": { "companyId": company.id, "email": "bob@example.com", "roleId": company.role("Viewer") } }))
        .await;
    assert_eq!(error_code(&invite_member), "CONFLICT", "already a member");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_invitation_replaces_the_open_one_and_revoked_or_expired_never_block() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let first = t.invite(&ann, &company, "zed@example.com", "Viewer").await;
    let second = t.invite(&ann, &company, "zed@example.com", "Editor").await;
    let replaced = t.gql(None, PREVIEW, json!({ "t": first })).await;
    assert_eq!(error_code(&replaced), "NOT_FOUND", "the replaced link is dead");
    let register = |token: &str| json!({ "input": { "token": token, "name": "Zed", "password": PASSWORD } });
    assert_eq!(
        error_code(&t.gql(None, REGISTER, register(&first)).await),
        "NOT_FOUND"
    );

    let list = "query($id: ID!, $s: InvitationStatus) { company(id: $id) { invitations(status: $s) { totalCount edges { node { id email status } } } } }";
    let count = |data: &Value| data["company"]["invitations"]["totalCount"].clone();
    let pending = t
        .ok(Some(&ann), list, json!({ "id": company.id, "s": "PENDING" }))
        .await;
    assert_eq!(count(&pending), 1);
    let id = pending["company"]["invitations"]["edges"][0]["node"]["id"].clone();

    let revoke = "mutation($id: ID!) { revokeInvitation(id: $id) { status } }";
    let revoked = t.ok(Some(&ann), revoke, json!({ "id": id })).await;
    assert_eq!(revoked["revokeInvitation"]["status"], "REVOKED");
    assert_eq!(
        error_code(&t.gql(None, PREVIEW, json!({ "t": second })).await),
        "NOT_FOUND"
    );
    assert_eq!(
        count(
            &t.ok(Some(&ann), list, json!({ "id": company.id, "s": "REVOKED" }))
                .await
        ),
        2
    );

    let third = t.invite(&ann, &company, "zed@example.com", "Editor").await;
    t.advance(Duration::days(7) + Duration::minutes(1));
    let (ann, _) = t.login("ann@example.com", PASSWORD).await;
    let expired = t.ok(None, PREVIEW, json!({ "t": third })).await;
    assert_eq!(expired["invitationPreview"]["status"], "EXPIRED");
    assert_eq!(
        count(
            &t.ok(Some(&ann), list, json!({ "id": company.id, "s": "EXPIRED" }))
                .await
        ),
        1
    );
    assert_eq!(
        error_code(&t.gql(None, REGISTER, register(&third)).await),
        "CONFLICT"
    );

    let fourth = t.invite(&ann, &company, "zed@example.com", "Editor").await;
    let history = t
        .ok(Some(&ann), list, json!({ "id": company.id, "s": "EXPIRED" }))
        .await;
    assert_eq!(count(&history), 1, "a replaced expired invitation stays EXPIRED");
    t.ok(None, REGISTER, register(&fourth)).await;
    assert_eq!(
        count(
            &t.ok(Some(&ann), list, json!({ "id": company.id, "s": "ACCEPTED" }))
                .await
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resending_mails_a_new_link_and_extends_the_expiry() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let first = t.invite(&ann, &company, "kit@example.com", "Viewer").await;
    let before = t.ok(None, PREVIEW, json!({ "t": first })).await["invitationPreview"]["expiresAt"].clone();
    let list = "query($id: ID!) { company(id: $id) { invitations { edges { node { id } } } } }";
    let id = t.ok(Some(&ann), list, json!({ "id": company.id })).await["company"]["invitations"]["edges"][0]
        ["node"]["id"]
        .clone();

    t.advance(Duration::days(3));
    let (ann, _) = t.login("ann@example.com", PASSWORD).await;
    let resent = t
        .ok(
            Some(&ann),
            "mutation($id: ID!) { resendInvitation(id: $id) { status expiresAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(resent["resendInvitation"]["status"], "PENDING");
    assert!(resent["resendInvitation"]["expiresAt"].as_str().unwrap() > before.as_str().unwrap());
    let second = t.smtp.wait_for_count("kit@example.com", 2).await[1].token();
    assert_ne!(first, second);
    assert_eq!(
        error_code(&t.gql(None, PREVIEW, json!({ "t": first })).await),
        "NOT_FOUND",
        "old link dead"
    );
    t.ok(
        None,
        REGISTER,
        json!({ "input": { "token": second, "name": "Kit", "password": PASSWORD } }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invitations_are_for_owners_and_admins_only() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let vic = t.member(&ann, &company, "vic@example.com", "Vic", "Viewer").await;
    let ada = t.member(&ann, &company, "ada@example.com", "Ada", "Admin").await;
    let input = json!({ "input": { "companyId": company.id, "email": "x@example.com", "roleId": company.role("Viewer") } });
    assert_eq!(error_code(&t.gql(Some(&vic), INVITE, input).await), "FORBIDDEN");
    let owner = json!({ "input": { "companyId": company.id, "email": "x@example.com", "roleId": company.role("Owner") } });
    assert_eq!(
        error_code(&t.gql(Some(&ada), INVITE, owner).await),
        "FORBIDDEN",
        "admins cannot mint owners"
    );

    // A viewer's query still answers, with the guarded field null and FORBIDDEN at its path.
    let mixed = t
        .gql(
            Some(&vic),
            "query($id: ID!) { company(id: $id) { name invitations { totalCount } } }",
            json!({ "id": company.id }),
        )
        .await;
    assert_eq!(
        mixed["data"]["company"],
        json!({ "name": "Acme", "invitations": null })
    );
    assert_eq!(mixed["errors"][0]["path"], json!(["company", "invitations"]));
    assert_eq!(error_code(&mixed), "FORBIDDEN");

    let bad = t
        .gql(Some(&ann), INVITE, json!({ "input": { "companyId": company.id, "email": "nope", "roleId": company.role("Viewer"), "message": "x".repeat(1001) } }))
        .await;
    assert_eq!(error_fields(&bad), ["input.email", "input.message"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_company_may_send_at_most_100_invitations_an_hour() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    use_invitation_quota(&t, &company.id, 100).await;
    let input = json!({ "input": { "companyId": company.id, "email": "x@example.com", "roleId": company.role("Viewer") } });
    let limited = t.gql(Some(&ann), INVITE, input.clone()).await;
    assert_eq!(error_code(&limited), "RATE_LIMITED");
    t.advance(Duration::hours(1) + Duration::seconds(1));
    let (ann, _) = t.login("ann@example.com", PASSWORD).await;
    t.ok(Some(&ann), INVITE, input).await;
}

const IMPORT: &str = "mutation($c: ID!, $file: Upload!) { importMembers(companyId: $c, csv: $file) { importId inserted rejected errors { line field message } } }";

#[tokio::test(flavor = "multi_thread")]
async fn a_csv_import_invites_the_good_lines_and_reports_each_bad_one() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let csv = "email,name,role\n\
               one@example.com,One,Editor\n\
               not-an-email,Two,Viewer\n\
               three@example.com,Three,Astronaut\n\
               ONE@example.com,One Again,Viewer\n\
               ann@example.com,Ann,Viewer\n\
               four@example.com,,viewer\n";
    let response = t
        .upload(&ann, IMPORT, json!({ "c": company.id }), "members.csv", csv)
        .await;
    let result = &response["data"]["importMembers"];
    assert_eq!(result["inserted"], 2, "{response}");
    assert_eq!(result["rejected"], 4);
    let errors: Vec<(i64, String)> = result["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (3, "email".to_owned()),
            (4, "role".to_owned()),
            (5, "email".to_owned()),
            (6, "email".to_owned())
        ]
    );
    assert!(
        result["errors"][2]["message"]
            .as_str()
            .unwrap()
            .contains("line 2")
    );
    let mail = t
        .smtp
        .wait_for("one@example.com", "invited you to join Acme")
        .await;
    assert!(mail.text.starts_with("Hello One,"), "{}", mail.text);
    t.smtp
        .wait_for("four@example.com", "invited you to join Acme")
        .await;
    let list = "query($id: ID!) { company(id: $id) { invitations(status: PENDING) { totalCount } } }";
    assert_eq!(
        t.ok(Some(&ann), list, json!({ "id": company.id })).await["company"]["invitations"]["totalCount"],
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_csv_import_refuses_files_without_the_columns_or_over_1000_lines() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let missing = t
        .upload(
            &ann,
            IMPORT,
            json!({ "c": company.id }),
            "x.csv",
            "mail,who\na@example.com,A\n",
        )
        .await;
    assert_eq!(error_fields(&missing), ["csv"]);
    let mut big = String::from("email,name,role\n");
    for n in 0..1001 {
        big.push_str(&format!("p{n}@example.com,P{n},Viewer\n"));
    }
    let too_big = t
        .upload(&ann, IMPORT, json!({ "c": company.id }), "big.csv", &big)
        .await;
    assert_eq!(error_fields(&too_big), ["csv"]);
    let list = "query($id: ID!) { company(id: $id) { invitations { totalCount } } }";
    assert_eq!(
        t.ok(Some(&ann), list, json!({ "id": company.id })).await["company"]["invitations"]["totalCount"],
        0
    );
    let _: Value = Value::Null;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_invited_account_keeps_the_invitation_history() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    let bea = t.member(&ann, &company, "bea@example.com", "Bea", "Editor").await;
    t.ok(
        Some(&bea),
        "mutation($p: String!) { deleteAccount(password: $p) }",
        json!({ "p": PASSWORD }),
    )
    .await;
    let members = "query($id: ID!) { company(id: $id) { members { totalCount } invitations(status: ACCEPTED) { totalCount } } }";
    let data = t.ok(Some(&ann), members, json!({ "id": company.id })).await;
    assert_eq!(
        data["company"]["members"]["totalCount"], 1,
        "the deleted account left the company"
    );
    assert_eq!(data["company"]["invitations"]["totalCount"], 1);
    let mut conn = t.db.connect().await;
    let deleted: i64 = users::table
        .filter(users::deleted_at.is_not_null())
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_invites_up_to_the_hourly_quota_and_reports_the_rest() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let company = t.create_company(&ann, "Acme").await;
    use_invitation_quota(&t, &company.id, 98).await;
    // Line 2's role is wrong; line 3 repeats its address with a good role and is invited.
    let csv = "email,name,role\nq1@example.com,Q1,Pilot\nq1@example.com,Q1,Viewer\nq2@example.com,Q2,Viewer\nq3@example.com,Q3,Viewer\n";
    let response = t
        .upload(&ann, IMPORT, json!({ "c": company.id }), "q.csv", csv)
        .await;
    let result = &response["data"]["importMembers"];
    assert_eq!(result["inserted"], 2, "{response}");
    let lines: Vec<i64> = result["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [2, 5]);
    assert!(
        result["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("invitations an hour")
    );
}

/// Records `count` invitations already sent by the company this hour.
async fn use_invitation_quota(t: &TestApp, company_id: &str, count: usize) {
    let mut conn = t.db.connect().await;
    let now = t.clock_now();
    for _ in 0..count {
        diesel::insert_into(rate_limit_hits::table)
            .values((
                rate_limit_hits::bucket.eq("invitations_company"),
                rate_limit_hits::key.eq(company_id),
                rate_limit_hits::hit_at.eq(now),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn someone_who_registers_an_invited_address_without_proving_it_learns_nothing_and_blocks_nobody() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    t.register("invitee@example.com", "Squatter").await;
    let (squatter, _) = t.login("invitee@example.com", PASSWORD).await;
    let token = t.invite(&owner, &company, "invitee@example.com", "Manager").await;

    let notices = t
        .ok(
            Some(&squatter),
            "{ me { notifications { totalCount edges { node { title } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        notices["me"]["notifications"]["totalCount"], 0,
        "no invitation notice for an unproven address: {notices}"
    );
    let preview = t.ok(None, PREVIEW, json!({ "t": token })).await;
    assert_eq!(
        preview["invitationPreview"]["existingAccount"], false,
        "the link's holder is offered to register"
    );

    let joined = t
        .ok(
            None,
            REGISTER,
            json!({ "input": { "token": token, "name": "Invitee", "password": "the invitee's own passphrase" } }),
        )
        .await;
    assert_eq!(
        joined["registerWithInvitation"]["user"],
        json!({ "email": "invitee@example.com", "emailVerified": true })
    );
    let gone = t
        .gql(Some(&squatter), "{ me { user { name } } }", json!({}))
        .await;
    assert_eq!(
        error_code(&gone),
        "UNAUTHENTICATED",
        "the unproven account is gone: {gone}"
    );
    let squatter_login = t.try_login("invitee@example.com", PASSWORD).await;
    assert_eq!(error_code(&squatter_login), "UNAUTHENTICATED");
    t.login("invitee@example.com", "the invitee's own passphrase")
        .await;

    let verified = t.verified_user("known@example.com", "Known").await;
    t.invite(&owner, &company, "known@example.com", "Viewer").await;
    let notices = t
        .ok(
            Some(&verified),
            "{ me { notifications { edges { node { title } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        notices["me"]["notifications"]["edges"][0]["node"]["title"], "You were invited to Acme",
        "a verified account is told"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invitations_inviter_shows_contact_details_only_to_readers_with_member_view() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let role = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { createRole(input: { companyId: $c, name: \"Recruiter\", permissions: [{ resource: COMPANY, action: VIEW }, { resource: INVITATION, action: VIEW }, { resource: INVITATION, action: CREATE }] }) { id } }",
            json!({ "c": company.id }),
        )
        .await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = t
        .invite(&owner, &company, "recruiter@example.com", "Viewer")
        .await;
    let recruiter = t
        .ok(
            None,
            REGISTER,
            json!({ "input": { "token": token, "name": "Rae", "password": PASSWORD } }),
        )
        .await["registerWithInvitation"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let rae = t.user_id(&recruiter).await;
    t.ok(
        Some(&owner),
        "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
        json!({ "c": company.id, "u": rae, "r": role }),
    )
    .await;

    let list = "query($c: ID!) { company(id: $c) { invitations { edges { node { email invitedBy { name email } } } } } }";
    let seen = t.gql(Some(&recruiter), list, json!({ "c": company.id })).await;
    let inviter = &seen["data"]["company"]["invitations"]["edges"][0]["node"]["invitedBy"];
    assert_eq!(inviter["name"], "Owner", "{seen}");
    assert!(inviter["email"].is_null(), "no member:view, no email: {seen}");
    assert_eq!(error_code(&seen), "FORBIDDEN", "{seen}");

    let invited = t
        .gql(
            Some(&recruiter),
            INVITE,
            json!({ "input": { "companyId": company.id, "email": "new@example.com", "roleId": role } }),
        )
        .await;
    assert_eq!(
        invited["data"]["inviteMember"]["invitedBy"]["name"], "Rae",
        "{invited}"
    );
    assert_eq!(
        invited["data"]["inviteMember"]["invitedBy"]["email"], "recruiter@example.com",
        "one's own address is one's own to read: {invited}"
    );

    let full = t.ok(Some(&owner), list, json!({ "c": company.id })).await;
    let inviters: Vec<&Value> = full["company"]["invitations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| &edge["node"]["invitedBy"]["email"])
        .collect();
    assert!(
        inviters.iter().all(|email| email.is_string()),
        "the owner sees them: {full}"
    );
    let account = t
        .gql(
            Some(&owner),
            "query($c: ID!) { company(id: $c) { invitations { edges { node { invitedBy { name lastLoginAt } } } } } }",
            json!({ "c": company.id }),
        )
        .await;
    assert_eq!(
        error_code(&account),
        "FORBIDDEN",
        "an invitation shows no other inviter's sign-ins, even to an owner: {account}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_person_mails_at_most_a_hundred_invitations_an_hour_across_companies() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let first = t.create_company(&owner, "First").await;
    let second = t.create_company(&owner, "Second").await;
    let invite = |company: &crate::helpers::Company, n: usize| json!({ "input": { "companyId": company.id, "email": format!("person{n}@example.com"), "roleId": company.role("Viewer") } });
    for n in 0..60 {
        t.ok(Some(&owner), INVITE, invite(&first, n)).await;
    }
    for n in 60..100 {
        t.ok(Some(&owner), INVITE, invite(&second, n)).await;
    }
    let refused = t.gql(Some(&owner), INVITE, invite(&second, 100)).await;
    assert_eq!(
        error_code(&refused),
        "RATE_LIMITED",
        "the second company has sent 40, its inviter 100: {refused}"
    );
    t.advance(Duration::hours(1) + Duration::seconds(1));
    let (owner, _) = t.login("owner@example.com", PASSWORD).await;
    t.ok(Some(&owner), INVITE, invite(&second, 100)).await;
}

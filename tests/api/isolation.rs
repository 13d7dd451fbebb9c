//! Tenancy: for every company operation, a member of one company gets NOT_FOUND (never
//! FORBIDDEN, never data) for every id of another.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_answers_not_found_for_another_companys_ids() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let bob = t.verified_user("bob@example.com", "Bob").await;
    let ours = t.create_company(&ann, "Ours").await;
    let theirs = t.create_company(&bob, "Theirs").await;
    let bob_member = t.member(&bob, &theirs, "bea@example.com", "Bea", "Editor").await;
    let bea_id = t.user_id(&bob_member).await;
    let bob_id = t.user_id(&bob).await;
    t.invite(&bob, &theirs, "pending@example.com", "Viewer").await;
    let list = "query($id: ID!) { company(id: $id) { invitations { edges { node { id } } } } }";
    let their_invitation = t.ok(Some(&bob), list, json!({ "id": theirs.id })).await["company"]["invitations"]
        ["edges"][0]["node"]["id"]
        .clone();

    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "company",
            "query($c: ID!) { company(id: $c) { id } }",
            json!({ "c": theirs.id }),
        ),
        (
            "company.members",
            "query($c: ID!) { company(id: $c) { members { totalCount } } }",
            json!({ "c": theirs.id }),
        ),
        (
            "updateCompany",
            "mutation($c: ID!) { updateCompany(input: { companyId: $c, name: \"Mine now\" }) { id } }",
            json!({ "c": theirs.id }),
        ),
        (
            "setActiveCompany",
            "mutation($c: ID!) { setActiveCompany(companyId: $c) { id } }",
            json!({ "c": theirs.id }),
        ),
        (
            "leaveCompany",
            "mutation($c: ID!) { leaveCompany(companyId: $c) }",
            json!({ "c": theirs.id }),
        ),
        (
            "transferOwnership",
            "mutation($c: ID!, $u: ID!) { transferOwnership(companyId: $c, userId: $u) { id } }",
            json!({ "c": theirs.id, "u": bea_id }),
        ),
        (
            "deleteCompany",
            "mutation($c: ID!) { deleteCompany(companyId: $c, confirmName: \"Theirs\") }",
            json!({ "c": theirs.id }),
        ),
        (
            "changeMemberRole",
            "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
            json!({ "c": theirs.id, "u": bea_id, "r": theirs.role("Viewer") }),
        ),
        (
            "changeMemberRole (their role in our company)",
            "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
            json!({ "c": ours.id, "u": t.user_id(&ann).await, "r": theirs.role("Owner") }),
        ),
        (
            "changeMemberRole (their member in our company)",
            "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
            json!({ "c": ours.id, "u": bob_id, "r": ours.role("Viewer") }),
        ),
        (
            "removeMember",
            "mutation($c: ID!, $u: ID!) { removeMember(companyId: $c, userId: $u) }",
            json!({ "c": theirs.id, "u": bea_id }),
        ),
        (
            "inviteMember",
            "mutation($c: ID!, $r: ID!) { inviteMember(input: { companyId: $c, email: \"x@example.com\", roleId: $r }) { id } }",
            json!({ "c": theirs.id, "r": theirs.role("Viewer") }),
        ),
        (
            "inviteMember (their role)",
            "mutation($c: ID!, $r: ID!) { inviteMember(input: { companyId: $c, email: \"x@example.com\", roleId: $r }) { id } }",
            json!({ "c": ours.id, "r": theirs.role("Viewer") }),
        ),
        (
            "resendInvitation",
            "mutation($i: ID!) { resendInvitation(id: $i) { id } }",
            json!({ "i": their_invitation }),
        ),
        (
            "revokeInvitation",
            "mutation($i: ID!) { revokeInvitation(id: $i) { id } }",
            json!({ "i": their_invitation }),
        ),
    ];
    for (name, query, variables) in cases {
        let response = t.gql(Some(&ann), query, variables).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{name}: {response}");
        let data = &response["data"];
        assert!(
            data.is_null() || data.as_object().is_some_and(|o| o.values().all(Value::is_null)),
            "{name} leaked data: {response}"
        );
    }
    let import = t
        .upload(
            &ann,
            "mutation($c: ID!, $file: Upload!) { importMembers(companyId: $c, csv: $file) { inserted } }",
            json!({ "c": theirs.id }),
            "m.csv",
            "email,name,role\nx@example.com,X,Viewer\n",
        )
        .await;
    assert_eq!(error_code(&import), "NOT_FOUND", "importMembers: {import}");

    // Nothing of theirs changed.
    let them = t
        .ok(Some(&bob), "query($c: ID!) { company(id: $c) { name members { totalCount } invitations(status: PENDING) { totalCount } } }", json!({ "c": theirs.id }))
        .await;
    assert_eq!(
        them["company"],
        json!({ "name": "Theirs", "members": { "totalCount": 2 }, "invitations": { "totalCount": 1 } })
    );
}

//! A person downloads everything the server holds about them.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn a_person_downloads_everything_held_about_them_while_their_session_stands() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    let ann = t
        .member(&olga, &company, "ann@example.com", "Ann", "Editor")
        .await;
    let ann_id = t.user_id(&ann).await;
    t.ok(
        Some(&olga),
        "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
        json!({ "c": company.id, "u": ann_id, "r": company.role("Manager") }),
    )
    .await;

    // Ann joins a second company and leaves it: what she did there is hers still.
    let beta = t.create_company(&olga, "Beta").await;
    let invitation = t.invite(&olga, &beta, "ann@example.com", "Viewer").await;
    t.ok(
        Some(&ann),
        "mutation($t: String!) { acceptInvitation(token: $t) { id } }",
        json!({ "t": invitation }),
    )
    .await;
    t.ok(
        Some(&ann),
        "mutation($c: ID!) { leaveCompany(companyId: $c) }",
        json!({ "c": beta.id }),
    )
    .await;

    let (ann, _) = t.login("ann@example.com", PASSWORD).await;
    let link = t.ok(Some(&ann), "mutation { exportMyData }", json!({})).await["exportMyData"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = link.split_once("/exports/").unwrap().1;
    let url = format!("{}/exports/{path}", t.base_url());
    let answer = t.http.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");
    let file: Value = answer.json().await.unwrap();

    assert_eq!(file["profile"]["email"], "ann@example.com");
    assert_eq!(file["profile"]["name"], "Ann");
    assert_eq!(file["memberships"][0]["company"], "Acme");
    assert_eq!(file["memberships"][0]["role"], "Manager");
    assert!(!file["sessions"].as_array().unwrap().is_empty());
    let kinds: Vec<&Value> = file["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["kind"])
        .collect();
    assert!(kinds.contains(&&json!("member.role_changed")), "{kinds:?}");
    let security: Vec<&Value> = file["securityEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["action"])
        .collect();
    assert!(security.contains(&&json!("session.signed_in")), "{security:?}");
    assert!(
        security.contains(&&json!("account.data_exported")),
        "{security:?}"
    );
    let in_company = |id: &str| {
        file["companyAuditEntries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entries| entries["companyId"] == json!(id))
            .unwrap_or_else(|| panic!("entries of {id} in {file}"))
            .clone()
    };
    let in_beta = in_company(&beta.id);
    assert!(in_beta.to_string().contains("member.left"), "{in_beta}");
    let in_acme = in_company(&company.id);
    let acts: Vec<&Value> = in_acme["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["action"])
        .collect();
    assert!(acts.contains(&&json!("member.joined")), "{acts:?}");
    assert!(
        !file.to_string().contains("olga@example.com"),
        "nothing about others"
    );

    // Signed out, the link is dead; a forged one never worked.
    t.ok(Some(&ann), "mutation { logout }", json!({})).await;
    assert_eq!(t.http.get(&url).send().await.unwrap().status(), 404);
    let forged = format!("{}/exports/me/{}x", t.base_url(), path.trim_start_matches("me/"));
    assert_eq!(t.http.get(&forged).send().await.unwrap().status(), 404);
}

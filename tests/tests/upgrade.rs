//! `upgrade`, SSO and durable email through the real handlers, DynamoDB Local and moto.

use billing_tests::*;
use futures::join;
use serde_json::{json, Value};

async fn upgrade(h: &Harness, ws: &Value, body: &Value, token: &str) -> (u16, Value) {
    call!(
        upgrade::handle,
        h,
        "POST",
        &format!("/v1/workspaces/{}/upgrade", ws.as_str().unwrap()),
        Some(body),
        Some(token)
    )
}

fn create(username: &str, email: &str) -> Value {
    json!({"billing_account": {"mode": "create", "username": username, "password": "billing-pass1", "email": email}, "accept_agreement": true})
}

#[tokio::test]
async fn the_owner_upgrades_once_and_the_activation_email_is_in_the_workspace_language() {
    let h = Harness::new().await;
    let mut req = free_registration("cn1");
    req["workspace"]["name"] = format!("观测 {}", unique()).into();
    let reg = registered(&h.app, &req).await;
    let (ws, tok) = (reg["workspace"]["id"].clone(), token(&reg, "session"));
    let billing_email = format!("{}@example.com", unique());
    let username = format!("acct{}", unique());
    let (s, b) = upgrade(&h, &ws, &create(&username, &billing_email), &tok).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["workspace"]["edition"], "commercial");
    assert_eq!(b["workspace"]["settlement"]["method"], "enterprise");
    assert_eq!(b["billing_account"]["username"], username.as_str());
    let mail = mail_to(&billing_email).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0]["subject"].as_str().unwrap().contains("开通提醒"));
    assert!(mail[0]["subject"].as_str().unwrap().contains(req["workspace"]["name"].as_str().unwrap()));

    let (s, b) = upgrade(&h, &ws, &create(&format!("acct{}", unique()), &billing_email), &tok).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("already_commercial")));
}

#[tokio::test]
async fn english_workspaces_get_english_email() {
    let h = Harness::new().await;
    let mut req = free_registration("us1");
    req["workspace"]["language"] = "en".into();
    let reg = registered(&h.app, &req).await;
    let email = format!("{}@example.com", unique());
    let (s, _) =
        upgrade(&h, &reg["workspace"]["id"], &create(&format!("en{}", unique()), &email), &token(&reg, "session"))
            .await;
    assert_eq!(s, 200);
    let mail = mail_to(&email).await;
    assert!(mail[0]["subject"].as_str().unwrap().starts_with("Activated"), "{mail:?}");
}

#[tokio::test]
async fn every_error_code_of_the_upgrade_route() {
    let h = Harness::new().await;
    let owner = registered(&h.app, &free_registration("cn2")).await;
    let other = registered(&h.app, &free_registration("cn2")).await;
    let ws = owner["workspace"]["id"].clone();
    let tok = token(&owner, "session");
    let existing = commercial_registration("cn2");
    let existing_reg = registered(&h.app, &existing).await;
    let fresh = || create(&format!("n{}", unique()), "x@example.com");

    assert_eq!(upgrade(&h, &ws, &fresh(), &token(&other, "session")).await.1["code"], "workspace_not_found");
    assert_eq!(
        upgrade(&h, &ws, &fresh(), &token(&existing_reg, "billing_session")).await.1["code"],
        "workspace_not_found"
    );
    assert_eq!(upgrade(&h, &json!("ws_nope"), &fresh(), &tok).await.1["code"], "workspace_not_found");
    assert_eq!(upgrade(&h, &ws, &fresh(), "garbage").await.0, 401);

    let bind = |u: &str, p: &str| json!({"billing_account": {"mode": "bind", "username": u, "password": p}, "accept_agreement": true});
    let (s, b) = upgrade(&h, &ws, &bind(&format!("nobody{}", unique()), "whatever1"), &tok).await;
    assert_eq!((s, b["code"].as_str()), (404, Some("billing_account_not_found")));
    let (s, b) = upgrade(&h, &ws, &bind(existing["username"].as_str().unwrap(), "wrong-pass1"), &tok).await;
    assert_eq!((s, b["code"].as_str()), (401, Some("billing_credentials_invalid")));
    let (s, b) = upgrade(&h, &ws, &create(existing["username"].as_str().unwrap(), "x@example.com"), &tok).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("billing_username_taken")));
    let mut no_agreement = fresh();
    no_agreement["accept_agreement"] = false.into();
    assert_eq!(upgrade(&h, &ws, &no_agreement, &tok).await.1["code"], "agreement_required");
    let (s, b) = upgrade(&h, &ws, &create("a b", "not-email"), &tok).await;
    assert_eq!((s, b["code"].as_str()), (422, Some("invalid_field")));
    assert_eq!(b["errors"].as_array().unwrap().len(), 2, "{b}");

    // Nothing changed: the workspace is still free, and binding with the right password works.
    let (s, b) = upgrade(&h, &ws, &bind(existing["username"].as_str().unwrap(), "s3cret-pass"), &tok).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["workspace"]["billing_account"], existing["username"]);
}

#[tokio::test]
async fn two_concurrent_upgrades_give_one_200_and_one_already_commercial() {
    let h = Harness::new().await;
    let reg = registered(&h.app, &free_registration("cn6")).await;
    let (ws, tok) = (reg["workspace"]["id"].clone(), token(&reg, "session"));
    let (a, b) =
        (create(&format!("a{}", unique()), "a@example.com"), create(&format!("b{}", unique()), "b@example.com"));
    let (ra, rb) = join!(upgrade(&h, &ws, &a, &tok), upgrade(&h, &ws, &b, &tok));
    let mut statuses = vec![(ra.0, ra.1["code"].clone()), (rb.0, rb.1["code"].clone())];
    statuses.sort_by_key(|s| s.0);
    assert_eq!(statuses, vec![(200, Value::Null), (409, json!("already_commercial"))]);
}

#[tokio::test]
async fn with_ses_down_the_upgrade_succeeds_and_one_sweep_sends_exactly_one_email() {
    let h = Harness::new().await;
    let mut down = Harness::new().await;
    let ses = aws_sdk_ses::config::Builder::from(&down.wired_sdk)
        .endpoint_url("http://127.0.0.1:1")
        .retry_config(aws_sdk_ses::config::retry::RetryConfig::disabled())
        .build();
    down.app.deps.mailer = std::sync::Arc::new(billing_adapters::ses::SesMailer::new(
        aws_sdk_ses::Client::from_conf(ses),
        "billing@example.com".into(),
    ));

    let reg = registered(&h.app, &free_registration("cn1")).await;
    let email = format!("{}@example.com", unique());
    let (s, b) =
        upgrade(&down, &reg["workspace"]["id"], &create(&format!("d{}", unique()), &email), &token(&reg, "session"))
            .await;
    assert_eq!(s, 200, "{b}");
    assert!(mail_to(&email).await.is_empty());

    sweeper::sweep(h.deps(), None).await.unwrap();
    assert_eq!(mail_to(&email).await.len(), 1);
    sweeper::sweep(h.deps(), None).await.unwrap();
    assert_eq!(mail_to(&email).await.len(), 1, "a second run sends none");
}

/// A sender killed after SES took the email and before the outbox recorded it: `send` hands the
/// email to SES, then never returns.
struct DiesAfterSes(std::sync::Arc<dyn billing_domain::ports::Mailer>);

#[async_trait::async_trait]
impl billing_domain::ports::Mailer for DiesAfterSes {
    async fn send(&self, email: &billing_domain::email::Email) -> Result<(), billing_domain::ports::MailError> {
        self.0.send(email).await?;
        std::future::pending().await
    }
}

#[tokio::test]
async fn an_email_whose_sender_died_after_ses_took_it_is_sent_again_and_the_takeover_is_counted() {
    let mut h = Harness::isolated().await;
    h.clock.set(chrono::Utc::now() - chrono::Duration::minutes(5));
    let reg = registered(&h.app, &free_registration("cn1")).await;
    let email = format!("{}@example.com", unique());
    let ses = h.app.deps.mailer.clone();
    h.app.deps.mailer = std::sync::Arc::new(DiesAfterSes(ses.clone()));
    let body = create(&format!("k{}", unique()), &email);
    let session = token(&reg, "session");
    let dying = upgrade(&h, &reg["workspace"]["id"], &body, &session);
    assert!(tokio::time::timeout(std::time::Duration::from_secs(3), dying).await.is_err(), "the sender hangs");
    assert_eq!(mail_to(&email).await.len(), 1, "SES took it");
    let intent = items_where(&h, "to", &email).await;
    assert_eq!(intent.len(), 1);
    assert_eq!(intent[0]["status"].as_s().unwrap(), "pending", "nothing recorded the send");

    // The writer's lease ran out: the sweeper takes the email over and sends it again.
    h.app.deps.mailer = ses;
    h.clock.set(chrono::Utc::now());
    sweeper::sweep(h.deps(), None).await.unwrap();
    let intent = items_where(&h, "to", &email).await;
    assert_eq!(intent[0]["status"].as_s().unwrap(), "sent");
    assert_eq!(intent[0]["takeovers"].as_n().unwrap(), "1", "the possible second copy is on record");
    assert_eq!(mail_to(&email).await.len(), 2, "SES has no idempotency key: the known exception");
    sweeper::sweep(h.deps(), None).await.unwrap();
    assert_eq!(mail_to(&email).await.len(), 2, "and only that one");
    assert!(!items_where(&h, "to", &email).await[0].contains_key("lease_until"));
}

#[tokio::test]
async fn sso_gives_the_owner_a_billing_token_and_nobody_else() {
    let h = Harness::new().await;
    let reg = registered(&h.app, &commercial_registration("eu1")).await;
    let ws = reg["workspace"]["id"].clone();
    let (s, b) = call!(
        login::handle,
        h,
        "POST",
        "/v1/billing/sso",
        Some(&json!({"workspace_id": ws})),
        Some(&token(&reg, "session"))
    );
    assert_eq!(s, 200, "{b}");
    let billing = b["token"].as_str().unwrap().to_string();
    let (s, b) = call!(change_settlement::handle, h, "GET", "/v1/billing/workspaces", None, Some(&billing));
    assert_eq!(s, 200);
    assert_eq!(b["workspaces"][0]["id"], ws);

    let stranger = registered(&h.app, &free_registration("eu1")).await;
    let (s, b) = call!(
        login::handle,
        h,
        "POST",
        "/v1/billing/sso",
        Some(&json!({"workspace_id": ws})),
        Some(&token(&stranger, "session"))
    );
    assert_eq!((s, b["code"].as_str()), (404, Some("workspace_not_found")));
    let (s, b) = call!(
        login::handle,
        h,
        "POST",
        "/v1/billing/sso",
        Some(&json!({"workspace_id": stranger["workspace"]["id"]})),
        Some(&token(&stranger, "session"))
    );
    assert_eq!((s, b["code"].as_str()), (409, Some("workspace_not_commercial")));
}

#[tokio::test]
async fn marking_an_email_whose_intent_is_gone_never_creates_a_phantom_intent() {
    // A commit acknowledged and then lost (DynamoDB Local killed under it): the email went, its
    // intent is not in the table. A phantom `sent` intent would block the commit made again.
    let h = Harness::isolated().await;
    let id = format!("statement-lost-{}", unique());
    h.deps().outbox.release(&id, "SES refused").await.unwrap();
    h.deps().outbox.mark_sent(&id, chrono::Utc::now()).await.unwrap();
    let stored = items_where(&h, "pk", &format!("MAIL#{id}")).await;
    let sks: Vec<&str> = stored.iter().map(|i| i["sk"].as_s().unwrap().as_str()).collect();
    assert_eq!(sks, vec!["UNRECORDED"], "the send is on record, no intent was made up");
}

//! The defects an outside attacker found (issue 9), each pinned through the real handlers
//! against DynamoDB Local: no default settlement method, identifiers of any length, one
//! lock per billing account wherever its password is checked, a lock that holds under
//! concurrency, UTF-8 bodies, and Idempotency-Keys scoped to their caller.

use billing_tests::*;
use futures::future::join_all;
use lambda_http::Body;
use serde_json::{json, Value};

fn binary(method: &str, path: &str, bytes: &[u8], token: Option<&str>) -> lambda_http::Request {
    let mut b = http::Request::builder().method(method).uri(format!("https://api.example.com{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.header("content-type", "application/json").body(Body::Binary(bytes.to_vec())).unwrap()
}

async fn settle(w: &marketplace_webhook::Webhook, ws: &str, body: &str, tok: &str) -> (u16, Value) {
    let path = format!("/v1/workspaces/{ws}/settlement");
    let auth = format!("Bearer {tok}");
    parts(change_settlement::handle(&w.app, raw("PUT", &path, body, &[("authorization", &auth)])).await)
}

#[tokio::test]
async fn a_settlement_change_without_a_method_is_422_and_changes_nothing() {
    let w = webhook(Harness::new().await);
    let uid = aliyun_uid();
    let instance = open_instance(&w, &uid).await;
    let mut req = commercial_registration("cn1");
    req["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
    let reg = registered(&w.app, &req).await;
    let ws = reg["workspace"]["id"].as_str().unwrap();
    let before = w.app.deps.accounts.workspace(ws).await.unwrap().unwrap();
    for body in ["{}", r#"{"methd": "aws"}"#, r#"{"method": null}"#, r#"{"method": "bogus"}"#, r#"{"account_id": "x"}"#]
    {
        let (s, b) = settle(&w, ws, body, &token(&reg, "billing_session")).await;
        assert_eq!((s, b["code"].as_str()), (422, Some("invalid_field")), "{body}: {b}");
        assert!(b["errors"].as_array().unwrap().iter().any(|e| e["field"] == "method"), "{body}: {b}");
    }
    let after = w.app.deps.accounts.workspace(ws).await.unwrap().unwrap();
    assert_eq!(after, before, "the workspace is untouched: still bound, no change used up");
    assert_eq!(after.last_settlement_change, None);

    // Registration: an object that is sent must say what it means; absent objects keep their defaults.
    for (field, object, value) in [
        ("settlement.method", "settlement", json!({})),
        ("settlement.method", "settlement", json!({"account_id": uid, "instance_id": instance})),
        ("billing_account.mode", "billing_account", json!({})),
        ("billing_account.mode", "billing_account", json!({"username": "someone", "password": "x"})),
    ] {
        let mut r = commercial_registration("cn1");
        r[object] = value;
        let (s, b) = parts(register::handle(&w.app, request("POST", "/v1/registrations", Some(&r), None)).await);
        assert_eq!((s, b["code"].as_str()), (422, Some("invalid_field")), "{field}: {b}");
        assert!(b["errors"].as_array().unwrap().iter().any(|e| e["field"] == field), "{field}: {b}");
    }
    let (s, b) = parts(
        register::handle(&w.app, request("POST", "/v1/registrations", Some(&commercial_registration("cn1")), None))
            .await,
    );
    assert_eq!((s, b["workspace"]["settlement"]["method"].as_str()), (201, Some("enterprise")));
}

#[tokio::test]
async fn over_long_identifiers_get_the_contracts_codes_never_500() {
    let w = webhook(Harness::new().await);
    let reg = registered(&w.app, &commercial_registration("cn1")).await;
    let (console, billing) = (token(&reg, "session"), token(&reg, "billing_session"));
    let long = "x".repeat(3000);
    let login = |path: &str, body: Value| {
        let app = &w.app;
        let path = path.to_string();
        async move { parts(login::handle(app, request("POST", &path, Some(&body), None)).await) }
    };
    let (s, b) = login("/v1/sessions", json!({"site": "cn1", "login": long, "password": "s3cret-pass"})).await;
    assert_eq!((s, b["code"].as_str()), (401, Some("invalid_credentials")));
    let (s, b) = login("/v1/billing/sessions", json!({"username": long, "password": "s3cret-pass"})).await;
    assert_eq!((s, b["code"].as_str()), (401, Some("invalid_credentials")));
    let (s, b) =
        call!(login::handle, w, "POST", "/v1/billing/sso", Some(&json!({"workspace_id": long})), Some(&console));
    assert_eq!((s, b["code"].as_str()), (404, Some("workspace_not_found")));
    for (method, path, tok) in [
        ("GET", format!("/v1/workspaces/{long}/settlement-options"), &billing),
        ("PUT", format!("/v1/workspaces/{long}/settlement"), &billing),
        ("GET", format!("/v1/workspaces/{}/settlement-options", "%E4%B8%AD".repeat(400)), &console),
    ] {
        let (s, b) =
            call!(change_settlement::handle, w, method, &path, Some(&json!({"method": "enterprise"})), Some(tok));
        assert_eq!((s, b["code"].as_str()), (404, Some("workspace_not_found")), "{method} {}", &path[..40]);
    }
    let body =
        json!({"billing_account": {"mode": "bind", "username": "abcd", "password": "x"}, "accept_agreement": true});
    let (s, b) =
        call!(upgrade::handle, w, "POST", &format!("/v1/workspaces/{long}/upgrade"), Some(&body), Some(&console));
    assert_eq!((s, b["code"].as_str()), (404, Some("workspace_not_found")));
    let mut admin = admin_request("placeholder", true, true);
    *admin.uri_mut() = format!("https://api.example.com/v1/admin/billing-accounts/{long}/free-choice").parse().unwrap();
    let (s, b) = parts(admin::handle(&w.app, admin).await);
    assert_eq!((s, b["code"].as_str()), (404, Some("billing_account_not_found")));

    // Body fields that would become keys: refused as invalid fields.
    let ws = reg["workspace"]["id"].as_str().unwrap();
    for body in [
        json!({"method": "registered", "cloud_account_id": long}),
        json!({"method": "aliyun", "account_id": aliyun_uid(), "instance_id": long}),
        json!({"method": "aws", "subscription": long}),
    ] {
        let (s, b) = settle(&w, ws, &body.to_string(), &billing).await;
        assert_eq!((s, b["code"].as_str()), (422, Some("invalid_field")), "{}", &body.to_string()[..60]);
    }

    // Signed SPI calls with over-long ids: the marketplace would retry a 500 120 times.
    let uid = aliyun_uid();
    let (s, b) = spi(&w, &[("action", "createInstance"), ("aliUid", &uid), ("orderBizId", &long)]).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_parameter")));
    let (s, b) = spi(&w, &[("action", "createInstance"), ("aliUid", &long), ("orderBizId", "o-1")]).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_parameter")));
    for action in ["renewInstance", "expiredInstance", "releaseInstance"] {
        let (s, b) = spi(&w, &[("action", action), ("instanceId", &long)]).await;
        assert_eq!((s, b["code"].as_str()), (404, Some("instance_not_found")), "{action}");
    }
    let (s, b) = parts(marketplace_webhook::handle_http(&w, landing_request(&"t".repeat(10_000)), None).await);
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_marketplace_token")));
    let r = deliver_sqs(&w, sqs_event(&[("subscribe-success", &long, "prod", chrono::Utc::now())])).await;
    assert_eq!(r["batchItemFailures"].as_array().unwrap().len(), 1, "reported, not crashed: {r}");
}

async fn billing_login(h: &Harness, username: &str, password: &str) -> (u16, Value) {
    let body = json!({"username": username, "password": password});
    parts(login::handle(&h.app, request("POST", "/v1/billing/sessions", Some(&body), None)).await)
}

#[tokio::test]
async fn a_locked_billing_account_cannot_be_bound_and_binds_count_against_its_lock() {
    let h = Harness::new().await;
    let owner = commercial_registration("cn1");
    registered(&h.app, &owner).await;
    let username = owner["username"].as_str().unwrap();
    for _ in 0..5 {
        assert_eq!(billing_login(&h, username, "wrong-pass1").await.0, 401);
    }
    // Locked: the right password through a registration bind or an upgrade bind is refused too.
    let mut bind = commercial_registration("us1");
    bind["billing_account"] = json!({"mode": "bind", "username": username.to_uppercase(), "password": "s3cret-pass"});
    let (s, b) = parts(register::handle(&h.app, request("POST", "/v1/registrations", Some(&bind), None)).await);
    assert_eq!((s, b["code"].as_str()), (429, Some("too_many_attempts")), "{b}");
    let free = registered(&h.app, &free_registration("cn1")).await;
    let up = json!({"billing_account": {"mode": "bind", "username": username, "password": "s3cret-pass"}, "accept_agreement": true});
    let path = format!("/v1/workspaces/{}/upgrade", free["workspace"]["id"].as_str().unwrap());
    let (s, b) = call!(upgrade::handle, h, "POST", &path, Some(&up), Some(&token(&free, "session")));
    assert_eq!((s, b["code"].as_str()), (429, Some("too_many_attempts")), "{b}");

    // Wrong passwords through binds lock the account for logins as well.
    let other = commercial_registration("cn1");
    registered(&h.app, &other).await;
    let other_name = other["username"].as_str().unwrap();
    for i in 0..5 {
        let mut r = commercial_registration("cn6");
        r["billing_account"] = json!({"mode": "bind", "username": other_name, "password": "wrong-pass1"});
        let (s, b) = parts(register::handle(&h.app, request("POST", "/v1/registrations", Some(&r), None)).await);
        assert_eq!((s, b["code"].as_str()), (401, Some("billing_credentials_invalid")), "bind {i}");
    }
    let (s, b) = billing_login(&h, other_name, "s3cret-pass").await;
    assert_eq!((s, b["code"].as_str()), (429, Some("too_many_attempts")));
    h.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(billing_login(&h, other_name, "s3cret-pass").await.0, 200);
}

#[tokio::test]
async fn thirty_concurrent_wrong_passwords_get_at_most_five_checks() {
    let h = Harness::new().await;
    let reg = commercial_registration("cn1");
    registered(&h.app, &reg).await;
    let username = reg["username"].as_str().unwrap();
    let results = join_all((0..30).map(|_| billing_login(&h, username, "wrong-pass1"))).await;
    let checked = results.iter().filter(|(s, _)| *s == 401).count();
    let locked = results.iter().filter(|(s, b)| *s == 429 && b["code"] == "too_many_attempts").count();
    assert!(checked <= 5, "{checked} wrong passwords were checked");
    assert_eq!(checked + locked, 30, "{results:?}");

    // Console logins: the lock is the user's, whichever login is typed.
    let user = free_registration("cn1");
    registered(&h.app, &user).await;
    let by = |login: &Value, pw: &str| {
        let body = json!({"site": "cn1", "login": login, "password": pw});
        let app = &h.app;
        async move { parts(login::handle(app, request("POST", "/v1/sessions", Some(&body), None)).await) }
    };
    let results = join_all((0..30).map(|_| by(&user["email"], "wrong-pass1"))).await;
    assert!(results.iter().filter(|(s, _)| *s == 401).count() <= 5, "{results:?}");
    let (s, b) = by(&user["phone"], "s3cret-pass").await;
    assert_eq!((s, b["code"].as_str()), (429, Some("too_many_attempts")), "locked by email, locked by phone");
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_400_on_every_route() {
    let w = webhook(Harness::new().await);
    let reg = registered(&w.app, &commercial_registration("cn1")).await;
    let ws = reg["workspace"]["id"].as_str().unwrap().to_string();
    let (console, billing) = (token(&reg, "session"), token(&reg, "billing_session"));
    let bad: &[u8] = &[b'{', b'"', 0xff, 0xfe, b'"', b'}'];
    let app = &w.app;
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("POST", "/v1/registrations".into(), None),
        ("GET", "/v1/sites".into(), None),
        ("POST", "/v1/sessions".into(), None),
        ("POST", "/v1/billing/sessions".into(), None),
        ("POST", "/v1/billing/sso".into(), Some(&console)),
        ("POST", format!("/v1/workspaces/{ws}/upgrade"), Some(&console)),
        ("GET", format!("/v1/workspaces/{ws}/settlement-options"), Some(&billing)),
        ("PUT", format!("/v1/workspaces/{ws}/settlement"), Some(&billing)),
        ("GET", "/v1/billing/workspaces".into(), Some(&billing)),
        ("GET", "/v1/billing/cloud-accounts".into(), Some(&billing)),
        ("POST", "/v1/marketplace/aliyun".into(), None),
        ("GET", "/v1/marketplace/aliyun".into(), None),
        ("POST", "/v1/marketplace/aws/landing".into(), None),
    ];
    for (method, path, tok) in cases {
        let req = binary(method, &path, bad, tok);
        let resp = match path.as_str() {
            "/v1/registrations" | "/v1/sites" => register::handle(app, req).await,
            p if p.starts_with("/v1/sessions") || p.starts_with("/v1/billing/s") => login::handle(app, req).await,
            p if p.ends_with("/upgrade") => upgrade::handle(app, req).await,
            p if p.starts_with("/v1/marketplace") => marketplace_webhook::handle_http(&w, req, None).await,
            _ => change_settlement::handle(app, req).await,
        };
        let (s, b) = parts(resp);
        assert_eq!((s, b["code"].as_str()), (400, Some("malformed_request")), "{method} {path}");
    }
    let mut admin = admin_request("someone", true, true);
    *admin.body_mut() = Body::Binary(bad.to_vec());
    assert_eq!(parts(admin::handle(app, admin).await).0, 400);
    // Percent-encoded bytes that are not UTF-8 in a signed SPI form are malformed too.
    let (s, _) = parts(
        marketplace_webhook::handle_http(&w, raw("GET", "/v1/marketplace/aliyun?action=%FF&token=x", "", &[]), None)
            .await,
    );
    assert_eq!(s, 400);
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_its_caller() {
    let h = Harness::new().await;
    let a = registered(&h.app, &commercial_registration("cn1")).await;
    let b = registered(&h.app, &commercial_registration("cn1")).await;
    let key = unique();
    let sso = |reg: &Value| {
        let body = json!({"workspace_id": reg["workspace"]["id"]}).to_string();
        let auth = format!("Bearer {}", token(reg, "session"));
        let req = raw("POST", "/v1/billing/sso", &body, &[("authorization", &auth), ("idempotency-key", &key)]);
        let app = &h.app;
        async move { login::handle(app, req).await }
    };
    let first = sso(&a).await;
    assert_eq!(first.status(), 200);
    // Another caller with the same key: its own request, neither a replay nor "reused".
    let other = sso(&b).await;
    assert_eq!(other.status(), 200, "{:?}", parts(other));
    assert!(sso(&b).await.headers().contains_key("idempotent-replayed"), "b's key replays to b");
    let again = sso(&a).await;
    assert!(again.headers().contains_key("idempotent-replayed"), "a's key still replays to a");
    assert_eq!(parts(again), parts(first));
}

/// SQS sends only messages, but the Invoke API takes any JSON: a record that is no SQS message
/// fails alone, by its `messageId` as far as it has one, and the batch's other records are
/// answered as ever; the invocation itself never fails (that would retry every record).
#[tokio::test]
async fn an_sqs_record_that_is_no_message_fails_alone_and_the_invocation_answers() {
    let w = webhook(Harness::new().await);
    let event = json!({"Records": [
        {"eventSource": "aws:sqs", "messageId": "ok-1", "body": "{\"not\": \"an EventBridge event\"}"},
        {"eventSource": "aws:sqs", "messageId": 7, "body": "x"},
        {"eventSource": "aws:sqs", "messageId": "m-list", "body": ["not", "a", "string"]},
    ]});
    let out = marketplace_webhook::handle_event(&w, event, None).await.expect("an answer, not an invocation error");
    let mut failed: Vec<String> = out["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect();
    failed.sort();
    // ok-1 is an SQS message whose body is no EventBridge event: failed for its body, as before.
    assert_eq!(failed, ["7", "m-list", "ok-1"]);
}

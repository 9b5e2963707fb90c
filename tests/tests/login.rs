//! `login` through its real handler against DynamoDB Local.

use billing_tests::*;
use chrono::Duration;
use serde_json::{json, Value};

async fn login(h: &Harness, path: &str, body: Value) -> (u16, Value) {
    parts(login::handle(&h.app, request("POST", path, Some(&body), None)).await)
}

#[tokio::test]
async fn console_login_by_email_or_phone() {
    let h = Harness::new().await;
    let req = free_registration("cn1");
    let reg = registered(&h.app, &req).await;
    for id in [req["email"].as_str().unwrap().to_uppercase(), req["phone"].as_str().unwrap().to_string()] {
        let (s, b) = login(&h, "/v1/sessions", json!({"site": "cn1", "login": id, "password": "s3cret-pass"})).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["user_id"], reg["user"]["id"]);
        assert!(b["token"].is_string() && b["expires_at"].is_string());
    }
    let (s, _) =
        login(&h, "/v1/sessions", json!({"site": "cn2", "login": req["email"], "password": "s3cret-pass"})).await;
    assert_eq!(s, 401, "a user belongs to one site");
}

#[tokio::test]
async fn unknown_login_and_wrong_password_get_identical_answers() {
    let h = Harness::new().await;
    let req = free_registration("cn1");
    registered(&h.app, &req).await;
    let wrong =
        login(&h, "/v1/sessions", json!({"site": "cn1", "login": req["email"], "password": "wrong-pass1"})).await;
    let unknown = login(
        &h,
        "/v1/sessions",
        json!({"site": "cn1", "login": format!("{}@example.com", unique()), "password": "wrong-pass1"}),
    )
    .await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.1["code"], "invalid_credentials");
    assert_eq!(wrong, unknown);

    let b = commercial_registration("cn1");
    registered(&h.app, &b).await;
    let wrong = login(&h, "/v1/billing/sessions", json!({"username": b["username"], "password": "wrong-pass1"})).await;
    let unknown = login(
        &h,
        "/v1/billing/sessions",
        json!({"username": format!("nobody{}", unique()), "password": "wrong-pass1"}),
    )
    .await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.1["code"], "invalid_credentials");
    let (s, ok) =
        login(&h, "/v1/billing/sessions", json!({"username": b["username"], "password": "s3cret-pass"})).await;
    assert_eq!(s, 200, "{ok}");
    assert!(ok["token"].is_string());
}

#[tokio::test]
async fn the_sixth_failure_within_fifteen_minutes_gives_429_until_the_window_passes() {
    let h = Harness::new().await;
    let req = free_registration("cn1");
    registered(&h.app, &req).await;
    let attempt = |pw: &str| json!({"site": "cn1", "login": req["email"], "password": pw});
    for i in 0..5 {
        assert_eq!(login(&h, "/v1/sessions", attempt("wrong-pass1")).await.0, 401, "failure {i}");
    }
    let (s, b) = login(&h, "/v1/sessions", attempt("wrong-pass1")).await;
    assert_eq!((s, b["code"].as_str()), (429, Some("too_many_attempts")));
    // Locked even with the right password, until the window passes.
    assert_eq!(login(&h, "/v1/sessions", attempt("s3cret-pass")).await.0, 429);
    h.clock.advance(Duration::minutes(16));
    assert_eq!(login(&h, "/v1/sessions", attempt("s3cret-pass")).await.0, 200);

    // Unknown logins are throttled the same way, so they cannot be told apart.
    let ghost = json!({"site": "cn1", "login": format!("{}@example.com", unique()), "password": "x1234567"});
    for _ in 0..5 {
        assert_eq!(login(&h, "/v1/sessions", ghost.clone()).await.0, 401);
    }
    assert_eq!(login(&h, "/v1/sessions", ghost).await.0, 429);
}

#[tokio::test]
async fn a_tampered_or_expired_token_gives_401() {
    let h = Harness::new().await;
    let reg = registered(&h.app, &commercial_registration("cn1")).await;
    let token = reg["session"]["token"].as_str().unwrap().to_string();
    let ws = reg["workspace"]["id"].clone();
    let sso = |t: &str| {
        login::handle(&h.app, request("POST", "/v1/billing/sso", Some(&json!({"workspace_id": ws})), Some(t)))
    };
    assert_eq!(parts(sso(&token).await).0, 200);
    let mut tampered = token.clone();
    tampered.replace_range(5..6, if &token[5..6] == "A" { "B" } else { "A" });
    let (s, b) = parts(sso(&tampered).await);
    assert_eq!((s, b["code"].as_str()), (401, Some("unauthenticated")));
    let (s, _) = parts(
        login::handle(&h.app, request("POST", "/v1/billing/sso", Some(&json!({"workspace_id": ws})), None)).await,
    );
    assert_eq!(s, 401);
    h.clock.advance(Duration::minutes(61));
    assert_eq!(parts(sso(&token).await).0, 401);
}

#[tokio::test]
async fn billing_logins_are_throttled_like_console_logins() {
    let h = Harness::new().await;
    let reg = commercial_registration("cn1");
    registered(&h.app, &reg).await;
    let attempt = |pw: &str| json!({"username": reg["username"], "password": pw});
    for _ in 0..5 {
        assert_eq!(login(&h, "/v1/billing/sessions", attempt("wrong-pass1")).await.0, 401);
    }
    let (s, b) = login(&h, "/v1/billing/sessions", attempt("s3cret-pass")).await;
    assert_eq!((s, b["code"].as_str()), (429, Some("too_many_attempts")));
    h.clock.advance(Duration::minutes(16));
    assert_eq!(login(&h, "/v1/billing/sessions", attempt("s3cret-pass")).await.0, 200);
}

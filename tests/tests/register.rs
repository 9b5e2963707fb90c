//! `register` through its real handler against DynamoDB Local.

use billing_tests::*;
use futures::future::join_all;
use serde_json::{json, Value};

/// Breaks one field of a valid request.
type Breaker = Box<dyn Fn(&mut Value)>;

async fn post(h: &Harness, body: &Value) -> (u16, Value) {
    parts(register::handle(&h.app, request("POST", "/v1/registrations", Some(body), None)).await)
}

#[tokio::test]
async fn sites_lists_the_catalogue() {
    let h = Harness::new().await;
    let (status, body) = parts(register::handle(&h.app, request("GET", "/v1/sites", None, None)).await);
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["sites"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cn1", "cn2", "cn4", "cn6", "us1", "eu1", "ap1"]);
    assert_eq!(body["sites"][2], json!({"id": "cn4", "name": "中国区4（广州）", "platform": "huawei"}));
}

#[tokio::test]
async fn free_registration_creates_user_and_free_workspace_without_leaking_the_password() {
    let h = Harness::isolated().await;
    let req = free_registration("cn1");
    let (status, body) = post(&h, &req).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["email"], req["email"]);
    assert_eq!(body["workspace"]["edition"], "free");
    assert_eq!(body["workspace"]["settlement"], Value::Null);
    assert_eq!(body["workspace"]["billing_account"], Value::Null);
    assert_eq!(body["workspace"]["owner_id"], body["user"]["id"]);
    assert_eq!(body["billing_account"], Value::Null);
    assert_eq!(body["billing_session"], Value::Null);
    assert!(body["session"]["token"].as_str().unwrap().len() > 20);
    let text = body.to_string();
    assert!(!text.contains("s3cret-pass") && !text.contains("argon2"), "{text}");
    let stored = items_where(&h, "email", req["email"].as_str().unwrap()).await;
    let hash = stored[0]["password_hash"].as_s().unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}

#[tokio::test]
async fn commercial_registration_creates_the_billing_account_with_enterprise_settlement() {
    let h = Harness::new().await;
    let req = commercial_registration("us1");
    let (status, body) = post(&h, &req).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["workspace"]["edition"], "commercial");
    assert_eq!(body["workspace"]["settlement"]["method"], "enterprise");
    assert!(body["workspace"]["settlement"]["since"].is_string());
    assert_eq!(body["billing_account"]["username"], req["username"]);
    assert_eq!(body["workspace"]["billing_account"], req["username"]);
    assert!(body["billing_session"]["token"].is_string());
}

#[tokio::test]
async fn every_field_rule_gives_422_invalid_field_naming_the_field() {
    let h = Harness::new().await;
    let cases: Vec<(&str, Breaker)> = vec![
        ("email", Box::new(|v| v["email"] = "not-an-email".into())),
        ("phone", Box::new(|v| v["phone"] = "12345678".into())),
        ("phone", Box::new(|v| v["phone"] = "+1234567".into())),
        ("password", Box::new(|v| v["password"] = "short1".into())),
        ("password", Box::new(|v| v["password"] = "noDigitsHere".into())),
        ("password", Box::new(|v| v["password"] = "12345678901".into())),
        ("password", Box::new(|v| v["password"] = format!("a1{}", "x".repeat(127)).into())),
        ("username", Box::new(|v| v["username"] = "".into())),
        ("username", Box::new(|v| v["username"] = "u".repeat(65).into())),
        ("workspace.name", Box::new(|v| v["workspace"]["name"] = "".into())),
        ("workspace.name", Box::new(|v| v["workspace"]["name"] = "w".repeat(65).into())),
        ("workspace.language", Box::new(|v| v["workspace"]["language"] = "fr".into())),
        ("edition", Box::new(|v| v["edition"] = "gold".into())),
        ("site", Box::new(|v| v.as_object_mut().unwrap().remove("site").map(|_| ()).unwrap())),
        ("email", Box::new(|v| v.as_object_mut().unwrap().remove("email").map(|_| ()).unwrap())),
        ("workspace", Box::new(|v| v.as_object_mut().unwrap().remove("workspace").map(|_| ()).unwrap())),
    ];
    for (field, break_it) in cases {
        let mut req = free_registration("cn1");
        break_it(&mut req);
        let (status, body) = post(&h, &req).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("invalid_field")), "{field}: {body}");
        assert!(body["errors"].as_array().unwrap().iter().any(|e| e["field"] == field), "{field}: {body}");
    }
}

#[tokio::test]
async fn commercial_field_rules_billing_username_company_and_aliyun_account_id() {
    let h = Harness::new().await;
    let cases: Vec<(&str, Breaker)> = vec![
        ("username", Box::new(|v| v["username"] = "名字".into())),
        ("username", Box::new(|v| v["username"] = "abc".into())),
        ("company.name", Box::new(|v| v.as_object_mut().unwrap().remove("company").map(|_| ()).unwrap())),
        (
            "billing_account.username",
            Box::new(|v| v["billing_account"] = json!({"mode": "bind", "username": "a b", "password": "x"})),
        ),
        ("billing_account.password", Box::new(|v| v["billing_account"] = json!({"mode": "bind", "username": "abcd"}))),
        ("billing_account.mode", Box::new(|v| v["billing_account"] = json!({"mode": "steal"}))),
        (
            "settlement.account_id",
            Box::new(|v| v["settlement"] = json!({"method": "aliyun", "account_id": "123", "instance_id": "i-1"})),
        ),
        (
            "settlement.instance_id",
            Box::new(|v| v["settlement"] = json!({"method": "aliyun", "account_id": "1234567890123456"})),
        ),
        ("settlement.subscription", Box::new(|v| v["settlement"] = json!({"method": "aws"}))),
        ("settlement.method", Box::new(|v| v["settlement"] = json!({"method": "gold"}))),
        ("settlement.account_id", Box::new(|v| v["settlement"] = json!({"method": "huawei", "instance_id": "hw1"}))),
    ];
    for (field, break_it) in cases {
        let mut req = commercial_registration("cn1");
        break_it(&mut req);
        let (status, body) = post(&h, &req).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("invalid_field")), "{field}: {body}");
        assert!(body["errors"].as_array().unwrap().iter().any(|e| e["field"] == field), "{field}: {body}");
    }
}

#[tokio::test]
async fn unknown_site_agreement_and_settlement_rules() {
    let h = Harness::new().await;
    let mut req = free_registration("cn3");
    let (status, body) = post(&h, &req).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("unknown_site")));

    req = commercial_registration("cn1");
    req["accept_agreement"] = false.into();
    assert_eq!(post(&h, &req).await.1["code"], "agreement_required");
    req.as_object_mut().unwrap().remove("accept_agreement");
    assert_eq!(post(&h, &req).await.1["code"], "agreement_required");

    // An AWS site without free choice is not offered Alibaba settlement.
    req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aliyun", "account_id": "1234567890123456", "instance_id": "i-none"});
    let (status, body) = post(&h, &req).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("settlement_not_allowed")));

    // cn4 (Huawei) can only settle by enterprise.
    req = commercial_registration("cn4");
    req["settlement"] = json!({"method": "aws", "subscription": "whatever"});
    assert_eq!(post(&h, &req).await.1["code"], "settlement_not_allowed");

    req = commercial_registration("cn1");
    req["settlement"] =
        json!({"method": "aliyun", "account_id": "1234567890123456", "instance_id": format!("no-such-{}", unique())});
    let (status, body) = post(&h, &req).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("cloud_account_not_found")));
}

#[tokio::test]
async fn malformed_bodies_are_400_oversized_413_and_unknown_routes_404_405() {
    let h = Harness::new().await;
    let call = |r| register::handle(&h.app, r);
    let (s, b) = parts(call(raw("POST", "/v1/registrations", "{not json", &[])).await);
    assert_eq!((s, b["code"].as_str()), (400, Some("malformed_request")));
    assert_eq!(parts(call(raw("POST", "/v1/registrations", "", &[])).await).0, 400);
    let (s, b) = parts(call(raw("POST", "/v1/registrations", r#"{"edition": 5}"#, &[])).await);
    assert_eq!((s, b["code"].as_str()), (400, Some("malformed_request")));
    let (s, _) = parts(call(raw("POST", "/v1/registrations", "[1,2]", &[])).await);
    assert_eq!(s, 400);
    let big = format!(r#"{{"username": "{}"}}"#, "x".repeat(70_000));
    let (s, b) = parts(call(raw("POST", "/v1/registrations", &big, &[])).await);
    assert_eq!((s, b["code"].as_str()), (413, Some("payload_too_large")));
    assert_eq!(parts(call(raw("GET", "/v1/nothing", "", &[])).await).0, 404);
    assert_eq!(parts(call(raw("DELETE", "/v1/registrations", "", &[])).await).0, 405);
    let r = call(raw("POST", "/v1/registrations", "{", &[])).await;
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn twenty_concurrent_registrations_with_one_email_give_one_201_and_nineteen_email_taken() {
    let h = Harness::isolated().await;
    let email = format!("{}@example.com", unique());
    let ws_name = format!("race {}", unique());
    let attempts = (0..20).map(|_| {
        let mut req = free_registration("cn2");
        req["email"] = email.clone().into();
        req["workspace"]["name"] = ws_name.clone().into();
        let h = &h;
        async move { post(h, &req).await }
    });
    let results = join_all(attempts).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let taken = results.iter().filter(|(s, b)| *s == 409 && b["code"] == "email_taken").count();
    assert_eq!((created, taken), (1, 19), "{results:?}");
    // No orphans: exactly one user and one workspace were written.
    assert_eq!(items_where(&h, "email", &email).await.len(), 1);
    assert_eq!(items_where(&h, "name", &ws_name).await.len(), 1);
}

#[tokio::test]
async fn email_and_phone_are_unique_within_a_site_only() {
    let h = Harness::new().await;
    let first = free_registration("cn1");
    assert_eq!(post(&h, &first).await.0, 201);

    let mut same_email = free_registration("cn1");
    same_email["email"] = first["email"].as_str().unwrap().to_uppercase().into();
    assert_eq!(post(&h, &same_email).await.1["code"], "email_taken", "emails compare case-insensitively");

    let mut same_phone = free_registration("cn1");
    same_phone["phone"] = first["phone"].clone();
    let (s, b) = post(&h, &same_phone).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("phone_taken")));

    let mut other_site = first.clone();
    other_site["site"] = "cn6".into();
    assert_eq!(post(&h, &other_site).await.0, 201, "same email and phone on another site");
}

#[tokio::test]
async fn a_taken_billing_username_is_refused_unless_bound_with_its_password() {
    let h = Harness::isolated().await;
    let owner = commercial_registration("cn1");
    assert_eq!(post(&h, &owner).await.0, 201);
    let username = owner["username"].as_str().unwrap();

    let mut clash = commercial_registration("cn1");
    clash["username"] = username.to_uppercase().into();
    let (s, b) = post(&h, &clash).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("billing_username_taken")));
    assert!(items_where(&h, "email", clash["email"].as_str().unwrap()).await.is_empty(), "nothing half-written");

    let mut wrong = commercial_registration("us1");
    wrong["billing_account"] = json!({"mode": "bind", "username": username, "password": "wrong-pass1"});
    let (s, b) = post(&h, &wrong).await;
    assert_eq!((s, b["code"].as_str()), (401, Some("billing_credentials_invalid")));
    let mut unknown = commercial_registration("us1");
    unknown["billing_account"] =
        json!({"mode": "bind", "username": format!("nobody{}", unique()), "password": "wrong-pass1"});
    assert_eq!(post(&h, &unknown).await.1["code"], "billing_credentials_invalid");

    let mut bind = commercial_registration("us1");
    bind["billing_account"] = json!({"mode": "bind", "username": username, "password": "s3cret-pass"});
    let (s, b) = post(&h, &bind).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["workspace"]["billing_account"], username);
    assert_eq!(b["billing_account"]["email"], owner["email"]);
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_response() {
    let h = Harness::new().await;
    let req = free_registration("eu1");
    let key = unique();
    let send = |body: &Value| raw("POST", "/v1/registrations", &body.to_string(), &[("idempotency-key", &key)]);
    let (s1, b1) = parts(register::handle(&h.app, send(&req)).await);
    let (s2, b2) = parts(register::handle(&h.app, send(&req)).await);
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(b1["user"]["id"], b2["user"]["id"]);
    assert_eq!(b1, b2);
    let other = free_registration("eu1");
    let (s3, b3) = parts(register::handle(&h.app, send(&other)).await);
    assert_eq!((s3, b3["code"].as_str()), (422, Some("idempotency_key_reused")));
}

#[tokio::test]
async fn usernames_are_display_names_and_may_repeat_within_a_site() {
    let h = Harness::new().await;
    let (mut a, mut b) = (free_registration("cn1"), free_registration("cn1"));
    a["username"] = "张三".into();
    b["username"] = "张三".into();
    assert_eq!(post(&h, &a).await.0, 201);
    assert_eq!(post(&h, &b).await.0, 201);
}

#[tokio::test]
async fn commercial_registration_sends_the_activation_email_in_the_workspace_language() {
    let h = Harness::new().await;
    let mut req = commercial_registration("us1");
    req["workspace"]["language"] = "en".into();
    let (s, _) = post(&h, &req).await;
    assert_eq!(s, 201);
    let mail = mail_to(req["email"].as_str().unwrap()).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    let subject = mail[0]["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("Activated") && subject.contains(req["workspace"]["name"].as_str().unwrap()),
        "{subject}"
    );
    let mut free = free_registration("us1");
    free["workspace"]["language"] = "en".into();
    post(&h, &free).await;
    assert!(mail_to(free["email"].as_str().unwrap()).await.is_empty(), "no activation for the free edition");
}

#[tokio::test]
async fn registering_with_an_alibaba_instance_needs_it_open_and_owned_and_registers_it() {
    let w = webhook(Harness::new().await);
    let uid = aliyun_uid();
    let (open, closed) = (open_instance(&w, &uid).await, open_instance(&w, &uid).await);
    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &closed)]).await.0, 200);
    let with = |uid: &str, instance: &str| {
        let mut r = commercial_registration("cn1");
        r["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
        r
    };
    let app = &w.app;
    let call = |body: Value| async move {
        parts(register::handle(app, request("POST", "/v1/registrations", Some(&body), None)).await)
    };
    let (s, b) = call(with(&uid, &closed)).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("cloud_account_not_active")));
    let (s, b) = call(with(&aliyun_uid(), &open)).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("cloud_account_mismatch")));

    let (s, b) = call(with(&uid, &open)).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["workspace"]["settlement"]["instance_id"], open.as_str());
    let billing = b["billing_session"]["token"].as_str().unwrap();
    let (_, accounts) = parts(
        change_settlement::handle(&w.app, request("GET", "/v1/billing/cloud-accounts", None, Some(billing))).await,
    );
    assert_eq!(accounts["cloud_accounts"][0]["id"], format!("aliyun-{open}"));
    assert_eq!(accounts["cloud_accounts"][0]["status"], "active");
    assert_eq!(accounts["cloud_accounts"][0]["workspaces"], json!([b["workspace"]["id"]]));
}

//! Property tests of every HTTP handler and the SQS handler: arbitrary bytes and arbitrary
//! JSON (built from the contract's own field names, so it reaches deep into validation)
//! never panic and never answer 5xx. Real handlers, real DynamoDB Local.

use billing_adapters::aws::events::{self, Message};
use billing_tests::*;
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::sync::OnceLock;

const FIELDS: &[&str] = &[
    "edition",
    "site",
    "username",
    "email",
    "phone",
    "password",
    "workspace",
    "name",
    "language",
    "company",
    "billing_account",
    "mode",
    "settlement",
    "method",
    "account_id",
    "instance_id",
    "subscription",
    "cloud_account_id",
    "accept_agreement",
    "login",
    "workspace_id",
    "enabled",
    "records",
    "id",
    "item",
    "hour",
    "quantity",
    "amount",
    "currency",
    "reference",
];
const WORDS: &[&str] = &[
    "commercial",
    "free",
    "cn1",
    "us1",
    "cn4",
    "zh",
    "en",
    "bind",
    "create",
    "enterprise",
    "aliyun",
    "aws",
    "registered",
    "a@b.co",
    "+8613800000000",
    "s3cret-pass",
    "1234567890123456",
    "log_events",
    "2026-11-01T00:00:00Z",
    "12.5",
    "CNY",
    "",
];

struct World {
    rt: tokio::runtime::Runtime,
    w: marketplace_webhook::Webhook,
    console: String,
    billing: String,
    workspace: String,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let (w, reg) = rt.block_on(async {
            let w = webhook(Harness::new().await);
            let reg = registered(&w.app, &commercial_registration("cn1")).await;
            (w, reg)
        });
        World {
            rt,
            w,
            console: token(&reg, "session"),
            billing: token(&reg, "billing_session"),
            workspace: reg["workspace"]["id"].as_str().unwrap().to_string(),
        }
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 40, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(FIELDS), inner, 0..10)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..300),
        "\\PC{0,200}".prop_map(String::into_bytes),
    ]
}

/// Every HTTP route of the contract, with the caller it expects.
fn call(route: usize, body: &[u8], who: usize) -> u16 {
    let wd = world();
    let text = String::from_utf8_lossy(body).into_owned();
    let tok = [None, Some(wd.console.as_str()), Some(wd.billing.as_str()), Some("garbage")][who % 4];
    let mut headers = vec![("content-type", "application/json")];
    let auth;
    if let Some(t) = tok {
        auth = format!("Bearer {t}");
        headers.push(("authorization", auth.as_str()));
    }
    let ws = &wd.workspace;
    let (method, path) = match route % 17 {
        0 => ("POST", "/v1/registrations".to_string()),
        1 => ("GET", "/v1/sites".to_string()),
        2 => ("POST", "/v1/sessions".to_string()),
        3 => ("POST", "/v1/billing/sessions".to_string()),
        4 => ("POST", "/v1/billing/sso".to_string()),
        5 => ("POST", format!("/v1/workspaces/{ws}/upgrade")),
        6 => ("GET", format!("/v1/workspaces/{ws}/settlement-options")),
        7 => ("PUT", format!("/v1/workspaces/{ws}/settlement")),
        8 => ("GET", "/v1/billing/workspaces".to_string()),
        9 => ("PUT", "/v1/admin/billing-accounts/someone/free-choice".to_string()),
        10 => ("POST", "/v1/marketplace/aliyun".to_string()),
        11 => ("POST", "/v1/marketplace/aws/landing".to_string()),
        12 => ("POST", "/v1/usage".to_string()),
        13 => ("POST", "/v1/admin/billing-accounts/someone/top-ups".to_string()),
        14 => ("GET", format!("/v1/workspaces/{ws}/settlement-history")),
        15 => ("GET", "/v1/billing/balance".to_string()),
        _ => ("GET", "/v1/billing/bills/2026-11".to_string()),
    };
    let mut req = raw(method, &path, &text, &headers);
    if matches!(route % 17, 12 | 13) {
        // Through the IAM-authorised route, as API Gateway hands it over.
        // Usage from a site's exporter, so that the body is read; top-ups from a manager.
        let caller =
            if route % 17 == 12 { exporter_arn("cn1") } else { "arn:aws:iam::123456789012:user/manager".into() };
        let mut iam = iam_request_as(method, &path, &text, Some(&caller));
        for (k, v) in &headers {
            iam.headers_mut().insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        req = iam;
    }
    let app = &wd.w.app;
    let resp = wd.rt.block_on(async {
        match route % 17 {
            0 | 1 => register::handle(app, req).await,
            2..=4 => login::handle(app, req).await,
            5 => upgrade::handle(app, req).await,
            6..=8 => change_settlement::handle(app, req).await,
            9 | 13 => admin::handle(app, req).await,
            12 => usage::handle(app, req).await,
            14..=16 => bills::handle(app, req).await,
            _ => marketplace_webhook::handle_http(&wd.w, req, None).await,
        }
    });
    resp.status().as_u16()
}

/// Identifiers of any length and alphabet: short, just over a limit, and far over DynamoDB's
/// 2 KB key limit; ASCII, CJK, controls and `%` sequences.
fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[!-~]{120,300}",
        "[a-z0-9]{2000,3100}",
        prop::collection::vec(any::<char>(), 0..1500).prop_map(String::from_iter),
        "(%[0-9A-F]{2}){1,40}",
    ]
}

fn encode(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// One identifier placed where a route takes it (path, body field or SPI parameter); every
/// other part of the request is valid, so the identifier is what reaches the store.
fn call_with_id(place: usize, id: &str) -> u16 {
    let wd = world();
    let ws = &wd.workspace;
    let (console, billing) = (wd.console.as_str(), wd.billing.as_str());
    let e = encode(id);
    let app = &wd.w.app;
    let post = |path: String, body: serde_json::Value, tok: Option<&str>| request("POST", &path, Some(&body), tok);
    let mut reg = commercial_registration("cn1");
    let req = match place % 19 {
        0 => post(
            "/v1/sessions".into(),
            serde_json::json!({"site": "cn1", "login": id, "password": "s3cret-pass"}),
            None,
        ),
        1 => post("/v1/billing/sessions".into(), serde_json::json!({"username": id, "password": "s3cret-pass"}), None),
        2 => post("/v1/billing/sso".into(), serde_json::json!({"workspace_id": id}), Some(console)),
        3 => request("GET", &format!("/v1/workspaces/{e}/settlement-options"), None, Some(billing)),
        4 => request(
            "PUT",
            &format!("/v1/workspaces/{e}/settlement"),
            Some(&serde_json::json!({"method": "enterprise"})),
            Some(billing),
        ),
        5 => post(
            format!("/v1/workspaces/{e}/upgrade"),
            serde_json::json!({"billing_account": {"mode": "bind", "username": "abcd", "password": "x"}, "accept_agreement": true}),
            Some(console),
        ),
        6 => request(
            "PUT",
            &format!("/v1/workspaces/{ws}/settlement"),
            Some(&serde_json::json!({"method": "registered", "cloud_account_id": id})),
            Some(billing),
        ),
        7 => request(
            "PUT",
            &format!("/v1/workspaces/{ws}/settlement"),
            Some(&serde_json::json!({"method": "aliyun", "account_id": id, "instance_id": id})),
            Some(billing),
        ),
        8 => request(
            "PUT",
            &format!("/v1/workspaces/{ws}/settlement"),
            Some(&serde_json::json!({"method": "aws", "subscription": id})),
            Some(billing),
        ),
        9 => {
            reg["billing_account"] = serde_json::json!({"mode": "bind", "username": id, "password": "s3cret-pass"});
            post("/v1/registrations".into(), reg, None)
        }
        10 => {
            reg["email"] = id.into();
            reg["phone"] = id.into();
            reg["username"] = id.into();
            post("/v1/registrations".into(), reg, None)
        }
        11 => {
            reg["settlement"] = serde_json::json!({"method": "aliyun", "account_id": aliyun_uid(), "instance_id": id});
            post("/v1/registrations".into(), reg, None)
        }
        12 => post(
            format!("/v1/workspaces/{ws}/upgrade"),
            serde_json::json!({"billing_account": {"mode": "create", "username": id, "password": "s3cret-pass1", "email": "a@b.co"}, "accept_agreement": true}),
            Some(console),
        ),
        13 => {
            let mut r = admin_request("x", true, true);
            *r.uri_mut() =
                format!("https://api.example.com/v1/admin/billing-accounts/{e}/free-choice").parse().unwrap();
            r
        }
        14 => raw(
            "GET",
            &format!(
                "/v1/marketplace/aliyun?{}",
                spi_query(&[("action", "createInstance"), ("aliUid", id), ("orderBizId", id)])
            ),
            "",
            &[],
        ),
        _ => raw(
            "POST",
            "/v1/marketplace/aliyun",
            &spi_query(&[("action", "releaseInstance"), ("instanceId", id)]),
            &[("content-type", "application/x-www-form-urlencoded")],
        ),
    };
    let resp = wd.rt.block_on(async {
        match place % 19 {
            0..=2 => login::handle(app, req).await,
            3 | 4 | 6..=8 => change_settlement::handle(app, req).await,
            5 | 12 => upgrade::handle(app, req).await,
            9..=11 => register::handle(app, req).await,
            13 | 17 => admin::handle(app, req).await,
            16 => usage::handle(app, req).await,
            18 => bills::handle(app, req).await,
            _ => marketplace_webhook::handle_http(&wd.w, req, None).await,
        }
    });
    resp.status().as_u16()
}

/// What an SQS answer must say of each record of `event`: failed, by its own message id and
/// once, when its body cannot be read (so it is retried, then dead-lettered for the operator);
/// acknowledged when it is a message the billing center does not act on; either for the
/// others (the domain's answer). No failure names a record the batch did not hold.
fn answered_per_record(event: &Value, out: &Value) -> Result<(), TestCaseError> {
    let failed: Vec<&str> =
        out["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].as_str().unwrap()).collect();
    let records = event["Records"].as_array().unwrap();
    for id in &failed {
        prop_assert!(records.iter().any(|r| r["messageId"] == *id), "failure {id} names no record");
        prop_assert_eq!(failed.iter().filter(|f| *f == id).count(), 1, "{} failed twice", id);
    }
    for r in records {
        let id = r["messageId"].as_str().unwrap();
        match events::parse(r["body"].as_str().unwrap()) {
            Err(_) => prop_assert!(failed.contains(&id), "unreadable record {id} acknowledged"),
            Ok(Message::Ignored(_)) => prop_assert!(!failed.contains(&id), "ignored record {id} failed"),
            Ok(_) => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn identifiers_of_any_length_anywhere_never_give_a_5xx(place in 0usize..19, id in ident()) {
        let status = call_with_id(place, &id);
        prop_assert!(status < 500, "place {place} answered {status} for an id of {} bytes: {:?}", id.len(), id.chars().take(60).collect::<String>());
    }

    #[test]
    fn agreement_events_with_arbitrary_details_are_reported_not_crashed(
        detail in json_value(),
        kind in prop::sample::select(&["Purchase Agreement Created - Proposer", "Purchase Agreement Ended - Manufacturer",
                                        "License Updated - Manufacturer", "License Deprovisioned - Manufacturer"][..]),
        agreement in ident(),
        time in prop_oneof![Just("2026-01-01T00:00:00Z".to_string()), "\\PC{0,30}"],
    ) {
        let wd = world();
        let mut event = agreement_event(kind, &agreement, "111122223333", serde_json::json!({}), chrono::Utc::now());
        event["detail"] = detail;
        event["time"] = time.into();
        let event = sqs_bodies(&[event]);
        let out = wd.rt.block_on(marketplace_webhook::handle_event(&wd.w, event.clone(), None)).unwrap();
        answered_per_record(&event, &out)?;
    }

    #[test]
    fn koogallery_calls_with_any_body_or_identifier_never_5xx_and_are_always_signed(
        body in body(),
        id in ident(),
        activity in prop::sample::select(&["newInstance", "refreshInstance", "updateInstanceStatus", "releaseInstance", "queryInstance", "x"][..]),
        signed in any::<bool>(),
    ) {
        let wd = world();
        let text = String::from_utf8_lossy(&body).into_owned();
        let structured = serde_json::json!({"activity": activity, "instanceId": id, "orderId": id, "orderLineId": id,
            "buyerInfo": {"customerId": id}, "instanceStatus": id}).to_string();
        for b in [text, structured] {
            let ts = chrono::Utc::now().timestamp_millis().to_string();
            let forged = (!signed).then(|| "ab".repeat(32));
            let (status, answer, sign) = wd.rt.block_on(koogallery_signed(&wd.w, &b, &ts, &unique(), forged.as_deref()));
            prop_assert_eq!(status, 200);
            prop_assert!(answer["resultCode"].as_str().is_some_and(|c| c.len() == 6), "{}", answer);
            prop_assert!(sign.starts_with("sign_type=\"HMAC-SHA256\""));
            if !signed {
                prop_assert_eq!(answer["resultCode"].as_str(), Some("000001"));
            }
        }
    }

    #[test]
    fn sqs_notifications_with_identifiers_of_any_length_are_reported_not_crashed(customer in ident(), product in ident()) {
        let wd = world();
        let message = serde_json::json!({"action": "subscribe-success", "customer-identifier": customer, "product-code": product}).to_string();
        let body = serde_json::json!({"Type": "Notification", "Message": message, "Timestamp": "2026-01-01T00:00:00Z"}).to_string();
        let event = serde_json::json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs", "body": body}]});
        let out = wd.rt.block_on(marketplace_webhook::handle_event(&wd.w, event.clone(), None)).unwrap();
        answered_per_record(&event, &out)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_input_makes_an_http_handler_panic_or_answer_5xx(route in 0usize..17, body in body(), who in 0usize..4) {
        let status = call(route, &body, who);
        prop_assert!(status < 500, "route {route} answered {status} to {:?}", String::from_utf8_lossy(&body));
    }

    #[test]
    fn spi_query_strings_never_panic_or_answer_5xx(q in "\\PC{0,120}") {
        let wd = world();
        let path = format!("/v1/marketplace/aliyun?{q}");
        if let Ok(uri) = format!("https://x{path}").parse::<http::Uri>() {
            let req = raw("GET", uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"), "", &[]);
            let status = wd.rt.block_on(marketplace_webhook::handle_http(&wd.w, req, None)).status().as_u16();
            prop_assert!(status < 500);
        }
    }

    #[test]
    fn sqs_records_with_arbitrary_bodies_are_reported_not_crashed(bodies in prop::collection::vec(body(), 1..4)) {
        let wd = world();
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| serde_json::json!({"messageId": format!("m{i}"), "eventSource": "aws:sqs", "body": String::from_utf8_lossy(b)}))
            .collect();
        let event = serde_json::json!({"Records": records});
        let out = wd.rt.block_on(marketplace_webhook::handle_event(&wd.w, event.clone(), None)).unwrap();
        answered_per_record(&event, &out)?;
    }
}

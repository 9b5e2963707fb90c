//! Property tests of every HTTP handler and the SQS handler: arbitrary bytes and arbitrary
//! JSON (built from the contract's own field names, so it reaches deep into validation)
//! never panic and never answer 5xx. Real handlers, real DynamoDB Local.

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
    let (method, path) = match route % 12 {
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
        _ => ("POST", "/v1/marketplace/aws/landing".to_string()),
    };
    let req = raw(method, &path, &text, &headers);
    let app = &wd.w.app;
    let resp = wd.rt.block_on(async {
        match route % 12 {
            0 | 1 => register::handle(app, req).await,
            2..=4 => login::handle(app, req).await,
            5 => upgrade::handle(app, req).await,
            6..=8 => change_settlement::handle(app, req).await,
            9 => admin::handle(app, req).await,
            _ => marketplace_webhook::handle_http(&wd.w, req, None).await,
        }
    });
    resp.status().as_u16()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_input_makes_an_http_handler_panic_or_answer_5xx(route in 0usize..12, body in body(), who in 0usize..4) {
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
        let out = wd.rt.block_on(marketplace_webhook::handle_event(&wd.w, serde_json::json!({"Records": records}), None)).unwrap();
        prop_assert!(out["batchItemFailures"].as_array().unwrap().len() <= bodies.len());
    }
}

//! Through `cargo lambda watch`, as `make dev` runs the system: the real function binaries
//! invoked by name with API Gateway v2 events, not the in-process handlers.

use billing_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn watch_url() -> String {
    std::env::var("WATCH_URL").expect("WATCH_URL: run with `make test`, which starts cargo lambda watch")
}

/// An HTTP API (payload 2.0) event for `method path?query` with `body`.
fn apigw_event(method: &str, path: &str, query: &str, body: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": query,
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "requestContext": {"accountId": "123456789012", "apiId": "local", "domainName": "localhost",
            "domainPrefix": "localhost", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "watch-test"}, "requestId": unique(), "routeKey": format!("{method} {path}"),
            "stage": "$default", "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    })
}

/// Invokes `function` by name through watch, as the Lambda Invoke API would.
async fn invoke(function: &str, event: &Value) -> Value {
    let url = format!("{}/2015-03-31/functions/{function}/invocations", watch_url());
    // The first invocation builds the function: allow for a build.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(900)).build().unwrap();
    let resp = client.post(url).json(event).send().await.unwrap();
    assert!(resp.status().is_success(), "invoke {function}: {}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_release_through_watch_sends_the_cancellation_email_within_seconds() {
    let h = Harness::new().await;
    let uid = aliyun_uid();
    let order = format!("order{}", unique());
    let created = invoke(
        "marketplace-webhook",
        &apigw_event(
            "GET",
            "/v1/marketplace/aliyun",
            &spi_query(&[("action", "createInstance"), ("aliUid", &uid), ("orderBizId", &order)]),
            "",
        ),
    )
    .await;
    assert_eq!(created["statusCode"], 200, "{created}");

    let mut req = commercial_registration("cn1");
    req["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": order});
    let reg = registered(&h.app, &req).await;
    let email = req["email"].as_str().unwrap();

    let started = Instant::now();
    let released = invoke(
        "marketplace-webhook",
        &apigw_event(
            "POST",
            "/v1/marketplace/aliyun",
            "",
            &spi_query(&[("action", "releaseInstance"), ("instanceId", &order)]),
        ),
    )
    .await;
    assert_eq!(released["statusCode"], 200, "{released}");
    let mut mail = vec![];
    while mail.is_empty() && started.elapsed() < Duration::from_secs(10) {
        mail = cancellation_mail(email).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(mail.len(), 1, "no cancellation email {:.1} s after the release", started.elapsed().as_secs_f64());
    assert_eq!(
        settlement_of(&h.app, reg["workspace"]["id"].as_str().unwrap()).await,
        Some(billing_domain::model::Settlement::Enterprise)
    );
}

/// Events API Gateway would not send but the Invoke API takes: `lambda_http` alone fails the
/// invocation on the first (a header HTTP cannot carry) and panics on the others, and release
/// builds abort on a panic. Each HTTP function answers them `400 malformed_request`, and answers
/// a well-formed request after them (the process lived).
#[tokio::test]
async fn events_lambda_http_cannot_read_are_400_on_every_http_function_and_the_process_lives() {
    let mut control = apigw_event("POST", "/v1/registrations", "", "{}");
    control["headers"]["idempotency-key"] = json!("a\u{1}b");
    let mut host = apigw_event("POST", "/v1/registrations", "", "{}");
    host["headers"]["host"] = json!("a b");
    let mut query = apigw_event("GET", "/v1/registrations", "a=b c", "");
    query["rawQueryString"] = json!("a=b c");
    let mut base64 = apigw_event("POST", "/v1/registrations", "", "not base64!");
    base64["isBase64Encoded"] = json!(true);
    let functions =
        ["register", "login", "upgrade", "change-settlement", "admin", "usage", "bills", "marketplace-webhook"];
    for function in functions {
        for (what, event) in [("control", &control), ("host", &host), ("query", &query), ("base64", &base64)] {
            let answer = invoke(function, event).await;
            assert_eq!(answer["statusCode"], 400, "{function}, {what}: {answer}");
            let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default()).unwrap();
            assert_eq!(body["code"], "malformed_request", "{function}, {what}: {answer}");
        }
        let after = invoke(function, &apigw_event("GET", "/no-such-route", "", "")).await;
        assert_eq!(after["statusCode"], 404, "{function} after the refusals: {after}");
    }
}

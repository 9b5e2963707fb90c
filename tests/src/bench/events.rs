//! Lambda events as API Gateway (HTTP API, payload 2.0), SQS and EventBridge send them.

use serde_json::{json, Value};

pub fn apigw(
    method: &str,
    path: &str,
    query: &str,
    body: Option<String>,
    headers: &[(&str, String)],
    iam: bool,
) -> Value {
    let manager = iam.then_some("arn:aws:iam::123456789012:user/manager");
    apigw_as(method, path, query, body, headers, manager)
}

/// An API Gateway event from the IAM caller `user_arn` (none: no IAM authorizer context).
pub fn apigw_as(
    method: &str,
    path: &str,
    query: &str,
    body: Option<String>,
    headers: &[(&str, String)],
    user_arn: Option<&str>,
) -> Value {
    let mut h = serde_json::Map::new();
    for (k, v) in headers {
        h.insert(k.to_string(), Value::String(v.clone()));
    }
    let mut ctx = json!({
        "accountId": "123456789012", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
        "requestId": ulid::Ulid::new().to_string(), "routeKey": "$default", "stage": "$default",
        "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 0
    });
    if let Some(arn) = user_arn {
        ctx["authorizer"] = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
                                           "userArn": arn, "userId": "AIDA"}});
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": h, "requestContext": ctx, "body": body, "isBase64Encoded": false
    })
}

pub fn json_post(method: &str, path: &str, body: &Value, token: Option<&str>) -> Value {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(t) = token {
        headers.push(("authorization", format!("Bearer {t}")));
    }
    apigw(method, path, "", Some(body.to_string()), &headers, false)
}

pub fn get(path: &str, token: Option<&str>) -> Value {
    let headers: Vec<(&str, String)> = token.map(|t| ("authorization", format!("Bearer {t}"))).into_iter().collect();
    apigw("GET", path, "", None, &headers, false)
}

pub fn scheduled() -> Value {
    json!({"version": "0", "id": ulid::Ulid::new().to_string(), "detail-type": "Scheduled Event", "source": "aws.events",
           "account": "123456789012", "time": "2026-11-22T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}})
}

//! A local AWS Marketplace Metering API for tests and local runs (moto lacks
//! `ResolveCustomer`). Speaks the real JSON 1.1 protocol to the SDK:
//! `ResolveCustomer` and `BatchMeterUsage`; mints registration tokens for tests at
//! `POST /_emulator/registration-tokens`. A test fixture, not product code.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Customer {
    /// Only for a product integrated before licences: new integrations get none.
    customer_identifier: Option<String>,
    aws_account_id: String,
    product_code: String,
    license_arn: Option<String>,
    expires: Instant,
}

type Tokens = Arc<Mutex<HashMap<String, Customer>>>;

/// A token for a new-style product carries `license_arn` (and no `customer_identifier`); one
/// for a product integrated the old way carries `customer_identifier`.
#[derive(Deserialize)]
struct Mint {
    customer_identifier: Option<String>,
    license_arn: Option<String>,
    aws_account_id: String,
    product_code: String,
    /// Seconds the token stays valid (default one hour; 0 mints an expired one).
    ttl_seconds: Option<u64>,
}

async fn mint(State(tokens): State<Tokens>, Json(m): Json<Mint>) -> Json<Value> {
    let token = format!("emu-{}", ulid::Ulid::new());
    let expires = Instant::now() + Duration::from_secs(m.ttl_seconds.unwrap_or(3600));
    let c = Customer {
        customer_identifier: m.customer_identifier,
        aws_account_id: m.aws_account_id,
        product_code: m.product_code,
        license_arn: m.license_arn,
        expires,
    };
    tokens.lock().expect("lock").insert(token.clone(), c);
    Json(json!({ "token": token }))
}

fn aws_error(kind: &str, message: &str) -> Response {
    let body = json!({ "__type": kind, "message": message }).to_string();
    (StatusCode::BAD_REQUEST, [("content-type", "application/x-amz-json-1.1"), ("x-amzn-errortype", kind)], body)
        .into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], v.to_string()).into_response()
}

async fn api(State(tokens): State<Tokens>, headers: HeaderMap, body: String) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Ok(input) = serde_json::from_str::<Value>(&body) else {
        return aws_error("SerializationException", "body is not JSON");
    };
    match target.rsplit('.').next().unwrap_or_default() {
        "ResolveCustomer" => {
            let token = input["RegistrationToken"].as_str().unwrap_or_default();
            let found = tokens.lock().expect("lock").get(token).cloned();
            match found {
                None => aws_error("InvalidTokenException", "Registration token is invalid"),
                Some(c) if c.expires <= Instant::now() => {
                    aws_error("ExpiredTokenException", "Registration token has expired")
                }
                Some(c) => {
                    let mut out = json!({ "CustomerAWSAccountId": c.aws_account_id, "ProductCode": c.product_code });
                    if let Some(id) = c.customer_identifier {
                        out["CustomerIdentifier"] = id.into();
                    }
                    if let Some(arn) = c.license_arn {
                        out["LicenseArn"] = arn.into();
                    }
                    ok(out)
                }
            }
        }
        "BatchMeterUsage" => {
            let records = input["UsageRecords"].as_array().cloned().unwrap_or_default();
            let results: Vec<Value> = records
                .into_iter()
                .map(|r| json!({ "UsageRecord": r, "MeteringRecordId": ulid::Ulid::new().to_string(), "Status": "Success" }))
                .collect();
            ok(json!({ "Results": results, "UnprocessedRecords": [] }))
        }
        other => aws_error("UnknownOperationException", &format!("unknown operation {other}")),
    }
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8602".into());
    let tokens: Tokens = Arc::default();
    let app =
        Router::new().route("/", post(api)).route("/_emulator/registration-tokens", post(mint)).with_state(tokens);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("marketplace emulator on http://{addr}");
    axum::serve(listener, app).await.expect("serve");
}

//! Flow 12: Huawei Cloud KooGallery's SaaS interface (V2.0). KooGallery POSTs a JSON body
//! naming an `activity`, signed with its timestamp and nonce; a forged, stale (more than 60 s
//! off) or replayed (nonce seen) request changes nothing. Every answer is JSON with a
//! `resultCode` (`000000` success) and is signed (`Body-Sign`).
//!
//! - `newInstance` opens an instance for the buyer's Huawei account, idempotent on the order
//!   line: KooGallery retries for hours and gets the same `instanceId`.
//! - `refreshInstance` (renewal, trial to paid) keeps it; `updateInstanceStatus` FREEZE makes
//!   it not active (it pays nothing and cannot be newly bound), UNFREEZE active again.
//! - `releaseInstance` is the cancellation of flow 7, then the final usage report.
//! - `queryInstance` answers the state of up to 100 instances.

use super::{cancellation, Deps};
use crate::crypto::koogallery as sig;
use crate::error::Result;
use crate::model::{CloudAccount, CloudStatus, Platform};
use crate::rules::fields;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Instant;

/// How far a request's timestamp may be from now.
pub const FRESHNESS: Duration = Duration::seconds(60);
/// Nonces are remembered longer than a timestamp stays fresh: a replay is either stale or seen.
pub const NONCE_MEMORY: Duration = Duration::minutes(10);

pub const SUCCESS: &str = "000000";
pub const AUTH_FAILED: &str = "000001";
pub const INVALID_PARAMETER: &str = "000002";
pub const INSTANCE_NOT_FOUND: &str = "000003";

/// An answer: its JSON body and the `Body-Sign` header over it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub body: String,
    pub body_sign: String,
}

fn answer(key: &str, mut v: Value) -> Answer {
    if v.get("resultMsg").is_none() {
        let msg = match v["resultCode"].as_str() {
            Some(SUCCESS) => "success",
            Some(AUTH_FAILED) => "authentication failed",
            Some(INSTANCE_NOT_FOUND) => "instance not found",
            _ => "invalid request parameter",
        };
        v["resultMsg"] = msg.into();
    }
    let body = v.to_string();
    Answer { body_sign: sig::body_sign(key, &body), body }
}

fn code(key: &str, code: &str) -> Answer {
    answer(key, json!({ "resultCode": code }))
}

/// The instance id of an order line: stable, so a retried `newInstance` gets the same one.
pub fn instance_id(order_id: &str, order_line_id: &str) -> String {
    let digest = Sha256::digest(format!("{order_id}|{order_line_id}").as_bytes());
    format!("hw{}", &hex::encode(digest)[..30])
}

/// One call from KooGallery: its URL parameters and raw body.
pub async fn handle(
    deps: &Deps,
    key: &str,
    params: &[(String, String)],
    body: &str,
    deadline: Option<Instant>,
) -> Result<Answer> {
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let (Some(signature), Some(timestamp), Some(nonce)) = (param("signature"), param("timestamp"), param("nonce"))
    else {
        return Ok(code(key, AUTH_FAILED));
    };
    if nonce.len() > 128 || !sig::verify_request(key, nonce, timestamp, body, signature) {
        return Ok(code(key, AUTH_FAILED));
    }
    let now = deps.clock.now();
    let at = match sig::timestamp_seconds(timestamp).and_then(|s| Utc.timestamp_opt(s, 0).single()) {
        Some(at) if (now - at).abs() <= FRESHNESS => at,
        _ => return Ok(code(key, AUTH_FAILED)), // stale: a replay of an old request
    };
    if !deps.marketplace.first_use_of_nonce(&format!("koogallery#{nonce}"), now, now + NONCE_MEMORY).await? {
        return Ok(code(key, AUTH_FAILED)); // replayed
    }
    let Ok(req) = serde_json::from_str::<Value>(body) else {
        return Ok(code(key, INVALID_PARAMETER));
    };
    let text = |name: &str| req[name].as_str().filter(|v| !v.is_empty());
    match text("activity") {
        Some("newInstance") => {
            let (Some(order), Some(line)) = (text("orderId"), text("orderLineId")) else {
                return Ok(code(key, INVALID_PARAMETER));
            };
            // The buyer's Huawei account, as the product's newInstance sends it.
            let customer = req["buyerInfo"]["customerId"].as_str().or(text("customerId")).filter(|c| !c.is_empty());
            let Some(customer) = customer.filter(|c| fields::huawei_account_id(c).is_ok()) else {
                return Ok(code(key, INVALID_PARAMETER));
            };
            if order.len() > 64 || line.len() > 64 {
                return Ok(code(key, INVALID_PARAMETER));
            }
            let id = instance_id(order, line);
            let account = CloudAccount {
                id: CloudAccount::huawei_id(&id),
                platform: Platform::Huawei,
                account_id: customer.to_string(),
                instance_id: Some(id),
                customer_identifier: None,
                product_code: None,
                license_arn: None,
                status: CloudStatus::Active,
                last_event_at: at,
                cancelled_at: None,
                refused_at: None,
            };
            let stored = deps.marketplace.open_cloud_account(&account).await?;
            Ok(answer(key, json!({ "resultCode": SUCCESS, "instanceId": stored.instance_id })))
        }
        Some(activity @ ("refreshInstance" | "updateInstanceStatus" | "releaseInstance")) => {
            let Some(instance) = text("instanceId").filter(|i| fields::is_id(i)) else {
                return Ok(code(
                    key,
                    if text("instanceId").is_some() { INSTANCE_NOT_FOUND } else { INVALID_PARAMETER },
                ));
            };
            let id = CloudAccount::huawei_id(instance);
            let Some(current) = deps.marketplace.cloud_account(&id).await?.filter(|a| a.platform == Platform::Huawei)
            else {
                return Ok(code(key, INSTANCE_NOT_FOUND));
            };
            match activity {
                // Renewed, or a trial turned paid: the instance goes on as it is.
                "refreshInstance" => {}
                "updateInstanceStatus" => {
                    let wanted = req["instanceStatus"].as_str().or(text("status")).unwrap_or_default();
                    let status = match wanted {
                        "FREEZE" => CloudStatus::Frozen,
                        "UNFREEZE" | "NORMAL" => CloudStatus::Active,
                        _ => return Ok(code(key, INVALID_PARAMETER)),
                    };
                    // A released instance stays released.
                    if current.status != CloudStatus::Cancelled {
                        deps.marketplace.transition(&id, status, at).await?;
                    }
                }
                _ => cancellation::close(deps, current, at, deadline).await?,
            }
            Ok(code(key, SUCCESS))
        }
        Some("queryInstance") => {
            let ids: Vec<&str> =
                text("instanceId").unwrap_or_default().split(',').map(str::trim).filter(|i| !i.is_empty()).collect();
            if ids.is_empty() || ids.len() > 100 {
                return Ok(code(key, INVALID_PARAMETER));
            }
            let mut info = Vec::new();
            for i in ids.into_iter().filter(|i| fields::is_id(i)) {
                if let Some(a) = deps
                    .marketplace
                    .cloud_account(&CloudAccount::huawei_id(i))
                    .await?
                    .filter(|a| a.platform == Platform::Huawei)
                {
                    info.push(json!({ "instanceId": i, "status": a.status, "customerId": a.account_id }));
                }
            }
            if info.is_empty() {
                return Ok(code(key, INSTANCE_NOT_FOUND));
            }
            Ok(answer(key, json!({ "resultCode": SUCCESS, "info": info })))
        }
        _ => Ok(code(key, INVALID_PARAMETER)),
    }
}

/// KooGallery's time for an answer to a request at `at` (for tests and the local driver).
pub fn now_millis(at: DateTime<Utc>) -> String {
    at.timestamp_millis().to_string()
}

//! Flows 5 and 6: the Alibaba Cloud Marketplace SPI and AWS Marketplace (landing and SNS
//! subscription notifications; EventBridge agreement events are in `agreements`). A
//! subscription that ends starts the cancellation (flow 7).

use super::{cancellation, metering, Deps};
use crate::crypto::spi_signature;
use crate::error::{Error, Result};
use crate::model::{AwsCustomer, CloudAccount, CloudStatus, Platform};
use crate::ports::{ResolveError, Transition};
use crate::rules::fields;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Instant;

/// How long a resolved AWS customer waits to be claimed by a registration or change.
pub const CLAIM_LIFETIME: Duration = Duration::hours(24);

/// Longer than any registration token AWS issues: refused without asking AWS.
const MAX_MARKETPLACE_TOKEN: usize = 4096;

/// An SPI answer: status and body, in the marketplace's own shape.
pub type SpiAnswer = (u16, Value);

fn spi_error(status: u16, code: &str) -> SpiAnswer {
    (status, json!({ "success": false, "code": code }))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// One SPI call. Unsigned or wrongly signed calls change nothing.
pub async fn aliyun_spi(
    deps: &Deps,
    params: &[(String, String)],
    secret: &str,
    deadline: Option<Instant>,
) -> Result<SpiAnswer> {
    if !spi_signature::verify(params, secret) {
        return Ok(spi_error(403, "invalid_token"));
    }
    let now = deps.clock.now();
    match param(params, "action") {
        Some("createInstance") => {
            let (Some(uid), Some(order)) = (param(params, "aliUid"), param(params, "orderBizId")) else {
                return Ok(spi_error(400, "invalid_parameter"));
            };
            if fields::aliyun_account_id(uid).is_err() || !fields::is_id(order) {
                return Ok(spi_error(400, "invalid_parameter"));
            }
            let account = CloudAccount {
                id: CloudAccount::aliyun_id(order),
                platform: Platform::Aliyun,
                account_id: uid.to_string(),
                instance_id: Some(order.to_string()),
                customer_identifier: None,
                product_code: None,
                license_arn: None,
                status: CloudStatus::Active,
                last_event_at: now,
                cancelled_at: None,
                refused_at: None,
            };
            // Idempotent: the marketplace retries up to 120 times and gets the same answer.
            let stored = deps.marketplace.open_cloud_account(&account).await?;
            Ok((200, json!({ "instanceId": stored.instance_id })))
        }
        Some(action @ ("renewInstance" | "upgradeInstance" | "expiredInstance" | "releaseInstance")) => {
            let Some(instance) = param(params, "instanceId") else {
                return Ok(spi_error(400, "invalid_parameter"));
            };
            if !fields::is_id(instance) {
                return Ok(spi_error(404, "instance_not_found")); // no instance has such an id
            }
            let id = CloudAccount::aliyun_id(instance);
            let Some(current) = deps.marketplace.cloud_account(&id).await? else {
                return Ok(spi_error(404, "instance_not_found"));
            };
            let closing = matches!(action, "expiredInstance" | "releaseInstance");
            if !closing {
                // Renewing or upgrading changes nothing we keep: an open instance stays open,
                // and a closed one stays closed.
                return Ok((200, json!({ "success": true })));
            }
            cancellation::close(deps, current, now, deadline).await?;
            Ok((200, json!({ "success": true })))
        }
        _ => Ok(spi_error(400, "unknown_action")),
    }
}

/// The landing: resolve the buyer and keep them under a claim for registration or a change.
pub async fn aws_landing(deps: &Deps, registration_token: Option<&str>) -> Result<String> {
    let token = registration_token
        .filter(|t| !t.is_empty() && t.len() <= MAX_MARKETPLACE_TOKEN)
        .ok_or(Error::InvalidMarketplaceToken)?;
    let customer = deps.resolver.resolve(token).await.map_err(|e| match e {
        ResolveError::InvalidToken => Error::InvalidMarketplaceToken,
        ResolveError::Unavailable(m) => Error::internal(m),
    })?;
    let now = deps.clock.now();
    deps.marketplace.open_cloud_account(&aws_account(&customer)).await?;
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    let claim = hex::encode(bytes);
    deps.marketplace.save_claim(&claim, &customer, now + CLAIM_LIFETIME).await?;
    Ok(claim)
}

/// The cloud account an AWS customer is, as first opened: pending, no event applied yet.
pub(crate) fn aws_account(c: &AwsCustomer) -> CloudAccount {
    CloudAccount {
        id: c.cloud_account_id(),
        platform: Platform::Aws,
        account_id: c.aws_account_id.clone(),
        instance_id: None,
        customer_identifier: c.customer_identifier.clone(),
        product_code: Some(c.product_code.clone()),
        license_arn: c.license_arn.clone(),
        status: CloudStatus::Pending,
        last_event_at: DateTime::<Utc>::UNIX_EPOCH,
        cancelled_at: None,
        refused_at: None,
    }
}

/// The `Message` of an AWS Marketplace subscription notification.
#[derive(Debug, Deserialize)]
pub struct AwsNotification {
    pub action: String,
    #[serde(rename = "customer-identifier")]
    pub customer_identifier: String,
    #[serde(rename = "product-code")]
    pub product_code: String,
}

/// Applies one notification. Duplicates change nothing; an event older than the newest
/// applied one is ignored, so any order of arrival ends in the state of the newest.
pub async fn aws_notification(
    deps: &Deps,
    n: &AwsNotification,
    event_at: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<()> {
    if !fields::is_id(&n.customer_identifier) || !fields::is_id(&n.product_code) {
        return Err(Error::MalformedRequest("customer-identifier and product-code must be ids".into()));
    }
    let status = match n.action.as_str() {
        "subscribe-success" => CloudStatus::Active,
        "subscribe-fail" | "unsubscribe-success" => CloudStatus::Cancelled,
        // About an hour left to report usage: still paying until unsubscribe-success.
        "unsubscribe-pending" => CloudStatus::Active,
        other => return Err(Error::MalformedRequest(format!("unknown action {other}"))),
    };
    let customer = AwsCustomer {
        customer_identifier: Some(n.customer_identifier.clone()),
        aws_account_id: String::new(),
        product_code: n.product_code.clone(),
        license_arn: None,
    };
    // A notification may come before the buyer lands: the account is made from it.
    let id = deps.marketplace.open_cloud_account(&aws_account(&customer)).await?.id;
    match deps.marketplace.transition(&id, status, event_at).await? {
        Some(Transition::Applied { account }) if account.status == CloudStatus::Cancelled => {
            cancellation::run(deps, &account, deadline).await?;
            metering::final_report(deps, &account.id, deadline).await;
        }
        // About an hour left to report usage: the final report goes now.
        Some(Transition::Applied { .. }) if n.action == "unsubscribe-pending" => {
            metering::final_report(deps, &id, deadline).await;
        }
        Some(Transition::Stale) => {
            tracing::info!(cloud_account = %id, action = %n.action, "stale notification ignored")
        }
        _ => {}
    }
    Ok(())
}

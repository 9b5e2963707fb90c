//! Flow 12: Huawei Cloud KooGallery's SaaS interface (V2.0). Calls are checked (signature,
//! freshness, nonce) and read at the edge (`billing_adapters::koogallery::saas`); this module
//! decides what each documented action does.
//!
//! - `newInstance` opens an instance for an order line, idempotent on it (KooGallery retries for
//!   hours, then refunds the buyer). Its V2.0 body does not name the buyer: the buyer's Huawei
//!   account comes from KooGallery's order query, asked at once and, failing that, again by the
//!   sweeper and at binding; the instance cannot be bound until its buyer is known.
//! - `refreshInstance` (renewal, trial to paid) and `upgradeInstance` keep it as it is;
//!   `updateInstanceStatus` FREEZE makes it not active (it pays nothing and cannot be newly
//!   bound), UNFREEZE active again.
//! - `releaseInstance` ends the subscription (flow 7 and the final usage report).
//! - `queryInstance` answers up to 100 instances with their cumulative reported usage.

use super::{subscription, Deps};
use crate::error::Result;
use crate::model::{CloudAccount, CloudStatus, MarketOrder, Platform};
use crate::money::Amount;
use crate::rules::fields;
use crate::rules::metering::ReportStatus;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::time::Instant;

/// The longest id KooGallery sends (`orderId`, `orderLineId`, `instanceId`: "64").
pub const MAX_ID: usize = 64;

/// How long `newInstance` waits for the order query: KooGallery times its calls out after 5 s.
pub const ORDER_QUERY_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// One call, as read from its signed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    NewInstance {
        order_id: String,
        order_line_id: String,
    },
    /// `refreshInstance` and `upgradeInstance`.
    Keep {
        instance_id: String,
    },
    SetStatus {
        instance_id: String,
        frozen: bool,
    },
    Release {
        instance_id: String,
    },
    Query {
        instance_ids: Vec<String>,
    },
}

/// An instance as `queryInstance` answers it: its cumulative usage value ("对于按需实例,应该是一个
/// 总体的累积值") as reported, and when that was counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceUsage {
    pub instance_id: String,
    pub usage_value: Amount,
    pub statistical_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Opened { instance_id: String },
    Done,
    Instances(Vec<InstanceUsage>),
    InvalidParameter,
    InstanceNotFound,
}

/// The instance id of an order line: stable, so a retried `newInstance` gets the same one.
pub fn instance_id(order_id: &str, order_line_id: &str) -> String {
    let digest = Sha256::digest(format!("{order_id}|{order_line_id}").as_bytes());
    format!("hw{}", &hex::encode(digest)[..30])
}

pub async fn handle(deps: &Deps, call: Call, at: DateTime<Utc>, deadline: Option<Instant>) -> Result<Outcome> {
    match call {
        Call::NewInstance { order_id, order_line_id } => new_instance(deps, order_id, order_line_id, at).await,
        Call::Keep { instance_id } => Ok(match instance(deps, &instance_id).await? {
            Some(_) => Outcome::Done,
            None => Outcome::InstanceNotFound,
        }),
        Call::SetStatus { instance_id, frozen } => match instance(deps, &instance_id).await? {
            Some(current) => {
                subscription::set_frozen(deps, &current, frozen, at).await?;
                Ok(Outcome::Done)
            }
            None => Ok(Outcome::InstanceNotFound),
        },
        // KooGallery may call again for the same instance: it is released once, answered each time.
        Call::Release { instance_id } => match instance(deps, &instance_id).await? {
            Some(current) => {
                subscription::close(deps, current, at, deadline).await?;
                Ok(Outcome::Done)
            }
            None => Ok(Outcome::InstanceNotFound),
        },
        Call::Query { instance_ids } => query(deps, &instance_ids).await,
    }
}

async fn new_instance(deps: &Deps, order_id: String, order_line_id: String, at: DateTime<Utc>) -> Result<Outcome> {
    if order_id.len() > MAX_ID
        || order_line_id.len() > MAX_ID
        || !fields::is_id(&order_id)
        || !fields::is_id(&order_line_id)
    {
        return Ok(Outcome::InvalidParameter);
    }
    let id = instance_id(&order_id, &order_line_id);
    let mut account =
        CloudAccount::opened(CloudAccount::huawei_id(&id), Platform::Huawei, String::new(), CloudStatus::Active, at);
    account.instance_id = Some(id.clone());
    account.order = Some(MarketOrder { order_id, order_line_id });
    let stored = subscription::open(deps, &account).await?;
    if !stored.buyer_known() {
        // Within KooGallery's 5 s: if the query is slow or down, the sweeper asks again.
        if tokio::time::timeout(ORDER_QUERY_BUDGET, learn_buyer(deps, &stored)).await.is_err() {
            tracing::info!(instance = %id, "order query slow: the buyer is learnt later");
        }
    }
    Ok(Outcome::Opened { instance_id: id })
}

/// Asks KooGallery's order query who bought the instance's order and records it. The account
/// as it then stands (its buyer still unknown when the query failed or knows no buyer).
pub async fn learn_buyer(deps: &Deps, account: &CloudAccount) -> Result<CloudAccount> {
    let Some(order) = account.order.as_ref().filter(|_| !account.buyer_known()) else {
        return Ok(account.clone());
    };
    match deps.orders.buyer(order).await {
        Ok(Some(buyer)) if fields::huawei_account_id(&buyer).is_ok() => {
            deps.marketplace.learn_buyer(&account.id, &buyer).await
        }
        Ok(Some(buyer)) => {
            tracing::warn!(instance = %account.id, len = buyer.len(), "order query named a buyer that is no Huawei account id");
            Ok(account.clone())
        }
        Ok(None) => {
            tracing::warn!(instance = %account.id, "order query knows no such order");
            Ok(account.clone())
        }
        Err(e) => {
            tracing::info!(instance = %account.id, error = %e, "order query failed; asked again later");
            Ok(account.clone())
        }
    }
}

/// The sweeper's part: instances whose buyer is not known yet, asked again.
pub async fn learn_pending_buyers(deps: &Deps, deadline: Option<Instant>) -> Result<usize> {
    let mut learnt = 0;
    for id in deps.marketplace.buyers_unknown().await? {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let Some(a) = deps.marketplace.cloud_account(&id).await? {
            learnt += usize::from(learn_buyer(deps, &a).await?.buyer_known());
        }
    }
    Ok(learnt)
}

async fn instance(deps: &Deps, instance_id: &str) -> Result<Option<CloudAccount>> {
    if instance_id.len() > MAX_ID || !fields::is_id(instance_id) {
        return Ok(None);
    }
    Ok(deps
        .marketplace
        .cloud_account(&CloudAccount::huawei_id(instance_id))
        .await?
        .filter(|a| a.platform == Platform::Huawei))
}

async fn query(deps: &Deps, ids: &[String]) -> Result<Outcome> {
    if ids.is_empty() || ids.len() > 100 {
        return Ok(Outcome::InvalidParameter);
    }
    let now = deps.clock.now();
    let mut found = Vec::new();
    for i in ids {
        let Some(a) = instance(deps, i).await? else { continue };
        let usage_value = deps
            .metering
            .reports_of(&a.id)
            .await?
            .iter()
            .filter(|r| r.status == ReportStatus::Reported)
            .filter_map(|r| r.value.map(|v| v.sent))
            .sum();
        found.push(InstanceUsage { instance_id: i.clone(), usage_value, statistical_time: now });
    }
    Ok(if found.is_empty() { Outcome::InstanceNotFound } else { Outcome::Instances(found) })
}

/// How far a request's timestamp may be from now: "The difference between the timestamp and
/// the current time must not exceed 60 seconds" (HTTP Body Signature, topic_0070649090).
pub const FRESHNESS: chrono::Duration = chrono::Duration::seconds(60);
/// Nonces are remembered longer than a timestamp stays fresh: a replay is either stale or seen.
pub const NONCE_MEMORY: chrono::Duration = chrono::Duration::minutes(10);

/// Whether a signed request is fresh and its nonce unseen ("You can cache it to defend against
/// replay attacks"): a stale or replayed request changes nothing.
pub async fn admit(deps: &Deps, nonce: &str, sent_at: DateTime<Utc>) -> Result<bool> {
    let now = deps.clock.now();
    if (now - sent_at).abs() > FRESHNESS {
        return Ok(false);
    }
    deps.marketplace.first_use_of_nonce(&format!("koogallery#{nonce}"), now, now + NONCE_MEMORY).await
}

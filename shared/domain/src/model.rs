//! The nouns of domain.md as types, as stored. The public JSON of api.md is in `views`,
//! so that no secret or internal field can leak into a response by accident.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Aliyun,
    Aws,
    Huawei,
}

impl Platform {
    /// Platforms whose marketplace can settle a bill (flows 5, 6 and 12).
    pub const SETTLING: [Platform; 3] = [Platform::Aliyun, Platform::Aws, Platform::Huawei];

    pub fn can_settle(self) -> bool {
        Self::SETTLING.contains(&self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Zh,
    En,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    Free,
    Commercial,
}

/// A console login on one site. `email` is stored lower-cased; `phone` as given (E.164).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub site: String,
    pub username: String,
    pub email: String,
    pub phone: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// How a commercial workspace pays. The cloud variants name the cloud account that pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Settlement {
    Enterprise,
    Aliyun {
        account_id: String,
        instance_id: String,
    },
    /// An AWS Marketplace licence (`license_arn`), or for products integrated before AWS
    /// introduced licences, a customer identifier. Records written before licences had
    /// `customer_identifier` always set; they still read.
    Aws {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer_identifier: Option<String>,
        aws_account_id: String,
        product_code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        license_arn: Option<String>,
    },
    /// A Huawei Cloud account with its KooGallery instance.
    Huawei {
        account_id: String,
        instance_id: String,
    },
}

impl Settlement {
    pub fn platform(&self) -> Option<Platform> {
        match self {
            Settlement::Enterprise => None,
            Settlement::Aliyun { .. } => Some(Platform::Aliyun),
            Settlement::Aws { .. } => Some(Platform::Aws),
            Settlement::Huawei { .. } => Some(Platform::Huawei),
        }
    }

    /// The id of the cloud account that pays, if any.
    pub fn cloud_account_id(&self) -> Option<String> {
        match self {
            Settlement::Enterprise => None,
            Settlement::Aliyun { instance_id, .. } => Some(CloudAccount::aliyun_id(instance_id)),
            Settlement::Huawei { instance_id, .. } => Some(CloudAccount::huawei_id(instance_id)),
            Settlement::Aws { customer_identifier, aws_account_id, product_code, license_arn } => {
                Some(aws_identity(customer_identifier.as_deref(), aws_account_id, product_code, license_arn.as_deref()))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub language: Language,
    pub site: String,
    pub edition: Edition,
    pub owner_id: String,
    pub billing_account: Option<String>,
    pub settlement: Option<Settlement>,
    pub settlement_since: Option<DateTime<Utc>>,
    /// When the settlement last changed by the customer's choice (counts against the monthly limit).
    pub last_settlement_change: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version: every write is conditioned on it.
    pub version: u64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingAccount {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub company: Option<String>,
    pub free_choice: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudStatus {
    Active,
    Pending,
    /// Huawei KooGallery froze the instance: it pays nothing and cannot be newly bound until
    /// it is unfrozen.
    Frozen,
    Cancelled,
}

/// A marketplace subscription that can pay: an Alibaba instance or an AWS customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudAccount {
    pub id: String,
    pub platform: Platform,
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_code: Option<String>,
    /// AWS: the licence this account is (absent for products integrated the old way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_arn: Option<String>,
    pub status: CloudStatus,
    /// The time of the newest marketplace event applied: older events are stale.
    pub last_event_at: DateTime<Utc>,
    /// Set when the subscription ended; names the cancellation run it started.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Set when a marketplace refused its usage (the customer is not subscribed): the
    /// cancellation that follows records that cause in the workspaces' history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_at: Option<DateTime<Utc>>,
    /// When the subscription began, as far as the billing center knows: the first event or
    /// landing that named it. No record is stamped before it (AWS refuses usage before a
    /// licence's activation; KooGallery a period that begins before the instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<DateTime<Utc>>,
    /// KooGallery: the order that opened the instance, from which its buyer is learnt
    /// (its `newInstance` does not name the buyer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<MarketOrder>,
    /// KooGallery: when it was frozen (the last few times), so that usage of a period that
    /// overlapped a freeze is never pushed ("实例资源状态异常", SDR 013: not billed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freezes: Vec<Freeze>,
}

/// A time a subscription was frozen; `until` is `None` while it still is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    pub from: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

/// How many freezes an account remembers: far more than a reporting window holds.
const FREEZES_KEPT: usize = 8;

/// A marketplace order line (KooGallery `orderId` / `orderLineId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketOrder {
    pub order_id: String,
    pub order_line_id: String,
}

impl CloudAccount {
    /// A subscription as its marketplace first names it, opened at `at`.
    pub fn opened(id: String, platform: Platform, account_id: String, status: CloudStatus, at: DateTime<Utc>) -> Self {
        CloudAccount {
            id,
            platform,
            account_id,
            instance_id: None,
            customer_identifier: None,
            product_code: None,
            license_arn: None,
            status,
            last_event_at: at,
            cancelled_at: None,
            refused_at: None,
            opened_at: Some(at),
            order: None,
            freezes: Vec::new(),
        }
    }

    /// Moves to `status` as of the event at `at`: an end of subscription is stamped once, a
    /// resubscription clears it, and freezes are remembered.
    pub fn record_transition(&mut self, status: CloudStatus, at: DateTime<Utc>) {
        let (was_cancelled, was_frozen) = (self.status == CloudStatus::Cancelled, self.status == CloudStatus::Frozen);
        match (was_cancelled, status == CloudStatus::Cancelled) {
            (false, true) => self.cancelled_at = Some(at),
            (true, false) => {
                // Resubscribed: a later end is a new run, with its own cause.
                self.cancelled_at = None;
                self.refused_at = None;
            }
            _ => {}
        }
        match (was_frozen, status == CloudStatus::Frozen) {
            (false, true) => {
                self.freezes.push(Freeze { from: at, until: None });
                let excess = self.freezes.len().saturating_sub(FREEZES_KEPT);
                self.freezes.drain(..excess);
            }
            (true, false) => {
                if let Some(f) = self.freezes.last_mut().filter(|f| f.until.is_none()) {
                    f.until = Some(at);
                }
            }
            _ => {}
        }
        self.status = status;
        self.last_event_at = at;
    }

    /// Whether it was frozen at any time of `[start, end]`.
    pub fn frozen_during(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.freezes.iter().any(|f| f.from <= end && f.until.is_none_or(|u| u > start))
    }

    /// Whether the buyer is known (a KooGallery instance is opened before its order is read).
    pub fn buyer_known(&self) -> bool {
        !self.account_id.is_empty()
    }

    pub fn aliyun_id(instance_id: &str) -> String {
        format!("aliyun-{instance_id}")
    }

    pub fn huawei_id(instance_id: &str) -> String {
        format!("huawei-{instance_id}")
    }

    /// An AWS customer of a product integrated before licences: customer identifier and product.
    pub fn aws_id(customer_identifier: &str, product_code: &str) -> String {
        format!("aws-{customer_identifier}-{product_code}")
    }

    /// An AWS licence: one per agreement line, so one AWS account with two concurrent
    /// agreements holds two. The licence's own id (`l-...`) keeps the key short whatever the
    /// ARN's form (AWS prints it with and without `arn:`); an ARN without one is hashed.
    pub fn aws_license_id(aws_account_id: &str, license_arn: &str) -> String {
        format!("aws-{aws_account_id}-{}", license_key(license_arn))
    }

    /// The settlement a workspace gets when this account pays for it.
    pub fn settlement(&self) -> Settlement {
        match self.platform {
            Platform::Aliyun => Settlement::Aliyun {
                account_id: self.account_id.clone(),
                instance_id: self.instance_id.clone().unwrap_or_default(),
            },
            Platform::Huawei => Settlement::Huawei {
                account_id: self.account_id.clone(),
                instance_id: self.instance_id.clone().unwrap_or_default(),
            },
            // The settlement names the account the way its id does: by its licence when the
            // account is the licence's, by customer identifier when it is an older listing's
            // customer that later learnt its licence (`Settlement::cloud_account_id` agrees).
            Platform::Aws => Settlement::Aws {
                customer_identifier: self.customer_identifier.clone(),
                aws_account_id: self.account_id.clone(),
                product_code: self.product_code.clone().unwrap_or_default(),
                license_arn: self
                    .license_arn
                    .clone()
                    .filter(|l| CloudAccount::aws_license_id(&self.account_id, l) == self.id),
            },
        }
    }

    /// Still paying: its workspaces may not move to another cloud account. A frozen account
    /// pays nothing meanwhile and counts as not active.
    pub fn is_active(&self) -> bool {
        matches!(self.status, CloudStatus::Active | CloudStatus::Pending)
    }

    /// One id per end of subscription, so a resubscribed account cancelled again is a new run.
    pub fn cancellation_id(&self) -> Option<String> {
        self.cancelled_at.map(|t| format!("{}@{}", self.id, t.timestamp_millis()))
    }
}

/// An AWS Marketplace customer resolved at the landing page, waiting to be claimed: all
/// that `ResolveCustomer` returned. New integrations get no customer identifier but a licence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwsCustomer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_identifier: Option<String>,
    pub aws_account_id: String,
    pub product_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_arn: Option<String>,
}

impl AwsCustomer {
    /// The identity rule of domain.md (flow 6): the licence where known, else the customer.
    pub fn cloud_account_id(&self) -> String {
        aws_identity(
            self.customer_identifier.as_deref(),
            &self.aws_account_id,
            &self.product_code,
            self.license_arn.as_deref(),
        )
    }
}

fn aws_identity(customer: Option<&str>, aws_account_id: &str, product_code: &str, license: Option<&str>) -> String {
    match (license, customer) {
        (Some(l), _) if !l.is_empty() => CloudAccount::aws_license_id(aws_account_id, l),
        (_, c) => CloudAccount::aws_id(c.unwrap_or_default(), product_code),
    }
}

/// The licence's id in an ARN (`...:l-0123abcd` or `.../l-0123abcd`), lower-cased; a hash of
/// the whole ARN when it has none.
pub fn license_key(license_arn: &str) -> String {
    let last = license_arn.rsplit([':', '/']).next().unwrap_or_default();
    if last.starts_with("l-") && last.len() <= 64 && last.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        last.to_ascii_lowercase()
    } else {
        use sha2::{Digest, Sha256};
        format!("h{}", &hex::encode(Sha256::digest(license_arn.as_bytes()))[..32])
    }
}

/// A session token as handed to clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a workspace's settlement changed (domain.md, flow 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeCause {
    Registration,
    Upgrade,
    Change,
    Cancellation,
    MarketplaceRefusal,
}

/// One entry of a workspace's settlement history, written in the same transaction as the
/// change it records: attribution reads it, so it never disagrees with the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementChange {
    pub at: DateTime<Utc>,
    pub from: Option<Settlement>,
    pub to: Settlement,
    pub cause: ChangeCause,
    /// Who: `user:<id>`, `billing:<username>`, `marketplace:<cloud account id>`.
    pub actor: String,
}

impl SettlementChange {
    /// The entry a workspace's new settlement gets, from what it settled by before.
    pub fn of(before: &Workspace, after: &Workspace, cause: ChangeCause, actor: String) -> Option<SettlementChange> {
        let to = after.settlement.clone()?;
        Some(SettlementChange { at: after.settlement_since?, from: before.settlement.clone(), to, cause, actor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(m: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(m)
    }

    #[test]
    fn a_freeze_is_remembered_after_it_is_lifted_and_an_end_is_stamped_once() {
        let mut a = CloudAccount::opened("huawei-1".into(), Platform::Huawei, "b".into(), CloudStatus::Active, t(0));
        a.record_transition(CloudStatus::Frozen, t(80));
        a.record_transition(CloudStatus::Active, t(100));
        assert!(a.frozen_during(t(60), t(120)), "FREEZE 1:20, UNFREEZE 1:40: the hour 1:00-2:00 was frozen");
        assert!(!a.frozen_during(t(0), t(60)));
        assert!(!a.frozen_during(t(100), t(160)));
        a.record_transition(CloudStatus::Frozen, t(200));
        assert!(a.frozen_during(t(240), t(300)), "still frozen");
        a.record_transition(CloudStatus::Cancelled, t(310));
        a.record_transition(CloudStatus::Cancelled, t(320));
        assert_eq!(a.cancelled_at, Some(t(310)));
        for i in 0..20 {
            a.record_transition(CloudStatus::Frozen, t(400 + 2 * i));
            a.record_transition(CloudStatus::Active, t(401 + 2 * i));
        }
        assert_eq!(a.freezes.len(), 8, "a few kept, not all");
    }
}

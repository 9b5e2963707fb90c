//! The nouns of domain.md as types, as stored. The public JSON of api.md is in `views`,
//! so that no secret or internal field can leak into a response by accident.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Aliyun,
    Aws,
    Huawei,
}

impl Platform {
    /// Platforms whose marketplace can settle a bill today (Huawei is not offered yet).
    pub const SETTLING: [Platform; 2] = [Platform::Aliyun, Platform::Aws];

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
    Aliyun { account_id: String, instance_id: String },
    Aws { customer_identifier: String, aws_account_id: String, product_code: String },
}

impl Settlement {
    pub fn platform(&self) -> Option<Platform> {
        match self {
            Settlement::Enterprise => None,
            Settlement::Aliyun { .. } => Some(Platform::Aliyun),
            Settlement::Aws { .. } => Some(Platform::Aws),
        }
    }

    /// The id of the cloud account that pays, if any.
    pub fn cloud_account_id(&self) -> Option<String> {
        match self {
            Settlement::Enterprise => None,
            Settlement::Aliyun { instance_id, .. } => Some(CloudAccount::aliyun_id(instance_id)),
            Settlement::Aws { customer_identifier, product_code, .. } => {
                Some(CloudAccount::aws_id(customer_identifier, product_code))
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
    pub status: CloudStatus,
    /// The time of the newest marketplace event applied: older events are stale.
    pub last_event_at: DateTime<Utc>,
    /// Set when the subscription ended; names the cancellation run it started.
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl CloudAccount {
    pub fn aliyun_id(instance_id: &str) -> String {
        format!("aliyun-{instance_id}")
    }

    pub fn aws_id(customer_identifier: &str, product_code: &str) -> String {
        format!("aws-{customer_identifier}-{product_code}")
    }

    /// The settlement a workspace gets when this account pays for it.
    pub fn settlement(&self) -> Settlement {
        match self.platform {
            Platform::Aliyun => Settlement::Aliyun {
                account_id: self.account_id.clone(),
                instance_id: self.instance_id.clone().unwrap_or_default(),
            },
            _ => Settlement::Aws {
                customer_identifier: self.customer_identifier.clone().unwrap_or_default(),
                aws_account_id: self.account_id.clone(),
                product_code: self.product_code.clone().unwrap_or_default(),
            },
        }
    }

    /// Still paying: its workspaces may not move to another cloud account.
    pub fn is_active(&self) -> bool {
        self.status != CloudStatus::Cancelled
    }

    /// One id per end of subscription, so a resubscribed account cancelled again is a new run.
    pub fn cancellation_id(&self) -> Option<String> {
        self.cancelled_at.map(|t| format!("{}@{}", self.id, t.timestamp_millis()))
    }
}

/// An AWS Marketplace customer resolved at the landing page, waiting to be claimed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwsCustomer {
    pub customer_identifier: String,
    pub aws_account_id: String,
    pub product_code: String,
}

/// A session token as handed to clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

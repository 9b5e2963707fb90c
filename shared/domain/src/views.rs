//! The public JSON of api.md, built from the stored model. Only what is listed here leaves
//! the service.

use crate::model::{
    BillingAccount, CloudAccount, CloudStatus, Edition, Language, Platform, Settlement, User, Workspace,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: String,
    pub site: String,
    pub username: String,
    pub email: String,
    pub phone: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            site: u.site.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            phone: u.phone.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SettlementView {
    #[serde(flatten)]
    pub settlement: Settlement,
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
    pub language: Language,
    pub site: String,
    pub edition: Edition,
    pub owner_id: String,
    pub billing_account: Option<String>,
    pub settlement: Option<SettlementView>,
    pub created_at: DateTime<Utc>,
}

impl From<&Workspace> for WorkspaceView {
    fn from(w: &Workspace) -> Self {
        Self {
            id: w.id.clone(),
            name: w.name.clone(),
            language: w.language,
            site: w.site.clone(),
            edition: w.edition,
            owner_id: w.owner_id.clone(),
            billing_account: w.billing_account.clone(),
            settlement: w.settlement.clone().map(|settlement| SettlementView { settlement, since: w.settlement_since }),
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BillingAccountView {
    pub username: String,
    pub email: String,
}

impl From<&BillingAccount> for BillingAccountView {
    fn from(b: &BillingAccount) -> Self {
        Self { username: b.username.clone(), email: b.email.clone() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CloudAccountView {
    pub id: String,
    pub platform: Platform,
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    pub status: CloudStatus,
    /// The caller's workspaces this account settles.
    pub workspaces: Vec<String>,
}

impl CloudAccountView {
    pub fn new(a: &CloudAccount, workspaces: Vec<String>) -> Self {
        Self {
            id: a.id.clone(),
            platform: a.platform,
            account_id: a.account_id.clone(),
            instance_id: a.instance_id.clone(),
            customer_identifier: a.customer_identifier.clone(),
            product_code: a.product_code.clone(),
            license_arn: a.license_arn.clone(),
            aws_account_id: (a.platform == Platform::Aws).then(|| a.account_id.clone()),
            status: a.status,
            workspaces,
        }
    }
}

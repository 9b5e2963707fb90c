//! Finding the cloud account a registration or settlement change names, with the errors
//! of api.md: not found, not active, not that account's.

use super::Deps;
use crate::error::{Error, Result};
use crate::model::{CloudAccount, CloudStatus, Platform};
use crate::ports::CloudBinding;
use crate::rules::fields::{self, Problems};
use crate::rules::settlement::Method;
use serde::Deserialize;

/// The `settlement` object of registration and `PUT .../settlement`, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettlementInput {
    pub method: Option<String>,
    pub account_id: Option<String>,
    pub instance_id: Option<String>,
    pub subscription: Option<String>,
    pub cloud_account_id: Option<String>,
}

/// A settlement request with its fields checked, before anything is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Enterprise,
    Aliyun { account_id: String, instance_id: String },
    Aws { subscription: String },
    Huawei { account_id: String, instance_id: String },
    Registered { cloud_account_id: String },
}

impl Target {
    pub fn method(&self) -> Method {
        match self {
            Target::Enterprise => Method::Enterprise,
            Target::Aliyun { .. } => Method::Aliyun,
            Target::Aws { .. } => Method::Aws,
            Target::Huawei { .. } => Method::Huawei,
            Target::Registered { .. } => Method::Registered,
        }
    }

    pub fn cloud_account_id(&self) -> Option<&str> {
        match self {
            Target::Registered { cloud_account_id } => Some(cloud_account_id),
            _ => None,
        }
    }

    /// Validates the fields each method needs (the method itself first). `allow_registered`
    /// is false at registration.
    pub fn parse(input: &SettlementInput, prefix: &str, allow_registered: bool, p: &mut Problems) -> Option<Target> {
        let f = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            }
        };
        // No default here: a missing or unknown method changes nothing (api.md gives none).
        let Some(method) = input.method.as_deref() else {
            p.push(&f("method"), "required", "is required");
            return None;
        };
        match method {
            "enterprise" => Some(Target::Enterprise),
            "aliyun" => {
                let account_id = p.required(&f("account_id"), &input.account_id);
                p.check(&f("account_id"), account_id, fields::aliyun_account_id);
                let instance_id = p.required(&f("instance_id"), &input.instance_id);
                p.check(&f("instance_id"), instance_id, fields::opaque_id);
                Some(Target::Aliyun { account_id: account_id?.to_string(), instance_id: instance_id?.to_string() })
            }
            "huawei" => {
                let account_id = p.required(&f("account_id"), &input.account_id);
                p.check(&f("account_id"), account_id, fields::huawei_account_id);
                let instance_id = p.required(&f("instance_id"), &input.instance_id);
                p.check(&f("instance_id"), instance_id, fields::opaque_id);
                Some(Target::Huawei { account_id: account_id?.to_string(), instance_id: instance_id?.to_string() })
            }
            "aws" => {
                let s = p.required(&f("subscription"), &input.subscription);
                p.check(&f("subscription"), s, fields::opaque_id);
                Some(Target::Aws { subscription: s?.to_string() })
            }
            "registered" if allow_registered => {
                let id = p.required(&f("cloud_account_id"), &input.cloud_account_id);
                p.check(&f("cloud_account_id"), id, fields::cloud_account_id);
                Some(Target::Registered { cloud_account_id: id?.to_string() })
            }
            _ => {
                p.push(&f("method"), "invalid", "is not a settlement method");
                None
            }
        }
    }
}

/// Looks up the cloud account a target names and checks it can pay now.
/// `None` for enterprise.
pub async fn resolve(deps: &Deps, target: &Target) -> Result<Option<CloudBinding>> {
    let now = deps.clock.now();
    let (account, claim) = match target {
        Target::Enterprise => return Ok(None),
        Target::Aliyun { account_id, instance_id } => {
            let account = deps
                .marketplace
                .cloud_account(&CloudAccount::aliyun_id(instance_id))
                .await?
                .filter(|a| a.platform == Platform::Aliyun)
                .ok_or(Error::CloudAccountNotFound)?;
            if account.status != CloudStatus::Active {
                return Err(Error::CloudAccountNotActive);
            }
            if &account.account_id != account_id {
                return Err(Error::CloudAccountMismatch);
            }
            (account, None)
        }
        Target::Huawei { account_id, instance_id } => {
            let account = deps
                .marketplace
                .cloud_account(&CloudAccount::huawei_id(instance_id))
                .await?
                .filter(|a| a.platform == Platform::Huawei)
                .ok_or(Error::CloudAccountNotFound)?;
            // Opened before KooGallery's order query named its buyer: ask now.
            let account = super::koogallery::learn_buyer(deps, &account).await?;
            if !account.buyer_known() {
                return Err(Error::CloudAccountNotActive);
            }
            if account.status != CloudStatus::Active {
                return Err(Error::CloudAccountNotActive); // frozen or released
            }
            if &account.account_id != account_id {
                return Err(Error::CloudAccountMismatch);
            }
            (account, None)
        }
        Target::Aws { subscription } => {
            let customer = deps.marketplace.claim(subscription, now).await?.ok_or(Error::CloudAccountNotFound)?;
            let account = super::aws::existing_account(deps, &customer).await?.ok_or(Error::CloudAccountNotFound)?;
            (account, Some(subscription.clone()))
        }
        Target::Registered { cloud_account_id } => {
            let account = deps.marketplace.cloud_account(cloud_account_id).await?.ok_or(Error::CloudAccountNotFound)?;
            (account, None)
        }
    };
    // AWS subscriptions are usable from the landing on (pending) until they end.
    if !account.is_active() {
        return Err(Error::CloudAccountNotActive);
    }
    Ok(Some(CloudBinding { account, claim }))
}

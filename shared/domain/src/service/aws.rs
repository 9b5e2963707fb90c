//! Flow 6: AWS Marketplace. The buyer lands with a registration token (`ResolveCustomer`), and
//! subscription events arrive as SNS notifications (listings integrated before licences) or as
//! EventBridge agreement and licence events (`agreements`). Messages are read at the edge
//! (`billing_adapters::aws::events`); this module decides.
//!
//! One AWS customer is one cloud account whichever message names it first: a customer is known
//! by its licence (AWS account + licence) and, for listings integrated before licences, by its
//! customer identifier + product code. Each identity is linked (`AWSID#...`) to the account it
//! names; `ResolveCustomer` of an older listing returns both and links them to one account.

use super::{subscription, Deps};
use crate::error::{Error, Result};
use crate::model::{license_key, AwsCustomer, CloudAccount, CloudStatus, Platform};
use crate::ports::ResolveError;
use crate::rules::fields;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

/// How long a resolved AWS customer waits to be claimed by a registration or change.
pub const CLAIM_LIFETIME: Duration = Duration::hours(24);

/// Longer than any registration token AWS issues: refused without asking AWS.
const MAX_MARKETPLACE_TOKEN: usize = 4096;

/// The landing: resolve the buyer and keep them under a claim for registration or a change.
pub async fn landing(deps: &Deps, registration_token: Option<&str>) -> Result<String> {
    let token = registration_token
        .filter(|t| !t.is_empty() && t.len() <= MAX_MARKETPLACE_TOKEN)
        .ok_or(Error::InvalidMarketplaceToken)?;
    let customer = deps.resolver.resolve(token).await.map_err(|e| match e {
        ResolveError::InvalidToken => Error::InvalidMarketplaceToken,
        ResolveError::Unavailable(m) => Error::internal(m),
    })?;
    let now = deps.clock.now();
    let account = account_for(deps, &customer, now).await?;
    // What ResolveCustomer says wins over what an event said first (AWS's documented events
    // print a licence ARN without `arn:`; BatchMeterUsage needs ResolveCustomer's).
    deps.marketplace.learn_aws_identity(&account.id, &customer).await?;
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    let claim = hex::encode(bytes);
    deps.marketplace.save_claim(&claim, &customer, now + CLAIM_LIFETIME).await?;
    Ok(claim)
}

/// The identities a customer is known by, the one a new account is named after first (the
/// licence where known, as `AwsCustomer::cloud_account_id` names it).
fn identities(c: &AwsCustomer) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(licence) = c.license_arn.as_deref().filter(|v| !v.is_empty()) {
        out.push((
            format!("lic:{}|{}", c.aws_account_id, license_key(licence)),
            CloudAccount::aws_license_id(&c.aws_account_id, licence),
        ));
    }
    if let Some(customer) = c.customer_identifier.as_deref().filter(|v| !v.is_empty()) {
        out.push((format!("cust:{customer}|{}", c.product_code), CloudAccount::aws_id(customer, &c.product_code)));
    }
    out
}

/// The account an AWS customer already is, by any of its identities.
pub async fn existing_account(deps: &Deps, c: &AwsCustomer) -> Result<Option<CloudAccount>> {
    for (identity, derived) in identities(c) {
        let id = deps.marketplace.aws_alias(&identity).await?.unwrap_or(derived);
        if let Some(a) = deps.marketplace.cloud_account(&id).await? {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

/// The cloud account of an AWS customer: the one any of its identities is linked to, or a new
/// one (pending: no event applied yet), with every identity linked to it.
pub async fn account_for(deps: &Deps, c: &AwsCustomer, at: DateTime<Utc>) -> Result<CloudAccount> {
    let ids = identities(c);
    let Some((_, first_id)) = ids.first().cloned() else {
        return Err(Error::MalformedRequest("an AWS customer needs a customer identifier or a licence".into()));
    };
    let mut target = None;
    for (identity, _) in &ids {
        if let Some(t) = deps.marketplace.aws_alias(identity).await? {
            target = Some(t);
            break;
        }
    }
    let target = target.unwrap_or(first_id);
    for (identity, _) in &ids {
        let linked = deps.marketplace.link_aws_alias(identity, &target).await?;
        if linked != target {
            // Two messages named the customer by two identities before anything linked them.
            tracing::warn!(identity = %identity, linked = %linked, account = %target, "AWS customer known as two cloud accounts");
        }
    }
    let mut account = CloudAccount::opened(target, Platform::Aws, c.aws_account_id.clone(), CloudStatus::Pending, at);
    account.last_event_at = DateTime::<Utc>::UNIX_EPOCH;
    account.customer_identifier = c.customer_identifier.clone();
    account.product_code = Some(c.product_code.clone()).filter(|p| !p.is_empty());
    account.license_arn = c.license_arn.clone();
    subscription::open(deps, &account).await
}

/// What an SNS subscription notification says (`aws-mp-subscription-notification`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationAction {
    SubscribeSuccess,
    SubscribeFail,
    UnsubscribePending,
    UnsubscribeSuccess,
}

/// One SNS notification, as read at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub action: NotificationAction,
    pub customer_identifier: String,
    pub product_code: String,
    pub at: DateTime<Utc>,
}

/// Applies one notification. Duplicates change nothing; an event older than the newest
/// applied one is ignored, so any order of arrival ends in the state of the newest.
pub async fn notification(deps: &Deps, n: &Notification, deadline: Option<Instant>) -> Result<()> {
    if !fields::is_id(&n.customer_identifier) || !fields::is_id(&n.product_code) {
        return Err(Error::MalformedRequest("customer-identifier and product-code must be ids".into()));
    }
    let status = match n.action {
        NotificationAction::SubscribeSuccess | NotificationAction::UnsubscribePending => CloudStatus::Active,
        NotificationAction::SubscribeFail | NotificationAction::UnsubscribeSuccess => CloudStatus::Cancelled,
    };
    let customer = AwsCustomer {
        customer_identifier: Some(n.customer_identifier.clone()),
        aws_account_id: String::new(),
        product_code: n.product_code.clone(),
        license_arn: None,
    };
    // A notification may come before the buyer lands: the account is made from it.
    let id = account_for(deps, &customer, n.at).await?.id;
    let t = subscription::apply(deps, &id, status, n.at, deadline).await?;
    if n.action == NotificationAction::UnsubscribePending && matches!(t, Some(crate::ports::Transition::Applied { .. }))
    {
        // About an hour left to report usage: the final report goes now.
        subscription::ending(deps, &id, deadline).await;
    }
    Ok(())
}

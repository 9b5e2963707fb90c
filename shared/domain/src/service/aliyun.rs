//! Flow 5: Alibaba Cloud Marketplace opens and closes instances through our SPI. The call is
//! checked and read at the edge (`billing_adapters::aliyun::spi`); this module decides.

use super::{subscription, Deps};
use crate::error::Result;
use crate::model::{CloudAccount, CloudStatus, Platform};
use crate::rules::fields;
use std::time::Instant;

/// One SPI call, as read from its signed parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpiCall {
    /// `createInstance`: an instance (`orderBizId`) opened for the buyer `aliUid`.
    Create { ali_uid: String, order_biz_id: String },
    /// `renewInstance`, `upgradeInstance`: nothing we keep changes.
    Keep { instance_id: String },
    /// `expiredInstance`, `releaseInstance`: the subscription ended (flow 7).
    Close { instance_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpiOutcome {
    /// The instance id to answer with (the same on every retry: the marketplace retries up to 120 times).
    Created {
        instance_id: String,
    },
    Done,
    InvalidParameter,
    InstanceNotFound,
}

pub async fn spi(deps: &Deps, call: SpiCall, deadline: Option<Instant>) -> Result<SpiOutcome> {
    let now = deps.clock.now();
    match call {
        SpiCall::Create { ali_uid, order_biz_id } => {
            if fields::aliyun_account_id(&ali_uid).is_err() || !fields::is_id(&order_biz_id) {
                return Ok(SpiOutcome::InvalidParameter);
            }
            let mut account = CloudAccount::opened(
                CloudAccount::aliyun_id(&order_biz_id),
                Platform::Aliyun,
                ali_uid,
                CloudStatus::Active,
                now,
            );
            account.instance_id = Some(order_biz_id);
            let stored = subscription::open(deps, &account).await?;
            Ok(SpiOutcome::Created { instance_id: stored.instance_id.unwrap_or_default() })
        }
        SpiCall::Keep { instance_id } => close_or_keep(deps, &instance_id, false, deadline).await,
        SpiCall::Close { instance_id } => close_or_keep(deps, &instance_id, true, deadline).await,
    }
}

async fn close_or_keep(deps: &Deps, instance_id: &str, close: bool, deadline: Option<Instant>) -> Result<SpiOutcome> {
    if !fields::is_id(instance_id) {
        return Ok(SpiOutcome::InstanceNotFound); // no instance has such an id
    }
    let Some(current) = deps.marketplace.cloud_account(&CloudAccount::aliyun_id(instance_id)).await? else {
        return Ok(SpiOutcome::InstanceNotFound);
    };
    // Renewing or upgrading changes nothing we keep: open stays open, closed stays closed.
    if close {
        subscription::close(deps, current, deps.clock.now(), deadline).await?;
    }
    Ok(SpiOutcome::Done)
}

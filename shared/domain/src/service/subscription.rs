//! A subscription's life, whatever its marketplace (flows 5, 6, 7, 12): opened, frozen and
//! unfrozen, ended. Ending is one thing everywhere: the cancellation of flow 7 (every workspace
//! back to enterprise, one email per billing account) and the final usage report. Every
//! marketplace path (Alibaba's SPI, KooGallery, AWS's SNS and EventBridge, a marketplace that
//! refuses usage) calls this module; `cancellation` and `metering` know nothing of each other.

use super::{cancellation, metering, Deps};
use crate::error::Result;
use crate::model::{CloudAccount, CloudStatus};
use crate::ports::Transition;
use chrono::{DateTime, Utc};
use std::time::Instant;

/// Opens a subscription a marketplace names for the first time (idempotent: one already on
/// file is returned as it is).
pub async fn open(deps: &Deps, account: &CloudAccount) -> Result<CloudAccount> {
    deps.marketplace.open_cloud_account(account).await
}

/// Moves a subscription to `status` as of the event at `at` (older events are ignored), and
/// ends it when that is a cancellation. `Ok(None)` when no such subscription exists.
pub async fn apply(
    deps: &Deps,
    id: &str,
    status: CloudStatus,
    at: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<Option<Transition>> {
    let t = deps.marketplace.transition(id, status, at).await?;
    match &t {
        Some(Transition::Applied { account }) if account.status == CloudStatus::Cancelled => {
            ended(deps, account, deadline).await?;
        }
        Some(Transition::Stale) => tracing::info!(cloud_account = %id, "stale marketplace event ignored"),
        _ => {}
    }
    Ok(t)
}

/// A marketplace closed the subscription (Alibaba `expiredInstance` / `releaseInstance`,
/// KooGallery `releaseInstance`): cancelled at `at` unless it is already. A call repeated after
/// the close finishes an unfinished cancellation run and reports nothing more: usage of a later
/// time is no longer the marketplace's (it falls back to enterprise).
pub async fn close(deps: &Deps, current: CloudAccount, at: DateTime<Utc>, deadline: Option<Instant>) -> Result<()> {
    if current.status == CloudStatus::Cancelled {
        cancellation::run(deps, &current, deadline).await?;
        return Ok(());
    }
    if let Some(Transition::Applied { account }) =
        apply(deps, &current.id, CloudStatus::Cancelled, at, deadline).await?
    {
        tracing::info!(cloud_account = %account.id, "subscription closed by its marketplace");
    }
    Ok(())
}

/// The subscription is about to end (AWS `unsubscribe-pending`: about an hour left to report):
/// its final report goes now.
pub async fn ending(deps: &Deps, id: &str, deadline: Option<Instant>) {
    metering::final_report(deps, id, deadline).await;
}

/// Freezes (KooGallery `FREEZE`: it pays nothing and cannot be newly bound) or unfreezes a
/// subscription; one that ended stays ended.
pub async fn set_frozen(deps: &Deps, current: &CloudAccount, frozen: bool, at: DateTime<Utc>) -> Result<()> {
    if current.status == CloudStatus::Cancelled {
        return Ok(());
    }
    let status = if frozen { CloudStatus::Frozen } else { CloudStatus::Active };
    deps.marketplace.transition(&current.id, status, at).await?;
    Ok(())
}

/// The scheduled metering run (every 15 minutes); subscriptions the marketplaces refused (the customer is not
/// subscribed) end, their workspaces' history saying `marketplace_refusal`.
pub async fn run_metering(deps: &Deps, deadline: Option<Instant>) -> Result<metering::RunFigures> {
    run_metering_slot(deps, deps.clock.now(), deadline).await
}

/// The same for the schedule's slot `slot` (see [`metering::run_slot`]).
pub async fn run_metering_slot(
    deps: &Deps,
    slot: chrono::DateTime<chrono::Utc>,
    deadline: Option<Instant>,
) -> Result<metering::RunFigures> {
    let figures = metering::run_slot(deps, slot, deadline).await?;
    for account in &figures.refused {
        if let Err(e) = end_refused(deps, account, deadline).await {
            tracing::warn!(cloud_account = %account.id, error = %e, "refused subscription not ended yet; next run retries");
        }
    }
    Ok(figures)
}

async fn end_refused(deps: &Deps, account: &CloudAccount, deadline: Option<Instant>) -> Result<()> {
    let now = deps.clock.now();
    deps.marketplace.mark_refused(&account.id, now).await?;
    apply(deps, &account.id, CloudStatus::Cancelled, now, deadline).await?;
    Ok(())
}

/// Flow 7, then the final report: what AWS still takes for about an hour after the end, what
/// Alibaba bills for the hour the instance expired in, KooGallery's last period.
async fn ended(deps: &Deps, account: &CloudAccount, deadline: Option<Instant>) -> Result<()> {
    cancellation::run(deps, account, deadline).await?;
    metering::final_report(deps, &account.id, deadline).await;
    Ok(())
}

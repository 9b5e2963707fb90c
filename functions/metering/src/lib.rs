//! `metering`, run every 15 minutes: reports each cloud account's usage not yet reported to its
//! marketplace, exactly once (domain.md, flow 10); the first run of an hour plans, the others
//! send again what is in flight (`service::metering::run`). Final reports of ending subscriptions run
//! at once in `marketplace-webhook`, through the same service.

use billing_domain::service::{metering, subscription, Deps};
use chrono::{DateTime, Utc};
use std::time::Instant;

/// What this function reads at start-up and at run time (the marketplaces' push keys; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::METERING;

/// The run of the schedule's slot (`None`: a run by hand, now); subscriptions a marketplace
/// refused end (flow 7).
pub async fn run(
    deps: &Deps,
    slot: Option<DateTime<Utc>>,
    deadline: Option<Instant>,
) -> billing_domain::Result<metering::RunFigures> {
    let slot = slot.unwrap_or_else(|| deps.clock.now());
    let figures = subscription::run_metering_slot(deps, slot, deadline).await?;
    billing_domain::telemetry::metering_run(figures.accounts, figures.failed);
    Ok(figures)
}

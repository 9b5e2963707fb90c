//! `metering`, run hourly: reports each cloud account's usage not yet reported to its
//! marketplace, exactly once (domain.md, flow 10). Final reports of ending subscriptions run
//! at once in `marketplace-webhook`, through the same service.

use billing_domain::service::{metering, Deps};
use std::time::Instant;

/// What this function reads at start-up and at run time (the marketplaces' push keys; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::METERING;

pub async fn run(deps: &Deps, deadline: Option<Instant>) -> billing_domain::Result<metering::RunFigures> {
    let figures = metering::run(deps, deadline).await?;
    billing_domain::telemetry::metering_run(&figures);
    Ok(figures)
}

//! `metering`, run hourly: reports each cloud account's usage not yet reported to its
//! marketplace, exactly once (domain.md, flow 10). Final reports of ending subscriptions run
//! at once in `marketplace-webhook`, through the same service.

use billing_domain::service::{metering, subscription, Deps};
use std::time::Instant;

/// The run; subscriptions a marketplace refused end (flow 7).
pub async fn run(deps: &Deps, deadline: Option<Instant>) -> billing_domain::Result<metering::RunFigures> {
    subscription::run_metering(deps, deadline).await
}

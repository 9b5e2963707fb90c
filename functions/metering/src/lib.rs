//! `metering`, run hourly: reports each cloud account's usage not yet reported to its
//! marketplace, exactly once (domain.md, flow 10). Final reports of ending subscriptions run
//! at once in `marketplace-webhook`, through the same service.

use billing_domain::service::{metering, Deps};
use std::time::Instant;

pub async fn run(deps: &Deps, deadline: Option<Instant>) -> billing_domain::Result<metering::RunFigures> {
    metering::run(deps, deadline).await
}

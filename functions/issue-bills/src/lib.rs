//! `issue-bills`, run hourly: issues the bills of months that have closed, settles each
//! balance against its issued total and sends the statements (domain.md, flow 11). A run that
//! reaches its deadline leaves the rest listed; the next run continues.

use billing_domain::service::{issuing, Deps};
use std::time::Instant;

/// What this function reads at start-up and at run time (no secret; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::BASIC;

pub async fn run(deps: &Deps, deadline: Option<Instant>) -> billing_domain::Result<issuing::IssueFigures> {
    issuing::run(deps, deadline).await
}

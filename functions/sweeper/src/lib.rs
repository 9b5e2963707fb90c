//! `sweeper`, run on a schedule: sends email intents left pending (SES was down) and
//! continues cancellations that stopped before finishing (a crash, or a deadline), and asks
//! KooGallery's order query again for buyers it could not name when their instance opened.

use billing_domain::service::{cancellation, koogallery, outbox, Deps};
use billing_domain::telemetry;
use serde::Serialize;
use std::time::Instant;

/// What this function reads at start-up and at run time (KooGallery's order query AK/SK; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::SWEEPER;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Swept {
    pub emails_sent: usize,
    pub emails_failed: usize,
    pub cancellations_finished: usize,
    /// How long the oldest email still unsent has waited (0: none is).
    pub oldest_unsent_seconds: i64,
    pub buyers_learnt: usize,
}

pub async fn sweep(deps: &Deps, deadline: Option<Instant>) -> billing_domain::Result<Swept> {
    let mut swept = Swept {
        cancellations_finished: cancellation::continue_open_runs(deps, deadline).await?,
        buyers_learnt: koogallery::learn_pending_buyers(deps, deadline).await?,
        ..Swept::default()
    };
    loop {
        let d = outbox::retry_pending(deps, 100).await?;
        swept.emails_sent += d.sent;
        swept.emails_failed += d.failed;
        // Stop when a page sent nothing new: what is left failed and waits for the next run.
        if d.sent == 0 || deadline.is_some_and(|t| Instant::now() >= t) {
            let oldest = outbox::oldest_unsent(deps).await?;
            swept.oldest_unsent_seconds = oldest.map(|a| a.num_seconds().max(0)).unwrap_or(0);
            telemetry::sweep(swept.emails_sent, oldest);
            return Ok(swept);
        }
    }
}

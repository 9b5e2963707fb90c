//! Delivering email intents: lease, send, mark sent. A failed send leaves the intent
//! pending for the sweeper; the lease keeps two senders from sending one intent.

use super::Deps;
use crate::error::Result;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Sends the given intents now. Never fails the caller: what is not sent stays pending.
pub async fn deliver(deps: &Deps, ids: &[String]) -> Delivery {
    let mut d = Delivery::default();
    for id in ids {
        match deliver_one(deps, id).await {
            Ok(true) => d.sent += 1,
            Ok(false) => d.skipped += 1,
            Err(e) => {
                tracing::warn!(email_id = %id, error = %e, "email left pending for retry");
                d.failed += 1;
            }
        }
    }
    d
}

async fn deliver_one(deps: &Deps, id: &str) -> Result<bool> {
    let Some(intent) = deps.outbox.lease(id, deps.clock.now()).await? else {
        return Ok(false);
    };
    match deps.mailer.send(&intent.email).await {
        Ok(()) => {
            deps.outbox.mark_sent(id, deps.clock.now()).await?;
            tracing::info!(email_id = %id, "email sent");
            Ok(true)
        }
        Err(e) => {
            deps.outbox.release(id, &e.to_string()).await?;
            Err(crate::Error::internal(e))
        }
    }
}

/// One run of the retry: every pending intent, oldest first, in pages.
pub async fn retry_pending(deps: &Deps, page: usize) -> Result<Delivery> {
    let ids = deps.outbox.pending(page).await?;
    Ok(deliver(deps, &ids).await)
}

//! Delivering email intents: lease, send, mark sent. A failed send leaves the intent
//! pending for the sweeper; the lease keeps two senders from sending one intent. Intents a
//! request commits with its change are written already leased to it (see
//! `ports::RegistrationWrite`), so it sends them without taking the lease again.

use super::Deps;
use crate::email::EmailIntent;
use crate::error::Result;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Delivery {
    fn count(&mut self, id: &str, outcome: Result<bool>) {
        match outcome {
            Ok(true) => self.sent += 1,
            Ok(false) => self.skipped += 1,
            Err(e) => {
                crate::telemetry::email_failed();
                tracing::warn!(email_id = %id, error = %e, "email left pending for retry");
                self.failed += 1;
            }
        }
    }
}

/// Sends intents this request has just committed, leased to it. Never fails the caller:
/// what is not sent stays pending for the sweeper.
pub async fn deliver_committed(deps: &Deps, intents: &[EmailIntent]) -> Delivery {
    let mut d = Delivery::default();
    for intent in intents {
        d.count(&intent.id, send_leased(deps, intent).await.map(|()| true));
    }
    d
}

/// Sends intents by id, taking a lease on each first (cancellations, the sweeper).
pub async fn deliver(deps: &Deps, ids: &[String]) -> Delivery {
    let mut d = Delivery::default();
    for id in ids {
        let outcome = match deps.outbox.lease(id, deps.clock.now()).await {
            Ok(Some(intent)) => send_leased(deps, &intent).await.map(|()| true),
            Ok(None) => Ok(false), // sent already, or another sender holds it
            Err(e) => Err(e),
        };
        d.count(id, outcome);
    }
    d
}

async fn send_leased(deps: &Deps, intent: &EmailIntent) -> Result<()> {
    match deps.mailer.send(&intent.email).await {
        Ok(()) => {
            crate::telemetry::email_sent();
            deps.outbox.mark_sent(&intent.id, deps.clock.now()).await?;
            tracing::info!(email_id = %intent.id, "email sent");
            Ok(())
        }
        Err(e) => {
            deps.outbox.release(&intent.id, &e.to_string()).await?;
            Err(crate::Error::internal(e))
        }
    }
}

/// How long the oldest email not yet sent has waited, if one has.
pub async fn oldest_unsent(deps: &Deps) -> Result<Option<chrono::Duration>> {
    Ok(deps.outbox.oldest_pending().await?.map(|t| deps.clock.now() - t))
}

/// One run of the retry: every pending intent, oldest first, in pages.
pub async fn retry_pending(deps: &Deps, page: usize) -> Result<Delivery> {
    let ids = deps.outbox.pending(page).await?;
    Ok(deliver(deps, &ids).await)
}

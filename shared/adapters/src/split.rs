//! One customer's bad record never harms another (domain.md, flow 10): when a marketplace
//! refuses a whole call for one record it does not name (AWS `InvalidLicenseException`,
//! KooGallery `MKT.9001`, ...), the call is split in halves until the offending record is alone,
//! and only that record gets the refusal.

use billing_domain::backoff::Backoff;
use billing_domain::rules::metering::SendOutcome;
use std::future::Future;

/// Records a marketplace left unprocessed go again after 100 ms, doubling.
const UNPROCESSED: Backoff = Backoff::new(100, 1_600);

/// How one call of a batch ended.
pub enum Whole {
    /// Answered record by record; `again` were left unprocessed and may be sent again now.
    Answered { outcomes: Vec<(usize, SendOutcome)>, again: Vec<usize> },
    /// Refused as a whole for one of its records: this is what that record gets once alone.
    ForOne(SendOutcome),
    /// Not taken this time (throttled, a fault): every record is sent again on the next run.
    Failed(String),
}

/// Sends `batch` (records with their index) through `call`, splitting refused calls and sending
/// unprocessed records again up to `attempts` times; fills `out` by index.
pub async fn send<T, F, Fut>(batch: Vec<(usize, T)>, attempts: u32, out: &mut [SendOutcome], call: F)
where
    T: Clone,
    F: Fn(Vec<(usize, T)>) -> Fut,
    Fut: Future<Output = Whole>,
{
    let mut queue = vec![(batch, 0u32)];
    while let Some((batch, attempt)) = queue.pop() {
        if batch.is_empty() {
            continue;
        }
        match call(batch.clone()).await {
            Whole::Answered { outcomes, again } => {
                for (i, o) in outcomes {
                    out[i] = o;
                }
                let again: Vec<_> = batch.into_iter().filter(|(i, _)| again.contains(i)).collect();
                for (i, _) in &again {
                    out[*i] = SendOutcome::Retry("unprocessed".into());
                }
                if !again.is_empty() && attempt + 1 < attempts {
                    UNPROCESSED.wait(attempt).await;
                    queue.push((again, attempt + 1));
                }
            }
            Whole::ForOne(outcome) if batch.len() == 1 => out[batch[0].0] = outcome,
            Whole::ForOne(_) => {
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                queue.push((second, attempt));
                queue.push((first, attempt));
            }
            Whole::Failed(why) => {
                for (i, _) in batch {
                    out[i] = SendOutcome::Retry(why.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_domain::rules::metering::FallbackReason;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn only_the_offending_record_is_refused_and_the_others_are_taken() {
        let calls = AtomicUsize::new(0);
        let batch: Vec<(usize, u32)> = (0..25).map(|i| (i, i as u32)).collect();
        let mut out = vec![SendOutcome::Retry("not sent".into()); 25];
        send(batch, 3, &mut out, |b: Vec<(usize, u32)>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if b.iter().any(|(_, v)| *v == 17) {
                    Whole::ForOne(SendOutcome::Refused(FallbackReason::CustomerNotSubscribed))
                } else {
                    Whole::Answered {
                        outcomes: b.iter().map(|(i, _)| (*i, SendOutcome::Accepted)).collect(),
                        again: vec![],
                    }
                }
            }
        })
        .await;
        assert_eq!(out[17], SendOutcome::Refused(FallbackReason::CustomerNotSubscribed));
        assert_eq!(out.iter().filter(|o| **o == SendOutcome::Accepted).count(), 24);
        assert!(calls.load(Ordering::SeqCst) <= 11, "about 2 log2(25) calls, not one per record");
    }

    #[tokio::test]
    async fn unprocessed_records_are_sent_again_a_few_times_then_left_for_the_next_run() {
        let mut out = vec![SendOutcome::Retry("not sent".into()); 2];
        let calls = AtomicUsize::new(0);
        send(vec![(0, ()), (1, ())], 3, &mut out, |b: Vec<(usize, ())>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Whole::Answered {
                    outcomes: b.iter().filter(|(i, _)| *i == 0).map(|(i, _)| (*i, SendOutcome::Accepted)).collect(),
                    again: b.iter().filter(|(i, _)| *i == 1).map(|(i, _)| *i).collect(),
                }
            }
        })
        .await;
        assert_eq!(out[0], SendOutcome::Accepted);
        assert_eq!(out[1], SendOutcome::Retry("unprocessed".into()));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}

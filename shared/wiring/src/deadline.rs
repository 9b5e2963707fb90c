//! When an invocation must have answered.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Lambda's limit on an invocation: a deadline further away than this is not a deadline.
const LONGEST_INVOCATION: Duration = Duration::from_secs(15 * 60);
/// Work stops this long before the deadline, so the answer still leaves in time.
const MARGIN: Duration = Duration::from_secs(5);

/// When this invocation must have answered, less a margin: long work (a cancellation of
/// thousands of workspaces) stops there and the sweeper continues it.
///
/// Lambda sends the deadline as epoch milliseconds. A value already past or implausibly far
/// (`cargo lambda watch` sends a relative 600000, which reads as 1970) is not a deadline: the
/// function's configured timeout (`FUNCTION_TIMEOUT_SECONDS`, set in template.yaml) stands
/// in for it.
pub fn invocation_deadline(ctx_deadline_ms: u64, configured_timeout: Duration) -> Instant {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let left = Duration::from_millis(ctx_deadline_ms.saturating_sub(now_ms));
    let budget = if left.is_zero() || left > LONGEST_INVOCATION { configured_timeout } else { left };
    Instant::now() + budget.saturating_sub(MARGIN).max(MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(d: Duration) -> u64 {
        (SystemTime::now() + d).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
    }

    #[test]
    fn an_epoch_deadline_is_kept_less_the_margin() {
        let d = invocation_deadline(epoch_ms_in(Duration::from_secs(60)), Duration::from_secs(300));
        let left = d.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(55), "{left:?}");
    }

    #[test]
    fn a_relative_past_or_far_deadline_falls_back_to_the_configured_timeout() {
        for bogus in [600_000, 0, epoch_ms_in(Duration::from_secs(3600))] {
            let left = invocation_deadline(bogus, Duration::from_secs(30)).saturating_duration_since(Instant::now());
            assert!(left > Duration::from_secs(20) && left <= Duration::from_secs(25), "{bogus}: {left:?}");
        }
    }
}

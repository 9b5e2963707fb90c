//! The one backoff every retry loop waits by: exponential from a base, capped, and, where many
//! writers race for the same items (transactions), with jitter so that they do not retry in step.
//! Each loop keeps its own reason to retry and its own limit; only the waiting is shared.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
    jitter: bool,
}

impl Backoff {
    /// `base_ms` before the second attempt, doubling each time up to `cap_ms`.
    pub const fn new(base_ms: u64, cap_ms: u64) -> Self {
        Self { base_ms, cap_ms, jitter: false }
    }

    /// The same, plus a random wait of up to twice the delay (racing writers spread out).
    pub const fn jittered(self) -> Self {
        Self { jitter: true, ..self }
    }

    /// The wait after attempt `attempt` (0-based) failed, before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doubled = self.base_ms.saturating_mul(1u64 << attempt.min(32));
        Duration::from_millis(doubled.min(self.cap_ms))
    }

    /// How long to wait after attempt `attempt` failed: the delay, and with jitter up to twice
    /// the delay more.
    pub fn pause(&self, attempt: u32) -> Duration {
        let d = self.delay(attempt);
        let extra = if self.jitter { fastrand::u64(0..=2 * d.as_millis() as u64) } else { 0 };
        d + Duration::from_millis(extra)
    }

    /// Waits after attempt `attempt` failed.
    pub async fn wait(&self, attempt: u32) {
        tokio::time::sleep(self.pause(attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_base_up_to_the_cap() {
        let b = Backoff::new(50, 800);
        let ms: Vec<u128> = (0..7).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(ms, vec![50, 100, 200, 400, 800, 800, 800]);
        assert_eq!(Backoff::new(10, 1_000).delay(u32::MAX), Duration::from_millis(1_000), "no overflow");
    }

    #[test]
    fn jitter_waits_at_least_the_delay_and_at_most_three_times_it() {
        let b = Backoff::new(100, 100).jittered();
        let pauses: Vec<Duration> = (0..200).map(|_| b.pause(3)).collect();
        assert!(pauses.iter().all(|p| (Duration::from_millis(100)..=Duration::from_millis(300)).contains(p)));
        assert!(pauses.iter().any(|p| *p != pauses[0]), "jitter varies");
        assert_eq!(Backoff::new(100, 100).pause(3), Duration::from_millis(100), "no jitter unless asked");
    }
}

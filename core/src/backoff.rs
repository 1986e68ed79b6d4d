//! Exponential backoff with jitter, shared by HTTP retries and WebSocket
//! reconnects.

use std::time::Duration;

use rand::Rng;

/// Delays that double from `base` up to `max`, each drawn uniformly from the
/// upper half of its step ("equal jitter"), so a crowd of clients spreads out
/// while each still waits at least half the nominal delay.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next delay; each call doubles the nominal delay up to `max`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let nominal = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = nominal / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    /// Starts over from `base` (after a success).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_jitter_and_caps() {
        let base = Duration::from_millis(100);
        let mut b = Backoff::new(base, Duration::from_millis(1000));
        for nominal in [100u64, 200, 400, 800, 1000, 1000] {
            let d = b.next_delay();
            let n = Duration::from_millis(nominal);
            assert!(d >= n / 2 && d <= n, "{d:?} not in [{:?}, {n:?}]", n / 2);
        }
        b.reset();
        assert!(b.next_delay() <= base);
    }
}

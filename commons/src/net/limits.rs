//! Per-peer accounting: a token bucket for gossip and a strike counter
//! that turns repeated misbehaviour into a ban.

use std::time::{Duration, Instant};

/// How long a gossip burst the bucket absorbs, in seconds of the steady
/// rate. A node publishing a batch (an import, a catch-up) legitimately
/// sends many records at once; the limit is about sustained floods.
pub const BURST_SECONDS: u32 = 5;
/// One strike is forgiven per this much good behaviour, so rare honest
/// disagreements do not add up to a ban over a long-running daemon.
pub const STRIKE_FORGIVENESS: Duration = Duration::from_secs(10 * 60);

/// A token bucket: `rate` tokens a second, holding at most `capacity`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate_per_sec` messages a second with a burst of
    /// [`BURST_SECONDS`] of it (at least one message).
    pub fn new(rate_per_sec: u32, now: Instant) -> TokenBucket {
        let rate = f64::from(rate_per_sec.max(1));
        let capacity = (rate * f64::from(BURST_SECONDS)).max(1.0);
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Take one token; false when the bucket is empty.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Strikes against a peer, forgiven one per [`STRIKE_FORGIVENESS`].
#[derive(Debug, Clone)]
pub struct Strikes {
    count: u32,
    since: Instant,
}

impl Strikes {
    pub fn new(now: Instant) -> Strikes {
        Strikes {
            count: 0,
            since: now,
        }
    }

    /// The current count, after forgiveness.
    pub fn count(&mut self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.since);
        let forgiven = elapsed.as_secs() / STRIKE_FORGIVENESS.as_secs().max(1);
        if forgiven > 0 {
            let forgiven = u32::try_from(forgiven).unwrap_or(u32::MAX);
            self.count = self.count.saturating_sub(forgiven);
            self.since = self
                .since
                .checked_add(STRIKE_FORGIVENESS.saturating_mul(forgiven))
                .unwrap_or(now)
                .min(now);
        }
        self.count
    }

    /// Add `n` strikes; returns the new count.
    pub fn add(&mut self, n: u32, now: Instant) -> u32 {
        let c = self.count(now);
        if c == 0 {
            self.since = now;
        }
        self.count = c.saturating_add(n);
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, t0);
        let burst = (0..100).filter(|_| b.take(t0)).count();
        assert_eq!(burst, 50);
        assert!(!b.take(t0));
        let later = t0 + Duration::from_millis(500);
        let refilled = (0..100).filter(|_| b.take(later)).count();
        assert_eq!(refilled, 5);
    }

    #[test]
    fn strikes_are_forgiven_over_time() {
        let t0 = Instant::now();
        let mut s = Strikes::new(t0);
        assert_eq!(s.add(1, t0), 1);
        assert_eq!(s.add(2, t0), 3);
        assert_eq!(s.count(t0 + STRIKE_FORGIVENESS * 2), 1);
        assert_eq!(s.count(t0 + STRIKE_FORGIVENESS * 10), 0);
    }
}

//! A circuit breaker per connector: after `threshold` consecutive failed polls it opens
//! and the connector stops calling the vendor; after `cool_down` one half-open probe
//! either closes it (success) or opens it again (failure).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The breaker's state, as health reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    #[default]
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// One probe call is allowed.
    HalfOpen,
}

/// The breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    state: BreakerState,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            consecutive_failures: 0,
            opened_at: None,
            state: BreakerState::Closed,
        }
    }

    /// Whether a call may go out at `now`; `Err(wait)` says how long the breaker stays
    /// open. An open breaker whose cool-down is over turns half-open and allows one.
    pub fn allow(&mut self, now: Instant) -> Result<(), Duration> {
        match (self.state, self.opened_at) {
            (BreakerState::Open, Some(opened)) => {
                let elapsed = now.saturating_duration_since(opened);
                if elapsed >= self.cool_down {
                    self.state = BreakerState::HalfOpen;
                    Ok(())
                } else {
                    Err(self.cool_down - elapsed)
                }
            }
            _ => Ok(()),
        }
    }

    /// A successful poll closes the breaker.
    pub fn success(&mut self) {
        self.consecutive_failures = 0;
        self.opened_at = None;
        self.state = BreakerState::Closed;
    }

    /// A failed poll; opens the breaker at the threshold, or when the probe failed.
    pub fn failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.state == BreakerState::HalfOpen || self.consecutive_failures >= self.threshold {
            self.state = BreakerState::Open;
            self.opened_at = Some(now);
        }
    }

    /// The state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Failed polls in a row.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_after_cool_down() {
        let cool = Duration::from_secs(60);
        let mut b = CircuitBreaker::new(3, cool);
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(b.allow(t0).is_ok());
            b.failure(t0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.failure(t0);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.allow(t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(50))
        );
        // Probe fails: open again for a full cool-down.
        assert!(b.allow(t0 + cool).is_ok());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.failure(t0 + cool);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow(t0 + cool + Duration::from_secs(1)).is_err());
        // Probe succeeds: closed.
        assert!(b.allow(t0 + cool * 2).is_ok());
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
    }
}

//! The health monitor: an event-loop probe (a task that measures how late it wakes up:
//! the delay every other task on the runtime also suffers), and the watch loop that
//! re-derives [`Runtime::health`](crate::runtime::Runtime::health) every
//! `health.interval` and pushes `system:health-change` to every organisation whenever the
//! overall status or the status of any part changes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use warroom_engine::config::HealthConfig;
use warroom_engine::wire::events;
use warroom_engine::HealthStatus;

use crate::org::OrgMsg;
use crate::runtime::{PartHealth, Runtime};

/// Event-loop lag as measured by the probe.
#[derive(Debug, Default)]
pub struct EventLoopLag {
    last_us: AtomicU64,
    max_us: AtomicU64,
    samples: AtomicU64,
}

impl EventLoopLag {
    /// The latest measurement.
    pub fn last(&self) -> Duration {
        Duration::from_micros(self.last_us.load(Ordering::Relaxed))
    }

    /// The largest measurement since start.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us.load(Ordering::Relaxed))
    }

    /// Measurements taken.
    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    /// Records one measurement.
    pub fn record(&self, lag: Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.last_us.store(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        self.samples.fetch_add(1, Ordering::Relaxed);
    }

    /// The `event_loop` part of health.
    pub fn health(&self, config: &HealthConfig) -> PartHealth {
        let lag = self.last();
        let status = if lag >= config.lag_down {
            HealthStatus::Down
        } else if lag >= config.lag_degraded {
            HealthStatus::Degraded
        } else {
            HealthStatus::Ok
        };
        PartHealth {
            status,
            detail: format!(
                "lag {:.1} ms (max {:.1} ms)",
                lag.as_secs_f64() * 1e3,
                self.max().as_secs_f64() * 1e3
            ),
        }
    }
}

/// Sleeps `interval` over and over and records how much later than asked it woke up.
pub async fn probe_event_loop(lag: Arc<EventLoopLag>, interval: Duration) {
    loop {
        let asked = tokio::time::Instant::now() + interval;
        tokio::time::sleep_until(asked).await;
        lag.record(tokio::time::Instant::now().saturating_duration_since(asked));
    }
}

/// What a change is detected on: the overall status and each part's status.
fn signature(report: &crate::runtime::HealthReport) -> Vec<(String, HealthStatus)> {
    std::iter::once(("*".to_owned(), report.status))
        .chain(report.services.iter().map(|(n, p)| (n.clone(), p.status)))
        .collect()
}

/// Pushes `system:health-change` to every organisation whenever the overall status or a
/// part's status changes (and once at start).
pub async fn watch_health(runtime: Weak<Runtime>, interval: Duration) {
    let mut last: Option<Vec<(String, HealthStatus)>> = None;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(runtime) = runtime.upgrade() else {
            return;
        };
        let report = runtime.health();
        let now = signature(&report);
        if last.as_ref() != Some(&now) {
            if last.is_some() {
                tracing::info!(status = ?report.status, reasons = ?report.reasons, "health changed");
            }
            last = Some(now);
            // Every user of every organisation gets it: no operator details.
            let data = serde_json::to_value(report.public()).unwrap_or_default();
            runtime.directory().broadcast(|| OrgMsg::System {
                event: events::HEALTH_CHANGE,
                data: data.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_maps_to_ok_degraded_down_with_the_configured_thresholds() {
        let config = warroom_engine::Config::defaults().health;
        let lag = EventLoopLag::default();
        assert_eq!(lag.health(&config).status, HealthStatus::Ok);
        lag.record(config.lag_degraded);
        assert_eq!(lag.health(&config).status, HealthStatus::Degraded);
        lag.record(config.lag_down + Duration::from_millis(1));
        assert_eq!(lag.health(&config).status, HealthStatus::Down);
        lag.record(Duration::from_millis(1));
        let part = lag.health(&config);
        assert_eq!(part.status, HealthStatus::Ok);
        assert!(lag.max() > config.lag_down, "the maximum is kept");
        assert!(part.detail.contains("max"), "{}", part.detail);
        assert_eq!(lag.samples(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_probe_measures_its_own_wake_up_delay() {
        let lag = Arc::new(EventLoopLag::default());
        let probe = tokio::spawn(probe_event_loop(
            Arc::clone(&lag),
            Duration::from_millis(100),
        ));
        // Paused time auto-advances exactly to each deadline: no lag.
        while lag.samples() < 3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(lag.last(), Duration::ZERO);
        probe.abort();
    }
}

//! The health monitor: an event-loop probe (a task that measures how late it wakes up:
//! the delay every other task on the runtime also suffers), and the watch loop that
//! re-derives [`Runtime::health`](crate::runtime::Runtime::health) every
//! `health.interval` and pushes `system:health-change` to every organisation whenever the
//! overall status or the status of any part changes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use warroom_engine::config::HealthConfig;
use warroom_engine::wire::events;
use warroom_engine::HealthStatus;

use crate::push::org::OrgMsg;
use crate::runtime::supervisor::ChildState;
use crate::runtime::Runtime;
use crate::sources::connectors::ConnectorStatus;
use crate::status::{HealthReport, PartHealth};

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
fn signature(report: &crate::status::HealthReport) -> Vec<(String, HealthStatus)> {
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

impl Runtime {
    /// Every live connector's state.
    pub fn connector_statuses(&self) -> BTreeMap<String, ConnectorStatus> {
        self.connectors.snapshot(self.clock.now())
    }

    /// Health of every part, and overall.
    pub fn health(&self) -> HealthReport {
        let mut services = BTreeMap::new();
        let workers = self.stats.workers_running.load(Ordering::Acquire);
        let in_flight = self.stats.in_flight.load(Ordering::Acquire);
        let limit = self.config.engine.max_in_flight;
        let operators = if workers < self.config.engine.workers {
            PartHealth {
                status: HealthStatus::Down,
                detail: format!(
                    "{workers} of {} timely workers running",
                    self.config.engine.workers
                ),
            }
        } else if in_flight * 5 > limit * 4 {
            PartHealth {
                status: HealthStatus::Degraded,
                detail: format!("saturated: {in_flight} of {limit} records waiting"),
            }
        } else {
            PartHealth {
                status: HealthStatus::Ok,
                detail: format!("{workers} workers, {in_flight} records waiting"),
            }
        };
        services.insert("stream_operators".to_owned(), operators);

        let mut backlog = 0;
        let mut missing = Vec::new();
        let children = self.children.snapshot();
        for entry in self.directory.iter() {
            backlog = backlog.max(entry.pending.load(Ordering::Acquire));
            // Restarting, or left stopped after its restart budget ran out.
            let supervised = children
                .get(&format!("org:{}", entry.org.id))
                .map(|c| c.state);
            if entry.actor().is_none()
                || supervised.is_some_and(|state| state != ChildState::Running)
            {
                missing.push(entry.org.id.to_string());
            }
        }
        let org_status = if !missing.is_empty() || backlog > ORG_BACKLOG_DEGRADED {
            HealthStatus::Degraded
        } else {
            HealthStatus::Ok
        };
        services.insert(
            "org_actors".to_owned(),
            PartHealth {
                status: org_status,
                detail: if missing.is_empty() {
                    format!("largest backlog {backlog} updates")
                } else {
                    format!("not running: {}", missing.join(", "))
                },
            },
        );

        let troubled: Vec<String> = children
            .iter()
            .filter(|(name, s)| name.starts_with("source:") && s.state != ChildState::Running)
            .map(|(name, s)| format!("{name} {:?}", s.state).to_lowercase())
            .collect();
        let running = children
            .iter()
            .filter(|(name, s)| name.starts_with("source:") && s.state == ChildState::Running)
            .count();
        services.insert(
            "sources".to_owned(),
            PartHealth {
                status: if troubled.is_empty() {
                    HealthStatus::Ok
                } else {
                    HealthStatus::Degraded
                },
                detail: if troubled.is_empty() {
                    format!("{running} running ({} mode)", self.data_mode().as_str())
                } else {
                    troubled.join(", ")
                },
            },
        );
        let connectors = self.connector_statuses();
        if !connectors.is_empty() {
            // Counts only: this part is public (see `HealthReport::connectors`).
            let failing = connectors.values().filter(|s| s.troubled()).count();
            let open = connectors
                .values()
                .filter(|s| s.breaker != crate::sources::connectors::breaker::BreakerState::Closed)
                .count();
            services.insert(
                "connectors".to_owned(),
                PartHealth {
                    // A failing vendor leaves the engine serving: degraded, never down.
                    status: if failing == 0 {
                        HealthStatus::Ok
                    } else {
                        HealthStatus::Degraded
                    },
                    detail: if failing == 0 {
                        format!("{} connectors polling", connectors.len())
                    } else {
                        format!(
                            "{failing} of {} connectors failing, {open} with an open circuit breaker",
                            connectors.len()
                        )
                    },
                },
            );
        }
        services.insert("storage".to_owned(), self.storage_health());
        let cache = self.cache.health.status();
        services.insert(
            "cache".to_owned(),
            PartHealth {
                // Without Redis the engine is slower, never wrong: degraded, not down.
                status: if cache.ok {
                    HealthStatus::Ok
                } else {
                    HealthStatus::Degraded
                },
                detail: cache.detail,
            },
        );
        services.insert(
            "event_loop".to_owned(),
            self.event_loop.health(&self.config.health),
        );
        services.insert("webhooks".to_owned(), self.webhook_health());
        services.insert("archive".to_owned(), self.archive.health(self.clock.now()));
        let status = services
            .iter()
            // A database outage stops acknowledgements, not the live dashboards.
            .map(|(name, p)| {
                if name == "storage" && p.status == HealthStatus::Down {
                    HealthStatus::Degraded
                } else {
                    p.status
                }
            })
            .max_by_key(|s| match s {
                HealthStatus::Ok => 0,
                HealthStatus::Degraded => 1,
                HealthStatus::Down => 2,
            })
            .unwrap_or(HealthStatus::Ok);
        HealthReport {
            status,
            data_mode: self.data_mode(),
            timestamp: self.clock.now(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_secs: (self.clock.now() - self.started).num_seconds().max(0) as u64,
            reasons: services
                .iter()
                .filter(|(_, p)| p.status != HealthStatus::Ok)
                .map(|(name, p)| format!("{name}: {}", p.detail))
                .collect(),
            services,
            connectors,
        }
    }

    pub(super) fn webhook_health(&self) -> PartHealth {
        let stats = self.webhooks.stats();
        let depth = self.webhooks.depth();
        let capacity = self.webhooks.capacity();
        let dropped = stats.dropped.load(Ordering::Relaxed);
        let detail = format!(
            "queue {depth} of {capacity}, {} pending, {} delivered, {} failed attempts, {} abandoned, {dropped} dropped (queue full)",
            stats.pending.load(Ordering::Relaxed),
            stats.delivered.load(Ordering::Relaxed),
            stats.failed_attempts.load(Ordering::Relaxed),
            stats.gave_up.load(Ordering::Relaxed),
        );
        // A full queue loses events: degraded (the engine itself is unaffected).
        let status = if depth * 5 > capacity * 4 {
            HealthStatus::Degraded
        } else {
            HealthStatus::Ok
        };
        PartHealth { status, detail }
    }

    pub(super) fn storage_health(&self) -> PartHealth {
        let stats = self.persister.stats();
        let queued = stats.queued.load(Ordering::Acquire);
        let limit = self.persister.max_queued();
        let backend = format!("{:?}", self.store.backend()).to_lowercase();
        if stats.failing.load(Ordering::Acquire) {
            PartHealth {
                status: HealthStatus::Down,
                detail: format!(
                    "{backend}: writes failing ({}); {queued} records waiting, ingest answers 503 when {limit} are",
                    stats.last_error.lock().clone().unwrap_or_default()
                ),
            }
        } else if queued * 5 > limit * 4 {
            PartHealth {
                status: HealthStatus::Degraded,
                detail: format!("{backend}: slow, {queued} of {limit} records waiting"),
            }
        } else {
            PartHealth {
                status: HealthStatus::Ok,
                detail: format!(
                    "{backend}: {} records committed in {} batches",
                    stats.committed.load(Ordering::Relaxed),
                    stats.batches.load(Ordering::Relaxed)
                ),
            }
        }
    }
}

/// Mailbox depth of an organisation actor above which health says `degraded`.
pub(super) const ORG_BACKLOG_DEGRADED: usize = 10_000;

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

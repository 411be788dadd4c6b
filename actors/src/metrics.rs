//! Engine counters that no single part owns: ingest outcomes, frames pushed, open
//! sockets, incoming webhooks, and a fixed-bucket histogram type. Everything is a relaxed
//! atomic: reading them never slows the parts that write them. `GET /metrics` renders
//! them (with the dataflow, persister and webhook counters) in Prometheus text format.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A cumulative histogram over [`LATENCY_BUCKETS`] (plus `+Inf`).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// A consistent-enough copy of a [`Histogram`] for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, observations at or below it)`, cumulative.
    pub buckets: Vec<(f64, u64)>,
    /// Observations.
    pub count: u64,
    /// Sum of the observations, seconds.
    pub sum: f64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, value: Duration) {
        let secs = value.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(value.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The cumulative buckets, count and sum.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// Why an ingest request was refused (the `reason` label of the rejected counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// 4xx: malformed, invalid, too large, unknown organisation.
    Invalid,
    /// 503: operators or storage saturated, shutting down, commit timeout.
    Unavailable,
    /// 500: the database refused the batch.
    Failed,
}

impl Rejection {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Invalid => "invalid",
            Rejection::Unavailable => "unavailable",
            Rejection::Failed => "failed",
        }
    }

    /// Every reason, in label order.
    pub const ALL: [Rejection; 3] = [
        Rejection::Invalid,
        Rejection::Unavailable,
        Rejection::Failed,
    ];
}

/// Counters shared by the gateway and the actors.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    /// Ingest requests answered 202 (REST and incoming webhooks).
    pub ingest_requests_accepted: AtomicU64,
    /// Records in those requests.
    pub ingest_records_accepted: AtomicU64,
    /// Ingest requests refused, by [`Rejection`].
    pub ingest_rejected: [AtomicU64; 3],
    /// Frames queued to sockets (one per subscriber reached).
    pub frames_pushed: AtomicU64,
    /// WebSocket sessions open now.
    pub sockets_open: AtomicUsize,
    /// WebSocket sessions opened since start.
    pub sockets_opened: AtomicU64,
    /// Incoming webhooks accepted (202).
    pub webhooks_received: AtomicU64,
    /// Incoming webhooks answered as already applied (replayed delivery id).
    pub webhooks_duplicate: AtomicU64,
    /// Incoming webhooks refused for their signature, timestamp or organisation (401).
    pub webhooks_unauthorized: AtomicU64,
    /// Mock history backfills running now (first start in MOCK mode, `[mock] backfill`).
    pub mock_backfills_running: AtomicUsize,
    /// Mentions the mock history backfills had acknowledged (stored and applied; re-sent
    /// duplicates are not counted).
    pub mock_backfill_mentions: AtomicU64,
    /// Campaign reports the mock history backfills had acknowledged.
    pub mock_backfill_campaign_reports: AtomicU64,
}

impl EngineMetrics {
    /// Counts a refused ingest request.
    pub fn reject(&self, reason: Rejection) {
        let i = Rejection::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.ingest_rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an accepted ingest request of `records` records.
    pub fn accept(&self, records: usize) {
        self.ingest_requests_accepted
            .fetch_add(1, Ordering::Relaxed);
        self.ingest_records_accepted
            .fetch_add(records as u64, Ordering::Relaxed);
    }

    /// Marks a socket open until the guard is dropped.
    pub fn socket_opened(self: &std::sync::Arc<Self>) -> SocketGuard {
        self.sockets_open.fetch_add(1, Ordering::Relaxed);
        self.sockets_opened.fetch_add(1, Ordering::Relaxed);
        SocketGuard(std::sync::Arc::clone(self))
    }
}

/// Keeps [`EngineMetrics::sockets_open`] counted while a session lives.
pub struct SocketGuard(std::sync::Arc<EngineMetrics>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.sockets_open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (0.001, 1));
        assert_eq!(s.buckets.iter().find(|(b, _)| *b == 0.05).unwrap().1, 2);
        assert_eq!(s.buckets.last().unwrap().1, 2, "60 s is only in +Inf");
        assert!((s.sum - 60.0305).abs() < 1e-6);
    }
}

//! Counters shared by the running tasks, and the once-a-second progress line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::procstat::Tracker;

/// Running totals, updated by client and ingest tasks, read by the progress line.
#[derive(Debug, Default)]
pub struct Live {
    /// Clients currently subscribed.
    pub connected: AtomicU64,
    /// Mention-stream frames delivered (measuring phase).
    pub frames: AtomicU64,
    /// Gaps seen (gap frames + unannounced skips).
    pub gaps: AtomicU64,
    /// Disconnects.
    pub disconnects: AtomicU64,
    /// Highest frame latency since the last progress line, µs.
    pub interval_max_latency_us: AtomicU64,
    /// Mentions acknowledged by the server.
    pub acked_mentions: AtomicU64,
    /// Requests answered 2xx.
    pub acked_requests: AtomicU64,
    /// Requests answered otherwise, or failed.
    pub failed_requests: AtomicU64,
}

impl Live {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Adds one.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Prints a progress line to stderr every second (if `enabled`) and samples the server
/// process for its peak RSS, until `stop` fires. Returns the tracker for the end sample.
pub async fn progress(
    live: Arc<Live>,
    started: Instant,
    enabled: bool,
    mut server: Option<Tracker>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<Tracker> {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let (mut last_frames, mut last_acked, mut last_requests) = (0, 0, 0);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = stop.changed() => {
                // Stopped, or the sender is gone: either way the run is over.
                let _ = changed;
                return server;
            }
        }
        let rss = server
            .as_mut()
            .and_then(Tracker::tick)
            .map(|s| format!(" server_rss={:.0}MiB", s.rss_kib as f64 / 1024.0))
            .unwrap_or_default();
        let frames = Live::get(&live.frames);
        let acked = Live::get(&live.acked_mentions);
        let requests = Live::get(&live.acked_requests) + Live::get(&live.failed_requests);
        let max_ms = live.interval_max_latency_us.swap(0, Ordering::Relaxed) as f64 / 1000.0;
        if enabled {
            eprintln!(
                "[{:>5.1}s] clients={} frames/s={} max_latency={:.1}ms gaps={} disconnects={} \
                 acked_mentions/s={} requests/s={} acked_requests={} failed_requests={}{}",
                started.elapsed().as_secs_f64(),
                Live::get(&live.connected),
                frames - last_frames,
                max_ms,
                Live::get(&live.gaps),
                Live::get(&live.disconnects),
                acked - last_acked,
                requests - last_requests,
                Live::get(&live.acked_requests),
                Live::get(&live.failed_requests),
                rss,
            );
        }
        (last_frames, last_acked, last_requests) = (frames, acked, requests);
    }
}

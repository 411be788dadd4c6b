//! The live archive task: runs [`LiveArchive`] beside the engine, off the push and
//! acknowledgement paths (it only reads the store), restarts it when it dies, and
//! reports how it is doing to health and `/metrics`.
//!
//! Supervision: the archive loop runs in its own tokio task; when that task panics the
//! supervisor loop starts a new one after a backoff (1 s doubling to 60 s), which reopens
//! the archive and so recovers it from its last checkpoint (the design that makes this
//! safe is in `warroom_storage::archive::live`). Errors that do not panic (the database
//! down, a full disk) are retried by the loop itself at the next poll, with the same
//! backoff, and counted; health turns `degraded` after [`FAILURES_DEGRADED`] failures in
//! a row and never `down`: the archive is a copy for analytics.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use warroom_engine::clock::SharedClock;
use warroom_engine::{Config, HealthStatus};
use warroom_storage::archive::{ArchiveConfig, LiveArchive, LiveArchiveOptions, LiveArchiveStats};
use warroom_storage::Store;

use crate::status::PartHealth;

/// Consecutive failures after which health reports the archive `degraded`.
pub const FAILURES_DEGRADED: u64 = 3;

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long shutdown waits for the final checkpoint before abandoning it (the next
/// start then redoes the rows since the previous one).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the archive is not running.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Disabled(String),
    Running(PathBuf),
}

/// The running archive task (or why there is none).
pub struct ArchiveTask {
    mode: Mode,
    stats: Arc<LiveArchiveStats>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl ArchiveTask {
    /// Starts the archive the configuration describes, or records why it is off
    /// (`archive.enabled = false`, or Postgres without `archive.root`).
    pub fn start(config: &Config, store: Arc<dyn Store>, clock: SharedClock) -> Self {
        let stats = Arc::new(LiveArchiveStats::default());
        let (stop, stopped) = watch::channel(false);
        let archive = &config.archive;
        let root = archive.resolved_root(&config.database.url);
        let mode = match (archive.enabled, root) {
            (false, _) => Mode::Disabled("disabled (archive.enabled = false)".into()),
            (true, None) => {
                tracing::warn!(
                    "the live archive is off: set archive.root (there is no default with Postgres)"
                );
                Mode::Disabled("off: archive.root is not set (no default with Postgres)".into())
            }
            (true, Some(root)) => Mode::Running(root),
        };
        let task = match &mode {
            Mode::Disabled(_) => None,
            Mode::Running(root) => {
                let options = LiveArchiveOptions {
                    writer: ArchiveConfig {
                        max_file_rows: archive.max_file_rows,
                        max_file_bytes: archive.max_file_bytes,
                        max_open: archive.max_open,
                        max_open_files: archive.max_open_files,
                        row_group_rows: archive.row_group_rows,
                        zstd_level: archive.zstd_level,
                        ..ArchiveConfig::default()
                    },
                    page_size: archive.page_size,
                    // By then the KPI flush has written the minute (see `kpi`).
                    kpi_settle: config.database.kpi_flush_interval.saturating_mul(2),
                };
                tracing::info!(root = %root.display(), "live archive starting");
                Some(tokio::spawn(supervise(Worker {
                    store,
                    root: root.clone(),
                    options,
                    clock,
                    stats: Arc::clone(&stats),
                    poll_interval: archive.poll_interval,
                    stop: stopped,
                })))
            }
        };
        Self {
            mode,
            stats,
            stop,
            task: Mutex::new(task),
        }
    }

    /// The counters health and `/metrics` read.
    pub fn stats(&self) -> &Arc<LiveArchiveStats> {
        &self.stats
    }

    /// The archive directory, when the archive runs.
    pub fn root(&self) -> Option<&std::path::Path> {
        match &self.mode {
            Mode::Running(root) => Some(root),
            Mode::Disabled(_) => None,
        }
    }

    /// The `archive` part of `/api/v1/health`.
    pub fn health(&self, now: chrono::DateTime<chrono::Utc>) -> PartHealth {
        part_health(&self.mode, &self.stats, now)
    }

    /// Stops the task after a final checkpoint (bounded by a timeout).
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().take();
        if let Some(mut task) = task {
            if tokio::time::timeout(STOP_TIMEOUT, &mut task).await.is_err() {
                tracing::warn!(
                    "the live archive did not stop in time; the next start redoes its last rows"
                );
                task.abort();
            }
        }
    }
}

impl Drop for ArchiveTask {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }
}

/// Health of the archive: `ok`, or `degraded` after [`FAILURES_DEGRADED`] failures in a
/// row; never `down`.
fn part_health(
    mode: &Mode,
    stats: &LiveArchiveStats,
    now: chrono::DateTime<chrono::Utc>,
) -> PartHealth {
    let root = match mode {
        Mode::Disabled(reason) => {
            return PartHealth {
                status: HealthStatus::Ok,
                detail: reason.clone(),
            }
        }
        Mode::Running(root) => root,
    };
    let s = stats;
    let failing = s.consecutive_failures.load(Ordering::Relaxed);
    let rows: u64 = warroom_storage::archive::Table::ALL
        .iter()
        .map(|t| s.table(*t).rows_archived.load(Ordering::Relaxed))
        .sum();
    let behind: u64 = warroom_storage::archive::Table::ALL
        .iter()
        .map(|t| s.table(*t).rows_behind())
        .sum();
    let lag = s.lag_seconds(now).map_or_else(
        || "not caught up yet".to_owned(),
        |l| format!("lag {l:.0} s"),
    );
    if failing >= FAILURES_DEGRADED {
        PartHealth {
            status: HealthStatus::Degraded,
            detail: format!(
                "failing ({failing} times in a row): {}; {behind} rows behind, {lag}",
                s.last_error.lock().clone().unwrap_or_default()
            ),
        }
    } else {
        // A failure or two (a database restart) is retried quietly, but shown.
        let last_error = match (failing, s.last_error.lock().clone()) {
            (1.., Some(e)) => format!("; retrying after: {e}"),
            _ => String::new(),
        };
        PartHealth {
            status: HealthStatus::Ok,
            detail: format!(
                "{}: {rows} rows archived, {behind} rows behind, {lag}{last_error}",
                root.display()
            ),
        }
    }
}

/// What the archive loop needs; cloned for each restart.
#[derive(Clone)]
struct Worker {
    store: Arc<dyn Store>,
    root: PathBuf,
    options: LiveArchiveOptions,
    clock: SharedClock,
    stats: Arc<LiveArchiveStats>,
    poll_interval: Duration,
    stop: watch::Receiver<bool>,
}

/// Sleeps for `delay`; `true` when told to stop instead.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

fn next_backoff(backoff: Duration) -> Duration {
    backoff.saturating_mul(2).min(MAX_BACKOFF)
}

/// Aborts the archive loop when the supervisor itself is dropped (aborted), so no loop
/// outlives its supervisor: one writer per archive root.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Restarts the archive loop when it panics, until told to stop.
async fn supervise(worker: Worker) {
    let mut stop = worker.stop.clone();
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut run = AbortOnDrop(tokio::spawn(run(worker.clone())));
        match (&mut run.0).await {
            Ok(()) => break,
            Err(e) => {
                worker.stats.running.store(false, Ordering::Relaxed);
                worker.stats.restarts.fetch_add(1, Ordering::Relaxed);
                worker
                    .stats
                    .record_failure(&format!("the archive task died: {e}"));
                tracing::error!(error = %e, ?backoff, "the live archive task died; restarting it");
                if wait_or_stop(&mut stop, backoff).await {
                    break;
                }
                backoff = next_backoff(backoff);
            }
        }
    }
}

/// Opens the archive, polls it every `poll_interval`, and checkpoints it when stopped.
async fn run(worker: Worker) {
    let Worker {
        store,
        root,
        options,
        clock,
        stats,
        poll_interval,
        mut stop,
    } = worker;
    let mut backoff = MIN_BACKOFF;
    let mut archive = loop {
        match LiveArchive::open(
            Arc::clone(&store),
            root.clone(),
            options.clone(),
            Arc::clone(&clock),
            Arc::clone(&stats),
        )
        .await
        {
            Ok(archive) => break archive,
            Err(e) => {
                stats.record_failure(&e.to_string());
                tracing::warn!(error = %e, root = %root.display(), "cannot open the live archive; retrying");
                if wait_or_stop(&mut stop, backoff).await {
                    return;
                }
                backoff = next_backoff(backoff);
            }
        }
    };
    stats.running.store(true, Ordering::Relaxed);
    backoff = MIN_BACKOFF;
    loop {
        let delay = match archive.poll().await {
            Ok(report) => {
                stats.record_success();
                backoff = MIN_BACKOFF;
                if report.appended.iter().any(|n| *n > 0) {
                    tracing::debug!(appended = ?report.appended, checkpointed = report.checkpointed, "archive poll");
                }
                poll_interval
            }
            Err(e) => {
                stats.record_failure(&e.to_string());
                tracing::warn!(error = %e, "live archive poll failed; retrying");
                let delay = backoff.max(poll_interval);
                backoff = next_backoff(backoff);
                delay
            }
        };
        if wait_or_stop(&mut stop, delay).await {
            break;
        }
    }
    if let Err(e) = archive.close().await {
        stats.record_failure(&e.to_string());
        tracing::warn!(error = %e, "final archive checkpoint failed; the next start redoes it");
    }
    stats.running.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn degraded_after_repeated_failures_never_down_and_ok_again() {
        let mode = Mode::Running(PathBuf::from("/srv/archive"));
        let stats = LiveArchiveStats::default();
        stats.mentions.high_water.store(120, Ordering::Relaxed);
        stats.mentions.watermark.store(100, Ordering::Relaxed);
        stats
            .archived_through_us
            .store(at(0).timestamp_micros(), Ordering::Relaxed);
        let ok = part_health(&mode, &stats, at(42));
        assert_eq!(ok.status, HealthStatus::Ok);
        assert_eq!(
            ok.detail,
            "/srv/archive: 0 rows archived, 20 rows behind, lag 42 s"
        );
        for n in 1..=FAILURES_DEGRADED {
            stats.record_failure("disk full");
            let h = part_health(&mode, &stats, at(42));
            assert!(h.detail.contains("disk full"), "{}", h.detail);
            let expected = if n < FAILURES_DEGRADED {
                HealthStatus::Ok
            } else {
                HealthStatus::Degraded
            };
            assert_eq!(h.status, expected, "after {n} failures");
        }
        let degraded = part_health(&mode, &stats, at(42));
        assert!(degraded.detail.contains("disk full"), "{}", degraded.detail);
        for _ in 0..100 {
            stats.record_failure("disk full");
        }
        assert_eq!(
            part_health(&mode, &stats, at(42)).status,
            HealthStatus::Degraded
        );
        stats.record_success();
        assert_eq!(part_health(&mode, &stats, at(42)).status, HealthStatus::Ok);
    }

    #[test]
    fn off_reports_why() {
        let stats = LiveArchiveStats::default();
        let h = part_health(
            &Mode::Disabled("disabled (archive.enabled = false)".into()),
            &stats,
            at(0),
        );
        assert_eq!(h.status, HealthStatus::Ok);
        assert!(h.detail.starts_with("disabled"));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(next_backoff(MIN_BACKOFF), Duration::from_secs(2));
        assert_eq!(next_backoff(Duration::from_secs(40)), MAX_BACKOFF);
        assert_eq!(next_backoff(MAX_BACKOFF), MAX_BACKOFF);
    }
}

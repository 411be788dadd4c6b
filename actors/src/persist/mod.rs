//! The persist room: what is acknowledged is in the database. This module is the
//! write-behind persister itself; [`store`] adapts it to the SQL store and recovers each
//! organisation's state on start, [`kpi`] writes the KPI minute buckets behind commits,
//! and [`archive`] runs the live Parquet archive beside it.
//!
//! Write-behind persistence with group commit.
//!
//! Records go to the dataflow (the push path, in memory) and, beside it, to this
//! persister. The persister batches whatever is queued (up to `max_batch` records, waiting
//! at most `commit_window` for a batch to fill), writes the batch in one go, and only then
//! completes the acknowledgements of every request in it. The ingest API answers only
//! after that: what was acknowledged is committed.
//!
//! Idempotency has two layers. The in-memory de-duplication keeps a re-sent record off
//! the push path; the store's unique constraint keeps it from being stored twice. A record
//! whose request was not acknowledged (the store was down) is re-sent by its source; the
//! push path drops it as a duplicate, but the persister writes it again, so nothing
//! acknowledged — and nothing re-sent — is lost.
//!
//! When the store is slow or down the queue fills (`max_queued` records); then
//! [`Persister::reserve`] refuses and the API answers 503 with Retry-After. A batch that
//! fails is retried with backoff while it holds its place; health reports the store down.
//!
//! Every request carries the data mode its records were admitted under; a batch that
//! spans a mode switch is written as one store call per mode, so each stored record says
//! which mode it belongs to (recovery rebuilds only the current mode's windows).

pub mod archive;
pub mod kpi;
pub mod store;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use warroom_engine::{CampaignMetric, DataMode, OrgId, ScoredMention};

use crate::persist::kpi::CommitObserver;

/// A failed batch write.
#[derive(Debug, Clone)]
pub struct BatchError {
    /// What went wrong.
    pub message: String,
    /// Whether retrying can help (connection lost, busy) or not (the data is refused).
    pub transient: bool,
}

/// Where batches are written. Implemented over the storage layer's store.
#[async_trait::async_trait]
pub trait BatchStore: Send + Sync + 'static {
    /// Writes a batch of records of data mode `mode`; duplicates (by their unique keys)
    /// are ignored. All or nothing is not required: the whole batch is retried on a
    /// transient error, and writes are idempotent.
    async fn write_batch(
        &self,
        mode: DataMode,
        mentions: &[ScoredMention],
        campaigns: &[(OrgId, CampaignMetric)],
    ) -> Result<(), BatchError>;
}

/// Persister limits.
#[derive(Debug, Clone, Copy)]
pub struct PersistConfig {
    /// Records queued and not yet committed, at most.
    pub max_queued: usize,
    /// Records per batch, at most.
    pub max_batch: usize,
    /// How long a batch waits for more records before it is written.
    pub commit_window: Duration,
    /// How long one write attempt may take before it counts as failed (transient) and is
    /// retried: a connection that hangs instead of failing (a network partition, a
    /// database that stopped answering) must turn into backpressure and a health signal,
    /// not into a writer stuck for the TCP timeout. A timed-out write may still have
    /// committed; the retry is idempotent.
    pub write_timeout: Duration,
}

/// Why a submission failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersistError {
    /// The queue is full (the store is slow or down); retry later.
    #[error("storage is saturated ({queued} records waiting, limit {limit})")]
    Saturated {
        /// Records waiting.
        queued: usize,
        /// Limit.
        limit: usize,
    },
    /// The persister stopped.
    #[error("storage writer stopped")]
    Stopped,
}

/// Counters and state for health and metrics.
#[derive(Debug, Default)]
pub struct PersistStats {
    /// Records queued and not yet committed.
    pub queued: AtomicUsize,
    /// Records committed.
    pub committed: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
    /// Failed write attempts.
    pub failures: AtomicU64,
    /// Whether the last write attempt failed.
    pub failing: AtomicBool,
    /// The last error, for health.
    pub last_error: parking_lot::Mutex<Option<String>>,
    /// Time of each successful commit (group commit: one per batch).
    pub commit_latency: crate::metrics::Histogram,
}

struct Job {
    mode: DataMode,
    mentions: Vec<ScoredMention>,
    campaigns: Vec<(OrgId, CampaignMetric)>,
    done: oneshot::Sender<Result<(), String>>,
}

impl Job {
    fn len(&self) -> usize {
        self.mentions.len() + self.campaigns.len()
    }
}

/// Room reserved in the queue; see [`Persister::reserve`].
#[must_use = "a reservation holds capacity until it is submitted or dropped"]
pub struct PersistReservation {
    stats: Arc<PersistStats>,
    count: usize,
}

impl Drop for PersistReservation {
    fn drop(&mut self) {
        self.stats.queued.fetch_sub(self.count, Ordering::AcqRel);
    }
}

/// The write-behind persister: a handle to its writer task.
#[derive(Clone)]
pub struct Persister {
    tx: mpsc::UnboundedSender<Job>,
    stats: Arc<PersistStats>,
    config: PersistConfig,
}

impl Persister {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Arc<dyn BatchStore>, config: PersistConfig) -> Self {
        Self::start_observed(store, config, None)
    }

    /// Same, telling `observer` about each batch after it committed and its requests
    /// were acknowledged (off the acknowledgement path).
    pub fn start_observed(
        store: Arc<dyn BatchStore>,
        config: PersistConfig,
        observer: Option<Arc<dyn CommitObserver>>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(PersistStats::default());
        tokio::spawn(write_loop(store, rx, Arc::clone(&stats), config, observer));
        Self { tx, stats, config }
    }

    /// Reserves room for `count` records (the queue itself is unbounded; this is its bound).
    pub fn reserve(&self, count: usize) -> Result<PersistReservation, PersistError> {
        let previous = self.stats.queued.fetch_add(count, Ordering::AcqRel);
        if previous + count > self.config.max_queued && previous > 0 {
            self.stats.queued.fetch_sub(count, Ordering::AcqRel);
            return Err(PersistError::Saturated {
                queued: previous,
                limit: self.config.max_queued,
            });
        }
        Ok(PersistReservation {
            stats: Arc::clone(&self.stats),
            count,
        })
    }

    /// Submits records of data mode `mode` under a reservation; the receiver completes
    /// when they are committed. Mentions come scored (by the ingestor, once).
    pub fn submit(
        &self,
        reservation: PersistReservation,
        mode: DataMode,
        mentions: Vec<ScoredMention>,
        campaigns: Vec<(OrgId, CampaignMetric)>,
    ) -> Result<oneshot::Receiver<Result<(), String>>, PersistError> {
        let (done, committed) = oneshot::channel();
        let job = Job {
            mode,
            mentions,
            campaigns,
            done,
        };
        // The queued count now belongs to the job; the writer releases it on commit.
        let unused = reservation.count.saturating_sub(job.len());
        self.stats.queued.fetch_sub(unused, Ordering::AcqRel);
        std::mem::forget(reservation);
        let len = job.len();
        self.tx.send(job).map_err(|_| {
            self.stats.queued.fetch_sub(len, Ordering::AcqRel);
            PersistError::Stopped
        })?;
        Ok(committed)
    }

    /// Counters.
    pub fn stats(&self) -> &Arc<PersistStats> {
        &self.stats
    }

    /// The configured limit of queued records.
    pub fn max_queued(&self) -> usize {
        self.config.max_queued
    }
}

async fn write_loop(
    store: Arc<dyn BatchStore>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    stats: Arc<PersistStats>,
    config: PersistConfig,
    observer: Option<Arc<dyn CommitObserver>>,
) {
    let mut jobs: Vec<Job> = Vec::new();
    loop {
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut records = first.len();
        jobs.push(first);
        // Group commit: gather what arrives within the window, up to the batch size.
        let deadline = tokio::time::Instant::now() + config.commit_window;
        while records < config.max_batch {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(job)) => {
                    records += job.len();
                    jobs.push(job);
                }
                Ok(None) | Err(_) => break,
            }
        }
        // One store call per data mode (a batch spans modes only around a switch).
        let mut modes: Vec<DataMode> = Vec::with_capacity(1);
        for job in &jobs {
            if !modes.contains(&job.mode) {
                modes.push(job.mode);
            }
        }
        let mut written = Vec::with_capacity(modes.len());
        for mode in modes {
            // The records move out of their jobs (which keep only their acknowledgement).
            let mut mentions = Vec::new();
            let mut campaigns = Vec::new();
            for job in jobs.iter_mut().filter(|j| j.mode == mode) {
                mentions.append(&mut job.mentions);
                campaigns.append(&mut job.campaigns);
            }
            let group_records = mentions.len() + campaigns.len();
            let outcome = write_with_retry(
                store.as_ref(),
                &stats,
                &config,
                mode,
                &mentions,
                &campaigns,
                group_records,
            )
            .await;
            written.push((mode, outcome, mentions, campaigns));
        }
        stats.queued.fetch_sub(records, Ordering::AcqRel);
        for job in jobs.drain(..) {
            let outcome = written
                .iter()
                .find(|(mode, ..)| *mode == job.mode)
                .map_or(Ok(()), |(_, outcome, ..)| outcome.clone());
            let _ = job.done.send(outcome);
        }
        if let Some(observer) = &observer {
            for (mode, outcome, mentions, campaigns) in &written {
                if outcome.is_ok() {
                    observer.committed(*mode, mentions, campaigns);
                }
            }
        }
    }
}

/// Writes one mode's part of a batch, retrying transient failures with backoff until it
/// is committed; a permanent refusal fails it (`records` is for the log).
async fn write_with_retry(
    store: &dyn BatchStore,
    stats: &PersistStats,
    config: &PersistConfig,
    mode: DataMode,
    mentions: &[ScoredMention],
    campaigns: &[(OrgId, CampaignMetric)],
    records: usize,
) -> Result<(), String> {
    let mut backoff = Duration::from_millis(50);
    loop {
        let started = std::time::Instant::now();
        let attempt = tokio::time::timeout(
            config.write_timeout,
            store.write_batch(mode, mentions, campaigns),
        )
        .await
        .unwrap_or_else(|_| {
            Err(BatchError {
                message: format!(
                    "the write did not complete within {:?}",
                    config.write_timeout
                ),
                transient: true,
            })
        });
        match attempt {
            Ok(()) => {
                stats.commit_latency.observe(started.elapsed());
                if stats.failing.swap(false, Ordering::AcqRel) {
                    tracing::info!("storage writes recovered");
                }
                stats.committed.fetch_add(records as u64, Ordering::Relaxed);
                stats.batches.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(error) if !error.transient => {
                // Retrying data the database refuses would block every later write:
                // fail these requests (nothing of them is acknowledged) and go on.
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %error.message, records, "storage refused a batch; its requests fail");
                return Err(error.message);
            }
            Err(error) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                if !stats.failing.swap(true, Ordering::AcqRel) {
                    tracing::error!(error = %error.message, "storage write failed; retrying with backoff");
                }
                *stats.last_error.lock() = Some(error.message);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// A store that fails while `down` is set and records what it committed.
    #[derive(Default)]
    struct FlakyStore {
        down: AtomicBool,
        /// Writes never complete (a partitioned network) while set.
        hang: AtomicBool,
        committed: Mutex<Vec<String>>,
        batches: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl BatchStore for FlakyStore {
        async fn write_batch(
            &self,
            _: DataMode,
            mentions: &[ScoredMention],
            _: &[(OrgId, CampaignMetric)],
        ) -> Result<(), BatchError> {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(BatchError {
                    message: "connection refused".into(),
                    transient: true,
                });
            }
            if mentions.iter().any(|m| m.mention.external_id == "poison") {
                return Err(BatchError {
                    message: "invalid".into(),
                    transient: false,
                });
            }
            self.batches.fetch_add(1, Ordering::SeqCst);
            let mut committed = self.committed.lock();
            for m in mentions {
                if !committed.contains(&m.mention.external_id) {
                    committed.push(m.mention.external_id.clone());
                }
            }
            Ok(())
        }
    }

    fn mention(id: &str) -> ScoredMention {
        let mention = warroom_engine::Mention {
            external_id: id.to_owned(),
            source: warroom_engine::Source::Twitter,
            content: "good".into(),
            author: warroom_engine::Author::default(),
            country: None,
            region: None,
            language: None,
            hashtags: vec![],
            url: None,
            event_time: chrono::Utc::now(),
            source_sentiment: None,
        };
        ScoredMention {
            org: OrgId::new("o"),
            mention,
            sentiment: Default::default(),
            ingested_at_us: 0,
        }
    }

    const CONFIG: PersistConfig = PersistConfig {
        max_queued: 10,
        max_batch: 100,
        commit_window: Duration::from_millis(5),
        write_timeout: Duration::from_secs(5),
    };

    /// Submits one MOCK mention `id`; the receiver completes when it is committed.
    fn submit_one(persister: &Persister, id: &str) -> oneshot::Receiver<Result<(), String>> {
        let reservation = persister.reserve(1).unwrap();
        persister
            .submit(reservation, DataMode::Mock, vec![mention(id)], vec![])
            .unwrap()
    }

    #[tokio::test]
    async fn acknowledgement_comes_after_commit_and_batches_group() {
        let store = Arc::new(FlakyStore::default());
        let persister = Persister::start(store.clone(), CONFIG);
        let mut acks = Vec::new();
        for i in 0..3 {
            let reservation = persister.reserve(2).unwrap();
            acks.push(
                persister
                    .submit(
                        reservation,
                        DataMode::Mock,
                        vec![mention(&format!("a{i}")), mention(&format!("b{i}"))],
                        vec![],
                    )
                    .unwrap(),
            );
        }
        for ack in acks {
            ack.await.unwrap().unwrap();
        }
        assert_eq!(store.committed.lock().len(), 6);
        // All three requests were queued before the writer ran: one group commit.
        assert_eq!(store.batches.load(Ordering::SeqCst), 1);
        assert_eq!(persister.stats().queued.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_an_outage_delays_acks_without_loss() {
        let store = Arc::new(FlakyStore::default());
        store.down.store(true, Ordering::SeqCst);
        let persister = Persister::start(store.clone(), CONFIG);
        let reservation = persister.reserve(8).unwrap();
        let mut ack = persister
            .submit(
                reservation,
                DataMode::Mock,
                (0..8).map(|i| mention(&format!("m{i}"))).collect(),
                vec![],
            )
            .unwrap();
        // The store is down: no acknowledgement, and the queue is nearly full.
        assert!(tokio::time::timeout(Duration::from_millis(100), &mut ack)
            .await
            .is_err());
        assert!(matches!(
            persister.reserve(5),
            Err(PersistError::Saturated { .. })
        ));
        assert!(persister.stats().failing.load(Ordering::SeqCst));
        // It comes back: everything queued is committed, then acknowledged.
        store.down.store(false, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(10), ack)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(store.committed.lock().len(), 8);
        assert!(!persister.stats().failing.load(Ordering::SeqCst));
        assert!(persister.reserve(5).is_ok());
    }

    #[tokio::test]
    async fn a_hanging_write_times_out_reports_failure_and_is_retried() {
        let store = Arc::new(FlakyStore::default());
        store.hang.store(true, Ordering::SeqCst);
        let config = PersistConfig {
            write_timeout: Duration::from_millis(20),
            ..CONFIG
        };
        let persister = Persister::start(store.clone(), config);
        let ack = submit_one(&persister, "h");
        // Without the timeout the writer would wait forever and health would say nothing.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !persister.stats().failing.load(Ordering::SeqCst) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no failure reported"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(persister.stats().last_error.lock().is_some());
        store.hang.store(false, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(10), ack)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(store.committed.lock().as_slice(), ["h".to_string()]);
    }

    #[tokio::test]
    async fn an_unused_reservation_releases_its_room() {
        let persister = Persister::start(Arc::new(FlakyStore::default()), CONFIG);
        drop(persister.reserve(10).unwrap());
        assert_eq!(persister.stats().queued.load(Ordering::SeqCst), 0);
        let reservation = persister.reserve(10).unwrap();
        let ack = persister
            .submit(reservation, DataMode::Mock, vec![mention("x")], vec![])
            .unwrap();
        ack.await.unwrap().unwrap();
        assert_eq!(persister.stats().queued.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_refused_batch_fails_its_requests_and_does_not_block_later_ones() {
        let store = Arc::new(FlakyStore::default());
        let persister = Persister::start(store.clone(), CONFIG);
        let refused = submit_one(&persister, "poison");
        assert!(
            refused.await.unwrap().is_err(),
            "a refused batch is not acknowledged"
        );
        let fine = submit_one(&persister, "fine");
        fine.await.unwrap().unwrap();
        assert_eq!(store.committed.lock().as_slice(), ["fine".to_string()]);
        assert_eq!(persister.stats().queued.load(Ordering::SeqCst), 0);
    }

    /// Records which mode each write was for.
    #[derive(Default)]
    struct ModeRecorder(Mutex<Vec<(DataMode, Vec<String>)>>);

    #[async_trait::async_trait]
    impl BatchStore for ModeRecorder {
        async fn write_batch(
            &self,
            mode: DataMode,
            mentions: &[ScoredMention],
            _: &[(OrgId, CampaignMetric)],
        ) -> Result<(), BatchError> {
            let ids = mentions
                .iter()
                .map(|m| m.mention.external_id.clone())
                .collect();
            self.0.lock().push((mode, ids));
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_batch_spanning_a_mode_switch_is_written_once_per_mode() {
        let store = Arc::new(ModeRecorder::default());
        let persister = Persister::start(store.clone(), CONFIG);
        let mut acks = Vec::new();
        for (mode, id) in [
            (DataMode::Mock, "m1"),
            (DataMode::Live, "l1"),
            (DataMode::Mock, "m2"),
        ] {
            let reservation = persister.reserve(1).unwrap();
            acks.push(
                persister
                    .submit(reservation, mode, vec![mention(id)], vec![])
                    .unwrap(),
            );
        }
        for ack in acks {
            ack.await.unwrap().unwrap();
        }
        // However the requests were grouped, no write mixes the modes, and each record
        // was written under its own.
        let writes = store.0.lock().clone();
        let mut by_mode: Vec<(DataMode, String)> = Vec::new();
        for (mode, ids) in writes {
            for id in ids {
                by_mode.push((mode, id));
            }
        }
        by_mode.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            by_mode,
            vec![
                (DataMode::Live, "l1".to_owned()),
                (DataMode::Mock, "m1".to_owned()),
                (DataMode::Mock, "m2".to_owned()),
            ]
        );
        assert_eq!(persister.stats().queued.load(Ordering::SeqCst), 0);
    }
}

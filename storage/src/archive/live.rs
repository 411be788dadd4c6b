//! The live archive: tails the store's archived tables by sequence number and appends
//! what was committed to the Parquet archive, each row exactly once, across crashes.
//!
//! # How
//!
//! Every archived table has a sequence number that grows in commit order
//! ([`ArchiveMarks`]; `migrations/*/0003_archive.sql`). [`LiveArchive::poll`] reads the
//! store's high-water marks, pages the rows above its own watermarks
//! ([`Store::archive_mentions`] and friends) and appends them with an [`ArchiveWriter`]
//! (files open, not yet visible). Every [`ArchiveConfig::max_open`] it *checkpoints*:
//! closes and publishes every open file, then saves the watermarks in the state file
//! ([`STATE_FILE`], replaced atomically) at the root of the archive.
//!
//! # Exactly once
//!
//! Each published file carries the range of sequence numbers it holds in its key-value
//! metadata ([`SEQ_MIN_KEY`], [`SEQ_MAX_KEY`]). Files close at every checkpoint, so a
//! file's rows all lie between two saved watermarks. A restart ([`LiveArchive::open`])
//! sweeps the temporary files of a crash, reads the saved watermarks and deletes every
//! published file above them: those belong to a checkpoint whose watermarks were never
//! saved (a crash between publishing and saving, or a file rolled early by size), and
//! their rows are read again from the store. Nothing is lost (the watermark only moves
//! after the files are durable) and nothing is archived twice (files above it are gone
//! before anything is appended). A failure while writing does the same without a
//! restart: open files are discarded and the archive resumes from its last checkpoint.
//! One archive per root: the state file and the sweep assume a single writer.
//!
//! # KPI minute buckets
//!
//! The KPI flush rewrites a minute's row until late mentions stop arriving; a rewrite
//! that changes its counts gives the row a new sequence number. A row is archived once
//! its minute is *final*: the minute ended at least `kpi_settle` ago (the runtime uses
//! twice the KPI flush interval, by which time the flush has written it). The tailer
//! stops at the first row whose minute is not final and waits for it, so the watermark
//! never passes a row it did not archive. A minute changed after it was archived (a late
//! mention) is archived again as a restatement: counts only grow, so readers keep the
//! row with the largest `mention_count` per `(org_id, minute)`.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::{Deserialize, Serialize};
use warroom_engine::clock::SharedClock;

use super::layout::table_files;
use super::writer::{ArchiveConfig, ArchiveWriter, WriteReport, SEQ_MAX_KEY, SEQ_MIN_KEY};
use super::{ArchiveError, KpiBucketRow, Table};
use crate::sql::{ArchiveMarks, Sequenced, Store, StoreError};

/// The state file at the root of a live archive: the saved watermarks (JSON). Hive-style
/// readers skip names starting with `_`.
pub const STATE_FILE: &str = "_warroom_archive_state.json";

const STATE_VERSION: u32 = 1;

/// How the live archive runs (the writer's limits are [`ArchiveConfig`]; its `max_open`
/// is also the checkpoint interval).
#[derive(Debug, Clone)]
pub struct LiveArchiveOptions {
    /// File limits and encoding. `max_open` is how often a checkpoint publishes files.
    pub writer: ArchiveConfig,
    /// Rows read from the store per page (at most the store's page limit).
    pub page_size: u32,
    /// How long after its end a KPI minute is final (see the module docs).
    pub kpi_settle: Duration,
}

/// What can stop a poll.
#[derive(Debug, thiserror::Error)]
pub enum LiveArchiveError {
    /// Reading the store failed; nothing is undone, the next poll carries on.
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
    /// Writing the archive failed; the archive went back to its last checkpoint.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The state file is unreadable or the archive contradicts it.
    #[error("archive state {path}: {reason}")]
    State {
        /// The file involved.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The writer panicked on its blocking thread and was lost.
    #[error("the archive writer was lost: {0}")]
    WriterLost(String),
}

impl LiveArchiveError {
    /// Whether the archive must go back to its last checkpoint before going on: anything
    /// but a store read may have left part of a page in the open files.
    fn needs_reset(&self) -> bool {
        !matches!(self, LiveArchiveError::Store(_))
    }
}

/// The state file's content.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    version: u32,
    /// Every row at or below these is in a published file.
    watermarks: ArchiveMarks,
    /// Everything the store had committed at this instant is archived (KPI minutes
    /// that were not final yet aside).
    archived_through: Option<DateTime<Utc>>,
}

/// Counters of one table, for health and metrics.
#[derive(Debug, Default)]
pub struct TableStats {
    /// Rows in published files whose checkpoint completed.
    pub rows_archived: AtomicU64,
    /// The saved watermark.
    pub watermark: AtomicI64,
    /// The store's high-water mark at the last poll.
    pub high_water: AtomicI64,
}

impl TableStats {
    /// Sequence numbers between the saved watermark and the store's high-water mark: an
    /// upper bound on the rows not archived yet (sequences have gaps).
    pub fn rows_behind(&self) -> u64 {
        let behind =
            self.high_water.load(Ordering::Relaxed) - self.watermark.load(Ordering::Relaxed);
        u64::try_from(behind).unwrap_or(0)
    }
}

/// What the live archive has done, shared with health and `/metrics`.
#[derive(Debug, Default)]
pub struct LiveArchiveStats {
    /// `mentions`.
    pub mentions: TableStats,
    /// `campaign_data`.
    pub campaign_data: TableStats,
    /// `kpi_buckets`.
    pub kpi_buckets: TableStats,
    /// Parquet files published (including files a failure later deleted).
    pub files_published: AtomicU64,
    /// Checkpoints completed.
    pub checkpoints: AtomicU64,
    /// Polls or checkpoints that failed.
    pub failures: AtomicU64,
    /// Failures since the last successful poll.
    pub consecutive_failures: AtomicU64,
    /// Times the archive task was started again after it died.
    pub restarts: AtomicU64,
    /// Microseconds since the epoch: everything committed by then is archived; 0 when
    /// unknown (nothing archived yet).
    pub archived_through_us: AtomicI64,
    /// The last failure, kept until a poll succeeds.
    pub last_error: Mutex<Option<String>>,
    /// Whether the archive task is running.
    pub running: AtomicBool,
}

impl LiveArchiveStats {
    /// One table's counters.
    pub fn table(&self, table: Table) -> &TableStats {
        match table {
            Table::Mentions => &self.mentions,
            Table::CampaignData => &self.campaign_data,
            Table::KpiBuckets => &self.kpi_buckets,
        }
    }

    /// How far the published archive trails the store, in seconds: `now` minus the last
    /// instant whose committed rows are all archived. `None` before the first checkpoint.
    pub fn lag_seconds(&self, now: DateTime<Utc>) -> Option<f64> {
        let through = self.archived_through_us.load(Ordering::Relaxed);
        (through > 0).then(|| (now.timestamp_micros() - through).max(0) as f64 / 1e6)
    }

    /// Records a failed poll.
    pub fn record_failure(&self, error: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(error.to_owned());
    }

    /// Records a successful poll.
    pub fn record_success(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        *self.last_error.lock() = None;
    }

    fn set_marks(&self, marks: &ArchiveMarks, field: fn(&TableStats) -> &AtomicI64) {
        field(&self.mentions).store(marks.mentions, Ordering::Relaxed);
        field(&self.campaign_data).store(marks.campaign_data, Ordering::Relaxed);
        field(&self.kpi_buckets).store(marks.kpi_buckets, Ordering::Relaxed);
    }
}

/// What one poll read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Rows appended, per table in [`Table::ALL`] order.
    pub appended: [u64; 3],
    /// Whether a checkpoint completed during the poll.
    pub checkpointed: bool,
    /// Whether KPI rows wait for their minute to become final.
    pub kpi_waiting: bool,
}

/// The live archive of one root (see the module docs). Not `Sync`: one task drives it.
pub struct LiveArchive {
    store: Arc<dyn Store>,
    root: PathBuf,
    options: LiveArchiveOptions,
    clock: SharedClock,
    /// `None` only after the writer was lost; the next poll rebuilds it.
    writer: Option<ArchiveWriter>,
    /// Saved in the state file.
    durable: ArchiveMarks,
    durable_through: Option<DateTime<Utc>>,
    /// Appended to open files (durable at the next checkpoint).
    read: ArchiveMarks,
    read_through: Option<DateTime<Utc>>,
    /// Rows appended since the last checkpoint, per table.
    pending: [u64; 3],
    /// When the first row after the last checkpoint was read (clock microseconds).
    pending_since: Option<i64>,
    stats: Arc<LiveArchiveStats>,
}

impl std::fmt::Debug for LiveArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveArchive")
            .field("root", &self.root)
            .field("durable", &self.durable)
            .field("read", &self.read)
            .finish()
    }
}

fn table_index(table: Table) -> usize {
    match table {
        Table::Mentions => 0,
        Table::CampaignData => 1,
        Table::KpiBuckets => 2,
    }
}

fn mark_mut(marks: &mut ArchiveMarks, table: Table) -> &mut i64 {
    match table {
        Table::Mentions => &mut marks.mentions,
        Table::CampaignData => &mut marks.campaign_data,
        Table::KpiBuckets => &mut marks.kpi_buckets,
    }
}

fn mark(marks: &ArchiveMarks, table: Table) -> i64 {
    match table {
        Table::Mentions => marks.mentions,
        Table::CampaignData => marks.campaign_data,
        Table::KpiBuckets => marks.kpi_buckets,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LiveArchiveError> + Send + 'static,
) -> Result<T, LiveArchiveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LiveArchiveError::WriterLost(e.to_string()))?
}

impl LiveArchive {
    /// Opens the archive under `root` and recovers it: deletes temporary files, reads the
    /// saved watermarks, and deletes published files above them (see the module docs).
    pub async fn open(
        store: Arc<dyn Store>,
        root: PathBuf,
        options: LiveArchiveOptions,
        clock: SharedClock,
        stats: Arc<LiveArchiveStats>,
    ) -> Result<Self, LiveArchiveError> {
        let (writer, state) = {
            let root = root.clone();
            let config = options.writer.clone();
            let clock = Arc::clone(&clock);
            blocking(move || {
                let writer = ArchiveWriter::new(root.clone(), config, clock)?;
                let state = read_state(&root)?;
                let deleted = delete_above(&root, &state.watermarks)?;
                if deleted > 0 {
                    tracing::warn!(root = %root.display(), deleted,
                        "deleted archive files of a checkpoint that did not complete; their rows are archived again");
                }
                Ok((writer, state))
            })
            .await?
        };
        stats.set_marks(&state.watermarks, |t| &t.watermark);
        if let Some(through) = state.archived_through {
            stats
                .archived_through_us
                .store(through.timestamp_micros(), Ordering::Relaxed);
        }
        tracing::info!(root = %root.display(), watermarks = ?state.watermarks, "live archive opened");
        Ok(Self {
            store,
            root,
            options,
            clock,
            writer: Some(writer),
            durable: state.watermarks,
            durable_through: state.archived_through,
            read: state.watermarks,
            read_through: state.archived_through,
            pending: [0; 3],
            pending_since: None,
            stats,
        })
    }

    /// The archive root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The watermarks saved by the last checkpoint.
    pub fn watermarks(&self) -> ArchiveMarks {
        self.durable
    }

    /// Reads what the store committed since the last poll and appends it; checkpoints
    /// when one is due. On a write failure the open files are discarded and the archive
    /// is back at its last checkpoint; on a store failure it keeps what it appended.
    pub async fn poll(&mut self) -> Result<PollReport, LiveArchiveError> {
        if self.writer.is_none() {
            self.reset().await?;
        }
        let result = self.poll_inner().await;
        if let Err(e) = &result {
            if e.needs_reset() {
                if let Err(reset) = self.reset().await {
                    tracing::warn!(error = %reset, "archive reset failed; retried at the next poll");
                }
            }
        }
        result
    }

    async fn poll_inner(&mut self) -> Result<PollReport, LiveArchiveError> {
        let started = self.clock.now();
        let high = self.store.archive_high_water().await?;
        self.stats.set_marks(&high, |t| &t.high_water);
        let page = self.options.page_size.max(1);
        let mut report = PollReport::default();

        while self.read.mentions < high.mentions {
            let rows = self
                .store
                .archive_mentions(self.read.mentions, high.mentions, page)
                .await?;
            let n = rows.len() as u64;
            match rows.last().map(|r| r.seq) {
                Some(last) => {
                    self.with_writer(move |w| w.append_sequenced_mentions(&rows))
                        .await?;
                    self.advance(Table::Mentions, last, n);
                    report.appended[0] += n;
                }
                // Nothing left up to the high-water mark (a gap): it is all read.
                None => self.advance(Table::Mentions, high.mentions, 0),
            }
            report.checkpointed |= self.checkpoint_if_due().await?;
        }

        while self.read.campaign_data < high.campaign_data {
            let rows = self
                .store
                .archive_campaign_data(self.read.campaign_data, high.campaign_data, page)
                .await?;
            let n = rows.len() as u64;
            match rows.last().map(|r| r.seq) {
                Some(last) => {
                    self.with_writer(move |w| w.append_sequenced_campaign(&rows))
                        .await?;
                    self.advance(Table::CampaignData, last, n);
                    report.appended[1] += n;
                }
                None => self.advance(Table::CampaignData, high.campaign_data, 0),
            }
            report.checkpointed |= self.checkpoint_if_due().await?;
        }

        let settle = TimeDelta::from_std(self.options.kpi_settle).unwrap_or(TimeDelta::MAX);
        // A minute is final once `minute + 1 min + settle <= now`.
        let last_final_minute = started
            .checked_sub_signed(TimeDelta::minutes(1))
            .and_then(|t| t.checked_sub_signed(settle))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        while self.read.kpi_buckets < high.kpi_buckets {
            let rows = self
                .store
                .archive_kpi_buckets(self.read.kpi_buckets, high.kpi_buckets, page)
                .await?;
            if rows.is_empty() {
                self.advance(Table::KpiBuckets, high.kpi_buckets, 0);
                continue;
            }
            let total = rows.len();
            let ready: Vec<Sequenced<KpiBucketRow>> = rows
                .iter()
                .take_while(|r| r.row.minute <= last_final_minute)
                .map(|r| Sequenced {
                    seq: r.seq,
                    row: KpiBucketRow::from(&r.row),
                })
                .collect();
            let waiting = ready.len() < total;
            if let Some(last) = ready.last().map(|r| r.seq) {
                let n = ready.len() as u64;
                self.with_writer(move |w| w.append_sequenced_kpi_buckets(&ready))
                    .await?;
                self.advance(Table::KpiBuckets, last, n);
                report.appended[2] += n;
            }
            report.checkpointed |= self.checkpoint_if_due().await?;
            if waiting {
                report.kpi_waiting = true;
                break;
            }
        }

        // Everything committed when the poll started is now appended (KPI minutes not
        // final yet aside: they wait by design and do not count as lag).
        self.read_through = Some(started);
        if self.read == self.durable && self.pending == [0; 3] {
            // Caught up with nothing open: the published archive is current as of now.
            self.durable_through = self.read_through;
            self.stats
                .archived_through_us
                .store(started.timestamp_micros(), Ordering::Relaxed);
        }
        report.checkpointed |= self.checkpoint_if_due().await?;
        Ok(report)
    }

    fn advance(&mut self, table: Table, to: i64, rows: u64) {
        *mark_mut(&mut self.read, table) = to;
        self.pending[table_index(table)] += rows;
        if self.pending_since.is_none() {
            self.pending_since = Some(self.clock.now_micros());
        }
    }

    async fn checkpoint_if_due(&mut self) -> Result<bool, LiveArchiveError> {
        let max_open = i64::try_from(self.options.writer.max_open.as_micros()).unwrap_or(i64::MAX);
        match self.pending_since {
            Some(since) if self.clock.now_micros().saturating_sub(since) >= max_open => {
                self.checkpoint().await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Publishes every open file and saves the watermarks: everything read so far
    /// becomes visible and durable. A no-op when nothing was read since the last one.
    pub async fn checkpoint(&mut self) -> Result<(), LiveArchiveError> {
        let result = self.checkpoint_inner().await;
        if result.is_err() {
            if let Err(reset) = self.reset().await {
                tracing::warn!(error = %reset, "archive reset failed; retried at the next poll");
            }
        }
        result
    }

    async fn checkpoint_inner(&mut self) -> Result<(), LiveArchiveError> {
        if self.read == self.durable && self.pending == [0; 3] {
            self.pending_since = None;
            return Ok(());
        }
        self.with_writer(|w| w.flush_all()).await?;
        let state = State {
            version: STATE_VERSION,
            watermarks: self.read,
            archived_through: self.read_through,
        };
        let root = self.root.clone();
        let sync = self.options.writer.sync;
        blocking(move || write_state(&root, &state, sync)).await?;
        self.durable = self.read;
        self.durable_through = self.read_through;
        for table in Table::ALL {
            let rows = std::mem::take(&mut self.pending[table_index(table)]);
            let stats = self.stats.table(table);
            stats.rows_archived.fetch_add(rows, Ordering::Relaxed);
            stats
                .watermark
                .store(mark(&self.durable, table), Ordering::Relaxed);
        }
        if let Some(through) = self.durable_through {
            self.stats
                .archived_through_us
                .store(through.timestamp_micros(), Ordering::Relaxed);
        }
        self.stats.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.pending_since = None;
        tracing::debug!(watermarks = ?self.durable, "archive checkpoint");
        Ok(())
    }

    /// Checkpoints what was read (shutdown).
    pub async fn close(mut self) -> Result<(), LiveArchiveError> {
        self.checkpoint().await
    }

    /// Goes back to the last checkpoint: discards the open files, deletes published files
    /// above the saved watermarks, and reads from there again.
    async fn reset(&mut self) -> Result<(), LiveArchiveError> {
        let writer = self.writer.take();
        let root = self.root.clone();
        let config = self.options.writer.clone();
        let clock = Arc::clone(&self.clock);
        let durable = self.durable;
        let writer = blocking(move || {
            let writer = match writer {
                Some(mut w) => {
                    w.discard_all();
                    w
                }
                None => ArchiveWriter::new(root.clone(), config, clock)?,
            };
            delete_above(&root, &durable)?;
            Ok(writer)
        })
        .await?;
        self.writer = Some(writer);
        self.read = self.durable;
        self.read_through = self.durable_through;
        self.pending = [0; 3];
        self.pending_since = None;
        tracing::info!(watermarks = ?self.durable, "archive went back to its last checkpoint");
        Ok(())
    }

    /// Runs `f` on the writer on a blocking thread.
    async fn with_writer<F>(&mut self, f: F) -> Result<(), LiveArchiveError>
    where
        F: FnOnce(&mut ArchiveWriter) -> Result<WriteReport, ArchiveError> + Send + 'static,
    {
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| LiveArchiveError::WriterLost("after an earlier failure".into()))?;
        let (writer, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut writer);
            (writer, result)
        })
        .await
        .map_err(|e| LiveArchiveError::WriterLost(e.to_string()))?;
        self.writer = Some(writer);
        let report = result?;
        self.stats
            .files_published
            .fetch_add(report.closed.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for LiveArchive {
    /// Rows not checkpointed are dropped, not published: the next start reads them again.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.as_mut() {
            writer.discard_all();
        }
    }
}

fn state_path(root: &Path) -> PathBuf {
    root.join(STATE_FILE)
}

fn read_state(root: &Path) -> Result<State, LiveArchiveError> {
    let path = state_path(root);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(State {
                version: STATE_VERSION,
                ..State::default()
            })
        }
        Err(e) => return Err(ArchiveError::io(&path)(e).into()),
    };
    let state: State = serde_json::from_str(&text).map_err(|e| LiveArchiveError::State {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if state.version != STATE_VERSION {
        return Err(LiveArchiveError::State {
            path,
            reason: format!(
                "version {} (this build reads {STATE_VERSION})",
                state.version
            ),
        });
    }
    Ok(state)
}

/// Replaces the state file atomically: temporary file, sync, rename, sync the directory.
fn write_state(root: &Path, state: &State, sync: bool) -> Result<(), LiveArchiveError> {
    let path = state_path(root);
    let tmp = root.join(format!(".{STATE_FILE}.tmp"));
    let text = serde_json::to_vec_pretty(state).map_err(|e| LiveArchiveError::State {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut file = File::create(&tmp).map_err(ArchiveError::io(&tmp))?;
    file.write_all(&text).map_err(ArchiveError::io(&tmp))?;
    if sync {
        file.sync_all().map_err(ArchiveError::io(&tmp))?;
    }
    drop(file);
    fs::rename(&tmp, &path).map_err(ArchiveError::io(&path))?;
    if sync {
        #[cfg(unix)]
        File::open(root)
            .and_then(|d| d.sync_all())
            .map_err(ArchiveError::io(root))?;
    }
    Ok(())
}

/// The sequence range a published file records, `None` for a file written without one
/// (by `ArchiveWriter::append_mentions` and the like).
pub fn file_seq_range(path: &Path) -> Result<Option<(i64, i64)>, ArchiveError> {
    let file = File::open(path).map_err(ArchiveError::io(path))?;
    let reader = SerializedFileReader::new(file)?;
    let metadata = reader.metadata().file_metadata().key_value_metadata();
    let get = |key: &str| {
        metadata
            .and_then(|kv| kv.iter().find(|e| e.key == key))
            .and_then(|e| e.value.as_deref())
            .map(str::parse::<i64>)
    };
    match (get(SEQ_MIN_KEY), get(SEQ_MAX_KEY)) {
        (None, None) => Ok(None),
        (Some(Ok(min)), Some(Ok(max))) if min <= max => Ok(Some((min, max))),
        _ => Err(ArchiveError::Schema {
            path: path.to_owned(),
            reason: format!("bad {SEQ_MIN_KEY}/{SEQ_MAX_KEY} metadata"),
        }),
    }
}

/// Deletes the published files whose rows lie above the saved watermarks; returns how
/// many. A file straddling a watermark cannot come from [`LiveArchive`] (files close at
/// every checkpoint) and is reported rather than deleted, since part of it is archived.
fn delete_above(root: &Path, marks: &ArchiveMarks) -> Result<usize, LiveArchiveError> {
    let mut deleted = 0;
    for table in Table::ALL {
        let watermark = mark(marks, table);
        for path in table_files(root, table)? {
            match file_seq_range(&path)? {
                Some((min, _)) if min > watermark => {
                    match fs::remove_file(&path) {
                        Ok(()) => deleted += 1,
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(ArchiveError::io(&path)(e).into()),
                    }
                }
                Some((min, max)) if max > watermark => {
                    return Err(LiveArchiveError::State {
                        path,
                        reason: format!(
                            "holds sequence numbers {min}..={max} across the saved watermark {watermark} of {table}"
                        ),
                    })
                }
                _ => {}
            }
        }
    }
    Ok(deleted)
}

//! [`ArchiveWriter`]: buffers rows per partition into open Parquet files and publishes
//! each file whole (temporary name, sync, rename) when it rolls.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use warroom_engine::clock::SharedClock;
use warroom_engine::model::{CampaignMetric, OrgId, ScoredMention};

use crate::sql::Sequenced;

use super::layout::{file_names, next_seq, partition_dir, sweep_tmp};
use super::schema::{campaign_batch, file_schema, kpi_batch, mentions_batch, KpiBucketRow};
use super::{checked_org, ArchiveError, Table};

/// When files roll and how they are encoded. The defaults suit a node archiving a few
/// thousand mentions per second across tens of organisations.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveConfig {
    /// A file closes once it holds this many rows.
    pub max_file_rows: u64,
    /// A file closes once its encoded size (written plus buffered) reaches this many
    /// bytes; checked after each append, so a file may pass it by one append.
    pub max_file_bytes: u64,
    /// A file closes at the first [`ArchiveWriter::roll_due`] this long after it opened,
    /// however small: the bound on how stale the archive is, and on what a crash loses.
    pub max_open: Duration,
    /// Most files open at once (each buffers up to a row group in memory); opening one
    /// more closes the least recently written. Late events for old days open partitions
    /// too, so this bounds memory whatever the input.
    pub max_open_files: usize,
    /// Rows per Parquet row group (the unit readers skip and parallelise on).
    pub row_group_rows: usize,
    /// Encoded bytes per row group, whichever limit comes first.
    pub row_group_bytes: usize,
    /// zstd level (1–22; 3 is zstd's own default balance of speed and size).
    pub zstd_level: i32,
    /// `fsync` each file and its directory on close, so a file that became visible
    /// survives a power cut. Tests may turn it off.
    pub sync: bool,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            max_file_rows: 1_000_000,
            max_file_bytes: 128 * 1024 * 1024,
            max_open: Duration::from_secs(15 * 60),
            max_open_files: 64,
            row_group_rows: 64 * 1024,
            row_group_bytes: 64 * 1024 * 1024,
            zstd_level: 3,
            sync: true,
        }
    }
}

/// A data file that was closed and published under its final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedFile {
    /// Its table.
    pub table: Table,
    /// Its organisation.
    pub org: OrgId,
    /// Its partition day.
    pub date: NaiveDate,
    /// Its final path.
    pub path: PathBuf,
    /// Rows in it.
    pub rows: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What one writer call did, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Rows appended to open files by this call.
    pub rows_appended: u64,
    /// Files this call closed and published.
    pub closed: Vec<ClosedFile>,
}

impl WriteReport {
    /// Rows in the files this call published.
    pub fn rows_published(&self) -> u64 {
        self.closed.iter().map(|f| f.rows).sum()
    }
}

type PartitionKey = (Table, OrgId, NaiveDate);

/// Smallest and largest store sequence number of some rows.
type SeqRange = (i64, i64);

/// Rows grouped by partition, with their sequence range when they have one.
type Groups<'a, T> = BTreeMap<(OrgId, NaiveDate), (Vec<&'a T>, Option<SeqRange>)>;

/// Key-value metadata of a file written from sequenced rows: the smallest store sequence
/// number of its rows (decimal text).
pub const SEQ_MIN_KEY: &str = "warroom.seq_min";
/// Key-value metadata: the largest store sequence number of the file's rows.
pub const SEQ_MAX_KEY: &str = "warroom.seq_max";

fn merge(a: Option<SeqRange>, b: Option<SeqRange>) -> Option<SeqRange> {
    match (a, b) {
        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
        (a, None) => a,
        (None, b) => b,
    }
}

fn group<'a, T: 'a>(
    rows: impl Iterator<Item = (Option<i64>, (OrgId, NaiveDate), &'a T)>,
) -> Groups<'a, T> {
    let mut groups: Groups<'a, T> = BTreeMap::new();
    for (seq, key, row) in rows {
        let entry = groups.entry(key).or_default();
        entry.0.push(row);
        entry.1 = merge(entry.1, seq.map(|s| (s, s)));
    }
    groups
}

fn mention_key(row: &ScoredMention) -> (OrgId, NaiveDate) {
    (row.org.clone(), row.mention.event_time.date_naive())
}

fn kpi_key(row: &KpiBucketRow) -> (OrgId, NaiveDate) {
    (row.org.clone(), row.minute.date_naive())
}

struct OpenFile {
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    opened_at_us: i64,
    /// Logical time of the last append, for least-recently-written eviction.
    last_write: u64,
    rows: u64,
    /// Smallest and largest store sequence number of the rows, when they came with one.
    seq: Option<SeqRange>,
}

impl OpenFile {
    fn bytes(&self) -> u64 {
        let bytes = self.writer.bytes_written() + self.writer.in_progress_size();
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
}

/// Appends archive rows to hive-partitioned Parquet files (see the [module
/// docs](super)). Synchronous and blocking: run it off the push path.
///
/// Rows are grouped by partition and appended to that partition's open file; a file
/// closes when it reaches [`ArchiveConfig::max_file_rows`] or
/// [`ArchiveConfig::max_file_bytes`], when [`ArchiveWriter::roll_due`] finds it older than
/// [`ArchiveConfig::max_open`], when it is evicted to respect
/// [`ArchiveConfig::max_open_files`], or on [`ArchiveWriter::flush_all`]. Dropping the
/// writer flushes too (errors are logged); a process that dies instead leaves `.tmp`
/// files for the next start's sweep.
pub struct ArchiveWriter {
    root: PathBuf,
    config: ArchiveConfig,
    zstd: ZstdLevel,
    clock: SharedClock,
    open: HashMap<PartitionKey, OpenFile>,
    writes: u64,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("root", &self.root)
            .field("config", &self.config)
            .field("open_files", &self.open.len())
            .finish()
    }
}

impl ArchiveWriter {
    /// A writer for the archive under `root` (created if missing). Deletes the `.tmp`
    /// files a previous crash left (see [`sweep_tmp`]), so only one writer may use a root.
    /// `clock` dates files for [`ArchiveConfig::max_open`].
    pub fn new(
        root: PathBuf,
        config: ArchiveConfig,
        clock: SharedClock,
    ) -> Result<Self, ArchiveError> {
        if config.max_file_rows == 0
            || config.max_file_bytes == 0
            || config.max_open_files == 0
            || config.row_group_rows == 0
            || config.row_group_bytes == 0
        {
            return Err(ArchiveError::Config(
                "file and row group limits must be positive".into(),
            ));
        }
        let zstd = ZstdLevel::try_new(config.zstd_level)
            .map_err(|e| ArchiveError::Config(format!("zstd_level: {e}")))?;
        fs::create_dir_all(&root).map_err(ArchiveError::io(&root))?;
        let swept = sweep_tmp(&root)?;
        if swept > 0 {
            tracing::warn!(root = %root.display(), swept, "deleted temporary archive files left by a crash");
        }
        Ok(Self {
            root,
            config,
            zstd,
            clock,
            open: HashMap::new(),
            writes: 0,
        })
    }

    /// The archive root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Files open now (buffering, not yet visible).
    pub fn open_files(&self) -> usize {
        self.open.len()
    }

    /// Rows in open files, not yet visible to readers.
    pub fn pending_rows(&self) -> u64 {
        self.open.values().map(|f| f.rows).sum()
    }

    /// Appends scored mentions, each to the partition of its organisation and event day.
    ///
    /// All rows are converted before any is written, so an invalid row fails the call
    /// without writing the others.
    pub fn append_mentions(&mut self, rows: &[ScoredMention]) -> Result<WriteReport, ArchiveError> {
        let groups = group(rows.iter().map(|row| (None, mention_key(row), row)));
        self.write_groups(Table::Mentions, groups, mentions_batch)
    }

    /// [`Self::append_mentions`] for rows read from the store with their sequence numbers:
    /// each file records the smallest and largest it holds (see [`SEQ_MIN_KEY`]), which
    /// is how the live archive recovers after a crash.
    pub fn append_sequenced_mentions(
        &mut self,
        rows: &[Sequenced<ScoredMention>],
    ) -> Result<WriteReport, ArchiveError> {
        let groups = group(
            rows.iter()
                .map(|r| (Some(r.seq), mention_key(&r.row), &r.row)),
        );
        self.write_groups(Table::Mentions, groups, mentions_batch)
    }

    /// Appends one organisation's campaign reports, each to the partition of the day it
    /// covers. Every report is kept (platforms restate a day until it closes): readers
    /// take the latest `reported_at` per `(platform, campaign_id, date)`.
    pub fn append_campaign(
        &mut self,
        org: &OrgId,
        rows: &[CampaignMetric],
    ) -> Result<WriteReport, ArchiveError> {
        let groups = group(rows.iter().map(|row| (None, (org.clone(), row.date), row)));
        self.write_groups(Table::CampaignData, groups, campaign_batch)
    }

    /// Campaign reports of any organisations with their sequence numbers (see
    /// [`Self::append_sequenced_mentions`]).
    pub fn append_sequenced_campaign(
        &mut self,
        rows: &[Sequenced<(OrgId, CampaignMetric)>],
    ) -> Result<WriteReport, ArchiveError> {
        let groups = group(
            rows.iter()
                .map(|r| (Some(r.seq), (r.row.0.clone(), r.row.1.date), &r.row.1)),
        );
        self.write_groups(Table::CampaignData, groups, campaign_batch)
    }

    /// Appends KPI minute buckets, each to the partition of its organisation and day.
    pub fn append_kpi_buckets(
        &mut self,
        rows: &[KpiBucketRow],
    ) -> Result<WriteReport, ArchiveError> {
        let groups = group(rows.iter().map(|row| (None, kpi_key(row), row)));
        self.write_groups(Table::KpiBuckets, groups, kpi_batch)
    }

    /// KPI minute buckets with their sequence numbers (see
    /// [`Self::append_sequenced_mentions`]).
    pub fn append_sequenced_kpi_buckets(
        &mut self,
        rows: &[Sequenced<KpiBucketRow>],
    ) -> Result<WriteReport, ArchiveError> {
        let groups = group(rows.iter().map(|r| (Some(r.seq), kpi_key(&r.row), &r.row)));
        self.write_groups(Table::KpiBuckets, groups, kpi_batch)
    }

    /// Converts every partition's rows before writing any, so an invalid row fails the
    /// call without writing the others.
    fn write_groups<T>(
        &mut self,
        table: Table,
        groups: Groups<'_, T>,
        encode: fn(&[&T]) -> Result<RecordBatch, ArchiveError>,
    ) -> Result<WriteReport, ArchiveError> {
        let mut batches = Vec::with_capacity(groups.len());
        for ((org, date), (rows, seq)) in groups {
            checked_org(&org)?;
            batches.push(((table, org, date), encode(&rows)?, seq));
        }
        self.write_all(batches)
    }

    /// Closes every file open for at least [`ArchiveConfig::max_open`] by the clock. Call
    /// it on a tick (e.g. every few seconds). On error the failed file is discarded and
    /// the others stay open for the next call.
    pub fn roll_due(&mut self) -> Result<WriteReport, ArchiveError> {
        let max_open = i64::try_from(self.config.max_open.as_micros()).unwrap_or(i64::MAX);
        let now = self.clock.now_micros();
        let mut due: Vec<PartitionKey> = self
            .open
            .iter()
            .filter(|(_, f)| now.saturating_sub(f.opened_at_us) >= max_open)
            .map(|(k, _)| k.clone())
            .collect();
        due.sort();
        self.close_keys(due)
    }

    /// Closes and publishes every open file (shutdown, or before an export that must see
    /// everything written so far).
    pub fn flush_all(&mut self) -> Result<WriteReport, ArchiveError> {
        let mut keys: Vec<PartitionKey> = self.open.keys().cloned().collect();
        keys.sort();
        self.close_keys(keys)
    }

    fn close_keys(&mut self, keys: Vec<PartitionKey>) -> Result<WriteReport, ArchiveError> {
        let mut report = WriteReport::default();
        for key in keys {
            report.closed.push(self.close(&key)?);
        }
        Ok(report)
    }

    fn write_all(
        &mut self,
        batches: Vec<(PartitionKey, RecordBatch, Option<SeqRange>)>,
    ) -> Result<WriteReport, ArchiveError> {
        let mut report = WriteReport::default();
        for (key, batch, seq) in batches {
            self.write(key, &batch, seq, &mut report)?;
        }
        Ok(report)
    }

    /// Appends one partition's batch, rolling files as they fill.
    fn write(
        &mut self,
        key: PartitionKey,
        batch: &RecordBatch,
        seq: Option<SeqRange>,
        report: &mut WriteReport,
    ) -> Result<(), ArchiveError> {
        let total = batch.num_rows();
        let mut offset = 0;
        while offset < total {
            if !self.open.contains_key(&key) {
                if self.open.len() >= self.config.max_open_files {
                    report.closed.push(self.evict()?);
                }
                let file = self.create(&key)?;
                self.open.insert(key.clone(), file);
            }
            self.writes += 1;
            let writes = self.writes;
            let max_rows = self.config.max_file_rows;
            let max_bytes = self.config.max_file_bytes;
            let Some(file) = self.open.get_mut(&key) else {
                continue; // unreachable: inserted just above
            };
            let room = usize::try_from(max_rows.saturating_sub(file.rows)).unwrap_or(usize::MAX);
            let n = room.min(total - offset).max(1);
            if let Err(e) = file.writer.write(&batch.slice(offset, n)) {
                self.discard(&key);
                return Err(e.into());
            }
            file.rows += n as u64;
            file.last_write = writes;
            // The batch's range bounds the slice's: a file may claim a little more than
            // it holds, never less, which is all recovery needs.
            file.seq = merge(file.seq, seq);
            offset += n;
            report.rows_appended += n as u64;
            if file.rows >= max_rows || file.bytes() >= max_bytes {
                report.closed.push(self.close(&key)?);
            }
        }
        Ok(())
    }

    fn create(&self, key: &PartitionKey) -> Result<OpenFile, ArchiveError> {
        let (table, org, date) = key;
        let dir = partition_dir(&self.root, *table, org, *date);
        fs::create_dir_all(&dir).map_err(ArchiveError::io(&dir))?;
        let (tmp_name, name) = file_names(next_seq(&dir)?);
        let tmp = dir.join(tmp_name);
        let file = File::create_new(&tmp).map_err(ArchiveError::io(&tmp))?;
        let writer = ArrowWriter::try_new(file, file_schema(*table), Some(self.properties(key)));
        let writer = match writer {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e.into());
            }
        };
        Ok(OpenFile {
            writer,
            path: dir.join(name),
            tmp,
            opened_at_us: self.clock.now_micros(),
            last_write: self.writes,
            rows: 0,
            seq: None,
        })
    }

    fn properties(&self, (table, org, date): &PartitionKey) -> WriterProperties {
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(self.zstd))
            .set_max_row_group_row_count(Some(self.config.row_group_rows))
            .set_max_row_group_bytes(Some(self.config.row_group_bytes))
            // The partition keys are not columns; keep them with the file anyway, so a
            // file copied out of the tree still says whose and which day it is.
            .set_key_value_metadata(Some(vec![
                KeyValue::new("warroom.table".into(), table.as_str().to_owned()),
                KeyValue::new("warroom.org_id".into(), org.as_str().to_owned()),
                KeyValue::new("warroom.date".into(), date.to_string()),
            ]));
        // Mostly-unique text: a dictionary page would be built, overflow and be thrown
        // away for every chunk.
        for column in ["external_id", "content", "url"] {
            props = props.set_column_dictionary_enabled(ColumnPath::from(column), false);
        }
        props.build()
    }

    /// Closes the least recently written file to make room for another.
    fn evict(&mut self) -> Result<ClosedFile, ArchiveError> {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, f)| f.last_write)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(key) => self.close(&key),
            None => Err(ArchiveError::Config(
                "max_open_files must be positive".into(),
            )),
        }
    }

    /// Finishes a file, makes it durable and renames it to its final name. On error the
    /// temporary file is deleted: a file is published whole or not at all.
    fn close(&mut self, key: &PartitionKey) -> Result<ClosedFile, ArchiveError> {
        let Some(open) = self.open.remove(key) else {
            return Err(ArchiveError::Config(format!(
                "no open file for {} {} {}",
                key.0, key.1, key.2
            )));
        };
        let OpenFile {
            mut writer,
            tmp,
            path,
            rows,
            seq,
            ..
        } = open;
        if let Some((min, max)) = seq {
            writer.append_key_value_metadata(KeyValue::new(SEQ_MIN_KEY.into(), min.to_string()));
            writer.append_key_value_metadata(KeyValue::new(SEQ_MAX_KEY.into(), max.to_string()));
        }
        let result = publish(writer, &tmp, &path, self.config.sync);
        match result {
            Ok(bytes) => {
                tracing::debug!(path = %path.display(), rows, bytes, "archive file closed");
                Ok(ClosedFile {
                    table: key.0,
                    org: key.1.clone(),
                    date: key.2,
                    path,
                    rows,
                    bytes,
                })
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Deletes every open file without publishing it: the rows in them are dropped. The
    /// live archive calls it after a failure, to restart from its last checkpoint rather
    /// than publish part of one.
    pub fn discard_all(&mut self) {
        let keys: Vec<PartitionKey> = self.open.keys().cloned().collect();
        for key in keys {
            self.discard(&key);
        }
    }

    /// Drops an open file after a failed write: its encoder state is unknown.
    fn discard(&mut self, key: &PartitionKey) {
        if let Some(open) = self.open.remove(key) {
            drop(open.writer);
            let _ = fs::remove_file(&open.tmp);
        }
    }
}

/// Writes the footer, syncs, and renames `tmp` to `path`; returns the file size.
fn publish(
    writer: ArrowWriter<File>,
    tmp: &Path,
    path: &Path,
    sync: bool,
) -> Result<u64, ArchiveError> {
    let file = writer.into_inner()?;
    if sync {
        file.sync_all().map_err(ArchiveError::io(tmp))?;
    }
    let bytes = file.metadata().map_err(ArchiveError::io(tmp))?.len();
    drop(file);
    fs::rename(tmp, path).map_err(ArchiveError::io(path))?;
    if sync {
        sync_dir(path)?;
    }
    Ok(bytes)
}

/// Makes a rename durable: the directory entry must reach the disk too.
fn sync_dir(path: &Path) -> Result<(), ArchiveError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(ArchiveError::io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        if self.open.is_empty() {
            return;
        }
        if let Err(e) = self.flush_all() {
            tracing::warn!(error = %e, "archive files lost while dropping the writer");
        }
    }
}

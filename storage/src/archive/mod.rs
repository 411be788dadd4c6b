//! The Parquet archive: mentions, campaign reports and KPI minute buckets appended to
//! hive-partitioned Parquet files for offline analytics (DuckDB, Spark, Polars, pyarrow),
//! and exports of one organisation's time range as a single Parquet, CSV or JSON file.
//!
//! # Layout
//!
//! ```text
//! <root>/<table>/org_id=<org>/date=YYYY-MM-DD/part-<seq>-<uuid>.parquet
//! ```
//!
//! `table` is `mentions`, `campaign_data` or `kpi_buckets` ([`Table`]). The partition
//! keys `org_id` and `date` (UTC day of the row's event time; for campaign data the day
//! the report covers) are in the path only, not in the files, as Hive-style readers
//! expect. `seq` orders the files of a partition by creation. Schemas are in
//! [`schema`] and `docs/archive.md`.
//!
//! # Files are visible only whole
//!
//! [`ArchiveWriter`] writes each file under a hidden temporary name in its final
//! directory (`.part-<seq>-<uuid>.parquet.tmp`), syncs it and renames it when it closes.
//! A rename within a directory is atomic, so a reader (DuckDB's `*.parquet` glob,
//! pyarrow, which skips dot files, or [`export`]) sees a complete file or none. A crash
//! leaves only `.tmp` files; [`sweep_tmp`] (run by [`ArchiveWriter::new`]) deletes them.
//! One writer owns a root at a time, since the sweep would delete another writer's
//! files in progress.
//!
//! # Threading
//!
//! Everything here is synchronous, blocking file I/O. The engine runs the writer on a
//! blocking thread (or `spawn_blocking`) fed in batches beside the push path, and the
//! gateway runs [`export`] the same way, writing into a channel-backed [`std::io::Write`]
//! that streams the response body.
//!
//! # Durability
//!
//! The archive is a copy for analytics; the database is the system of record. Rows
//! buffered in an open file are lost if the process dies before the file closes (at
//! most [`ArchiveConfig::max_open`] of data per partition), and can be re-exported from
//! the database. The [`live`] archive, which `warroom serve` runs, reads them from the
//! database again after a crash, so each committed row ends up archived exactly once.

use std::fmt;

mod export;
mod layout;
pub mod live;
pub mod schema;
mod writer;

pub use export::{export, ExportFormat, ExportQuery, ExportStats, ExportWriter};
pub use layout::{partition_dir, sweep_tmp};
pub use live::{LiveArchive, LiveArchiveError, LiveArchiveOptions, LiveArchiveStats};
pub use schema::KpiBucketRow;
pub use writer::{ArchiveConfig, ArchiveWriter, ClosedFile, WriteReport, SEQ_MAX_KEY, SEQ_MIN_KEY};

/// One of the archive's tables: a top-level folder under the archive root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Scored social mentions, partitioned by event day.
    Mentions,
    /// Daily campaign reports from the ad platforms, partitioned by the day they cover.
    CampaignData,
    /// One row per organisation and minute of mention KPIs, partitioned by day.
    KpiBuckets,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 3] = [Table::Mentions, Table::CampaignData, Table::KpiBuckets];

    /// The folder and wire name: `mentions`, `campaign_data`, `kpi_buckets`.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Mentions => "mentions",
            Table::CampaignData => "campaign_data",
            Table::KpiBuckets => "kpi_buckets",
        }
    }

    /// Parses a wire name (as `warroom export --table` takes it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The timestamp column an export filters rows on; `None` for `campaign_data`,
    /// whose rows are whole days selected by their partition.
    pub fn time_column(self) -> Option<&'static str> {
        match self {
            Table::Mentions => Some("event_time"),
            Table::CampaignData => None,
            Table::KpiBuckets => Some("minute"),
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can go wrong writing or exporting the archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file-system operation failed.
    #[error("archive I/O on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to the export destination failed (e.g. the client went away).
    #[error("export output: {0}")]
    Output(#[source] std::io::Error),
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building, converting or formatting Arrow data failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// An organisation id that is not a valid slug (it would be unsafe in a path).
    #[error("invalid organisation id {0:?}")]
    InvalidOrg(String),
    /// A row that cannot be archived as is.
    #[error("{table}: {reason}")]
    InvalidRow {
        /// Its table.
        table: Table,
        /// Why.
        reason: String,
    },
    /// An export range whose start is not before its end.
    #[error("empty or reversed time range: from {from} to {to}")]
    InvalidRange {
        /// Start (inclusive).
        from: chrono::DateTime<chrono::Utc>,
        /// End (exclusive).
        to: chrono::DateTime<chrono::Utc>,
    },
    /// A configuration value out of range.
    #[error("archive configuration: {0}")]
    Config(String),
    /// A file in the archive whose columns do not match the table's schema.
    #[error("{path}: {reason}")]
    Schema {
        /// The file.
        path: std::path::PathBuf,
        /// What does not match.
        reason: String,
    },
}

impl ArchiveError {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ArchiveError::Io { path, source }
    }
}

/// Validates an organisation id before it becomes part of a path.
pub(crate) fn checked_org(org: &warroom_engine::model::OrgId) -> Result<(), ArchiveError> {
    warroom_engine::model::OrgId::parse(org.as_str())
        .map(drop)
        .map_err(|_| ArchiveError::InvalidOrg(org.as_str().to_owned()))
}

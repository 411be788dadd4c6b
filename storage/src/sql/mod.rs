//! The system of record: PostgreSQL, or embedded SQLite by default, behind one [`Store`]
//! trait.
//!
//! # Design
//!
//! - **One trait, two backends.** The engine holds an `Arc<dyn Store>` (the trait is made
//!   object safe with `async-trait`) and never knows which database it talks to.
//!   [`open_store`] picks [`PgStore`] for a `postgres://` or `postgresql://` URL and
//!   [`SqliteStore`] for anything else (a file path or a `sqlite:` URL). The same
//!   conformance suite (`storage/tests/conformance.rs`) runs against both.
//! - **One SQL store.** The query text, column lists, batch shapes and row decoders are
//!   written once (`store.rs`, `tables.rs`, `rows.rs`, `batch.rs`), generic over a `Dialect`; each
//!   backend's module (`postgres.rs`, `sqlite.rs`) keeps its connection setup, its
//!   migrations and what truly differs: value encodings, how a batch travels, full-text
//!   and hashtag conditions, and how archive reads order themselves after writers.
//! - **Schema in SQL files.** `migrations/postgres` and `migrations/sqlite` (top level) hold
//!   the same tables in each dialect; they are embedded into the binary at compile time
//!   with `sqlx::migrate!`, so a deployed binary needs no migration files, and
//!   [`Store::migrate`] is idempotent.
//! - **Idempotent writes.** Mentions are keyed by `(org_id, source, external_id)` and
//!   inserted with `ON CONFLICT DO NOTHING`; campaign reports by
//!   `(org, platform, campaign, date, reported_at)`; crises by id; KPI minute buckets by
//!   `(org, minute)` (whole-row replace). A writer that is unsure whether a batch was
//!   committed simply sends it again.
//! - **Batches are transactions.** Each `insert_*`/`upsert_*` call commits all its rows or
//!   none, so a caller can acknowledge exactly the records of a call that returned `Ok`
//!   (group commit). On Postgres a batch is one `INSERT … SELECT FROM UNNEST($1::text[], …)`
//!   per 10,000 rows: one parameter per column whatever the batch size, and a single
//!   prepared statement. On SQLite it is multi-row `INSERT … VALUES` statements of up to
//!   [`SQLITE_ROWS_PER_STATEMENT`] rows inside one transaction.
//! - **Durability.** SQLite runs in WAL mode with `synchronous=FULL`: the WAL is fsynced on
//!   every commit, so a committed batch survives `kill -9` *and* an OS crash or power loss.
//!   (`NORMAL` would survive `kill -9` only.) Because writers commit whole batches, the
//!   fsync is paid once per batch, not per mention. SQLite gets one writer connection
//!   (writes are serialised in-process instead of failing with `SQLITE_BUSY`) and a small
//!   pool of reader connections, which WAL lets run beside the writer. Postgres commits
//!   are durable with its default `synchronous_commit=on`.
//! - **Errors say whether to retry.** [`StoreError::is_transient`] is true for "the
//!   database is unavailable" (connection refused, pool timeout, shutdown, disk full,
//!   lock timeouts): the caller keeps the batch and retries, applying backpressure. Every
//!   other error is permanent (bad data, a bug): retrying the same batch cannot help.
//! - **Data modes.** Mentions, campaign reports and KPI buckets carry the data mode
//!   (`MOCK`/`LIVE`) they were ingested under (`data_mode` column, migration 0004; rows
//!   stored before it are `MOCK`). Every read that feeds windows or KPIs takes the mode
//!   and returns only its rows, so the two never mix after a restart.
//! - **Tenancy.** Every read takes an [`OrgId`] and filters by it in SQL; no method returns
//!   rows of more than one organisation. Writes carry the organisation in each record.
//!   An organisation must exist ([`Store::upsert_organization`]) before rows that refer to
//!   it are written: `org_id` is a foreign key.
//! - **Precision.** Times are stored with microsecond precision (TIMESTAMPTZ on Postgres,
//!   INTEGER microseconds since the epoch on SQLite); nanoseconds are truncated. Counts are
//!   signed 64-bit in SQL; a count above `i64::MAX` is rejected as invalid data.
//! - **Search.** [`MentionFilter::search`] is full-text search on Postgres
//!   (`to_tsvector('english', content) @@ plainto_tsquery(…)`, served by the GIN index) and
//!   a case-insensitive substring match on SQLite. Both find a single plain word.

mod batch;
mod codec;
pub(crate) mod dialect;
mod error;
mod postgres;
mod rows;
mod sqlite;
mod store;
mod tables;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use warroom_engine::model::{
    CampaignMetric, CrisisEvent, DataMode, OrgId, Organization, ScoredMention, SentimentClass,
    Source,
};

pub use error::StoreError;
pub use postgres::PgStore;
pub use sqlite::{SqliteStore, SQLITE_ROWS_PER_STATEMENT};

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Most rows a page read returns, whatever the caller asks for.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// The file name of the embedded database inside a data directory.
pub const SQLITE_FILE_NAME: &str = "warroom.sqlite3";

/// The setting key of the global data mode (`MOCK` / `LIVE`), as the seed names it.
pub const DATA_MODE_KEY: &str = "system:data_mode";

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// PostgreSQL over a connection pool.
    Postgres,
    /// An embedded SQLite file.
    Sqlite,
}

impl Backend {
    /// The name health reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// Connection settings shared by both backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most pooled connections (Postgres), or most reader connections (SQLite; there is
    /// always exactly one writer).
    pub max_connections: u32,
    /// How long an operation waits for a free connection before failing as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Where a page of mentions ends: the `(event_time, id)` of its last row. Opaque to REST
/// clients, who get it as a string ([`fmt::Display`]) and send it back ([`FromStr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MentionCursor {
    /// Event time of the last row returned, in microseconds since the epoch.
    pub event_time_us: i64,
    /// Store row id of the last row returned (breaks ties between equal event times).
    pub id: i64,
}

impl fmt::Display for MentionCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.event_time_us, self.id)
    }
}

impl FromStr for MentionCursor {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || StoreError::InvalidCursor(s.chars().take(64).collect());
        let (time, id) = s.split_once('.').ok_or_else(invalid)?;
        Ok(Self {
            event_time_us: time.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

/// Filters of the mention list (`GET /api/v1/mentions`). Every field narrows the result;
/// the default matches every mention of the organisation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MentionFilter {
    /// Only this channel.
    pub source: Option<Source>,
    /// Only this sentiment class (on the compound score, VADER's thresholds).
    pub sentiment: Option<SentimentClass>,
    /// Only this country (ISO code, as stored: upper case).
    pub country: Option<String>,
    /// Only mentions carrying this hashtag (without `#`, lower case, as stored).
    pub hashtag: Option<String>,
    /// Event time at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Event time strictly before this.
    pub to: Option<DateTime<Utc>>,
    /// Text search in the content (see the module docs for each backend's semantics).
    pub search: Option<String>,
}

/// One page of mentions and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct MentionPage {
    /// The mentions, in the order the call documents.
    pub mentions: Vec<ScoredMention>,
    /// Pass this back to get the next page; `None` on the last page.
    pub next: Option<MentionCursor>,
}

/// One source's share of a KPI minute bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct SourceTotals {
    /// Mentions from the source in the minute.
    pub count: u64,
    /// Sum of their compound sentiment.
    pub sentiment_sum: f64,
}

/// One source's totals over a time range of an organisation's stored mentions, computed
/// by the database ([`Store::mention_totals`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceAggregate {
    /// The source.
    pub source: Source,
    /// Mentions.
    pub count: u64,
    /// Sum of their compound sentiment.
    pub sentiment_sum: f64,
    /// Mentions with compound ≥ [`warroom_engine::model::sentiment_class::POSITIVE`].
    pub positive: u64,
    /// Mentions with compound ≤ [`warroom_engine::model::sentiment_class::NEGATIVE`].
    pub negative: u64,
    /// Mentions with compound < [`warroom_engine::model::sentiment_class::STRONGLY_NEGATIVE`].
    pub strongly_negative: u64,
}

/// The additive aggregates of one organisation's mentions in one event-time minute: what
/// the sliding windows are rebuilt from after a restart (`kpi_minute_buckets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiBucket {
    /// Owner.
    pub org: OrgId,
    /// The data mode of the mentions it counts (a minute has one bucket per mode).
    pub data_mode: DataMode,
    /// Start of the minute (seconds and fraction zero).
    pub minute: DateTime<Utc>,
    /// Mentions in the minute.
    pub mention_count: u64,
    /// Sum of their compound sentiment.
    pub sentiment_sum: f64,
    /// Mentions with compound ≥ 0.05.
    pub positive: u64,
    /// Mentions between the thresholds.
    pub neutral: u64,
    /// Mentions with compound ≤ -0.05.
    pub negative: u64,
    /// Mentions with compound < -0.8.
    pub strongly_negative: u64,
    /// Per-source counts and sentiment sums.
    pub by_source: BTreeMap<Source, SourceTotals>,
    /// The minute's top-k sketches (countries, hashtags, influencers), in the stream
    /// operators' own serialisation; the store keeps them opaque.
    pub sketches: serde_json::Value,
}

/// Per archived table, a sequence number (`seq`) every row has and that only grows in
/// commit order: `mentions.id`, `campaign_data.seq`, `kpi_minute_buckets.seq` (the last
/// is taken again when a rewrite changes a minute's counts). The live archive tails each
/// table by it (`seq > watermark`); see `migrations/*/0003_archive.sql`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ArchiveMarks {
    /// `mentions.id`.
    pub mentions: i64,
    /// `campaign_data.seq`.
    pub campaign_data: i64,
    /// `kpi_minute_buckets.seq`.
    pub kpi_buckets: i64,
}

/// A row read for the archive, with its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequenced<T> {
    /// The row's sequence number (see [`ArchiveMarks`]).
    pub seq: i64,
    /// The row.
    pub row: T,
}

/// The system of record. Every method is one round trip or one transaction; see the module
/// docs for the guarantees.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Users, tokens, API keys and the audit trail (`accounts` module).
    fn accounts(&self) -> &dyn crate::accounts::AccountStore;

    /// Webhook endpoints, delivery log and incoming receipts (`webhooks` module).
    fn webhooks(&self) -> &dyn crate::webhooks::WebhookStore;

    /// Applies the embedded migrations that are not applied yet (a no-op when up to date).
    async fn migrate(&self) -> StoreResult<()>;

    /// A cheap round trip: `Ok` when the database answers.
    async fn health(&self) -> StoreResult<()>;

    /// Closes the connections; later calls fail as unavailable.
    async fn close(&self);

    /// Creates an organisation, or renames an existing one.
    async fn upsert_organization(&self, org: &Organization) -> StoreResult<()>;

    /// Every organisation, by id.
    async fn organizations(&self) -> StoreResult<Vec<Organization>>;

    /// Inserts scored mentions (any organisations) ingested under data mode `mode` in one
    /// transaction; returns how many were new. A mention whose
    /// `(org, source, external_id)` is already stored, or repeated within the batch, is
    /// skipped (whatever mode it was stored under).
    async fn insert_mentions(&self, mode: DataMode, mentions: &[ScoredMention])
        -> StoreResult<u64>;

    /// How many mentions an organisation has.
    async fn count_mentions(&self, org: &OrgId) -> StoreResult<u64>;

    /// The organisation's `limit` latest mentions by event time, oldest first (the order
    /// to push them into a ring buffer).
    async fn recent_mentions(&self, org: &OrgId, limit: u32) -> StoreResult<Vec<ScoredMention>>;

    /// Totals of the organisation's stored mentions of data mode `mode` with event time
    /// in `[from, to)`, one per source that has any. KPI minute buckets are recomputed
    /// from these: the database aggregates where reading every row back cost a
    /// core-second per 200,000 mentions (the fanout profile in `docs/benchmarks.md`).
    async fn mention_totals(
        &self,
        org: &OrgId,
        mode: DataMode,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<SourceAggregate>>;

    /// Mentions of data mode `mode` with event time at or after `since`, oldest first, a
    /// page at a time: `after` is the previous page's [`MentionPage::next`].
    async fn mentions_since(
        &self,
        org: &OrgId,
        mode: DataMode,
        since: DateTime<Utc>,
        after: Option<MentionCursor>,
        limit: u32,
    ) -> StoreResult<MentionPage>;

    /// The REST mention list: filtered, newest first, a page at a time (keyset paging, so
    /// pages stay consistent while mentions are being inserted).
    async fn mentions_page(
        &self,
        org: &OrgId,
        filter: &MentionFilter,
        limit: u32,
        cursor: Option<MentionCursor>,
    ) -> StoreResult<MentionPage>;

    /// Stores campaign reports ingested under data mode `mode` in one transaction and
    /// refreshes the `campaigns` rows (names are shared by both modes); returns how many
    /// reports were new. The same report sent again is skipped.
    async fn insert_campaign_metrics(
        &self,
        mode: DataMode,
        metrics: &[(OrgId, CampaignMetric)],
    ) -> StoreResult<u64>;

    /// The organisation's campaign metrics of data mode `mode`: for each
    /// `(platform, campaign, date)` the report with the latest `reported_at` (restatements
    /// replace earlier reports), ordered by platform, campaign and date.
    async fn campaign_metrics(
        &self,
        org: &OrgId,
        mode: DataMode,
    ) -> StoreResult<Vec<CampaignMetric>>;

    /// Inserts a crisis or updates it by id. The status only moves forward
    /// (active → acknowledged → resolved): a stale write cannot reopen a crisis, but its
    /// severity and evidence still apply; acknowledgement and resolution times, once set,
    /// are kept. Returns `false`, changing nothing, when the id belongs to another
    /// organisation.
    async fn upsert_crisis(&self, crisis: &CrisisEvent) -> StoreResult<bool>;

    /// One crisis of the organisation.
    async fn crisis(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<CrisisEvent>>;

    /// The organisation's crises, newest detection first; with `active_only`, those not
    /// resolved (active or acknowledged).
    async fn crises(&self, org: &OrgId, active_only: bool) -> StoreResult<Vec<CrisisEvent>>;

    /// Writes KPI minute buckets in one transaction, replacing stored rows of the same
    /// `(org, data_mode, minute)` (the last one wins within a batch); returns how many
    /// rows were written.
    async fn upsert_kpi_buckets(&self, buckets: &[KpiBucket]) -> StoreResult<u64>;

    /// The organisation's buckets of data mode `mode` with `minute >= since`, oldest first.
    async fn kpi_buckets_since(
        &self,
        org: &OrgId,
        mode: DataMode,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<KpiBucket>>;

    /// A platform setting, such as [`DATA_MODE_KEY`].
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;

    /// Sets a platform setting.
    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()>;

    /// The highest committed sequence number of each archived table (0 when empty), such
    /// that every row numbered at or below it is already visible: a row committed later
    /// always gets a larger number. Platform-wide (all organisations); for the archive.
    async fn archive_high_water(&self) -> StoreResult<ArchiveMarks>;

    /// Mentions (all organisations) with `after < id <= up_to`, by id, at most `limit`
    /// ([`MAX_PAGE_SIZE`] at most).
    async fn archive_mentions(
        &self,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Sequenced<ScoredMention>>>;

    /// Campaign reports (all organisations) with `after < seq <= up_to`, by seq, at most
    /// `limit` ([`MAX_PAGE_SIZE`] at most). Every report, restatements included.
    async fn archive_campaign_data(
        &self,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Sequenced<(OrgId, CampaignMetric)>>>;

    /// KPI minute buckets (all organisations) with `after < seq <= up_to`, by seq, at most
    /// `limit` ([`MAX_PAGE_SIZE`] at most). A minute appears once, at its latest number.
    async fn archive_kpi_buckets(
        &self,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Sequenced<KpiBucket>>>;
}

/// Opens the store a location names, with default options: a `postgres://` or
/// `postgresql://` URL opens [`PgStore`]; a `sqlite:` URL or a file path opens
/// [`SqliteStore`] (the file and its directory are created when missing). Does not
/// migrate: call [`Store::migrate`].
pub async fn open_store(location: &str) -> StoreResult<Arc<dyn Store>> {
    open_store_with(location, &StoreOptions::default()).await
}

/// [`open_store`] with explicit connection options.
pub async fn open_store_with(
    location: &str,
    options: &StoreOptions,
) -> StoreResult<Arc<dyn Store>> {
    if is_postgres_url(location) {
        Ok(Arc::new(PgStore::connect(location, options).await?))
    } else {
        Ok(Arc::new(SqliteStore::open(location, options).await?))
    }
}

/// Whether a location is a Postgres URL (and so selects [`PgStore`]).
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

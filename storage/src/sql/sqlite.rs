//! [`SqliteStore`]: the [`Store`](super::Store) on an embedded SQLite file, the default
//! when no Postgres URL is configured: its connection setup, migrations and [`Dialect`]
//! (the query text is `store.rs`).
//!
//! One writer connection and a pool of readers over the same file in WAL mode. The single
//! writer serialises writes in-process (SQLite allows one writer at a time anyway), so a
//! write never fails with `SQLITE_BUSY` because of another writer of ours; WAL lets the
//! readers run beside it. `synchronous=FULL` fsyncs the WAL at each commit: a committed
//! batch survives `kill -9`, an OS crash and power loss. Batches are multi-row
//! `INSERT … VALUES` statements inside one transaction, so the fsync is paid per batch.
//!
//! Column types follow `migrations/sqlite`: times are INTEGER microseconds since the epoch,
//! dates `YYYY-MM-DD` text, UUIDs hyphenated text, JSON text.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use super::batch::{Batch, Column};
use super::codec;
use super::dialect::{same_in_both_dialects, Dialect, RowOf, TxOf};
use super::{Backend, StoreError, StoreOptions, StoreResult, SQLITE_FILE_NAME};

/// The migrations in `migrations/sqlite`, embedded at compile time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Most mention rows per `INSERT` statement (20 columns each, within SQLite's limit of
/// 32,766 bound variables per statement).
pub const SQLITE_ROWS_PER_STATEMENT: usize = 1_000;

/// SQLite's limit on bound variables per statement (since 3.32).
const MAX_VARIABLES: usize = 32_766;

/// How long a connection waits on a lock held by another process before failing as
/// unavailable (`SQLITE_BUSY`), e.g. `warroom migrate` running beside `warroom serve`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The [`Store`](super::Store) on an embedded SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write goes through it.
    pub(crate) writer: SqlitePool,
    /// Reads, concurrent with the writer thanks to WAL.
    pub(crate) readers: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating when missing) the database a location names: a `sqlite:` URL, a
    /// file path, or an existing directory (then the file is [`SQLITE_FILE_NAME`] in it).
    /// In-memory databases are refused: the store exists to keep data.
    pub async fn open(location: &str, options: &StoreOptions) -> StoreResult<Self> {
        if location.contains(":memory:") || location.contains("mode=memory") {
            return Err(StoreError::Location(format!(
                "{location:?} is in memory; the SQLite store needs a file"
            )));
        }
        let base = if location.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(location)
                .map_err(|e| StoreError::Location(format!("bad SQLite URL: {e}")))?
        } else {
            let mut path = PathBuf::from(location);
            if path.is_dir() {
                path.push(SQLITE_FILE_NAME);
            }
            SqliteConnectOptions::new().filename(path)
        };
        let path = base.get_filename().to_path_buf();
        if path.as_os_str().is_empty() {
            return Err(StoreError::Location(format!(
                "{location:?} names no file; the SQLite store needs one"
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Location(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let connect = base
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer first: it creates the file and switches it to WAL before readers open.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Self {
            writer,
            readers,
            path,
        })
    }

    /// Opens `<data_dir>/warroom.sqlite3`, creating the directory when missing.
    pub async fn open_in_dir(data_dir: &Path, options: &StoreOptions) -> StoreResult<Self> {
        let path = data_dir.join(SQLITE_FILE_NAME);
        let location = path
            .to_str()
            .ok_or_else(|| StoreError::Location(format!("{} is not UTF-8", path.display())))?;
        Self::open(location, options).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A stored UUID back.
fn uuid_from_text(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| StoreError::Invalid(format!("stored uuid {text:?}")))
}

/// Binds row `row` of one column of a batch.
fn push_value(query: &mut QueryBuilder<Sqlite>, column: &Column<'_>, row: usize) {
    match column {
        Column::Text(v) => query.push_bind(v[row]),
        Column::OptText(v) => query.push_bind(v[row]),
        Column::BigInt(v) => query.push_bind(v[row]),
        Column::OptBigInt(v) => query.push_bind(v[row]),
        Column::Float(v) => query.push_bind(v[row]),
        Column::OptFloat(v) => query.push_bind(v[row]),
        Column::Time(v) => query.push_bind(v[row].timestamp_micros()),
        Column::Date(v) => query.push_bind(codec::date_to_text(v[row])),
        Column::Json(v) => query.push_bind(v[row].as_str()),
        Column::Uuid(v) => query.push_bind(v[row].hyphenated().to_string()),
    };
}

impl Dialect for SqliteStore {
    type Db = Sqlite;

    const BACKEND: Backend = Backend::Sqlite;
    const NOW: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)";
    const IP_AS_TEXT: &'static str = "ip_address";
    const FOR_UPDATE: &'static str = "";
    const IS_DISTINCT_FROM: &'static str = " IS NOT ";
    const BUCKET_RESEQUENCE: &'static str = "";

    same_in_both_dialects!();

    fn push_int(query: &mut QueryBuilder<Self::Db>, value: Option<i64>) {
        query.push_bind(value);
    }
    fn push_uuid(query: &mut QueryBuilder<Self::Db>, value: Option<Uuid>) {
        query.push_bind(value.map(|u| u.hyphenated().to_string()));
    }
    fn push_time(query: &mut QueryBuilder<Self::Db>, value: DateTime<Utc>) {
        query.push_bind(value.timestamp_micros());
    }
    fn push_opt_time(query: &mut QueryBuilder<Self::Db>, value: Option<DateTime<Utc>>) {
        query.push_bind(value.map(|t| t.timestamp_micros()));
    }
    fn push_time_us(query: &mut QueryBuilder<Self::Db>, us: i64) -> StoreResult<()> {
        query.push_bind(us);
        Ok(())
    }
    fn push_strings(query: &mut QueryBuilder<Self::Db>, value: &[String]) -> StoreResult<()> {
        query.push_bind(serde_json::to_string(value)?);
        Ok(())
    }
    fn push_bool(query: &mut QueryBuilder<Self::Db>, value: bool) {
        query.push_bind(i64::from(value));
    }
    fn push_json<T: Serialize + ?Sized>(
        query: &mut QueryBuilder<Self::Db>,
        value: &T,
    ) -> StoreResult<()> {
        query.push_bind(serde_json::to_string(value)?);
        Ok(())
    }
    fn push_ip(query: &mut QueryBuilder<Self::Db>, value: Option<IpAddr>) {
        query.push_bind(value.map(|ip| ip.to_string()));
    }
    fn push_has_hashtag(query: &mut QueryBuilder<Self::Db>, tag: &str) {
        query
            .push(" AND EXISTS (SELECT 1 FROM json_each(mentions.hashtags) WHERE value = ")
            .push_bind(tag)
            .push(")");
    }
    fn push_search(query: &mut QueryBuilder<Self::Db>, text: &str) {
        // No full-text index here; LIKE is case-insensitive for ASCII.
        query
            .push(" AND content LIKE ")
            .push_bind(codec::like_contains(text))
            .push(" ESCAPE '\\'");
    }

    fn int(row: &RowOf<Self>, column: &str) -> StoreResult<Option<i64>> {
        Ok(row.try_get(column)?)
    }
    fn opt_uuid(row: &RowOf<Self>, column: &str) -> StoreResult<Option<Uuid>> {
        row.try_get::<Option<&str>, _>(column)?
            .map(uuid_from_text)
            .transpose()
    }
    fn time(row: &RowOf<Self>, column: &str) -> StoreResult<DateTime<Utc>> {
        codec::time_from_us(row.try_get(column)?)
    }
    fn opt_time(row: &RowOf<Self>, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
        row.try_get::<Option<i64>, _>(column)?
            .map(codec::time_from_us)
            .transpose()
    }
    fn date(row: &RowOf<Self>, column: &str) -> StoreResult<NaiveDate> {
        codec::date_from_text(row.try_get(column)?)
    }
    fn strings(row: &RowOf<Self>, column: &str) -> StoreResult<Vec<String>> {
        Ok(serde_json::from_str(row.try_get(column)?)?)
    }
    fn bool(row: &RowOf<Self>, column: &str) -> StoreResult<bool> {
        Ok(row.try_get::<i64, _>(column)? != 0)
    }
    fn opt_json<T: DeserializeOwned>(row: &RowOf<Self>, column: &str) -> StoreResult<Option<T>> {
        row.try_get::<Option<&str>, _>(column)?
            .map(|text| Ok(serde_json::from_str(text)?))
            .transpose()
    }

    fn rows_per_statement(columns: usize) -> usize {
        // Every value is a bound variable.
        (MAX_VARIABLES / columns.max(1)).min(SQLITE_ROWS_PER_STATEMENT)
    }

    fn insert_rows(batch: &Batch<'_>) -> QueryBuilder<Self::Db> {
        let mut query = QueryBuilder::new(format!(
            "INSERT INTO {} ({}) VALUES ",
            batch.table, batch.names
        ));
        for row in 0..batch.rows {
            query.push(if row == 0 { "(" } else { ", (" });
            for (i, column) in batch.values.iter().enumerate() {
                if i > 0 {
                    query.push(", ");
                }
                push_value(&mut query, column, row);
            }
            query.push(")");
        }
        query.push(" ").push(batch.conflict);
        query
    }

    async fn execute(&self, mut query: QueryBuilder<Self::Db>) -> StoreResult<u64> {
        Ok(query.build().execute(&self.writer).await?.rows_affected())
    }
    async fn fetch_all(&self, mut query: QueryBuilder<Self::Db>) -> StoreResult<Vec<RowOf<Self>>> {
        Ok(query.build().fetch_all(&self.readers).await?)
    }
    async fn fetch_all_written(
        &self,
        mut query: QueryBuilder<Self::Db>,
    ) -> StoreResult<Vec<RowOf<Self>>> {
        Ok(query.build().fetch_all(&self.writer).await?)
    }
    async fn fetch_all_settled(
        &self,
        query: QueryBuilder<Self::Db>,
    ) -> StoreResult<Vec<RowOf<Self>>> {
        // One write transaction commits at a time, in the order it took its numbers, so
        // the maxima of one read snapshot have nothing invisible below them.
        self.fetch_all(query).await
    }
    async fn begin(&self) -> StoreResult<TxOf<Self>> {
        Ok(self.writer.begin().await?)
    }
    async fn run_migrations(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }
    async fn close_pools(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_within_the_bind_limit() {
        assert_eq!(
            SqliteStore::rows_per_statement(21),
            SQLITE_ROWS_PER_STATEMENT
        );
        assert_eq!(SqliteStore::rows_per_statement(100), MAX_VARIABLES / 100);
    }

    #[test]
    fn a_batch_is_one_multi_row_values() {
        let batch = Batch {
            table: "t",
            names: "a, b",
            values: vec![Column::Text(vec!["x", "y"]), Column::BigInt(vec![1, 2])],
            rows: 2,
            archived: true,
            conflict: "ON CONFLICT (a) DO NOTHING",
        };
        assert_eq!(
            SqliteStore::insert_rows(&batch).sql().as_str(),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT (a) DO NOTHING"
        );
    }
}

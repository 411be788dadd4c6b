//! [`PgStore`]: the [`Store`](super::Store) on PostgreSQL, over a sqlx connection pool:
//! its connection setup, migrations and [`Dialect`] (the query text is `store.rs`).
//!
//! Batches go in as `INSERT … SELECT FROM UNNEST($1::text[], $2::text[], …)`: one array
//! parameter per column, so a batch of any size is one prepared statement and one round
//! trip (up to 10,000 rows; larger batches are split inside one transaction). Unlike
//! `COPY` it can say `ON CONFLICT DO NOTHING`, which is what makes re-ingestion
//! idempotent. The server-side cost of an insert is dominated by index maintenance, above
//! all the seed's full-text GIN index on `content` (measured: about 60% of the insert
//! time), not by how rows travel.

use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::batch::{Batch, Column};
use super::codec;
use super::dialect::{same_in_both_dialects, Dialect, RowOf, TxOf};
use super::{Backend, StoreError, StoreOptions, StoreResult};
use crate::accounts::truncate_us;

/// The migrations in `migrations/postgres`, embedded at compile time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Rows per `UNNEST` statement: bounds the size of one bind message.
pub(crate) const PG_ROWS_PER_STATEMENT: usize = 10_000;

/// The advisory lock key ordering archive reads after the writers of archived tables
/// (`WARROOM1` in ASCII): writers hold it shared (the `archive_lock` CTE of their insert
/// statements, [`Dialect::insert_rows`]), `archive_high_water` exclusively. See
/// `migrations/postgres/0003_archive.sql`.
pub const ARCHIVE_LOCK_KEY: i64 = 0x5741_5252_4f4f_4d31;

/// How long `archive_high_water` waits for in-flight writers before failing (transient).
const ARCHIVE_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '10s'";

/// The [`Store`](super::Store) on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects a pool to a `postgres://` URL. Fails as [`StoreError::Unavailable`] when
    /// the server cannot be reached.
    pub async fn connect(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Location(format!("bad Postgres URL: {e}")))?
            .application_name("warroom");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for queries this trait does not cover yet.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Binds one column of a batch as an array, and names its element type for `UNNEST`
/// (a bare parameter would have no type to unnest).
fn push_array(query: &mut QueryBuilder<Postgres>, column: &Column<'_>) {
    // Binds the values as one array; the element type, for the cast.
    macro_rules! array {
        ($values:expr, $element:literal) => {{
            query.push_bind($values);
            $element
        }};
    }
    let element = match column {
        Column::Text(v) => array!(v, "text"),
        Column::OptText(v) => array!(v, "text"),
        Column::BigInt(v) => array!(v, "int8"),
        Column::OptBigInt(v) => array!(v, "int8"),
        Column::Float(v) => array!(v, "float8"),
        Column::OptFloat(v) => array!(v, "float8"),
        Column::Time(v) => array!(v, "timestamptz"),
        Column::Date(v) => array!(v, "date"),
        // Text on the wire, cast to jsonb in the select list.
        Column::Json(v) => array!(v, "text"),
        Column::Uuid(v) => array!(v, "uuid"),
    };
    query.push(format_args!("::{element}[]"));
}

impl Dialect for PgStore {
    type Db = Postgres;

    const BACKEND: Backend = Backend::Postgres;
    const NOW: &'static str = "NOW()";
    const IP_AS_TEXT: &'static str = "host(ip_address)";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const IS_DISTINCT_FROM: &'static str = " IS DISTINCT FROM ";
    // A sum that only moved by rounding is not a change worth re-archiving.
    const BUCKET_RESEQUENCE: &'static str = ", seq = CASE \
        WHEN kpi_minute_buckets.mention_count <> EXCLUDED.mention_count \
        OR kpi_minute_buckets.positive <> EXCLUDED.positive \
        OR kpi_minute_buckets.neutral <> EXCLUDED.neutral \
        OR kpi_minute_buckets.negative <> EXCLUDED.negative \
        OR kpi_minute_buckets.strongly_negative <> EXCLUDED.strongly_negative \
        OR abs(kpi_minute_buckets.sentiment_sum - EXCLUDED.sentiment_sum) > \
        1e-9 * greatest(1.0, abs(kpi_minute_buckets.sentiment_sum)) \
        THEN nextval('kpi_minute_buckets_seq') ELSE kpi_minute_buckets.seq END";

    same_in_both_dialects!();

    fn push_int(query: &mut QueryBuilder<Self::Db>, value: Option<i64>) {
        query.push_bind(value.map(|v| i32::try_from(v).unwrap_or(i32::MAX)));
    }
    fn push_uuid(query: &mut QueryBuilder<Self::Db>, value: Option<Uuid>) {
        query.push_bind(value);
    }
    fn push_time(query: &mut QueryBuilder<Self::Db>, value: DateTime<Utc>) {
        // Whole microseconds, as stored: a value read back equals the one written.
        query.push_bind(truncate_us(value));
    }
    fn push_opt_time(query: &mut QueryBuilder<Self::Db>, value: Option<DateTime<Utc>>) {
        query.push_bind(value.map(truncate_us));
    }
    fn push_time_us(query: &mut QueryBuilder<Self::Db>, us: i64) -> StoreResult<()> {
        query.push_bind(codec::time_from_us(us)?);
        Ok(())
    }
    fn push_strings(query: &mut QueryBuilder<Self::Db>, value: &[String]) -> StoreResult<()> {
        query.push_bind(value);
        Ok(())
    }
    fn push_bool(query: &mut QueryBuilder<Self::Db>, value: bool) {
        query.push_bind(value);
    }
    fn push_json<T: Serialize + ?Sized>(
        query: &mut QueryBuilder<Self::Db>,
        value: &T,
    ) -> StoreResult<()> {
        query.push_bind(Json(value));
        Ok(())
    }
    fn push_ip(query: &mut QueryBuilder<Self::Db>, value: Option<IpAddr>) {
        query
            .push_bind(value.map(|ip| ip.to_string()))
            .push("::inet");
    }
    fn push_has_hashtag(query: &mut QueryBuilder<Self::Db>, tag: &str) {
        // Containment, which the GIN index on hashtags (jsonb_path_ops) serves.
        query
            .push(" AND hashtags @> ")
            .push_bind(Json([tag]))
            .push("::jsonb");
    }
    fn push_search(query: &mut QueryBuilder<Self::Db>, text: &str) {
        // Same expression as idx_mentions_content_search, so the GIN index serves it.
        query
            .push(" AND to_tsvector('english', content) @@ plainto_tsquery('english', ")
            .push_bind(text)
            .push(")");
    }

    fn int(row: &RowOf<Self>, column: &str) -> StoreResult<Option<i64>> {
        Ok(row.try_get::<Option<i32>, _>(column)?.map(i64::from))
    }
    fn opt_uuid(row: &RowOf<Self>, column: &str) -> StoreResult<Option<Uuid>> {
        Ok(row.try_get(column)?)
    }
    fn time(row: &RowOf<Self>, column: &str) -> StoreResult<DateTime<Utc>> {
        Ok(row.try_get(column)?)
    }
    fn opt_time(row: &RowOf<Self>, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(row.try_get(column)?)
    }
    fn date(row: &RowOf<Self>, column: &str) -> StoreResult<NaiveDate> {
        Ok(row.try_get(column)?)
    }
    fn strings(row: &RowOf<Self>, column: &str) -> StoreResult<Vec<String>> {
        Ok(row.try_get(column)?)
    }
    fn bool(row: &RowOf<Self>, column: &str) -> StoreResult<bool> {
        Ok(row.try_get(column)?)
    }
    fn opt_json<T: DeserializeOwned>(row: &RowOf<Self>, column: &str) -> StoreResult<Option<T>> {
        Ok(row.try_get::<Option<Json<T>>, _>(column)?.map(|Json(v)| v))
    }

    fn rows_per_statement(_columns: usize) -> usize {
        // One array parameter per column, whatever the row count.
        PG_ROWS_PER_STATEMENT
    }

    fn insert_rows(batch: &Batch<'_>) -> QueryBuilder<Self::Db> {
        let names = batch.names;
        let mut query = QueryBuilder::new("");
        if batch.archived {
            // Shared against archive_high_water's exclusive lock, held to commit: see
            // ARCHIVE_LOCK_KEY. MATERIALIZED, so it is taken even though no column is read.
            query.push(format_args!(
                "WITH archive_lock AS MATERIALIZED \
                 (SELECT pg_advisory_xact_lock_shared({ARCHIVE_LOCK_KEY})) "
            ));
        }
        query.push(format_args!(
            "INSERT INTO {} ({names}) SELECT ",
            batch.table
        ));
        for (i, (name, column)) in batch.column_names().zip(&batch.values).enumerate() {
            let cast = if matches!(column, Column::Json(_)) {
                "::jsonb"
            } else {
                ""
            };
            let comma = if i > 0 { ", " } else { "" };
            query.push(format_args!("{comma}{name}{cast}"));
        }
        query.push(" FROM UNNEST(");
        for (i, column) in batch.values.iter().enumerate() {
            if i > 0 {
                query.push(", ");
            }
            push_array(&mut query, column);
        }
        query.push(format_args!(") AS u({names})"));
        if batch.archived {
            query.push(" CROSS JOIN archive_lock");
        }
        query.push(" ").push(batch.conflict);
        query
    }

    async fn execute(&self, mut query: QueryBuilder<Self::Db>) -> StoreResult<u64> {
        Ok(query.build().execute(&self.pool).await?.rows_affected())
    }
    async fn fetch_all(&self, mut query: QueryBuilder<Self::Db>) -> StoreResult<Vec<RowOf<Self>>> {
        Ok(query.build().fetch_all(&self.pool).await?)
    }
    async fn fetch_all_written(
        &self,
        query: QueryBuilder<Self::Db>,
    ) -> StoreResult<Vec<RowOf<Self>>> {
        // One pool: every connection has seen every commit.
        self.fetch_all(query).await
    }
    async fn fetch_all_settled(
        &self,
        query: QueryBuilder<Self::Db>,
    ) -> StoreResult<Vec<RowOf<Self>>> {
        // Exclusive against the writers' shared lock: once granted, no writer is between
        // taking a sequence number and committing, so the maxima read next (a new
        // snapshot, READ COMMITTED) have no invisible rows below them.
        let mut tx = self.pool.begin().await?;
        sqlx::query(ARCHIVE_LOCK_TIMEOUT).execute(&mut *tx).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ARCHIVE_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        let rows = Self::fetch_all_in(&mut tx, query).await?;
        tx.commit().await?;
        Ok(rows)
    }
    async fn begin(&self) -> StoreResult<TxOf<Self>> {
        Ok(self.pool.begin().await?)
    }
    async fn run_migrations(&self) -> StoreResult<()> {
        // The migrator takes an advisory lock, so several nodes starting at once are safe.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
    async fn close_pools(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(archived: bool) -> String {
        let batch = Batch {
            table: "t",
            names: "a, j",
            values: vec![Column::Text(vec!["x"]), Column::Json(vec!["[]".to_owned()])],
            rows: 1,
            archived,
            conflict: "ON CONFLICT (a) DO NOTHING",
        };
        PgStore::insert_rows(&batch).sql().as_str().to_owned()
    }

    #[test]
    fn archived_writers_take_the_archive_lock_by_its_number() {
        let statement = batch(true);
        let shared = format!("pg_advisory_xact_lock_shared({ARCHIVE_LOCK_KEY})");
        assert!(statement.contains(&shared), "{statement}");
        assert!(statement.contains("CROSS JOIN archive_lock"), "{statement}");
        assert!(!batch(false).contains("archive_lock"));
    }

    #[test]
    fn a_batch_is_one_array_per_column() {
        assert_eq!(
            batch(false),
            "INSERT INTO t (a, j) SELECT a, j::jsonb FROM UNNEST($1::text[], $2::text[]) \
             AS u(a, j) ON CONFLICT (a) DO NOTHING"
        );
    }
}

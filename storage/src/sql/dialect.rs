//! What truly differs between PostgreSQL and SQLite, so that query text, column lists
//! and row codecs are written once over both ([`Dialect`]): how each kind of value is
//! stored, the SQL for "now", the few conditions each database spells its own way, how a
//! batch of rows travels ([`Batch`]), how archive reads wait for writers, and which pool
//! reads and which writes. Placeholders come from [`QueryBuilder::push_bind`] (`$n` on
//! PostgreSQL, `?` on SQLite). The implementations live beside each store's connection
//! setup (`postgres.rs`, `sqlite.rs`).
//!
//! | value | PostgreSQL | SQLite |
//! |---|---|---|
//! | UUID | `uuid` | text |
//! | time | `timestamptz` | integer, µs since the epoch |
//! | date | `date` | text, `YYYY-MM-DD` |
//! | list of strings | `text[]` | text, a JSON array |
//! | small integer (attempts, HTTP status) | `integer` (i32) | integer (i64) |
//! | boolean | `boolean` | integer 0/1 |
//! | JSON | `jsonb` | text |
//! | IP address | `inet` (bound as text, cast) | text |

use std::future::Future;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::{Database, QueryBuilder, Transaction};
use uuid::Uuid;

use super::batch::Batch;
use super::{Backend, StoreError, StoreResult};

/// A row of the dialect's database.
pub type RowOf<D> = <<D as Dialect>::Db as Database>::Row;

/// A transaction on the dialect's writer.
pub type TxOf<D> = Transaction<'static, <D as Dialect>::Db>;

/// One SQL database's encodings and pools; implemented by [`super::PgStore`] and
/// [`super::SqliteStore`].
pub trait Dialect: Send + Sync {
    /// The sqlx database.
    type Db: Database;

    /// Which database this is.
    const BACKEND: Backend;
    /// SQL for the current time, in this dialect's time encoding.
    const NOW: &'static str;
    /// `SELECT` expression reading the `ip_address` column as text.
    const IP_AS_TEXT: &'static str;
    /// Appended to a `SELECT` inside a transaction to lock the rows it read (PostgreSQL);
    /// SQLite's one writer connection serialises instead.
    const FOR_UPDATE: &'static str;
    /// The null-safe "differs from" operator.
    const IS_DISTINCT_FROM: &'static str;
    /// Appended to the `DO UPDATE SET` of a KPI bucket rewrite: a new archive sequence
    /// number when the counts changed. Empty on SQLite, where the trigger
    /// `kpi_minute_buckets_retake_seq` does it (an `ON CONFLICT` update cannot read a
    /// counter table there; PostgreSQL has `nextval`).
    const BUCKET_RESEQUENCE: &'static str;

    /// Binds text.
    fn push_text(query: &mut QueryBuilder<Self::Db>, value: &str);
    /// Binds optional text.
    fn push_opt_text(query: &mut QueryBuilder<Self::Db>, value: Option<&str>);
    /// Binds a 64-bit integer (`LIMIT`, counts).
    fn push_bigint(query: &mut QueryBuilder<Self::Db>, value: i64);
    /// Binds a small integer (saturating at `i32::MAX` where the column is 32-bit).
    fn push_int(query: &mut QueryBuilder<Self::Db>, value: Option<i64>);
    /// Binds a double.
    fn push_float(query: &mut QueryBuilder<Self::Db>, value: f64);
    /// Binds a UUID.
    fn push_uuid(query: &mut QueryBuilder<Self::Db>, value: Option<Uuid>);
    /// Binds a time.
    fn push_time(query: &mut QueryBuilder<Self::Db>, value: DateTime<Utc>);
    /// Binds an optional time.
    fn push_opt_time(query: &mut QueryBuilder<Self::Db>, value: Option<DateTime<Utc>>);
    /// Binds a time given in µs since the epoch (a mention cursor). Fails where the
    /// column is typed and the value is beyond it (PostgreSQL); SQLite compares the
    /// integer as is.
    fn push_time_us(query: &mut QueryBuilder<Self::Db>, us: i64) -> StoreResult<()>;
    /// Binds a list of strings.
    fn push_strings(query: &mut QueryBuilder<Self::Db>, value: &[String]) -> StoreResult<()>;
    /// Binds a boolean.
    fn push_bool(query: &mut QueryBuilder<Self::Db>, value: bool);
    /// Binds a value as JSON.
    fn push_json<T: Serialize + ?Sized>(
        query: &mut QueryBuilder<Self::Db>,
        value: &T,
    ) -> StoreResult<()>;
    /// Binds an optional IP address (with its cast where the column is typed).
    fn push_ip(query: &mut QueryBuilder<Self::Db>, value: Option<IpAddr>);
    /// Appends ` AND <the mention's hashtags include tag>` (a JSON array column).
    fn push_has_hashtag(query: &mut QueryBuilder<Self::Db>, tag: &str);
    /// Appends ` AND <the mention's content matches text>`: full-text search on
    /// PostgreSQL, a case-insensitive substring on SQLite (see `sql/mod.rs`).
    fn push_search(query: &mut QueryBuilder<Self::Db>, text: &str);

    /// Reads text.
    fn text(row: &RowOf<Self>, column: &str) -> StoreResult<String>;
    /// Reads optional text.
    fn opt_text(row: &RowOf<Self>, column: &str) -> StoreResult<Option<String>>;
    /// Reads a small integer.
    fn int(row: &RowOf<Self>, column: &str) -> StoreResult<Option<i64>>;
    /// Reads a 64-bit integer.
    fn bigint(row: &RowOf<Self>, column: &str) -> StoreResult<i64>;
    /// Reads an optional 64-bit integer.
    fn opt_bigint(row: &RowOf<Self>, column: &str) -> StoreResult<Option<i64>>;
    /// Reads a double.
    fn float(row: &RowOf<Self>, column: &str) -> StoreResult<f64>;
    /// Reads an optional double.
    fn opt_float(row: &RowOf<Self>, column: &str) -> StoreResult<Option<f64>>;
    /// Reads a UUID (`None` for SQL NULL).
    fn opt_uuid(row: &RowOf<Self>, column: &str) -> StoreResult<Option<Uuid>>;
    /// Reads a time.
    fn time(row: &RowOf<Self>, column: &str) -> StoreResult<DateTime<Utc>>;
    /// Reads an optional time.
    fn opt_time(row: &RowOf<Self>, column: &str) -> StoreResult<Option<DateTime<Utc>>>;
    /// Reads a date.
    fn date(row: &RowOf<Self>, column: &str) -> StoreResult<NaiveDate>;
    /// Reads a list of strings.
    fn strings(row: &RowOf<Self>, column: &str) -> StoreResult<Vec<String>>;
    /// Reads a boolean.
    fn bool(row: &RowOf<Self>, column: &str) -> StoreResult<bool>;
    /// Reads JSON into `T` (`None` for SQL NULL).
    fn opt_json<T: DeserializeOwned>(row: &RowOf<Self>, column: &str) -> StoreResult<Option<T>>;

    /// Most rows one batch statement of `columns` columns carries.
    fn rows_per_statement(columns: usize) -> usize;
    /// The statement inserting a batch (at most [`Dialect::rows_per_statement`] rows).
    fn insert_rows(batch: &Batch<'_>) -> QueryBuilder<Self::Db>;

    /// Runs a statement on the writer; the rows it affected.
    fn execute(
        &self,
        query: QueryBuilder<Self::Db>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Runs a query on a reader; every row.
    fn fetch_all(
        &self,
        query: QueryBuilder<Self::Db>,
    ) -> impl Future<Output = StoreResult<Vec<RowOf<Self>>>> + Send;
    /// Runs a query on the writer (which has seen its own commits); every row.
    fn fetch_all_written(
        &self,
        query: QueryBuilder<Self::Db>,
    ) -> impl Future<Output = StoreResult<Vec<RowOf<Self>>>> + Send;
    /// Runs a query once no writer of an archived table is between taking a sequence
    /// number and committing, so nothing numbered below what it reads is still invisible
    /// (`Store::archive_high_water`); every row.
    fn fetch_all_settled(
        &self,
        query: QueryBuilder<Self::Db>,
    ) -> impl Future<Output = StoreResult<Vec<RowOf<Self>>>> + Send;
    /// Begins a transaction on the writer.
    fn begin(&self) -> impl Future<Output = StoreResult<TxOf<Self>>> + Send;
    /// Runs a statement inside `tx`; the rows it affected.
    fn execute_in(
        tx: &mut TxOf<Self>,
        query: QueryBuilder<Self::Db>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Runs a query inside `tx`; every row.
    fn fetch_all_in(
        tx: &mut TxOf<Self>,
        query: QueryBuilder<Self::Db>,
    ) -> impl Future<Output = StoreResult<Vec<RowOf<Self>>>> + Send;
    /// Applies the embedded migrations of this dialect.
    fn run_migrations(&self) -> impl Future<Output = StoreResult<()>> + Send;
    /// Closes every pool.
    fn close_pools(&self) -> impl Future<Output = ()> + Send;

    /// Runs statements on the writer in one transaction; the rows they affected.
    fn execute_all(
        &self,
        queries: Vec<QueryBuilder<Self::Db>>,
    ) -> impl Future<Output = StoreResult<u64>> + Send {
        async move {
            let mut tx = self.begin().await?;
            let mut affected = 0;
            for query in queries {
                affected += Self::execute_in(&mut tx, query).await?;
            }
            tx.commit().await?;
            Ok(affected)
        }
    }

    /// Reads a UUID that cannot be NULL.
    fn uuid(row: &RowOf<Self>, column: &str) -> StoreResult<Uuid> {
        Self::opt_uuid(row, column)?.ok_or_else(|| null(column))
    }
    /// Reads JSON that cannot be NULL into `T`.
    fn json_of<T: DeserializeOwned>(row: &RowOf<Self>, column: &str) -> StoreResult<T> {
        Self::opt_json(row, column)?.ok_or_else(|| null(column))
    }
    /// Reads JSON (`Null` for SQL NULL).
    fn json(row: &RowOf<Self>, column: &str) -> StoreResult<serde_json::Value> {
        Ok(Self::opt_json(row, column)?.unwrap_or(serde_json::Value::Null))
    }
}

/// The [`Dialect`] methods whose Rust type sqlx maps to the column type of both schemas
/// (text, 64-bit integers, doubles) and the transaction runners, which only name the
/// database: the same text in both implementations, written once.
macro_rules! same_in_both_dialects {
    () => {
        fn push_text(query: &mut QueryBuilder<Self::Db>, value: &str) {
            query.push_bind(value);
        }
        fn push_opt_text(query: &mut QueryBuilder<Self::Db>, value: Option<&str>) {
            query.push_bind(value);
        }
        fn push_bigint(query: &mut QueryBuilder<Self::Db>, value: i64) {
            query.push_bind(value);
        }
        fn push_float(query: &mut QueryBuilder<Self::Db>, value: f64) {
            query.push_bind(value);
        }
        fn text(row: &RowOf<Self>, column: &str) -> StoreResult<String> {
            Ok(sqlx::Row::try_get(row, column)?)
        }
        fn opt_text(row: &RowOf<Self>, column: &str) -> StoreResult<Option<String>> {
            Ok(sqlx::Row::try_get(row, column)?)
        }
        fn bigint(row: &RowOf<Self>, column: &str) -> StoreResult<i64> {
            Ok(sqlx::Row::try_get(row, column)?)
        }
        fn opt_bigint(row: &RowOf<Self>, column: &str) -> StoreResult<Option<i64>> {
            Ok(sqlx::Row::try_get(row, column)?)
        }
        fn float(row: &RowOf<Self>, column: &str) -> StoreResult<f64> {
            Ok(sqlx::Row::try_get(row, column)?)
        }
        fn opt_float(row: &RowOf<Self>, column: &str) -> StoreResult<Option<f64>> {
            Ok(sqlx::Row::try_get(row, column)?)
        }
        async fn execute_in(
            tx: &mut TxOf<Self>,
            mut query: QueryBuilder<Self::Db>,
        ) -> StoreResult<u64> {
            Ok(query.build().execute(&mut **tx).await?.rows_affected())
        }
        async fn fetch_all_in(
            tx: &mut TxOf<Self>,
            mut query: QueryBuilder<Self::Db>,
        ) -> StoreResult<Vec<RowOf<Self>>> {
            Ok(query.build().fetch_all(&mut **tx).await?)
        }
    };
}
pub(crate) use same_in_both_dialects;

/// A NULL where the schema says there is none.
fn null(column: &str) -> StoreError {
    StoreError::Invalid(format!("{column} is NULL"))
}

/// A statement starting with `text`; values are appended with the dialect's `push_*`.
pub fn sql<D: Dialect>(text: &str) -> QueryBuilder<D::Db> {
    QueryBuilder::new(text)
}

/// One value of a row to insert, for [`values`].
pub enum Value<'a> {
    /// Text.
    Text(&'a str),
    /// Optional text.
    OptText(Option<&'a str>),
    /// A small integer.
    Int(Option<i64>),
    /// A UUID.
    Uuid(Option<Uuid>),
    /// A time.
    Time(DateTime<Utc>),
    /// A list of strings.
    Strings(&'a [String]),
    /// A JSON value.
    Json(&'a serde_json::Value),
    /// An IP address.
    Ip(Option<IpAddr>),
}

/// Appends ` VALUES (v1, v2, …)` to `query`, each value in the dialect's encoding.
pub fn values<D: Dialect>(query: &mut QueryBuilder<D::Db>, row: &[Value<'_>]) -> StoreResult<()> {
    query.push(" VALUES (");
    for (i, value) in row.iter().enumerate() {
        if i > 0 {
            query.push(", ");
        }
        match *value {
            Value::Text(v) => D::push_text(query, v),
            Value::OptText(v) => D::push_opt_text(query, v),
            Value::Int(v) => D::push_int(query, v),
            Value::Uuid(v) => D::push_uuid(query, v),
            Value::Time(v) => D::push_time(query, v),
            Value::Strings(v) => D::push_strings(query, v)?,
            Value::Json(v) => D::push_json(query, v)?,
            Value::Ip(v) => D::push_ip(query, v),
        }
    }
    query.push(")");
    Ok(())
}

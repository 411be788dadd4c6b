//! What truly differs between PostgreSQL and SQLite, so that query text, column lists
//! and row codecs are written once over both ([`Dialect`]): how a UUID, a time, a list
//! of strings and a small integer are stored, the SQL for "now", and which pool reads
//! and which writes. Placeholders come from [`QueryBuilder::push_bind`] (`$n` on
//! PostgreSQL, `?` on SQLite).
//!
//! | value | PostgreSQL | SQLite |
//! |---|---|---|
//! | UUID | `uuid` | text |
//! | time | `timestamptz` | integer, µs since the epoch |
//! | list of strings | `text[]` | text, a JSON array |
//! | small integer (attempts, HTTP status) | `integer` (i32) | integer (i64) |
//! | boolean | `boolean` | integer 0/1 |
//! | JSON | `jsonb` | text |
//! | IP address | `inet` (bound as text, cast) | text |

use std::future::Future;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::{Database, QueryBuilder, Row, Transaction};
use uuid::Uuid;

use super::{PgStore, SqliteStore, StoreError, StoreResult};
use crate::accounts::truncate_us;

/// A row of the dialect's database.
pub type RowOf<D> = <<D as Dialect>::Db as Database>::Row;

/// A transaction on the dialect's writer.
pub type TxOf<D> = Transaction<'static, <D as Dialect>::Db>;

/// One SQL database's encodings and pools; implemented by [`PgStore`] and
/// [`SqliteStore`].
pub trait Dialect: Send + Sync {
    /// The sqlx database.
    type Db: Database;

    /// SQL for the current time, in this dialect's time encoding.
    const NOW: &'static str;
    /// `SELECT` expression reading the `ip_address` column as text.
    const IP_AS_TEXT: &'static str;
    /// Appended to a `SELECT` inside a transaction to lock the rows it read (PostgreSQL);
    /// SQLite's one writer connection serialises instead.
    const FOR_UPDATE: &'static str;
    /// The null-safe "differs from" operator.
    const IS_DISTINCT_FROM: &'static str;

    /// Binds text.
    fn push_text(query: &mut QueryBuilder<Self::Db>, value: &str);
    /// Binds optional text.
    fn push_opt_text(query: &mut QueryBuilder<Self::Db>, value: Option<&str>);
    /// Binds a 64-bit integer (`LIMIT`, counts).
    fn push_bigint(query: &mut QueryBuilder<Self::Db>, value: i64);
    /// Binds a small integer (saturating at `i32::MAX` where the column is 32-bit).
    fn push_int(query: &mut QueryBuilder<Self::Db>, value: Option<i64>);
    /// Binds a UUID.
    fn push_uuid(query: &mut QueryBuilder<Self::Db>, value: Option<Uuid>);
    /// Binds a time.
    fn push_time(query: &mut QueryBuilder<Self::Db>, value: DateTime<Utc>);
    /// Binds a list of strings.
    fn push_strings(query: &mut QueryBuilder<Self::Db>, value: &[String]) -> StoreResult<()>;
    /// Binds a boolean.
    fn push_bool(query: &mut QueryBuilder<Self::Db>, value: bool);
    /// Binds a JSON value.
    fn push_json(query: &mut QueryBuilder<Self::Db>, value: &serde_json::Value) -> StoreResult<()>;
    /// Binds an optional IP address (with its cast where the column is typed).
    fn push_ip(query: &mut QueryBuilder<Self::Db>, value: Option<IpAddr>);

    /// Reads text.
    fn text(row: &RowOf<Self>, column: &str) -> StoreResult<String>;
    /// Reads optional text.
    fn opt_text(row: &RowOf<Self>, column: &str) -> StoreResult<Option<String>>;
    /// Reads a small integer.
    fn int(row: &RowOf<Self>, column: &str) -> StoreResult<Option<i64>>;
    /// Reads a UUID (`None` for SQL NULL).
    fn opt_uuid(row: &RowOf<Self>, column: &str) -> StoreResult<Option<Uuid>>;
    /// Reads a time.
    fn time(row: &RowOf<Self>, column: &str) -> StoreResult<DateTime<Utc>>;
    /// Reads a list of strings.
    fn strings(row: &RowOf<Self>, column: &str) -> StoreResult<Vec<String>>;
    /// Reads an optional time.
    fn opt_time(row: &RowOf<Self>, column: &str) -> StoreResult<Option<DateTime<Utc>>>;
    /// Reads a boolean.
    fn bool(row: &RowOf<Self>, column: &str) -> StoreResult<bool>;
    /// Reads JSON (`Null` for SQL NULL).
    fn json(row: &RowOf<Self>, column: &str) -> StoreResult<serde_json::Value>;

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
    /// Runs statements on the writer in one transaction; the rows they affected.
    fn execute_all(
        &self,
        queries: Vec<QueryBuilder<Self::Db>>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Reads a UUID that cannot be NULL.
    fn uuid(row: &RowOf<Self>, column: &str) -> StoreResult<Uuid> {
        Self::opt_uuid(row, column)?.ok_or_else(|| StoreError::Invalid(format!("{column} is NULL")))
    }
}

impl Dialect for PgStore {
    type Db = sqlx::Postgres;

    const NOW: &'static str = "NOW()";
    const IP_AS_TEXT: &'static str = "host(ip_address)";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const IS_DISTINCT_FROM: &'static str = " IS DISTINCT FROM ";

    fn push_text(query: &mut QueryBuilder<Self::Db>, value: &str) {
        query.push_bind(value.to_owned());
    }
    fn push_opt_text(query: &mut QueryBuilder<Self::Db>, value: Option<&str>) {
        query.push_bind(value.map(str::to_owned));
    }
    fn push_bigint(query: &mut QueryBuilder<Self::Db>, value: i64) {
        query.push_bind(value);
    }
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
    fn push_strings(query: &mut QueryBuilder<Self::Db>, value: &[String]) -> StoreResult<()> {
        query.push_bind(value.to_vec());
        Ok(())
    }
    fn push_bool(query: &mut QueryBuilder<Self::Db>, value: bool) {
        query.push_bind(value);
    }
    fn push_json(query: &mut QueryBuilder<Self::Db>, value: &serde_json::Value) -> StoreResult<()> {
        query.push_bind(value.clone());
        Ok(())
    }
    fn push_ip(query: &mut QueryBuilder<Self::Db>, value: Option<IpAddr>) {
        query
            .push_bind(value.map(|ip| ip.to_string()))
            .push("::inet");
    }

    fn text(row: &RowOf<Self>, column: &str) -> StoreResult<String> {
        Ok(row.try_get(column)?)
    }
    fn opt_text(row: &RowOf<Self>, column: &str) -> StoreResult<Option<String>> {
        Ok(row.try_get(column)?)
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
    fn strings(row: &RowOf<Self>, column: &str) -> StoreResult<Vec<String>> {
        Ok(row.try_get(column)?)
    }
    fn opt_time(row: &RowOf<Self>, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(row.try_get(column)?)
    }
    fn bool(row: &RowOf<Self>, column: &str) -> StoreResult<bool> {
        Ok(row.try_get(column)?)
    }
    fn json(row: &RowOf<Self>, column: &str) -> StoreResult<serde_json::Value> {
        Ok(row
            .try_get::<Option<serde_json::Value>, _>(column)?
            .unwrap_or(serde_json::Value::Null))
    }

    async fn execute(&self, mut query: QueryBuilder<Self::Db>) -> StoreResult<u64> {
        Ok(query.build().execute(self.pool()).await?.rows_affected())
    }
    async fn fetch_all_written(
        &self,
        mut query: QueryBuilder<Self::Db>,
    ) -> StoreResult<Vec<RowOf<Self>>> {
        Ok(query.build().fetch_all(self.pool()).await?)
    }
    async fn begin(&self) -> StoreResult<TxOf<Self>> {
        Ok(self.pool().begin().await?)
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
    async fn fetch_all(&self, mut query: QueryBuilder<Self::Db>) -> StoreResult<Vec<RowOf<Self>>> {
        Ok(query.build().fetch_all(self.pool()).await?)
    }
    async fn execute_all(&self, queries: Vec<QueryBuilder<Self::Db>>) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await?;
        let mut affected = 0;
        for mut query in queries {
            affected += query.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(affected)
    }
}

impl Dialect for SqliteStore {
    type Db = sqlx::Sqlite;

    const NOW: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)";
    const IP_AS_TEXT: &'static str = "ip_address";
    const FOR_UPDATE: &'static str = "";
    const IS_DISTINCT_FROM: &'static str = " IS NOT ";

    fn push_text(query: &mut QueryBuilder<Self::Db>, value: &str) {
        query.push_bind(value.to_owned());
    }
    fn push_opt_text(query: &mut QueryBuilder<Self::Db>, value: Option<&str>) {
        query.push_bind(value.map(str::to_owned));
    }
    fn push_bigint(query: &mut QueryBuilder<Self::Db>, value: i64) {
        query.push_bind(value);
    }
    fn push_int(query: &mut QueryBuilder<Self::Db>, value: Option<i64>) {
        query.push_bind(value);
    }
    fn push_uuid(query: &mut QueryBuilder<Self::Db>, value: Option<Uuid>) {
        query.push_bind(value.map(|u| u.to_string()));
    }
    fn push_time(query: &mut QueryBuilder<Self::Db>, value: DateTime<Utc>) {
        query.push_bind(value.timestamp_micros());
    }
    fn push_strings(query: &mut QueryBuilder<Self::Db>, value: &[String]) -> StoreResult<()> {
        query.push_bind(serde_json::to_string(value)?);
        Ok(())
    }
    fn push_bool(query: &mut QueryBuilder<Self::Db>, value: bool) {
        query.push_bind(i64::from(value));
    }
    fn push_json(query: &mut QueryBuilder<Self::Db>, value: &serde_json::Value) -> StoreResult<()> {
        query.push_bind(serde_json::to_string(value)?);
        Ok(())
    }
    fn push_ip(query: &mut QueryBuilder<Self::Db>, value: Option<IpAddr>) {
        query.push_bind(value.map(|ip| ip.to_string()));
    }

    fn text(row: &RowOf<Self>, column: &str) -> StoreResult<String> {
        Ok(row.try_get(column)?)
    }
    fn opt_text(row: &RowOf<Self>, column: &str) -> StoreResult<Option<String>> {
        Ok(row.try_get(column)?)
    }
    fn int(row: &RowOf<Self>, column: &str) -> StoreResult<Option<i64>> {
        Ok(row.try_get(column)?)
    }
    fn opt_uuid(row: &RowOf<Self>, column: &str) -> StoreResult<Option<Uuid>> {
        row.try_get::<Option<String>, _>(column)?
            .map(|text| {
                Uuid::parse_str(&text)
                    .map_err(|_| StoreError::Invalid(format!("stored uuid {text:?}")))
            })
            .transpose()
    }
    fn time(row: &RowOf<Self>, column: &str) -> StoreResult<DateTime<Utc>> {
        let us: i64 = row.try_get(column)?;
        DateTime::from_timestamp_micros(us)
            .ok_or_else(|| StoreError::Invalid(format!("timestamp {us} µs out of range")))
    }
    fn strings(row: &RowOf<Self>, column: &str) -> StoreResult<Vec<String>> {
        let json: String = row.try_get(column)?;
        Ok(serde_json::from_str(&json)?)
    }
    fn opt_time(row: &RowOf<Self>, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
        row.try_get::<Option<i64>, _>(column)?
            .map(|us| {
                DateTime::from_timestamp_micros(us)
                    .ok_or_else(|| StoreError::Invalid(format!("timestamp {us} µs out of range")))
            })
            .transpose()
    }
    fn bool(row: &RowOf<Self>, column: &str) -> StoreResult<bool> {
        Ok(row.try_get::<i64, _>(column)? != 0)
    }
    fn json(row: &RowOf<Self>, column: &str) -> StoreResult<serde_json::Value> {
        match row.try_get::<Option<String>, _>(column)? {
            Some(text) => Ok(serde_json::from_str(&text)?),
            None => Ok(serde_json::Value::Null),
        }
    }

    async fn execute(&self, mut query: QueryBuilder<Self::Db>) -> StoreResult<u64> {
        Ok(query.build().execute(&self.writer).await?.rows_affected())
    }
    async fn fetch_all_written(
        &self,
        mut query: QueryBuilder<Self::Db>,
    ) -> StoreResult<Vec<RowOf<Self>>> {
        Ok(query.build().fetch_all(&self.writer).await?)
    }
    async fn begin(&self) -> StoreResult<TxOf<Self>> {
        Ok(self.writer.begin().await?)
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
    async fn fetch_all(&self, mut query: QueryBuilder<Self::Db>) -> StoreResult<Vec<RowOf<Self>>> {
        Ok(query.build().fetch_all(&self.readers).await?)
    }
    async fn execute_all(&self, queries: Vec<QueryBuilder<Self::Db>>) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await?;
        let mut affected = 0;
        for mut query in queries {
            affected += query.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(affected)
    }
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

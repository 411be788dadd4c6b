//! Batch inserts described once, column by column ([`Batch`]), for each dialect to send
//! its own way ([`Dialect::insert_rows`]): PostgreSQL binds one array per column
//! (`INSERT … SELECT FROM UNNEST(…)`, one parameter per column whatever the row count),
//! SQLite binds every value of a multi-row `VALUES` (within its limit on bound variables).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::dialect::Dialect;
use super::StoreResult;

/// Every row's value of one column of a batch, in one type.
pub enum Column<'a> {
    /// Text.
    Text(Vec<&'a str>),
    /// Optional text.
    OptText(Vec<Option<&'a str>>),
    /// 64-bit integers.
    BigInt(Vec<i64>),
    /// Optional 64-bit integers.
    OptBigInt(Vec<Option<i64>>),
    /// Doubles.
    Float(Vec<f64>),
    /// Optional doubles.
    OptFloat(Vec<Option<f64>>),
    /// Times.
    Time(Vec<DateTime<Utc>>),
    /// Dates.
    Date(Vec<NaiveDate>),
    /// JSON, already serialised.
    Json(Vec<String>),
    /// UUIDs.
    Uuid(Vec<Uuid>),
}

/// The rows of one insert statement, column by column.
pub struct Batch<'a> {
    /// The table (a constant of this crate, never input).
    pub table: &'static str,
    /// The columns, comma-separated, in the order of [`Batch::values`].
    pub names: &'static str,
    /// Each column's values, one per row.
    pub values: Vec<Column<'a>>,
    /// How many rows.
    pub rows: usize,
    /// Whether the table is tailed by the live archive, so that the writer must order
    /// itself with archive reads (PostgreSQL's advisory lock; see `postgres.rs`).
    pub archived: bool,
    /// The statement's `ON CONFLICT …` clause.
    pub conflict: &'a str,
}

/// The shape of a batch insert into one table: everything but the values.
pub struct Table {
    /// The table.
    pub name: &'static str,
    /// The columns each row gives, comma-separated.
    pub columns: &'static str,
    /// Whether the live archive tails the table (see [`Batch::archived`]).
    pub archived: bool,
}

impl Batch<'_> {
    /// Each column's name, in order.
    pub fn column_names(&self) -> impl Iterator<Item = &'static str> {
        column_names(self.names)
    }
}

/// The names of a comma-separated column list.
fn column_names(list: &'static str) -> impl Iterator<Item = &'static str> {
    list.split(',').map(str::trim)
}

impl Table {
    /// A batch of `rows` rows into this table.
    pub fn batch<'a>(&self, rows: usize, values: Vec<Column<'a>>, conflict: &'a str) -> Batch<'a> {
        debug_assert_eq!(
            values.len(),
            column_names(self.columns).count(),
            "{}",
            self.name
        );
        Batch {
            table: self.name,
            names: self.columns,
            values,
            rows,
            archived: self.archived,
            conflict,
        }
    }

    /// One insert statement per chunk of `rows` the dialect can carry, each chunk's
    /// values from `columns`. All are built, and so every row checked, before any is
    /// sent: bad data never half-applies a batch.
    pub fn statements<'a, D: Dialect, T>(
        &self,
        rows: &'a [T],
        conflict: &'a str,
        mut columns: impl FnMut(&'a [T]) -> StoreResult<Vec<Column<'a>>>,
    ) -> StoreResult<Vec<QueryBuilder<D::Db>>> {
        rows.chunks(D::rows_per_statement(column_names(self.columns).count()))
            .map(|chunk| {
                let values = columns(chunk)?;
                Ok(D::insert_rows(&self.batch(chunk.len(), values, conflict)))
            })
            .collect()
    }
}

//! War Room storage: everything the engine keeps beside its in-memory state, always
//! written behind the push path (DESIGN.md, principle 1).
//!
//! - SQL stores (Postgres, or embedded SQLite by default) for the system of record.
//! - [`archive`]: hive-partitioned Parquet files of mentions, campaign reports and KPI
//!   minute buckets for offline analytics (DuckDB, Spark, Polars, pyarrow), and
//!   the encoders of exports; [`archive::live`] keeps it current by tailing the store.
//! - [`store_export`]: one organisation's time range read from the store and streamed
//!   into a single Parquet, CSV or JSON file.
//! - [`cache`]: Redis (or in-process) cache with the seed's TTLs, rate-limit counters,
//!   the pub/sub bus between nodes, and shared system values such as the data mode.
//! - [`accounts`]: users, refresh tokens, API keys and the audit trail.
//! - [`webhooks`]: outgoing webhook endpoints, their delivery log, incoming receipts.

pub mod accounts;
pub mod archive;
pub mod cache;
pub mod sql;
pub mod store_export;
pub mod webhooks;

pub use sql::{open_store, open_store_with, Store, StoreError, StoreOptions};

//! War Room supervised actors: source actors (mock generators, later live connectors),
//! one organisation actor per tenant, the per-socket outgoing queues, and the supervision
//! tree that restarts them. [`runtime::Runtime`] starts and stops them all.

pub mod archive;
pub mod connectors;
pub mod dashboard_cache;
pub mod data_mode;
pub mod dedup;
pub mod directory;
pub mod frame;
pub mod health;
pub mod ingest;
pub mod kpi;
pub mod metrics;
pub mod mock;
pub mod org;
pub mod outbox;
pub mod persist;
pub mod runtime;
pub mod source;
pub mod store;
pub mod supervisor;
pub mod webhook;

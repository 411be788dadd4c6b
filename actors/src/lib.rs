//! War Room supervised actors, in rooms, one per concern. A record's walk: a source in
//! [`sources`] (mock generator, live connector or ingest request) hands it to the
//! [`sources::ingest::Ingestor`], which sends it to the dataflow (`warroom_streams`) and
//! to the [`persist`] room's group-commit writer; the dataflow's updates reach the
//! organisation actor in [`push`], which renders frames once and queues them for every
//! subscribed socket. [`runtime`] wires, supervises and stops them all.
//!
//! The rooms import downwards: `runtime` names every room; no room imports `runtime`.
//! What the parts report about themselves lives in the leaf [`status`] (and the counters
//! in [`metrics`]), which the runtime reads.

pub mod metrics;
pub mod persist;
pub mod push;
pub mod runtime;
pub mod sources;
pub mod status;
pub mod webhook;

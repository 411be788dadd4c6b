//! From the dataflow to the sockets: one organisation actor per tenant ([`org`]) receives
//! the dataflow's updates, owns what its dashboards read and renders each frame once;
//! every socket has a bounded queue of those shared frames ([`outbox`]: the frame
//! encoding and the slow-consumer policy); the [`directory`] finds an organisation's
//! actor; REST reads of the dashboard come from [`dashboard_cache`] without a call to the
//! actor.

pub mod dashboard_cache;
pub mod directory;
pub mod org;
pub mod outbox;

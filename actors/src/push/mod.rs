//! From the dataflow to the sockets: one organisation actor per tenant ([`org`]) owns what
//! its dashboards read and renders each frame once ([`frame`]); the [`directory`] finds
//! an organisation's actor and is the dataflow's update sink; every socket has a bounded
//! queue ([`outbox`]); REST reads of the dashboard come from [`dashboard_cache`] without
//! a call to the actor.

pub mod dashboard_cache;
pub mod directory;
pub mod frame;
pub mod org;
pub mod outbox;

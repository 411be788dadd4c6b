//! War Room engine core: the domain model every other crate speaks, the layered
//! configuration, and the errors that cross crate boundaries.
//!
//! This crate sits at the bottom of the workspace's one-way dependency graph: it
//! depends on no other War Room crate, and everything else depends on it.

pub mod account;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod error;
pub mod model;
pub mod validate;
pub mod whole_number;
pub mod wire;

pub use account::Role;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use error::{ConfigError, ValidationIssue};
pub use model::*;

//! War Room load-test harness: scenarios against a running server over loopback.
//!
//! The binary (`src/main.rs`) only parses the command line; everything else is here so
//! that the smoke test can run the scenarios against an in-process server.

pub mod auth;
pub mod cli;
pub mod live;
pub mod procstat;
pub mod records;
pub mod report;
pub mod scenarios;
pub mod target;

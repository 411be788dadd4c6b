//! The root integration tests that start their servers in process (each on port 0 with
//! its own database: a SQLite file, or a fresh PostgreSQL database, and its own Redis key
//! prefix), plus the `warroom` command line: one test binary, so one link step, instead of
//! one per suite. No suite here changes process-wide state (environment variables, a
//! global tracing subscriber, fixed ports); child processes get their environment on
//! their `Command` and are killed when dropped ([`common::Server`]).
//!
//! Separate binaries, where sharing the process would cost isolation:
//! - `tests/browser.rs`: Chromium and chromedriver processes, one browser at a time
//!   behind a process-wide lock; heavy on two cores.
//! - `tests/crash.rs`: `kill -9` of a server child under full ingest load, with a
//!   throughput floor that concurrent tests would threaten (and that load would slow them).
//! - `tests/schemathesis.rs`: an external tool hammering a server for minutes
//!   (`$WARROOM_SCHEMATHESIS`), run on its own with `cargo test --test schemathesis`.
//!
//! `cargo test --test api <suite>::` runs one suite (e.g. `auth::`).

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod backfill;
mod cli;
mod connections;
mod connectors_api;
mod e2e;
mod export;
mod health;
mod live_archive;
mod outage;
mod postgres;
mod redis;
mod sessions;
mod web;
mod webhooks;

//! War Room gateway: REST under `/api/v1/` (axum) and WebSocket push at `/api/v1/ws`
//! (fastwebsockets). It speaks to the engine only through
//! [`warroom_actors::runtime::Runtime`]: it never touches the dataflow's state or SQL
//! (accounts go through `warroom_storage::accounts`).
//!
//! Every `/api/v1/*` route but `health`, `auth/login`, `auth/refresh`, `openapi.json`,
//! `docs` and `webhooks/{service}` (signed instead, [`webhooks::incoming`]) requires a
//! credential ([`auth`]); every route is described in [`openapi`]; the WebSocket
//! authenticates on the upgrade or with its first frame. `GET /metrics` (Prometheus) is at
//! the root, unauthenticated, loopback-only by default. The web app ([`web`]) is served at
//! `/`.
//!
//! The modules import downwards only: [`server`] builds the [`state`] and the
//! [`router`]; the router names the handlers; handlers use [`extract`] and [`state`];
//! `state` names the engine and [`auth`]'s service, and nothing above it.

pub mod admin;
pub mod auth;
pub mod data_mode;
pub mod error;
pub mod export;
pub mod extract;
pub mod hardening;
pub mod ingest;
pub mod listener;
pub mod metrics;
pub mod openapi;
pub mod rest;
pub mod router;
pub mod server;
pub mod state;
pub mod web;
pub mod webhooks;
pub mod ws;

pub use router::router;
pub use server::serve;
pub use state::AppState;

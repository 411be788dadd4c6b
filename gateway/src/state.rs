//! [`AppState`]: what every handler can reach. A leaf: it names the engine and the
//! authentication service, and nothing of the handlers or the router.

use std::sync::Arc;
use std::time::Duration;

use warroom_actors::runtime::Runtime;

use crate::auth::Auth;

/// What every handler can reach.
pub struct AppState {
    /// The engine.
    pub runtime: Arc<Runtime>,
    /// Authentication, accounts and rate limits.
    pub auth: Arc<Auth>,
    /// Timeout of a call to an organisation actor.
    pub call_timeout: Duration,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most records per ingest request.
    pub max_records: usize,
    /// Flips to true when the server starts shutting down (sockets close with 1001).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

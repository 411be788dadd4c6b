//! [`serve`]: the gateway on a bound listener, from start to graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use warroom_actors::runtime::Runtime;

use crate::auth::Auth;
use crate::router::router;
use crate::state::AppState;

/// Serves the API on an already bound listener until `shutdown` resolves, then closes
/// sockets (1001) and waits up to the configured grace for in-flight requests.
///
/// Logins and API keys are rate limited by the runtime's limiter
/// ([`Runtime::cache`]): in Redis when configured, so every node counts together.
pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let server = &runtime.config().server;
    let auth = Arc::new(Auth::new(
        runtime.config(),
        Arc::clone(runtime.store()),
        runtime.cache(),
    ));
    // Revocations made on other nodes close this node's sockets too.
    tokio::spawn(Auth::follow_revocations(Arc::downgrade(&auth)));
    let grace = server.shutdown_grace;
    let state = Arc::new(AppState {
        call_timeout: server.actor_call_timeout,
        max_body_bytes: server.max_body_bytes,
        max_records: server.max_records_per_request,
        runtime: Arc::clone(&runtime),
        auth,
        shutdown: shutdown_rx,
    });
    let app = router(state);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        shutdown.await;
        tracing::info!("shutting down: closing sockets and draining requests");
        let _ = shutdown_tx.send(true);
        let _ = done_tx.send(());
    };
    let limits = crate::listener::ConnectionLimits {
        header_read_timeout: server.header_read_timeout,
        max_per_ip: server.max_connections_per_ip,
        exempt: server.ip_limits_exempt.clone(),
    };
    let serving = crate::listener::serve(listener, app, limits, graceful);
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => Ok(()),
        _ = async {
            let _ = done_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "grace period over; dropping remaining connections");
            Ok(())
        }
    }
}

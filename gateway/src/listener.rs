//! The accept loop: HTTP/1.1 connections with a header-read timeout (which also ends idle
//! keep-alive connections) and a cap on connections per client address.
//!
//! `axum::serve` would do for the happy path, but it sets no timer on hyper, so a client
//! sending one header byte per second, or a TCP connection that never sends anything,
//! stays open for ever: a few thousand of them exhaust the process's file descriptors
//! (the slow-loris attack). Here every HTTP/1 connection must deliver a request's headers
//! within `server.header_read_timeout` of the moment it waits for them, which is also the
//! longest an idle keep-alive connection lives. Upgraded connections (WebSocket) are the
//! socket session's from then on, with its own idle timeout.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Limits of the accept loop, from `[server]`.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Time a connection has to send a request's headers once it waits for them (also
    /// the idle keep-alive timeout).
    pub header_read_timeout: Duration,
    /// Connections open at once from one client address.
    pub max_per_ip: usize,
    /// Addresses without a per-address cap.
    pub exempt: Vec<ipnet::IpNet>,
}

/// Open connections per client address.
struct OpenConnections {
    limits: ConnectionLimits,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's place among the open ones: freed when dropped.
struct Slot {
    open: Arc<OpenConnections>,
    ip: Option<IpAddr>,
}

impl OpenConnections {
    /// A slot for a connection from `ip`, or `None` when the address has its cap open.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        if self.limits.exempt.iter().any(|net| net.contains(&ip)) {
            return Some(Slot {
                open: Arc::clone(self),
                ip: None,
            });
        }
        let mut per_ip = self.per_ip.lock();
        let open = per_ip.entry(ip).or_default();
        if *open >= self.limits.max_per_ip {
            return None;
        }
        *open += 1;
        Some(Slot {
            open: Arc::clone(self),
            ip: Some(ip),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut per_ip = self.open.per_ip.lock();
            if let Some(open) = per_ip.get_mut(&ip) {
                *open -= 1;
                if *open == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

/// The answer to a connection over its address's cap, written raw before closing (the
/// connection is not handed to hyper at all).
fn too_many_connections() -> Vec<u8> {
    let body = r#"{"error":{"code":"too_many_connections","message":"this address has server.max_connections_per_ip connections open; retry later"}}"#;
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits
/// for open connections to finish (the caller bounds that wait). Each request carries
/// the peer's [`ConnectInfo`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let open = Arc::new(OpenConnections {
        limits,
        per_ip: Mutex::new(HashMap::new()),
    });
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or the peer gave up before the accept:
                    // pause briefly instead of spinning on the error.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = open.admit(remote.ip()) else {
            tracing::debug!(%remote, "connection refused: too many from this address");
            tokio::spawn(refuse(stream));
            continue;
        };
        // Frames are small and latency-bound: without TCP_NODELAY, Nagle's algorithm
        // holds a frame written while the previous one is unacknowledged, and the peer's
        // delayed ACK turns that into tens of milliseconds of push latency.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
        }
        serve_connection(
            stream,
            remote,
            app.clone(),
            &graceful,
            slot,
            open.limits.header_read_timeout,
        );
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers 429 and closes, bounded in time.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(&too_many_connections()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    graceful: &GracefulShutdown,
    slot: Slot,
    header_read_timeout: Duration,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        let app = app.clone();
        async move {
            Ok::<_, Infallible>(
                app.oneshot(request.map(Body::new))
                    .await
                    .unwrap_or_else(|never| match never {}),
            )
        }
    });
    let watcher = graceful.watcher();
    tokio::spawn(async move {
        // hyper's header timer starts only once it reads a request head; a connection
        // that never sends a byte would wait for ever, so the first byte has the same
        // time to arrive.
        // (`peek`, not `readable`: a fresh socket can report readiness with nothing to
        // read.)
        let mut first = [0u8; 1];
        if !matches!(
            tokio::time::timeout(header_read_timeout, stream.peek(&mut first)).await,
            Ok(Ok(1))
        ) {
            tracing::debug!(%remote, "connection closed: nothing sent");
            return;
        }
        // HTTP/1.1 only: sniffing for an HTTP/2 preface would wait for the first bytes
        // with no timeout at all (browsers speak HTTP/2 only over TLS, which a proxy in
        // front terminates).
        let mut builder = Builder::new(TokioExecutor::new()).http1_only();
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        if let Err(error) = watcher.watch(connection).await {
            tracing::debug!(%remote, %error, "connection ended with an error");
        }
        drop(slot);
    });
}

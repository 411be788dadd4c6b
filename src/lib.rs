//! The `warroom` application: wires the engine's parts together. The binary
//! (`src/main.rs`) parses the command line and calls into this; end-to-end tests start
//! the same [`App`] on port 0.

pub mod export;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use warroom_actors::runtime::Runtime;
use warroom_engine::clock::SharedClock;
use warroom_engine::{Config, SystemClock};

/// Pending connections the kernel queues for `accept`. tokio's default (through mio) is
/// 128: in a reconnect storm of thousands of dashboards the queue overflowed and every
/// dropped SYN cost its client a one-second retransmission (measured with
/// `warroom-loadtest reconnect-storm`). The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A running server: its address, and a way to stop it.
pub struct App {
    addr: SocketAddr,
    runtime: Arc<Runtime>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl App {
    /// Starts the engine and serves it on `config.server.bind` (port 0 picks one).
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Same, with a given clock.
    pub async fn start_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let listener =
            bind(config.server.bind).with_context(|| format!("binding {}", config.server.bind))?;
        let addr = listener.local_addr()?;
        let runtime = Runtime::start(config, clock)
            .await
            .map_err(|e| anyhow::anyhow!("starting the engine: {e}"))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(warroom_gateway::serve(
            listener,
            Arc::clone(&runtime),
            async move {
                let _ = stopped.await;
            },
        ));
        tracing::info!(%addr, data_mode = runtime.data_mode().as_str(), "War Room serving");
        Ok(Self {
            addr,
            runtime,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The engine.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Waits until the server stops by itself (it does not, unless it fails).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        if let Some(task) = self.task.as_mut() {
            task.await??;
            self.task = None;
        }
        Ok(())
    }

    /// Graceful shutdown: stop accepting, close sockets, drain, stop the engine.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        self.runtime.shutdown().await;
        Ok(())
    }
}

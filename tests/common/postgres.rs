//! For the PostgreSQL end-to-end suites: a fresh database per test, and a TCP proxy in
//! front of PostgreSQL that a test can cut and restore.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The only server the suites touch: loopback, trust authentication.
pub const PG_HOST: &str = "127.0.0.1:5432";
const PG_USERS: [&str; 2] = ["postgres", "root"];

/// A database for one test, dropped (`WITH (FORCE)`) when this is dropped.
pub struct PgDatabase {
    admin_url: String,
    /// Its name.
    pub name: String,
    /// The role that owns it.
    pub user: String,
}

impl PgDatabase {
    /// Creates `warroom_test_<uuid>`; panics with a hint when PostgreSQL is not running.
    pub async fn create() -> Self {
        let mut failures = Vec::new();
        for user in PG_USERS {
            let admin_url = format!("postgres://{user}@{PG_HOST}/postgres");
            match PgConnection::connect(&admin_url).await {
                Ok(mut conn) => {
                    // Generated here from hex digits, never from input: safe in DDL.
                    let name = format!("warroom_test_{}", uuid::Uuid::new_v4().simple());
                    conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .await
                        .expect("CREATE DATABASE");
                    let _ = conn.close().await;
                    return Self {
                        admin_url,
                        name,
                        user: user.to_owned(),
                    };
                }
                Err(e) => failures.push(format!("{user}: {e}")),
            }
        }
        panic!(
            "PostgreSQL is not reachable on {PG_HOST} ({}); run scripts/services.sh",
            failures.join("; ")
        );
    }

    /// Its URL on the real server.
    pub fn url(&self) -> String {
        format!("postgres://{}@{PG_HOST}/{}", self.user, self.name)
    }

    /// Its URL through a proxy listening on `addr`.
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        format!("postgres://{}@{addr}/{}", self.user, self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop cannot await and the test's runtime may be shutting down.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                conn.execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .map_err(|e| e.to_string())?;
                Ok::<_, String>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database: {dropped:?}");
        }
    }
}

/// A TCP proxy 127.0.0.1:<port 0> ↔ PostgreSQL. [`Proxy::cut`] closes every forwarded
/// connection and refuses new ones (closing them on accept), as a database that went
/// away; [`Proxy::stall`] stops forwarding but keeps every connection open and accepts
/// new ones without answering, as a network partition (nothing fails, everything
/// hangs); [`Proxy::restore`] forwards again (stalled connections are then closed).
pub struct Proxy {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding to [`PG_HOST`].
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let task = {
            let up = Arc::clone(&up);
            let stalled = Arc::clone(&stalled);
            let generation = generation.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    let mut change = generation.subscribe();
                    let born = *change.borrow();
                    if !up.load(Ordering::SeqCst) {
                        if stalled.load(Ordering::SeqCst) {
                            // Hold the connection, unanswered, until the next change.
                            tokio::spawn(async move {
                                let _ = change.wait_for(|g| *g != born).await;
                                drop(client);
                            });
                        }
                        continue;
                    }
                    let stalled = Arc::clone(&stalled);
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(PG_HOST).await else {
                            return;
                        };
                        let mut client = client;
                        let seen = tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                            g = change.wait_for(|g| *g != born) => g.map(|g| *g).unwrap_or(born),
                        };
                        if stalled.load(Ordering::SeqCst) {
                            // Stop forwarding but keep both sockets open until restored.
                            let _ = change.wait_for(|g| *g > seen).await;
                        }
                        // A cut (or the end of a stall) closes both sockets.
                    });
                }
            })
        };
        Self {
            addr,
            up,
            stalled,
            generation,
            task,
        }
    }

    /// The database goes away: live connections close, new ones are refused.
    pub fn cut(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// The network to the database hangs: nothing is forwarded, nothing is closed.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// The database comes back; connections held by a stall are closed.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
        self.stalled.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

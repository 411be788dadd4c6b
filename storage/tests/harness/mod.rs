//! The two-backend harness of the storage suites (`conformance.rs`, `accounts.rs`): each
//! test body runs once on embedded SQLite (a temporary file) and once on PostgreSQL (a
//! fresh database per test on 127.0.0.1:5432, dropped at the end, also when the test
//! panics).

use std::future::Future;
use std::sync::Arc;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use uuid::Uuid;
use warroom_storage::open_store;
use warroom_storage::sql::{Backend, Store};

/// The only server the suites touch: loopback, trust authentication.
const PG_HOST: &str = "127.0.0.1:5432";
/// Roles that exist on the CI and development machines.
const PG_USERS: [&str; 2] = ["postgres", "root"];

/// A database for one test, removed when dropped (also when the test panics).
pub struct TestDb {
    pub store: Arc<dyn Store>,
    _guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("store.sqlite3");
        let store = open_store(path.to_str().expect("utf-8 temp path"))
            .await
            .expect("open SQLite store");
        assert_eq!(store.backend(), Backend::Sqlite);
        store.migrate().await.expect("migrate SQLite");
        Self {
            store,
            _guard: Guard::Sqlite(dir),
        }
    }

    async fn postgres() -> Self {
        let mut failures = Vec::new();
        let mut admin = None;
        for user in PG_USERS {
            let url = format!("postgres://{user}@{PG_HOST}/postgres");
            match PgConnection::connect(&url).await {
                Ok(conn) => {
                    admin = Some((url, conn));
                    break;
                }
                Err(e) => failures.push(format!("{user}: {e}")),
            }
        }
        let Some((admin_url, mut conn)) = admin else {
            panic!(
                "PostgreSQL is not reachable on {PG_HOST} ({}). The Postgres half of the \
                 conformance suite needs it: run scripts/services.sh to start (or install) it.",
                failures.join("; ")
            );
        };
        // The name is generated here (hex digits only), never taken from input, so
        // formatting it into the DDL is safe; identifiers cannot be bound as parameters.
        let name = format!("warroom_test_{}", Uuid::new_v4().simple());
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        let guard = Guard::Postgres {
            admin_url: admin_url.clone(),
            name: name.clone(),
        };
        let (server, _) = admin_url.rsplit_once('/').expect("URL has a database");
        let url = format!("{server}/{name}");
        let store = open_store(&url).await.expect("open Postgres store");
        assert_eq!(store.backend(), Backend::Postgres);
        store.migrate().await.expect("migrate Postgres");
        Self {
            store,
            _guard: guard,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Guard::Postgres { admin_url, name } = self else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop cannot await, and the test's runtime may be shutting down: use a thread
        // with its own runtime. FORCE ends the store's pooled connections.
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

pub async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::sqlite().await;
    body(db.store.clone()).await;
}

pub async fn on_postgres<F, Fut>(body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::postgres().await;
    body(db.store.clone()).await;
}

/// Declares each test body once per backend: `sqlite::<name>` and `postgres::<name>`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::harness::on_sqlite(crate::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::harness::on_postgres(crate::$name).await;
                }
            )*
        }
    };
}

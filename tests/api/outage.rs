//! Database outage end to end: the app runs against PostgreSQL through a TCP proxy that
//! the test cuts and restores while clients ingest continuously. During the outage
//! ingest answers 503 with Retry-After and health says storage is down; afterwards
//! ingest works again and every record whose request got a 2xx is in the database
//! exactly once.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (scripts/services.sh). No test sleeps to wait for
//! a result: conditions are polled with a deadline.

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::postgres::{PgDatabase, Proxy};
use common::{mention, spawn_app, wait_for};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use warroom_engine::Config;

const DEADLINE: Duration = Duration::from_secs(60);

/// What the clients saw, shared between them and the test.
#[derive(Default)]
struct Outcomes {
    /// Ids of every record whose request got a 2xx.
    acknowledged: Mutex<Vec<String>>,
    /// 503 answers (each had a Retry-After), by `error.code`.
    unavailable: Mutex<Vec<String>>,
    /// Any other answer: a failure of the test.
    unexpected: Mutex<Vec<String>>,
}

/// Organisation `quiet` on PostgreSQL at `url`, fast ticks, and small bounds so the
/// outage shows quickly: a request waits 1 s for its commit, and 2,000 waiting records
/// fill the queue.
fn on_postgres(config: &mut Config, url: String) {
    config.engine.kpi_interval = Duration::from_millis(100);
    config.engine.epoch_tick = Duration::from_millis(20);
    config.orgs = vec![common::quiet_org("quiet")];
    config.database.url = url;
    config.database.ack_timeout = Duration::from_secs(1);
    config.database.write_timeout = Duration::from_secs(2);
    config.database.max_queued = 2_000;
}

/// Posts batches of 20 new mentions until `stop`, recording every answer.
async fn client(
    base: String,
    writer: usize,
    stop: Arc<AtomicBool>,
    outcomes: Arc<Outcomes>,
    requests: Arc<AtomicU64>,
) {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", common::token("quiet"))
            .parse()
            .unwrap(),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .unwrap();
    let url = format!("{base}/api/v1/ingest/mentions?org=quiet");
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let ids: Vec<String> = (0..20).map(|i| format!("out-{writer}-{n}-{i}")).collect();
        n += 1;
        let body: Vec<Value> = ids.iter().map(|id| mention(id, "Bad news today")).collect();
        let response = match http.post(&url).json(&body).send().await {
            Ok(r) => r,
            Err(e) => {
                outcomes.unexpected.lock().unwrap().push(e.to_string());
                continue;
            }
        };
        requests.fetch_add(1, Ordering::SeqCst);
        let status = response.status();
        let retry_after = response.headers().get("retry-after").is_some();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            outcomes.acknowledged.lock().unwrap().extend(ids);
        } else if status == 503 && retry_after {
            let code = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            outcomes.unavailable.lock().unwrap().push(code);
            // A client backs off as told (shortened: the test has a deadline).
            tokio::time::sleep(Duration::from_millis(50)).await;
        } else {
            outcomes
                .unexpected
                .lock()
                .unwrap()
                .push(format!("{status} {text}"));
        }
    }
}

async fn storage_status(http: &reqwest::Client, base: &str) -> String {
    let health: Value = http
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["services"]["storage"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// How the database goes away.
#[derive(Clone, Copy)]
enum Outage {
    /// Connections close and new ones are refused.
    Cut,
    /// Connections hang (a network partition): only timeouts notice.
    Stall,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_gives_503_then_recovers_with_nothing_acknowledged_lost() {
    outage(Outage::Cut).await;
}

/// Without `database.write_timeout` the writer would wait for the TCP timeout and
/// health would never say storage down (checked: this fails with a one-hour timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_database_gives_503_then_recovers_with_nothing_acknowledged_lost() {
    outage(Outage::Stall).await;
}

async fn outage(kind: Outage) {
    let db = PgDatabase::create().await;
    let proxy = Proxy::start().await;
    let test = spawn_app(|config| on_postgres(config, db.url_via(proxy.addr))).await;
    let base = test.root.clone();
    let http = common::client_for("quiet");

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Outcomes::default());
    let requests = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..3)
        .map(|w| {
            tokio::spawn(client(
                base.clone(),
                w,
                Arc::clone(&stop),
                Arc::clone(&outcomes),
                Arc::clone(&requests),
            ))
        })
        .collect();

    // Healthy: acknowledgements flow.
    wait_for("first acknowledgements", DEADLINE, async || {
        outcomes.acknowledged.lock().unwrap().len() >= 400
    })
    .await;
    assert_eq!(storage_status(&http, &base).await, "ok");

    // The database goes away.
    match kind {
        Outage::Cut => proxy.cut(),
        Outage::Stall => proxy.stall(),
    }
    wait_for(
        "503 with Retry-After during the outage",
        DEADLINE,
        async || outcomes.unavailable.lock().unwrap().len() >= 5,
    )
    .await;
    wait_for("health to say storage down", DEADLINE, async || {
        storage_status(&http, &base).await == "down"
    })
    .await;
    let acked_during_outage = outcomes.acknowledged.lock().unwrap().len();

    // It comes back: ingest works again.
    proxy.restore();
    wait_for("acknowledgements after the outage", DEADLINE, async || {
        outcomes.acknowledged.lock().unwrap().len() >= acked_during_outage + 400
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    wait_for("health to recover", DEADLINE, async || {
        storage_status(&http, &base).await == "ok"
    })
    .await;
    test.shutdown().await;

    let unexpected = outcomes.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "answers other than 2xx/503: {unexpected:?}"
    );
    let codes: HashSet<String> = outcomes
        .unavailable
        .lock()
        .unwrap()
        .iter()
        .cloned()
        .collect();
    assert!(
        codes
            .iter()
            .all(|c| c == "commit_timeout" || c == "storage_saturated"),
        "503s say why: {codes:?}"
    );

    // Every acknowledged record is in the database exactly once.
    let acknowledged: Vec<String> = outcomes.acknowledged.lock().unwrap().clone();
    let mut conn = PgConnection::connect(&db.url()).await.unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT external_id, count(*) FROM mentions WHERE org_id = 'quiet' GROUP BY external_id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    assert!(
        rows.iter().all(|(_, n)| *n == 1),
        "a record stored twice: {:?}",
        rows.iter().find(|(_, n)| *n != 1)
    );
    let stored: HashSet<String> = rows.into_iter().map(|(id, _)| id).collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged records are missing, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        missing.first()
    );
    assert!(requests.load(Ordering::SeqCst) > 0);
}

//! The engine with Redis: the data mode persisted across restarts and shared between
//! nodes, and a Redis outage (a TCP proxy in front of 127.0.0.1:6379 that the test cuts
//! and restores) that the service rides through. Each test uses its own key prefix and
//! deletes its keys; no test sleeps to wait for a result.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{ClientLike, KeysInterface};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use warroom_engine::{Config, DataMode};
use warroom_storage::cache::read_through;

use crate::common::{self, next_frame_within, spawn_app, start_app, wait_for};

const REDIS: &str = "127.0.0.1:6379";
const DEADLINE: Duration = Duration::from_secs(20);

/// Fast ticks, the mock feed on, a busy `demo` organisation and a quiet one, and
/// `redis_url` (empty: in process) under a fresh key prefix.
fn with_redis(config: &mut Config, redis_url: &str) {
    config.mock.enabled = true;
    config.engine.kpi_interval = Duration::from_millis(100);
    config.engine.epoch_tick = Duration::from_millis(20);
    config.mock.tick = Duration::from_millis(20);
    let mut demo = common::quiet_org("demo");
    demo.mentions_per_second = 20.0;
    config.orgs = vec![demo, common::quiet_org("quiet")];
    config.redis.url = redis_url.to_owned();
    config.redis.key_prefix = format!("warroom-test-{}", uuid::Uuid::new_v4().simple());
    config.redis.reconnect_min_delay = Duration::from_millis(50);
    config.redis.reconnect_max_delay = Duration::from_millis(200);
    config.redis.probe_interval = Duration::from_millis(100);
}

/// Deletes every key under `prefix`.
async fn delete_keys(prefix: &str) {
    let client = fred::prelude::Builder::from_config(
        fred::prelude::Config::from_url(&format!("redis://{REDIS}")).unwrap(),
    )
    .build()
    .unwrap();
    client.init().await.expect("Redis reachable for cleanup");
    let keys: Vec<String> = client
        .custom(fred::cmd!("KEYS"), vec![format!("{prefix}:*")])
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = client.del(keys).await.unwrap();
    }
    let _ = client.quit().await;
}

/// How many clients subscribe to a Redis channel (`PUBSUB NUMSUB`).
async fn subscribers(channel: &str) -> i64 {
    let client = fred::prelude::Builder::from_config(
        fred::prelude::Config::from_url(&format!("redis://{REDIS}")).unwrap(),
    )
    .build()
    .unwrap();
    client.init().await.expect("Redis reachable");
    let reply: Vec<fred::types::Value> = client
        .custom(
            fred::cmd!("PUBSUB"),
            vec!["NUMSUB".to_owned(), channel.to_owned()],
        )
        .await
        .unwrap();
    let _ = client.quit().await;
    reply.get(1).and_then(|v| v.as_i64()).unwrap_or(0)
}

async fn redis_value(key: &str) -> Option<String> {
    let client = fred::prelude::Builder::from_config(
        fred::prelude::Config::from_url(&format!("redis://{REDIS}")).unwrap(),
    )
    .build()
    .unwrap();
    client.init().await.expect("Redis reachable");
    let value: Option<String> = client.get(key).await.unwrap();
    let _ = client.quit().await;
    value
}

async fn health(client: &reqwest::Client, base: &str) -> Value {
    client
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A TCP proxy to Redis that can be cut (open connections closed, new ones closed on
/// accept) and restored.
struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, cut_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *cut_rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(REDIS).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream) => {}
                        _ = cut_rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut, task }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }

    fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn mention(id: &str) -> Value {
    json!({
        "external_id": id,
        "source": "twitter",
        "content": "What a great plan for the harbor",
        "author": {"handle": "@tester", "followers": 10, "reach": 30},
        "country": "US",
        "event_time": chrono::Utc::now().to_rfc3339(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_rides_through_a_redis_outage() {
    let proxy = Proxy::start().await;
    let test = spawn_app(|config| with_redis(config, &proxy.url())).await;
    let prefix = test.config.redis.key_prefix.clone();
    let (app, base) = (&test.app, test.root.clone());
    let client = common::client_for("quiet");
    let admin = test.admin_client("demo").await;
    let runtime = Arc::clone(app.runtime());
    let cache = runtime.cache().clone();

    let h = health(&admin, &base).await;
    assert_eq!(h["services"]["cache"]["status"], "ok", "{h}");
    assert_eq!(
        h["services"]["cache"]["detail"],
        format!("redis at {}", proxy.url())
    );
    let limited = cache
        .limiter
        .hit("api-key:k1", 100, Duration::from_secs(60))
        .await;
    assert!(limited.allowed);
    assert_eq!(
        redis_value(&format!("{prefix}:rate:api-key:k1"))
            .await
            .as_deref(),
        Some("1"),
        "counted in Redis while it is up"
    );

    proxy.cut();
    wait_for("health shows the cache degraded", DEADLINE, async || {
        health(&admin, &base).await["services"]["cache"]["status"] == "degraded"
    })
    .await;
    let h = health(&admin, &base).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        h["services"]["cache"]["detail"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{h}"
    );

    // REST reads and ingestion keep answering, correctly.
    let response = client
        .post(format!("{base}/api/v1/ingest/mentions?org=quiet"))
        .json(&json!([mention("outage-1"), mention("outage-2")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let ack: Value = response.json().await.unwrap();
    assert_eq!(ack["accepted"], 2, "{ack}");
    wait_for("the ingested mentions are listed", DEADLINE, async || {
        let page: Value = client
            .get(format!("{base}/api/v1/mentions?org=quiet"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    let dashboard = client
        .get(format!("{base}/api/v1/metrics/dashboard?org=quiet"))
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);
    assert_eq!(
        runtime
            .store()
            .count_mentions(&warroom_engine::OrgId::new("quiet"))
            .await
            .unwrap(),
        2
    );

    // The rate limiter falls back to counting in process: it still limits.
    let before = cache.health.fallbacks();
    for _ in 0..2 {
        assert!(
            cache
                .limiter
                .hit("login:ip:1", 2, Duration::from_secs(60))
                .await
                .allowed
        );
    }
    let denied = cache
        .limiter
        .hit("login:ip:1", 2, Duration::from_secs(60))
        .await;
    assert!(!denied.allowed, "never fails open: {denied:?}");
    assert!(denied.retry_after > Duration::ZERO);
    assert_eq!(cache.health.fallbacks(), before + 3);

    // A cached read still answers, from the source.
    let org = warroom_engine::OrgId::new("demo");
    let value: Result<u32, String> = read_through(
        cache.cache.as_ref(),
        &org,
        "answer",
        Duration::from_secs(60),
        || async { Ok(42) },
    )
    .await;
    assert_eq!(value, Ok(42));
    assert!(cache.cache.invalidate_org(&org).await.is_err());

    // The data mode can still be switched (the database is the system of record).
    assert_eq!(runtime.set_data_mode(DataMode::Live).await, Ok(true));
    assert_eq!(health(&admin, &base).await["data_mode"], "LIVE");

    proxy.restore();
    wait_for("health returns to ok", DEADLINE, async || {
        health(&admin, &base).await["services"]["cache"]["status"] == "ok"
    })
    .await;
    // The health probe and the limiter's commands reconnect independently: the limiter
    // is back on Redis once a hit lands on the counter kept there before the outage.
    let key = format!("{prefix}:rate:api-key:k1");
    wait_for("the limiter counts in Redis again", DEADLINE, async || {
        let _ = cache
            .limiter
            .hit("api-key:k1", 100, Duration::from_secs(60))
            .await;
        redis_value(&key)
            .await
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|count| count >= 2)
    })
    .await;
    // The invalidation that failed during the outage is applied before the next read.
    // The cache's own connection also reconnects on its own schedule, so a read can
    // still time out just after the limiter is back: wait for one to answer.
    wait_for("the cache answers again", DEADLINE, async || {
        cache.cache.get(&org, "answer").await.is_ok()
    })
    .await;
    let lookup = cache.cache.get(&org, "answer").await.unwrap();
    assert_eq!(lookup.value, None);
    assert!(lookup.generation.0 >= 1, "{lookup:?}");

    test.shutdown().await;
    delete_keys(&prefix).await;
}

async fn switch_and_restart(redis_url: &str) {
    let test = spawn_app(|config| with_redis(config, redis_url)).await;
    let prefix = test.config.redis.key_prefix.clone();
    let admin = test.admin_client("demo").await;
    let base = test.root.clone();
    assert_eq!(health(&admin, &base).await["data_mode"], "MOCK");

    let mut socket = test.ws_connect("?org=quiet&channels=system").await;
    let _ = socket.next().await; // subscribed

    let app = &test.app;
    assert_eq!(app.runtime().set_data_mode(DataMode::Live).await, Ok(true));
    assert_eq!(app.runtime().set_data_mode(DataMode::Live).await, Ok(false));
    let frame = next_frame_within(&mut socket, DEADLINE, |f| {
        f["event"] == "system:data-mode-change"
    })
    .await;
    assert_eq!(frame["data"], "LIVE");
    let h = health(&admin, &base).await;
    assert_eq!(h["data_mode"], "LIVE");
    assert!(
        h["services"]["sources"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("0 running"),
        "mock sources stop in LIVE: {h}"
    );
    if !redis_url.is_empty() {
        assert_eq!(
            redis_value(&format!("{prefix}:system:system:data_mode"))
                .await
                .as_deref(),
            Some("LIVE")
        );
    }
    let _ = socket.close(None).await;

    // Restarted on the same database with data.mode = MOCK: the persisted LIVE wins.
    assert_eq!(test.config.data.mode, DataMode::Mock);
    let test = test.restart().await;
    let (app, base) = (&test.app, test.root.clone());
    assert_eq!(health(&admin, &base).await["data_mode"], "LIVE");
    assert_eq!(app.runtime().set_data_mode(DataMode::Mock).await, Ok(true));
    wait_for("mock sources run again", DEADLINE, async || {
        health(&admin, &base).await["services"]["sources"]["detail"]
            .as_str()
            .is_some_and(|d| !d.starts_with("0 running"))
    })
    .await;
    test.shutdown().await;
    if !redis_url.is_empty() {
        delete_keys(&prefix).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_mode_persists_across_restarts_in_process() {
    switch_and_restart("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_mode_persists_across_restarts_with_redis() {
    switch_and_restart(&format!("redis://{REDIS}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_mode_change_reaches_another_node_over_the_bus() {
    // Two nodes on one database and one Redis; the periodic re-read is made too slow to
    // matter, so only the bus can carry the change.
    let first = spawn_app(|config| {
        with_redis(config, &format!("redis://{REDIS}"));
        config.redis.mode_sync_interval = Duration::from_secs(3600);
    })
    .await;
    let second = start_app(first.config.clone()).await;
    let prefix = first.config.redis.key_prefix.clone();
    // Redis pub/sub delivers only to subscribers present at publish time, and a node
    // subscribes in the background after it starts: wait until both nodes listen.
    let channel = format!(
        "{prefix}:bus:{}",
        warroom_actors::runtime::data_mode::DATA_MODE_CHANNEL
    );
    wait_for("both nodes subscribe to the bus", DEADLINE, async || {
        subscribers(&channel).await >= 2
    })
    .await;
    assert_eq!(
        first.app.runtime().set_data_mode(DataMode::Live).await,
        Ok(true)
    );
    wait_for("node 2 applies the change", DEADLINE, async || {
        second.app.runtime().data_mode() == DataMode::Live
    })
    .await;
    second.shutdown().await;
    first.shutdown().await;
    delete_keys(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_node_closes_the_session_s_socket_on_another() {
    // Two nodes on one database and one Redis. Node 2 caches users and sessions for an
    // hour, so only the bus can tell it that node 1 logged the session out.
    let first = spawn_app(|config| {
        with_redis(config, &format!("redis://{REDIS}"));
        config.auth.user_cache_ttl = Duration::from_secs(3600);
    })
    .await;
    let second = start_app(first.config.clone()).await;
    let prefix = first.config.redis.key_prefix.clone();
    let channel = format!(
        "{prefix}:bus:{}",
        warroom_gateway::auth::revocation::REVOCATION_CHANNEL
    );
    wait_for("both nodes follow revocations", DEADLINE, async || {
        subscribers(&channel).await >= 2
    })
    .await;
    common::create_user(
        &first.app,
        Some("demo"),
        "ann@demo.org",
        warroom_engine::Role::User,
    )
    .await;
    let (one, two) = (&first.addr, &second.addr);
    let token = common::access_token(&first.root, "ann@demo.org").await;
    let mut socket = second.subscribe(&token).await;
    let alerts = format!("http://{two}/api/v1/alerts");
    let status = |url: String| {
        let client = common::bearer(&token);
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        status(alerts.clone()).await,
        200,
        "node 2 has the session cached"
    );
    let response = common::bearer(&token)
        .post(format!("http://{one}/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (code, _) = common::close_code(&mut socket).await;
    assert_eq!(code, 4001, "node 2 closes the logged-out session's socket");
    assert_eq!(status(alerts).await, 401, "and refuses its access token");
    second.shutdown().await;
    first.shutdown().await;
    delete_keys(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_the_bus_was_down_is_picked_up_from_the_database() {
    let test = spawn_app(|config| {
        with_redis(config, "");
        config.redis.mode_sync_interval = Duration::from_millis(100);
    })
    .await;
    let app = &test.app;
    // Another process (e.g. `warroom data-mode LIVE`) changes the database only.
    let store = warroom_storage::open_store(&test.config.database.url)
        .await
        .unwrap();
    warroom_actors::runtime::data_mode::persist(store.as_ref(), DataMode::Live)
        .await
        .unwrap();
    wait_for(
        "the node re-reads the persisted mode",
        DEADLINE,
        async || app.runtime().data_mode() == DataMode::Live,
    )
    .await;
    store.close().await;
    test.shutdown().await;
}

//! End-to-end tests: the real server on port 0, driven over HTTP and WebSocket.
//!
//! No test sleeps to wait for a result: each polls a condition with a deadline.
//!
//! Every request authenticates: the tests hold the signing secret and mint short-lived
//! service tokens (role `manager`) per organisation, as the load tester does. Accounts,
//! logins, roles and tenancy are tested in `tests/api/auth.rs`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use warroom_engine::config::{CrisisScenario, OrgConfig};
use warroom_engine::Config;

use crate::common::{
    client_for, close_code, durable_view, mention, next_frame, poll_json, quiet_org, spawn_app,
    varied_mentions, wait_for, TestApp,
};

const DEADLINE: Duration = Duration::from_secs(20);

/// An organisation with a mock feed at `rate` mentions per second.
fn org(id: &str, rate: f64) -> OrgConfig {
    OrgConfig {
        mentions_per_second: rate,
        ..quiet_org(id)
    }
}

/// The suite's servers: fast ticks, the mock feed on, a busy `demo` organisation and a
/// quiet one (no mock mentions, so tests control exactly what it contains).
fn demo(config: &mut Config) {
    config.mock.enabled = true;
    config.engine.kpi_interval = Duration::from_millis(100);
    config.engine.epoch_tick = Duration::from_millis(20);
    config.mock.tick = Duration::from_millis(20);
    // Live behaviour only: the history at first start is tested in tests/api/backfill.rs
    // (it would write 100,000 mentions for `demo` in the background of every test here).
    config.mock.backfill = Duration::ZERO;
    config.orgs = vec![org("demo", 50.0), quiet_org("quiet")];
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_status_and_mock_data_mode() {
    let test = spawn_app(demo).await;
    let base = test.root.clone();
    let health: Value = reqwest::get(format!("{base}/api/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["data_mode"], "MOCK");
    assert!(
        ["ok", "degraded"].contains(&health["status"].as_str().unwrap()),
        "{health}"
    );
    assert!(health["services"]["stream_operators"]["status"].is_string());
    assert!(health["version"].is_string());
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_dashboard_receives_kpi_updates_and_mentions() {
    let test = spawn_app(demo).await;
    let mut socket = test.ws_connect("").await;
    socket
        .send(Message::text(
            json!({"type": "subscribe", "org": "demo"}).to_string(),
        ))
        .await
        .unwrap();
    let subscribed = next_frame(&mut socket, |f| f["event"] == "subscribed").await;
    assert_eq!(subscribed["data"]["recovered"], true);
    let kpi = next_frame(&mut socket, |f| f["event"] == "dashboard:kpi-update").await;
    assert_eq!(kpi["org"], "demo");
    assert!(kpi["seq"].as_u64().unwrap() > 0);
    assert!(kpi["server_time"].is_string());
    assert!(kpi["data"]["windows"]["15m"]["mention_count"].is_u64());
    let mentions = next_frame(&mut socket, |f| f["event"] == "dashboard:mention-stream").await;
    let first = &mentions["data"][0];
    assert!(first["sentiment"]["compound"].is_f64(), "{first}");
    assert!(mentions["ingested_at_us"].is_i64());
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_crisis_is_detected_once_and_can_be_resolved() {
    let test = spawn_app(|config| {
        demo(config);
        let mut burst = org("burst", 2.0);
        burst.negative_threshold = Some(10);
        burst.crises = vec![CrisisScenario {
            at: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            mentions_per_second: 40.0,
        }];
        config.orgs.push(burst);
    })
    .await;
    let base = test.root.clone();
    let mut socket = test.ws_connect("?org=burst&channels=crisis").await;
    let detected = next_frame(&mut socket, |f| f["event"] == "crisis:detected").await;
    let crisis = &detected["data"];
    assert_eq!(crisis["kind"], "negative_surge");
    assert_eq!(crisis["status"], "active");
    let severity = crisis["severity"].as_u64().unwrap();
    assert!((1..=10).contains(&severity));
    let id = crisis["id"].as_str().unwrap().to_owned();

    let client = client_for("burst");
    let alerts: Value = get_json(&client, format!("{base}/api/v1/alerts?org=burst")).await;
    let negative: Vec<_> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "negative_surge")
        .collect();
    assert_eq!(
        negative.len(),
        1,
        "one incident raises one crisis: {alerts}"
    );

    let ack = client
        .post(format!("{base}/api/v1/alerts/{id}/acknowledge?org=burst"))
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    assert_eq!(ack.json::<Value>().await.unwrap()["status"], "acknowledged");
    let resolved = client
        .post(format!("{base}/api/v1/alerts/{id}/resolve?org=burst"))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    let frame = next_frame(&mut socket, |f| f["event"] == "crisis:resolved").await;
    assert_eq!(frame["data"]["id"], id.as_str());
    let again = client
        .post(format!("{base}/api/v1/alerts/{id}/resolve?org=burst"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    // Another organisation's alert id is not found there.
    let other = client_for("quiet")
        .post(format!("{base}/api/v1/alerts/{id}/acknowledge"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_validates_everything_first_and_is_idempotent() {
    let test = spawn_app(demo).await;
    let base = test.root.clone();
    let client = client_for("quiet");
    let url = format!("{base}/api/v1/ingest/mentions?org=quiet");

    // Event times older than engine.max_event_age (30 days) are refused: one request
    // cannot scatter rows over years of archive partitions.
    let mut old = mention("old-1", "fine");
    old["event_time"] = json!((chrono::Utc::now() - chrono::Duration::days(31)).to_rfc3339());
    let mut ancient = mention("old-2", "fine");
    ancient["event_time"] = json!("-0001-01-01T00:00:00Z");
    let response = client
        .post(&url)
        .json(&json!([old, ancient]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    let issues = error["error"]["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 2, "{error}");
    for issue in issues {
        assert_eq!(issue["field"], "event_time", "{error}");
        assert!(issue["reason"]
            .as_str()
            .unwrap()
            .contains("older than 30 days"));
    }

    // One request may not span more than server.max_days_per_request (8) days: each day
    // is an archive partition per table.
    let spread: Vec<Value> = (0..9)
        .map(|d| {
            let mut m = mention(&format!("spread-{d}"), "fine");
            m["event_time"] = json!((chrono::Utc::now() - chrono::Duration::days(d)).to_rfc3339());
            m
        })
        .collect();
    let response = client.post(&url).json(&spread).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "too_many_days", "{error}");

    // A link a dashboard would render must be http(s), and a country an assigned code.
    let mut script = mention("x-1", "fine");
    script["url"] = json!("javascript:alert(document.cookie)");
    let mut nowhere = mention("x-2", "fine");
    nowhere["country"] = json!("zz");
    let response = client
        .post(&url)
        .json(&json!([script, nowhere]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    let fields: Vec<&str> = error["error"]["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["field"].as_str())
        .collect();
    assert_eq!(fields, ["url", "country"], "{error}");

    // One bad record rejects the whole request, listing each bad index.
    let mut bad = mention("b2", "fine");
    bad["country"] = json!("USA");
    let body = json!([mention("b1", "I love this plan"), bad, {"external_id": "b3"}]);
    let response = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_records");
    let indices: Vec<u64> = error["error"]["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        indices,
        vec![2],
        "parse errors are reported before field checks: {error}"
    );
    let body = json!([mention("b1", "I love this plan"), bad]);
    let error: Value = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error["error"]["issues"][0]["index"], 1);
    assert_eq!(error["error"]["issues"][0]["field"], "country");

    // Nothing from the rejected requests was applied.
    let page: Value = get_json(&client, format!("{base}/api/v1/mentions?org=quiet")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    // A cursor no page gave (above the store's i64 ids) is refused, not read as "all".
    let refused = client
        .get(format!("{base}/api/v1/mentions?cursor=9223372036854775808"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_cursor", "{error}");

    // NDJSON is accepted; a repeat is acknowledged and ignored.
    let ndjson = [
        mention("n1", "Terrible idea"),
        mention("n2", "Great rally today!"),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let first: Value = client
        .post(&url)
        .header("content-type", "application/x-ndjson")
        .body(ndjson.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["accepted"], 2);
    let second: Value = client
        .post(&url)
        .body(ndjson)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["accepted"], 0);
    assert_eq!(second["duplicates"], 2);
    wait_for("the two mentions listed", DEADLINE, || {
        let client = client.clone();
        let base = base.clone();
        async move {
            let page: Value = get_json(&client, format!("{base}/api/v1/mentions?org=quiet")).await;
            page["items"].as_array().unwrap().len() == 2
        }
    })
    .await;
    // KPIs follow on the next snapshot tick.
    wait_for("the KPIs of the two mentions", DEADLINE, || {
        let client = client.clone();
        let base = base.clone();
        async move {
            let dashboard: Value = get_json(
                &client,
                format!("{base}/api/v1/metrics/dashboard?org=quiet&window=15m"),
            )
            .await;
            dashboard["kpis"]["mention_count"] == 2 && dashboard["mentions_24h"] == 2
        }
    })
    .await;
    // Eight days in one request are fine.
    let response = client.post(&url).json(&spread[..8]).send().await.unwrap();
    assert_eq!(response.status(), 202, "eight days are fine");
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_limits_and_errors_are_clear() {
    let test = spawn_app(|config| {
        demo(config);
        config.server.max_body_bytes = 2048;
    })
    .await;
    let base = test.root.clone();
    let client = client_for("quiet");
    let big = json!([mention("x", &"word ".repeat(1000))]);
    let response = client
        .post(format!("{base}/api/v1/ingest/mentions?org=quiet"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "body_too_large");

    let body = json!([mention("y", "ok")]);
    let unknown = client
        .post(format!("{base}/api/v1/ingest/mentions?org=nobody"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["error"]["code"],
        "org_not_found"
    );
    // The organisation comes from the credential: without one, nothing is ingested.
    let anonymous = reqwest::Client::new()
        .post(format!("{base}/api/v1/ingest/mentions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let broken = client
        .post(format!("{base}/api/v1/ingest/mentions?org=quiet"))
        .body("[{\"external_id\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    assert_eq!(
        broken.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_json"
    );
    let window = client
        .get(format!(
            "{base}/api/v1/metrics/dashboard?org=quiet&window=2h"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(window.status(), 400);
    let nowhere = client
        .get(format!("{base}/api/v1/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 404);
    assert_eq!(
        nowhere.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_metrics_are_aggregated() {
    let test = spawn_app(demo).await;
    let base = test.root.clone();
    let client = client_for("quiet");
    let today = chrono::Utc::now().date_naive().to_string();
    let body = json!([
        {"platform": "google_ads", "campaign_id": "g-1", "campaign_name": "Search", "date": today,
         "impressions": 1000, "clicks": 50, "spend": "25.50", "conversions": 5, "daily_budget": 100},
        {"platform": "meta", "campaign_id": "m-1", "date": today,
         "impressions": 20000, "reach": 15000, "clicks": 200, "spend": 120.0, "conversions": 4}
    ]);
    let response = client
        .post(format!("{base}/api/v1/ingest/campaign-metrics?org=quiet"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    wait_for("the campaign listed", DEADLINE, || {
        let client = client.clone();
        let base = base.clone();
        async move {
            let list: Value = get_json(&client, format!("{base}/api/v1/campaigns?org=quiet")).await;
            // Mock ad sources run for every organisation; ours must be among theirs.
            let ids: Vec<&str> = list
                .as_array()
                .map(|l| l.iter().filter_map(|c| c["campaign_id"].as_str()).collect())
                .unwrap_or_default();
            ids.contains(&"g-1") && ids.contains(&"m-1")
        }
    })
    .await;
    let google: Value = get_json(
        &client,
        format!("{base}/api/v1/campaigns/g-1/performance?org=quiet"),
    )
    .await;
    assert_eq!(google["clicks"], 50);
    assert!((google["spend"].as_f64().unwrap() - 25.5).abs() < 1e-9);
    assert!((google["ctr"].as_f64().unwrap() - 0.05).abs() < 1e-9);
    assert!((google["cpc"].as_f64().unwrap() - 0.51).abs() < 1e-9);
    assert!((google["cpa"].as_f64().unwrap() - 5.1).abs() < 1e-9);
    let missing = client
        .get(format!(
            "{base}/api/v1/campaigns/nope/performance?org=quiet"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_replays_what_it_missed() {
    let test = spawn_app(demo).await;
    let base = test.root.clone();
    let client = client_for("quiet");
    let mut socket = test.ws_connect("?org=quiet&channels=mentions").await;
    let subscribed = next_frame(&mut socket, |f| f["event"] == "subscribed").await;
    let epoch = subscribed["data"]["epoch"].as_str().unwrap().to_owned();
    let post = |ids: [&'static str; 2]| {
        let client = client.clone();
        let url = format!("{base}/api/v1/ingest/mentions?org=quiet");
        async move {
            let body = json!([mention(ids[0], "Good news"), mention(ids[1], "Bad news")]);
            assert_eq!(
                client.post(url).json(&body).send().await.unwrap().status(),
                202
            );
        }
    };
    post(["r1", "r2"]).await;
    let seen = next_frame(&mut socket, |f| f["event"] == "dashboard:mention-stream").await;
    let last_seq = seen["seq"].as_u64().unwrap();
    drop(socket);

    // While disconnected, more mentions arrive.
    post(["r3", "r4"]).await;
    let mut socket = test
        .ws_connect(&format!(
            "?org=quiet&channels=mentions&last_seq={last_seq}&epoch={epoch}"
        ))
        .await;
    let resumed = next_frame(&mut socket, |f| f["event"] == "subscribed").await;
    assert_eq!(resumed["data"]["recovered"], true, "{resumed}");
    let replayed = next_frame(&mut socket, |f| f["event"] == "dashboard:mention-stream").await;
    assert!(replayed["seq"].as_u64().unwrap() > last_seq);
    let ids: Vec<&str> = replayed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["external_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"r3") || ids.contains(&"r4"), "{ids:?}");

    // A stale epoch cannot resume: the client is told to refetch.
    let mut socket = test
        .ws_connect(&format!("?org=quiet&last_seq={last_seq}&epoch=stale"))
        .await;
    let refused = next_frame(&mut socket, |f| f["event"] == "subscribed").await;
    assert_eq!(refused["data"]["recovered"], false);
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_for_unknown_orgs_and_bad_commands_get_clear_errors() {
    let test = spawn_app(demo).await;
    let mut socket = test.ws_connect("").await;
    socket
        .send(Message::text("{\"type\":\"dance\"}"))
        .await
        .unwrap();
    let error = next_frame(&mut socket, |f| f["event"] == "error").await;
    assert_eq!(error["data"]["code"], "invalid_command");
    socket
        .send(Message::text(json!({"type":"ping"}).to_string()))
        .await
        .unwrap();
    next_frame(&mut socket, |f| f["event"] == "pong").await;
    socket
        .send(Message::text(
            json!({"type":"subscribe","org":"nobody"}).to_string(),
        ))
        .await
        .unwrap();
    let error = next_frame(&mut socket, |f| f["event"] == "error").await;
    assert_eq!(error["data"]["code"], "org_not_found");
    // Then the server closes with 4004.
    let (code, _) = close_code(&mut socket).await;
    assert_eq!(code, 4004);
    test.shutdown().await;
}

/// Connects with a tiny receive buffer so that the server's queue, not the kernel,
/// absorbs what this client does not read.
async fn connect_slow(
    test: &TestApp,
    query: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(test.app.addr()).await.unwrap();
    let (socket, _) = tokio_tungstenite::client_async(test.ws_request(query), stream)
        .await
        .expect("websocket connects");
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_loses_mention_frames_with_a_gap_marker_not_the_server() {
    let test = spawn_app(|config| {
        demo(config);
        // The byte limit sits above one paced request (~1.1 MB), so a client that keeps up
        // never reaches it; one that does not read overflows it.
        config.push.socket_queue_bytes = 2 << 20;
    })
    .await;
    let base = test.root.clone();
    let mut slow = connect_slow(&test, "?org=quiet&channels=mentions").await;
    next_frame(&mut slow, |f| f["event"] == "subscribed").await;
    let mut fast = test.ws_connect("?org=quiet&channels=mentions").await;
    next_frame(&mut fast, |f| f["event"] == "subscribed").await;

    // The fast client reads all along, concurrently with the ingest below.
    const REQUESTS: usize = 16;
    const PER_REQUEST: usize = 500;
    const SENT: u64 = (REQUESTS * PER_REQUEST) as u64;
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let fast_progress = std::sync::Arc::clone(&progress);
    let fast_reader = tokio::spawn(async move {
        // A fast client must be fast even in a debug build on a loaded machine: read the
        // envelope's leading fields only (event, org, seq come first) and count records.
        let mut received = 0u64;
        let mut last_seq = 0;
        while received < SENT {
            let message = tokio::time::timeout(DEADLINE, fast.next())
                .await
                .expect("frame before the deadline")
                .expect("socket open")
                .expect("valid frame");
            let Message::Text(text) = message else {
                continue;
            };
            let head = &text[..text.len().min(120)];
            assert!(
                !head.contains("\"event\":\"gap\""),
                "fast client got a gap: {head}"
            );
            if !head.starts_with("{\"event\":\"dashboard:mention-stream\"") {
                continue;
            }
            let seq: u64 = head
                .split("\"seq\":")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse().ok())
                .expect("seq in the envelope");
            assert!(seq > last_seq);
            last_seq = seq;
            received += text.matches("\"external_id\":").count() as u64;
            fast_progress.store(received, std::sync::atomic::Ordering::SeqCst);
        }
        received
    });

    // ~18 MB of mention frames: far more than the slow socket's kernel buffers and its
    // 2 MiB queue hold.
    let client = client_for("quiet");
    let filler: String = (0..400).map(|i| format!("w{i} ")).collect::<String>();
    for request in 0..REQUESTS {
        let body: Vec<Value> = (0..PER_REQUEST)
            .map(|i| mention(&format!("slow-{request}-{i}"), &filler))
            .collect();
        let response = client
            .post(format!("{base}/api/v1/ingest/mentions?org=quiet"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        // Paced so that a client that keeps up can: one request's frames at a time.
        let done = ((request + 1) * PER_REQUEST) as u64;
        let progress = std::sync::Arc::clone(&progress);
        wait_for("the fast client to read the request", DEADLINE, move || {
            let progress = std::sync::Arc::clone(&progress);
            async move { progress.load(std::sync::atomic::Ordering::SeqCst) >= done }
        })
        .await;
    }
    // The fast client keeps up and sees every mention, without a gap.
    assert_eq!(fast_reader.await.unwrap(), SENT);

    // The slow one now reads: frames it lost are announced by a gap marker, and what it
    // does get is in order.
    let gap = next_frame(&mut slow, |f| f["event"] == "gap").await;
    assert!(gap["data"]["dropped"].as_u64().unwrap() > 0, "{gap}");
    assert!(gap["data"]["from_seq"].as_u64().unwrap() <= gap["data"]["to_seq"].as_u64().unwrap());
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_socket_is_closed() {
    let test = spawn_app(|config| {
        demo(config);
        config.push.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let mut socket = test.ws_connect("?org=quiet").await;
    let (code, _) = close_code(&mut socket).await;
    assert_eq!(code, 4002, "idle timeout close code");
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_recovers_the_same_kpis_mentions_and_crises() {
    let test = spawn_app(|config| {
        demo(config);
        // Only what this test ingests: mock sources would keep restating figures.
        config.mock.enabled = false;
    })
    .await;
    let base = test.root.clone();
    let client = client_for("quiet");
    let body = varied_mentions("rec");
    let url = format!("{base}/api/v1/ingest/mentions?org=quiet");
    assert_eq!(
        client.post(&url).json(&body).send().await.unwrap().status(),
        202
    );
    let today = chrono::Utc::now().date_naive().to_string();
    let metrics = json!([{"platform": "meta", "campaign_id": "m-9", "date": today,
        "impressions": 5000, "clicks": 40, "spend": "12.345678", "conversions": 2}]);
    let response = client
        .post(format!("{base}/api/v1/ingest/campaign-metrics?org=quiet"))
        .json(&metrics)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let dashboard_url = format!("{base}/api/v1/metrics/dashboard?org=quiet&window=1h");
    let before = poll_json(&client, &dashboard_url, DEADLINE, |d| {
        d["kpis"]["mention_count"] == 40 && d["campaigns"]["campaigns"] == 1
    })
    .await;
    let before = durable_view(&before);

    // Same database, new process state.
    let test = test.restart().await;
    let base = test.root.clone();
    let dashboard_url = format!("{base}/api/v1/metrics/dashboard?org=quiet&window=1h");
    let after = poll_json(&client, &dashboard_url, DEADLINE, |d| {
        d["kpis"]["mention_count"] == 40 && d["campaigns"]["campaigns"] == 1
    })
    .await;
    assert_eq!(durable_view(&after), before);
    // The recent list is back too, and a re-sent record is still a duplicate.
    let page = get_json(
        &client,
        format!("{base}/api/v1/mentions?org=quiet&limit=500"),
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 40);
    let url = format!("{base}/api/v1/ingest/mentions?org=quiet");
    let again: Value = client
        .post(&url)
        .json(&body[..5])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["duplicates"], 5);
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_is_restarted_with_backoff_while_others_keep_producing() {
    let test = spawn_app(|config| {
        demo(config);
        config.orgs.push(org("steady", 50.0));
    })
    .await;
    let runtime = test.app.runtime();
    let demo = warroom_engine::OrgId::new("demo");
    let kind = warroom_actors::sources::actor::SourceKind::Mentions;
    let name = "source:demo:mentions";
    wait_for("the source actor", DEADLINE, || async {
        runtime.children().snapshot().contains_key(name)
    })
    .await;
    let applied_before = runtime
        .stats()
        .mentions_applied
        .load(std::sync::atomic::Ordering::Relaxed);

    assert!(
        runtime.crash_source(&demo, kind),
        "the source actor takes the message"
    );
    // Health says degraded while the source waits out its backoff (about a second)...
    wait_for("health to say degraded", DEADLINE, || async {
        let health = runtime.health();
        health.services["sources"].status == warroom_engine::HealthStatus::Degraded
            && health.status == warroom_engine::HealthStatus::Degraded
    })
    .await;
    // ...the other sources keep producing meanwhile...
    wait_for("the other sources to produce", DEADLINE, || async {
        runtime
            .stats()
            .mentions_applied
            .load(std::sync::atomic::Ordering::Relaxed)
            > applied_before + 20
    })
    .await;
    // ...and then it runs again, with the restart counted, and health is ok.
    wait_for("the source to run again", DEADLINE, || async {
        let status = runtime.children().snapshot()[name].clone();
        status.state == warroom_actors::runtime::supervisor::ChildState::Running
            && status.restarts == 1
            && runtime.health().services["sources"].status == warroom_engine::HealthStatus::Ok
    })
    .await;
    test.shutdown().await;
}

/// `(method, path)` of every `.route(…)` in `gateway/src/router.rs`, under `/api/v1`: read
/// from the source, so a route added there is checked against the OpenAPI document.
fn registered_routes() -> Vec<(String, String)> {
    let source = include_str!("../../gateway/src/router.rs");
    // Routes added after the API is nested under /api/v1 live at the root (`/metrics`).
    let root_from = source
        .find(".nest(\"/api/v1\"")
        .expect("the API is nested under /api/v1");
    let mut routes = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        let prefix = if source.len() - rest.len() + at > root_from {
            ""
        } else {
            "/api/v1"
        };
        let args = &rest[at + ".route(".len()..];
        // The call's arguments end at the matching parenthesis.
        let mut depth = 1;
        let end = args
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a closed .route( call");
        let call = &args[..end];
        // axum's catch-all `{*rest}` is OpenAPI's plain `{rest}`.
        let path = call
            .split('"')
            .nth(1)
            .expect("a path literal")
            .replace("{*", "{");
        let mut methods = 0;
        for method in ["get", "post", "put", "patch", "delete"] {
            let needle = format!("{method}(");
            for (i, _) in call.match_indices(&needle) {
                let before = call[..i].chars().last();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    routes.push((method.to_owned(), format!("{prefix}{path}")));
                    methods += 1;
                }
            }
        }
        assert!(methods > 0, "no method found in .route({call})");
        rest = &args[end..];
    }
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route_and_the_docs_page_works() {
    let test = spawn_app(demo).await;
    let base = test.root.clone();
    // Public: no credential.
    let response = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let strict = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(strict.starts_with("default-src 'none'"), "{strict}");
    assert!(
        !strict.contains("script-src"),
        "no script anywhere but the docs: {strict}"
    );
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let routes = registered_routes();
    assert!(
        routes.len() >= 30,
        "the parser found the routes: {routes:?}"
    );
    for (method, path) in &routes {
        let op = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"))[method];
        assert!(
            op.is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
        assert!(op["summary"].is_string(), "{method} {path} has no summary");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
    }
    // Nor does the document describe a route that does not exist.
    let described: usize = paths
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(described, routes.len(), "{routes:?}");
    // Protected operations name the credentials and their 401; public ones need none.
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(paths["/api/v1/alerts"]["get"]["responses"]["401"].is_object());
    assert_eq!(paths["/api/v1/auth/login"]["post"]["security"], json!([{}]));
    assert!(paths["/api/v1/auth/login"]["post"]["requestBody"].is_object());
    // Query parameters the server checks carry their enums and ranges, the same values
    // the engine parses.
    let schemas = &doc["components"]["schemas"];
    let names = |schema: &str| -> Vec<String> {
        schemas[schema]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} is an enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let windows: Vec<String> = warroom_engine::Window::ALL
        .iter()
        .map(|w| w.as_str().to_owned())
        .collect();
    assert_eq!(names("Window"), windows);
    let sources: Vec<String> = warroom_engine::Source::ALL
        .iter()
        .map(|s| {
            serde_json::to_value(s)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names("Source"), sources);
    let limit = paths["/api/v1/mentions"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(limit["schema"]["maximum"], 500, "{limit}");

    // The page and its assets are served by the server itself (offline), with their own
    // CSP allowing only same-origin script and style.
    let page = reqwest::get(format!("{base}/api/v1/docs")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no remote asset"
    );
    // Swagger UI, vendored and served from the web app's versioned assets.
    for vendored in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let path = html
            .split('"')
            .find(|part| part.starts_with("/assets/") && part.ends_with(vendored))
            .unwrap_or_else(|| panic!("{vendored} is linked: {html}"));
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
    }
    for asset in ["docs.js", "docs.css"] {
        assert!(html.contains(&format!("/api/v1/docs/{asset}")));
        let response = reqwest::get(format!("{base}/api/v1/docs/{asset}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(!response.text().await.unwrap().contains("https://"));
    }
    test.shutdown().await;
}

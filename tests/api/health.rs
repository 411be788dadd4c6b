//! The health monitor and `GET /metrics`, end to end: the real server on port 0.
//!
//! No test sleeps to wait for a result: each polls a condition or reads frames with a
//! deadline.

use std::time::Duration;

use serde_json::Value;
use warroom_engine::{Config, OrgId};

use crate::common::{client_for, mentions_body, next_frame_within, spawn_app, wait_for, Socket};

const DEADLINE: Duration = Duration::from_secs(30);

/// The health monitor every 50 ms.
fn fast_health(config: &mut Config) {
    config.health.interval = Duration::from_millis(50);
}

async fn scrape(base: &str) -> Vec<(String, f64)> {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    parse_metrics(&response.text().await.unwrap())
}

/// Parses the text exposition: every sample line is `name{labels} value`.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name in {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "{line}");
            let labels = &series[name_end + 1..series.len() - 1];
            for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                let _ = value;
            }
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        samples.push((series.to_owned(), value));
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("no {series}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_counters_move_after_an_ingest() {
    let test = spawn_app(fast_health).await;
    let base = test.root.clone();
    let before = scrape(&base).await;
    assert_eq!(
        sample(&before, "warroom_ingest_requests_accepted_total"),
        0.0
    );
    assert_eq!(
        sample(&before, "warroom_org_mailbox_depth{org=\"alpha\"}"),
        0.0
    );
    assert!(sample(&before, "warroom_health_status{part=\"overall\"}") <= 1.0);
    let client = client_for("alpha");
    let response = client
        .post(format!("{base}/api/v1/ingest/mentions"))
        .header("content-type", "application/json")
        .body(mentions_body(&["m-1", "m-2", "m-3"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let response = client
        .post(format!("{base}/api/v1/ingest/mentions"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let after = scrape(&base).await;
    assert_eq!(
        sample(&after, "warroom_ingest_requests_accepted_total"),
        1.0
    );
    assert_eq!(sample(&after, "warroom_ingest_records_accepted_total"), 3.0);
    assert_eq!(
        sample(
            &after,
            "warroom_ingest_requests_rejected_total{reason=\"invalid\"}"
        ),
        1.0
    );
    assert!(sample(&after, "warroom_persist_records_committed_total") >= 3.0);
    assert!(sample(&after, "warroom_persist_commit_seconds_count") >= 1.0);
    assert_eq!(
        sample(&after, "warroom_persist_commit_seconds_bucket{le=\"+Inf\"}"),
        sample(&after, "warroom_persist_commit_seconds_count")
    );
    // Without an administrator's credential, health shows each part's status only: no
    // paths, hosts or counts.
    let public: Value = reqwest::get(format!("{base}/api/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parts = public["services"].as_object().expect("services");
    assert!(parts.contains_key("archive") && parts.contains_key("cache"));
    assert!(parts.values().all(|p| p["detail"] == ""), "{public}");
    assert!(!public
        .to_string()
        .contains(std::env::temp_dir().to_str().unwrap()));
    // An administrator sees the details: the new parts, and why it is not ok.
    let health: Value = test
        .admin_client("alpha")
        .await
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(health["services"]["event_loop"]["detail"]
        .as_str()
        .unwrap()
        .starts_with("lag "));
    assert!(health["services"]["webhooks"]["detail"]
        .as_str()
        .unwrap()
        .contains("0 dropped"));
    let reasons = health["reasons"].as_array().expect("reasons");
    assert_eq!(reasons.is_empty(), health["status"] == "ok", "{health}");
    // Metrics are not under /api/v1 and need no credential.
    let response = reqwest::get(format!("{base}/api/v1/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    test.shutdown().await;
}

/// Reads `system:health-change` frames until one matches, or fails at the deadline.
async fn next_health(socket: &mut Socket, pred: impl Fn(&Value) -> bool) -> Value {
    next_frame_within(socket, DEADLINE, |frame| {
        frame["event"] == "system:health-change" && pred(&frame["data"])
    })
    .await["data"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_source_pushes_degraded_with_its_reason_then_ok() {
    let test = spawn_app(|config| {
        fast_health(config);
        config.mock.enabled = true;
        config.mock.tick = Duration::from_millis(20);
        config.orgs[0].mentions_per_second = 20.0;
    })
    .await;
    let base = test.root.clone();
    let runtime = test.app.runtime();
    let name = "source:alpha:mentions";
    let mut socket = test.ws_connect("?org=alpha&channels=system").await;
    wait_for("the source to start", DEADLINE, async || {
        runtime.children().snapshot().contains_key(name)
    })
    .await;
    assert!(runtime.crash_source(
        &OrgId::new("alpha"),
        warroom_actors::sources::actor::SourceKind::Mentions
    ));
    // The monitor pushes the change with the reason...
    let degraded = next_health(&mut socket, |h| h["status"] == "degraded").await;
    assert_eq!(degraded["services"]["sources"]["status"], "degraded");
    let reasons: Vec<&str> = degraded["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Every organisation gets the frame: it names the part and its status, not which
    // organisation's source failed.
    assert!(reasons.contains(&"sources: degraded"), "{reasons:?}");
    assert!(!degraded.to_string().contains(name), "{degraded}");
    // ...and again once the supervisor restarted the source.
    let ok = next_health(&mut socket, |h| h["services"]["sources"]["status"] == "ok").await;
    assert!(ok["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| !r.as_str().unwrap().starts_with("sources: ")));
    let samples = scrape(&base).await;
    assert_eq!(
        sample(
            &samples,
            &format!("warroom_child_restarts_total{{child=\"{name}\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(
            &samples,
            &format!("warroom_child_state{{child=\"{name}\",state=\"running\"}}")
        ),
        1.0
    );
    test.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_disabled() {
    let test = spawn_app(|config| {
        fast_health(config);
        config.metrics.enabled = false;
    })
    .await;
    let response = reqwest::get(format!("{}/metrics", test.root))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    test.shutdown().await;
}

//! Webhooks, end to end: the real server on port 0.
//!
//! Incoming: signature, stale timestamp, replayed delivery id, unknown organisation or
//! service, oversized body. Outgoing: a local receiver (axum on port 0) that fails the
//! first attempts; the delivery is retried with backoff, signed, and logged.
//! No test sleeps to wait for a result: each polls a condition with a deadline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use warroom::App;
use warroom_actors::webhook::signature;
use warroom_engine::config::CrisisScenario;
use warroom_engine::{Config, OrgId};

use crate::common::{self, client_for, mentions_body, quiet_org, spawn_app, start_app, wait_for};

const DEADLINE: Duration = Duration::from_secs(30);
const ALPHA_SECRET: &str = "alpha-webhook-secret-0123456789";

/// Organisations `alpha` (with an incoming webhook secret) and `beta`; small bodies,
/// private targets allowed (the receivers listen on loopback) and quick retries.
fn webhooks(config: &mut Config) {
    config.orgs = vec![quiet_org("alpha"), quiet_org("beta")];
    config
        .webhooks
        .secrets
        .insert("alpha".into(), ALPHA_SECRET.into());
    config.webhooks.max_body_bytes = 64 * 1024;
    config.webhooks.allow_private_targets = true;
    config.webhooks.initial_backoff = Duration::from_millis(20);
    config.webhooks.max_backoff = Duration::from_millis(100);
    config.webhooks.max_attempts = 5;
}

/// A signed incoming webhook request.
struct Delivery<'a> {
    org: &'a str,
    secret: &'a str,
    timestamp: i64,
    id: &'a str,
    body: Vec<u8>,
}

impl Delivery<'_> {
    async fn send(&self, base: &str, service: &str) -> (u16, Value) {
        let sig = signature::sign(self.secret.as_bytes(), self.timestamp, self.id, &self.body);
        let response = reqwest::Client::new()
            .post(format!("{base}/api/v1/webhooks/{service}"))
            .header("content-type", "application/json")
            .header("x-warroom-org", self.org)
            .header("x-warroom-timestamp", self.timestamp.to_string())
            .header("x-warroom-delivery", self.id)
            .header("x-warroom-signature", sig)
            .body(self.body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

async fn stored(app: &App, org: &str) -> u64 {
    app.runtime()
        .store()
        .count_mentions(&OrgId::new(org))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_webhooks_verify_signature_timestamp_and_delivery_id() {
    let test = spawn_app(webhooks).await;
    let (app, base) = (&test.app, test.root.clone());
    let now = chrono::Utc::now().timestamp();
    let good = Delivery {
        org: "alpha",
        secret: ALPHA_SECRET,
        timestamp: now,
        id: "delivery-1",
        body: mentions_body(&["w-1", "w-2"]),
    };
    let (status, body) = good.send(&base, "generic").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(stored(app, "alpha").await, 2, "202 comes after the commit");

    // Replayed delivery id: answered as already applied, nothing applied twice.
    let (status, body) = good.send(&base, "generic").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], true);
    assert_eq!(stored(app, "alpha").await, 2);

    let refused = |d: Delivery<'static>, service: &'static str, code: u16, error: &'static str| {
        let base = base.clone();
        async move {
            let (status, body) = d.send(&base, service).await;
            assert_eq!(status, code, "{error}: {body}");
            assert_eq!(body["error"]["code"], error, "{body}");
        }
    };
    // Wrong secret.
    refused(
        Delivery {
            org: "alpha",
            secret: "not-the-secret-0123456789",
            timestamp: now,
            id: "d-2",
            body: mentions_body(&["w-3"]),
        },
        "generic",
        401,
        "invalid_signature",
    )
    .await;
    // Stale timestamp (signed correctly, 10 minutes old; the tolerance is 5).
    refused(
        Delivery {
            org: "alpha",
            secret: ALPHA_SECRET,
            timestamp: now - 600,
            id: "d-3",
            body: mentions_body(&["w-4"]),
        },
        "generic",
        401,
        "stale_timestamp",
    )
    .await;
    // Unknown organisation, and an organisation without a secret: the same 401.
    refused(
        Delivery {
            org: "nobody",
            secret: ALPHA_SECRET,
            timestamp: now,
            id: "d-4",
            body: mentions_body(&["w-5"]),
        },
        "generic",
        401,
        "invalid_signature",
    )
    .await;
    refused(
        Delivery {
            org: "beta",
            secret: ALPHA_SECRET,
            timestamp: now,
            id: "d-5",
            body: mentions_body(&["w-6"]),
        },
        "generic",
        401,
        "invalid_signature",
    )
    .await;
    // Unknown service.
    refused(
        Delivery {
            org: "alpha",
            secret: ALPHA_SECRET,
            timestamp: now,
            id: "d-6",
            body: mentions_body(&["w-7"]),
        },
        "nosuch",
        404,
        "unknown_service",
    )
    .await;
    // Oversized body (the limit is 64 KiB here).
    let big: Vec<String> = (0..2000).map(|i| format!("big-{i}")).collect();
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    refused(
        Delivery {
            org: "alpha",
            secret: ALPHA_SECRET,
            timestamp: now,
            id: "d-7",
            body: mentions_body(&big),
        },
        "generic",
        413,
        "body_too_large",
    )
    .await;
    // A signed but invalid payload is refused like the ingest endpoint refuses it.
    refused(
        Delivery {
            org: "alpha",
            secret: ALPHA_SECRET,
            timestamp: now,
            id: "d-8",
            body: b"[{\"external_id\": \"x\"}]".to_vec(),
        },
        "generic",
        422,
        "invalid_records",
    )
    .await;
    // No signature headers at all.
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/webhooks/generic"))
        .body(mentions_body(&["w-9"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(stored(app, "alpha").await, 2, "nothing refused was applied");
    assert_eq!(stored(app, "beta").await, 0);
    // The invalid payload's delivery id was not remembered: fixed, it goes through.
    let retried = Delivery {
        org: "alpha",
        secret: ALPHA_SECRET,
        timestamp: now,
        id: "d-8",
        body: mentions_body(&["w-10"]),
    };
    assert_eq!(retried.send(&base, "generic").await.0, 202);
    assert_eq!(stored(app, "alpha").await, 3);
    test.shutdown().await;
}

/// What the local receiver saw.
#[derive(Default)]
struct Received {
    attempts: AtomicUsize,
    verified: Mutex<Vec<Value>>,
}

async fn receiver(fail_first: usize, secret: Arc<Mutex<String>>) -> (String, Arc<Received>) {
    use axum::http::{HeaderMap, StatusCode};
    let seen = Arc::new(Received::default());
    let state = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = Arc::clone(&state);
            let secret = secret.lock().clone();
            async move {
                let n = state.attempts.fetch_add(1, Ordering::SeqCst) + 1;
                if n <= fail_first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let h = |name: &str| headers[name].to_str().unwrap().to_owned();
                let timestamp: i64 = h("x-warroom-timestamp").parse().unwrap();
                if !signature::verify(
                    secret.as_bytes(),
                    timestamp,
                    &h("x-warroom-delivery"),
                    &body,
                    &h("x-warroom-signature"),
                ) {
                    return StatusCode::UNAUTHORIZED;
                }
                let mut value: Value = serde_json::from_slice(&body).unwrap();
                value["header_event"] = Value::String(h("x-warroom-event"));
                state.verified.lock().push(value);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_webhooks_are_signed_retried_and_logged() {
    let test = spawn_app(|config| {
        webhooks(config);
        config.mock.enabled = true;
        config.mock.tick = Duration::from_millis(20);
        config.engine.kpi_interval = Duration::from_millis(100);
        config.engine.epoch_tick = Duration::from_millis(20);
        let mut burst = quiet_org("burst");
        burst.mentions_per_second = 2.0;
        burst.negative_threshold = Some(10);
        burst.crises = vec![CrisisScenario {
            at: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            mentions_per_second: 40.0,
        }];
        config.orgs = vec![burst];
        config.webhooks.secrets.clear();
    })
    .await;
    let base = test.root.clone();
    let admin = test.admin_client("burst").await;

    let secret = Arc::new(Mutex::new(String::new()));
    let (url, seen) = receiver(2, Arc::clone(&secret)).await;

    // Validation: unknown events and bad URLs are refused.
    let response = admin
        .post(format!("{base}/api/v1/admin/webhooks"))
        .json(&json!({"url": url, "events": ["dashboard:kpi-update"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = admin
        .post(format!("{base}/api/v1/admin/webhooks"))
        .json(&json!({"url": "ftp://example.org/", "events": ["crisis:acknowledged"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // A manager is not an admin.
    let response = client_for("burst")
        .get(format!("{base}/api/v1/admin/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let created: Value = admin
        .post(format!("{base}/api/v1/admin/webhooks"))
        .json(&json!({"url": url, "events": ["crisis:acknowledged"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("id").to_owned();
    let shown = created["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(shown.starts_with("whsec_"));
    *secret.lock() = shown.clone();
    let listed: Value = admin
        .get(format!("{base}/api/v1/admin/webhooks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(
        listed[0].get("secret").is_none(),
        "the secret is never shown again"
    );
    assert!(!listed.to_string().contains(&shown));

    // Wait for the injected crisis, then acknowledge it: the event goes out.
    let crisis_id = wait_for("a crisis", DEADLINE, async || {
        let alerts: Value = admin
            .get(format!("{base}/api/v1/alerts"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let list = alerts.as_array().or_else(|| alerts["alerts"].as_array())?;
        list.first()?["id"].as_str().map(str::to_owned)
    })
    .await;
    let response = admin
        .post(format!("{base}/api/v1/alerts/{crisis_id}/acknowledge"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let delivered = wait_for("the delivery", DEADLINE, async || {
        seen.verified.lock().first().cloned()
    })
    .await;
    assert_eq!(delivered["event"], "crisis:acknowledged");
    assert_eq!(delivered["header_event"], "crisis:acknowledged");
    assert_eq!(delivered["org"], "burst");
    assert_eq!(delivered["data"]["id"], crisis_id.as_str());
    assert_eq!(
        seen.attempts.load(Ordering::SeqCst),
        3,
        "two failures, then success"
    );

    let log: Value = wait_for("three logged attempts", DEADLINE, async || {
        let log: Value = admin
            .get(format!("{base}/api/v1/admin/webhooks/{id}/deliveries"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (log.as_array()?.len() == 3).then_some(log)
    })
    .await;
    assert_eq!(log[0]["attempt"], 3);
    assert_eq!(log[0]["outcome"], "delivered");
    assert_eq!(log[1]["outcome"], "retrying");
    assert_eq!(log[2]["response_status"], 500);
    assert_eq!(
        log[0]["delivery_id"], log[2]["delivery_id"],
        "one delivery, three attempts"
    );

    // Configuration changes are audited.
    let audit: Value = admin
        .get(format!("{base}/api/v1/audit?action=webhook.create"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"][0]["resource_id"], id.as_str());
    let response = admin
        .delete(format!("{base}/api/v1/admin/webhooks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = admin
        .get(format!("{base}/api/v1/admin/webhooks/{id}/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    test.shutdown().await;
}

/// What a scripted receiver saw: each request's delivery id, attempt time and event.
#[derive(Default)]
struct Recorded {
    requests: Mutex<Vec<(String, std::time::Instant)>>,
}

/// A receiver that answers the first `refuse` requests 503 with `Retry-After: 2`, then 204.
async fn scripted_receiver(refuse: usize) -> (String, std::net::SocketAddr, Arc<Recorded>) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let seen = Arc::new(Recorded::default());
    let state = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let state = Arc::clone(&state);
            async move {
                let id = headers["x-warroom-delivery"].to_str().unwrap().to_owned();
                let mut requests = state.requests.lock();
                requests.push((id, std::time::Instant::now()));
                if requests.len() <= refuse {
                    (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "2")]).into_response()
                } else {
                    StatusCode::NO_CONTENT.into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), addr, seen)
}

/// An endpoint stored directly (no API round trip), for the event `crisis:detected`.
async fn endpoint(app: &App, org: &str, url: &str) -> warroom_storage::webhooks::WebhookRecord {
    let record = warroom_storage::webhooks::WebhookRecord {
        id: uuid::Uuid::new_v4(),
        org: OrgId::new(org),
        url: url.to_owned(),
        events: vec!["crisis:detected".into()],
        secret: "whsec_restart_test".into(),
        created_by: None,
        created_at: chrono::DateTime::from_timestamp_micros(chrono::Utc::now().timestamp_micros())
            .unwrap(),
    };
    app.runtime()
        .store()
        .webhooks()
        .create_webhook(&record)
        .await
        .unwrap();
    record
}

fn offer_detected(app: &App, org: &str) {
    app.runtime()
        .webhooks()
        .offer(warroom_actors::webhook::WebhookEvent {
            org: OrgId::new(org),
            event: "crisis:detected",
            data: json!({"id": "c-1"}),
            at: chrono::Utc::now(),
        });
}

/// A retry pending at shutdown is in the outbox; the next start delivers it once, with
/// the same delivery id, no earlier than the receiver's `Retry-After` asked, and the
/// attempt count continues across the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_retry_survives_a_restart_and_honours_retry_after() {
    let test = spawn_app(webhooks).await;
    let app = &test.app;
    let (url, _, seen) = scripted_receiver(1).await;
    let hook = endpoint(app, "alpha", &url).await;
    offer_detected(app, "alpha");

    // The first attempt is refused with Retry-After: 2 s; the outbox row records it.
    let store = Arc::clone(app.runtime().store());
    let pending = wait_for("the first attempt recorded", DEADLINE, async || {
        let rows = store
            .webhooks()
            .outbox(&OrgId::new("alpha"), hook.id, 10)
            .await
            .ok()?;
        rows.into_iter().find(|r| r.attempts == 1)
    })
    .await;
    assert_eq!(
        pending.status,
        warroom_storage::webhooks::OutboxStatus::Pending
    );
    // The backoff here is 20–100 ms: the next attempt is due after the receiver's 2 s.
    let asked = pending.next_attempt_at - pending.created_at;
    assert!(asked >= chrono::Duration::milliseconds(1_900), "{asked}");
    let config = test.config.clone();
    test.shutdown().await;
    assert_eq!(seen.requests.lock().len(), 1, "nothing sent after shutdown");

    let test = start_app(config).await;
    let (app, base) = (&test.app, test.root.clone());
    let store = Arc::clone(app.runtime().store());
    let delivered = wait_for("the delivery after the restart", DEADLINE, async || {
        let row = store
            .webhooks()
            .outbox_entry(&OrgId::new("alpha"), pending.id)
            .await
            .ok()??;
        (row.status == warroom_storage::webhooks::OutboxStatus::Delivered).then_some(row)
    })
    .await;
    assert_eq!(delivered.attempts, 2);
    let requests = seen.requests.lock().clone();
    assert_eq!(requests.len(), 2, "exactly one attempt after the restart");
    assert_eq!(requests[0].0, pending.id.to_string());
    assert_eq!(
        requests[1].0,
        pending.id.to_string(),
        "the same delivery id"
    );
    let waited = requests[1].1 - requests[0].1;
    assert!(
        waited >= Duration::from_millis(1_900),
        "Retry-After ignored: retried after {waited:?}"
    );
    let log = store
        .webhooks()
        .deliveries(&OrgId::new("alpha"), hook.id, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].attempt, log[0].outcome.as_str()), (2, "delivered"));
    assert_eq!((log[1].attempt, log[1].outcome.as_str()), (1, "retrying"));
    assert_eq!(log[1].response_status, Some(503));
    assert_eq!(
        app.runtime()
            .webhooks()
            .stats()
            .resumed
            .load(Ordering::Relaxed),
        1
    );
    let metrics = common::metrics_text(&base).await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "warroom_webhook_deliveries_resumed_total 1"),
        "{metrics}"
    );
    // Nothing else goes out later (the row is finished).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.requests.lock().len(), 2);
    test.shutdown().await;
}

/// Names from /etc/hosts that resolve to a loopback address (besides `localhost`), so
/// the refusal is shown to come from resolution, not from the name.
fn loopback_names() -> Vec<String> {
    let mut names = vec!["localhost".to_owned()];
    if let Ok(hosts) = std::fs::read_to_string("/etc/hosts") {
        for line in hosts.lines() {
            let mut fields = line.split_whitespace();
            if fields.next().is_some_and(|ip| ip.starts_with("127.")) {
                names.extend(
                    fields
                        .take_while(|f| !f.starts_with('#'))
                        .filter(|f| *f != "localhost")
                        .map(str::to_owned),
                );
            }
        }
    }
    names
}

/// Without `allow_private_targets`, a host name that resolves to 127.0.0.1 is refused
/// when the endpoint is registered, and a stored endpoint on such a host is refused
/// before delivery (abandoned at once, nothing sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_resolving_to_loopback_is_refused_at_registration_and_delivery() {
    let test = spawn_app(|config| {
        webhooks(config);
        config.webhooks.allow_private_targets = false;
        config.orgs.push(quiet_org("burst"));
    })
    .await;
    let (app, base) = (&test.app, test.root.clone());
    let admin = test.admin_client("burst").await;
    let (_, addr, seen) = scripted_receiver(0).await;
    for name in loopback_names() {
        let response = admin
            .post(format!("{base}/api/v1/admin/webhooks"))
            .json(&json!({
                "url": format!("http://{name}:{}/hook", addr.port()),
                "events": ["crisis:detected"],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_url", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("127."),
            "{name}: {body}"
        );
    }

    // Stored before the setting was turned off (or by another tool): refused at delivery.
    let hook = endpoint(
        app,
        "alpha",
        &format!("http://localhost:{}/hook", addr.port()),
    )
    .await;
    offer_detected(app, "alpha");
    let store = Arc::clone(app.runtime().store());
    let abandoned = wait_for("the refused delivery", DEADLINE, async || {
        let rows = store
            .webhooks()
            .outbox(&OrgId::new("alpha"), hook.id, 10)
            .await
            .ok()?;
        rows.into_iter()
            .find(|r| r.status == warroom_storage::webhooks::OutboxStatus::Abandoned)
    })
    .await;
    assert_eq!(abandoned.attempts, 1, "a refused target is not retried");
    let log = store
        .webhooks()
        .deliveries(&OrgId::new("alpha"), hook.id, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome.as_str(), "failed");
    assert!(
        log[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("private"),
        "{:?}",
        log[0].error
    );
    assert!(
        seen.requests.lock().is_empty(),
        "nothing reached the receiver"
    );
    test.shutdown().await;
}

/// Deleting an endpoint stops its deliveries: a retry waiting for its next attempt is
/// cancelled instead of being sent (and failing to log against the deleted endpoint).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_endpoint_cancels_its_pending_retries() {
    let test = spawn_app(webhooks).await;
    let (app, base) = (&test.app, test.root.clone());
    // Logged in first: the deletion below must come within the 2 s retry delay.
    let token = test.admin_token("alpha").await;
    // Every attempt is refused with Retry-After: 2 s, so a retry is always pending.
    let (url, _, seen) = scripted_receiver(usize::MAX).await;
    let hook = endpoint(app, "alpha", &url).await;
    offer_detected(app, "alpha");
    wait_for("the first attempt", DEADLINE, async || {
        (seen.requests.lock().len() == 1).then_some(())
    })
    .await;

    let deleted = reqwest::Client::new()
        .delete(format!("{base}/api/v1/admin/webhooks/{}", hook.id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    // The delivery ends at its next due time, without another request.
    let stats = Arc::clone(app.runtime().webhooks().stats());
    wait_for("the delivery to end", DEADLINE, async || {
        (stats.pending.load(Ordering::Acquire) == 0).then_some(())
    })
    .await;
    assert_eq!(
        seen.requests.lock().len(),
        1,
        "a request after the deletion"
    );
    assert_eq!(stats.cancelled.load(Ordering::Relaxed), 1);
    let metrics = common::metrics_text(&base).await;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"warroom_webhook_deliveries_total{outcome="cancelled"} 1"#),
        "{metrics}"
    );
    test.shutdown().await;
}

//! Smoke test: the real server in-process on port 0 (demo organisations with their mock
//! sources), every scenario for a few seconds. Checks the reports' structure and that
//! traffic flowed; no timing assertions (shared CI machines are noisy).

use std::sync::Arc;
use std::time::Duration;

use warroom::App;
use warroom_engine::Config;
use warroom_loadtest::auth::Credentials;
use warroom_loadtest::scenarios::fanout::{self, FanoutParams};
use warroom_loadtest::scenarios::idle::{self, IdleParams};
use warroom_loadtest::scenarios::ingest::{self, IngestParams};
use warroom_loadtest::scenarios::rest::{self, Endpoint, HttpClient, RestParams};
use warroom_loadtest::scenarios::slow::{self, SlowMode, SlowParams};
use warroom_loadtest::scenarios::storm::{self, StormParams};
use warroom_loadtest::scenarios::RunOptions;
use warroom_loadtest::target::Target;

/// The servers' signing secret: the load tester mints its tokens with it, as in a real
/// run where both read `WARROOM__AUTH__JWT_SECRET`.
const SECRET: &str = "loadtest-smoke-secret-0123456789abcdef";

async fn server() -> (App, RunOptions) {
    let mut config = Config::defaults();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.auth.jwt_secret = SECRET.to_owned();
    // Each server gets its own database, kept for the test process's life.
    let dir = tempfile::tempdir().expect("temp dir").keep();
    config.database.url = format!("sqlite://{}", dir.join("warroom.db").display());
    let orgs = config.orgs.iter().map(|o| o.id.clone()).collect();
    let app = App::start(config).await.expect("server starts");
    let target = Target::check(&format!("http://{}", app.addr()), false)
        .await
        .expect("loopback target");
    let options = RunOptions {
        target,
        orgs,
        duration: Duration::from_secs(2),
        max_mentions: None,
        // The server runs in this process: sampling it exercises /proc parsing.
        server_pid: Some(std::process::id()),
        progress: true,
        sources: Vec::new(),
        credentials: Arc::new(Credentials::with_default_claims(SECRET).expect("credentials")),
    };
    (app, options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_delivers_frames_and_reports_them() {
    let (app, options) = server().await;
    let params = FanoutParams {
        clients: 6,
        rate: 200.0,
        batch: 20,
        max_in_flight: 8,
        connect_timeout: Duration::from_secs(10),
        drain: Duration::from_millis(500),
    };
    let report = fanout::run(&options, &params).await.expect("fanout runs");
    let fanout = report.fanout.as_ref().expect("fanout figures");
    assert_eq!(report.scenario, "fanout");
    assert_eq!(fanout.clients.requested, 6);
    assert_eq!(fanout.clients.subscribed_at_start, 6, "{}", report.table());
    assert!(fanout.delivery.mention_frames > 0, "{}", report.table());
    assert!(fanout.delivery.own_frames > 0, "{}", report.table());
    assert!(fanout.delivery.own_mentions > 0, "{}", report.table());
    // Every client's first mention frame is parsed whole and agrees with the scan.
    assert!(fanout.delivery.checked_frames >= 1, "{}", report.table());
    assert_eq!(fanout.delivery.malformed_frames, 0, "{}", report.table());
    assert_eq!(
        fanout.latency_all_frames.count,
        fanout.delivery.mention_frames
    );
    assert!(report.ingest.acked_requests > 0, "{}", report.table());
    assert!(report.ingest.mentions_accepted > 0);
    assert_eq!(
        report.ingest.duplicates, 0,
        "external ids are unique per run"
    );
    assert!(report.server.as_ref().is_some_and(|s| s.rss_end_mib > 0.0));

    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "scenario",
        "run_id",
        "target",
        "orgs",
        "params",
        "elapsed_s",
        "ingest",
        "fanout",
    ] {
        assert!(json.get(key).is_some(), "report lacks {key}: {json}");
    }
    let latency = &json["fanout"]["latency_all_frames"];
    for key in ["count", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"] {
        assert!(latency[key].is_u64(), "latency lacks {key}: {latency}");
    }
    assert!(json["fanout"]["sequence"]["gaps_total"].is_u64());
    assert!(report.table().contains("p99.9"));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_reports_an_acknowledged_rate() {
    let (app, options) = server().await;
    let params = IngestParams {
        batch: 50,
        concurrency: 2,
    };
    let report = ingest::run(&options, &params).await.expect("ingest runs");
    assert_eq!(report.scenario, "ingest");
    assert!(report.fanout.is_none());
    let ingest = &report.ingest;
    assert!(ingest.acked_requests > 0, "{}", report.table());
    assert_eq!(ingest.mentions_accepted, ingest.acked_requests * 50);
    assert_eq!(ingest.duplicates, 0);
    assert!(ingest.accepted_mentions_per_s > 0.0);
    assert_eq!(ingest.request_latency.count, ingest.requests);
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["ingest"]["request_latency"]["p999_us"].is_u64());
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_run_respects_max_mentions() {
    let (app, mut options) = server().await;
    options.duration = Duration::from_secs(1);
    options.max_mentions = Some(120);
    options.server_pid = None;
    let report = ingest::run(
        &options,
        &IngestParams {
            batch: 50,
            concurrency: 3,
        },
    )
    .await
    .expect("ingest runs");
    assert_eq!(report.ingest.mentions_sent, 120, "{}", report.table());
    assert!(report.server.is_none());
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_and_reported_as_401() {
    let (app, mut options) = server().await;
    options.duration = Duration::from_secs(1);
    options.max_mentions = Some(100);
    options.server_pid = None;
    options.credentials = Arc::new(
        Credentials::with_default_claims("not-the-servers-secret-0123456789abcdef").unwrap(),
    );
    let report = ingest::run(
        &options,
        &IngestParams {
            batch: 50,
            concurrency: 1,
        },
    )
    .await
    .expect("ingest runs");
    let ingest = &report.ingest;
    assert_eq!(ingest.acked_requests, 0, "{}", report.table());
    assert_eq!(ingest.mentions_accepted, 0);
    assert!(ingest.requests > 0);
    assert_eq!(
        ingest.other_statuses.get(&401).copied(),
        Some(ingest.requests),
        "{}",
        report.table()
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_reports_both_endpoints_with_either_client() {
    let (app, mut options) = server().await;
    options.duration = Duration::from_secs(1);
    for (client, connections) in [(HttpClient::Hyper, 4), (HttpClient::Reqwest, 2)] {
        let params = RestParams {
            connections,
            endpoints: vec![Endpoint::Dashboard, Endpoint::Mentions],
            window: "15m".to_owned(),
            limit: 50,
            client,
        };
        let report = rest::run(&options, &params).await.expect("rest runs");
        assert_eq!(report.scenario, "rest");
        let rest = report.rest.as_ref().expect("rest figures");
        assert_eq!(rest.connections, connections as u64);
        assert!(rest.requests > 0, "{}", report.table());
        assert_eq!(rest.non_2xx, 0, "{}", report.table());
        for name in ["dashboard", "mentions"] {
            let e = &rest.endpoints[name];
            assert!(e.ok > 0, "{name}: {}", report.table());
            assert_eq!(e.latency.count, e.ok + e.non_2xx);
        }
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["rest"]["endpoints"]["dashboard"]["latency"]["p999_us"].is_u64());
        assert!(json["rest"]["requests_per_s"].is_f64());
        assert!(report.table().contains("GET dashboard"));
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_storm_resumes_every_client_and_checks_the_crisis() {
    let (app, mut options) = server().await;
    options.duration = Duration::from_secs(3);
    let params = StormParams {
        clients: 30,
        rate: 200.0,
        batch: 20,
        max_in_flight: 8,
        connect_timeout: Duration::from_secs(10),
        storm_at: Duration::from_millis(800),
        storm_window: Duration::from_millis(500),
        crisis_burst: 40,
        crisis_org: None,
        drain: Duration::from_millis(500),
    };
    let report = storm::run(&options, &params).await.expect("storm runs");
    assert_eq!(report.scenario, "reconnect-storm");
    let s = report.storm.as_ref().expect("storm figures");
    assert_eq!(s.clients.subscribed_at_start, 30, "{}", report.table());
    assert_eq!(s.dropped, 30, "{}", report.table());
    assert_eq!(s.resubscribed + s.not_back, s.dropped);
    assert!(s.resubscribed > 0, "{}", report.table());
    assert_eq!(s.recovered + s.not_recovered, s.resubscribed);
    assert_eq!(s.reconnect_time.count, s.resubscribed);
    assert!(s.delivery.mention_frames > 0, "{}", report.table());
    assert_eq!(s.crisis.burst, 40);
    assert_eq!(s.crisis.accepted, 40, "{}", report.table());
    assert_eq!(s.crisis.subscribers, 10, "{}", report.table());
    assert_eq!(s.crisis.received + s.crisis.missing, s.crisis.subscribers);
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "all_back_after_ms",
        "reconnect_time",
        "missed_after_resume",
        "crisis",
    ] {
        assert!(
            json["storm"].get(key).is_some(),
            "storm lacks {key}: {json}"
        );
    }
    assert!(report.table().contains("crisis:detected"));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumers_are_reported_apart_from_fast_ones() {
    let (app, mut options) = server().await;
    options.duration = Duration::from_millis(1500);
    for mode in [SlowMode::Stall, SlowMode::Delay] {
        let params = SlowParams {
            clients: 10,
            slow_fraction: 0.2,
            mode,
            slow_delay: Duration::from_millis(50),
            slow_recv_buffer: 65536,
            rate: 200.0,
            batch: 20,
            max_in_flight: 8,
            connect_timeout: Duration::from_secs(10),
            drain: Duration::from_millis(300),
            crisis_burst: 0,
            crisis_org: None,
        };
        let report = slow::run(&options, &params).await.expect("slow runs");
        assert_eq!(report.scenario, "slow-consumers");
        let s = report.slow.as_ref().expect("slow figures");
        assert_eq!(
            (s.fast.clients, s.slow.clients),
            (8, 2),
            "{}",
            report.table()
        );
        assert_eq!(s.subscribed_at_start, 10, "{}", report.table());
        assert!(s.fast.mention_frames > 0, "{}", report.table());
        assert_eq!(s.fast.latency.count, s.fast.mention_frames);
        assert!(s.crisis.is_none());
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["slow"]["slow"]["sequence"]["gap_frames"].is_u64());
        assert!(json["slow"]["fast"]["latency"]["p99_us"].is_u64());
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_report_memory_per_socket() {
    let (app, mut options) = server().await;
    options.duration = Duration::from_secs(1);
    let params = IdleParams {
        clients: 40,
        connect_timeout: Duration::from_secs(10),
    };
    let report = idle::run(&options, &params).await.expect("idle runs");
    assert_eq!(report.scenario, "idle");
    let i = report.idle.as_ref().expect("idle figures");
    assert_eq!(i.subscribed, 40, "{}", report.table());
    assert_eq!(i.subscribed_at_end, 40, "{}", report.table());
    // The server is this process, so the figure mixes both sides; it only has to exist.
    assert!(i.server_kib_per_socket.is_some(), "{}", report.table());
    assert!(i.server_rss_before_kib.is_some_and(|kib| kib > 0));
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["idle"]["server_kib_per_socket"].is_f64());
    app.shutdown().await.unwrap();
}

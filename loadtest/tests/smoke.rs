//! Smoke test: the real server in-process on port 0 (demo organisations with their mock
//! sources), both scenarios for about two seconds each. Checks the reports' structure and
//! that traffic flowed; no timing assertions (shared CI machines are noisy).

use std::time::Duration;

use warroom::App;
use warroom_engine::Config;
use warroom_loadtest::scenarios::fanout::{self, FanoutParams};
use warroom_loadtest::scenarios::ingest::{self, IngestParams};
use warroom_loadtest::scenarios::RunOptions;
use warroom_loadtest::target::Target;

async fn server() -> (App, RunOptions) {
    let mut config = Config::defaults();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
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

//! Mock history at first start (`[mock] backfill`): a fresh database gets history for an
//! organisation with a live mock rate, visible in its 24 h and 7 d windows and spread over
//! more than a day; an organisation without a mock feed gets none; and a second start on
//! the same database recovers that history instead of generating it again.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::{client_for, quiet_org, spawn_app, wait_for};
use serde_json::Value;
use warroom::App;
use warroom_engine::{Config, DataMode, OrgId};

const DEADLINE: Duration = Duration::from_secs(60);
/// The test's backfill: 36 hours, the last 20 minutes at the live rate (2/s: 2,400
/// mentions), 4,000 mentions at most.
const CAP: u64 = 4_000;

/// The mock feed on, fast ticks, a 36-hour backfill of at most [`CAP`] mentions; a busy
/// organisation at 2/s and a quiet one.
fn backfilling(config: &mut Config) {
    config.mock.enabled = true;
    config.engine.kpi_interval = Duration::from_millis(100);
    config.engine.epoch_tick = Duration::from_millis(20);
    config.mock.tick = Duration::from_millis(20);
    // Live mentions are then never more than 45 s older than their delivery: everything
    // stored with an older event time is history.
    config.mock.late_fraction = 0.0;
    config.mock.backfill = Duration::from_secs(36 * 3600);
    config.mock.backfill_full_rate = Duration::from_secs(1200);
    config.mock.backfill_max_mentions = CAP;
    let mut busy = quiet_org("busy");
    busy.mentions_per_second = 2.0;
    // Normal traffic at 2/s holds about 24 strongly negative mentions per 15 minutes: the
    // threshold sits well above it, as the demo organisations' do.
    busy.negative_threshold = Some(60);
    config.orgs = vec![busy, quiet_org("quiet")];
}

/// Stored MOCK mentions of `org` with event time before `before` (and after 40 h before it).
async fn stored_before(app: &App, org: &str, before: DateTime<Utc>) -> u64 {
    app.runtime()
        .store()
        .mention_totals(
            &OrgId::new(org),
            DataMode::Mock,
            before - TimeDelta::hours(40),
            before,
        )
        .await
        .unwrap()
        .iter()
        .map(|s| s.count)
        .sum()
}

async fn dashboard(base: &str, org: &str, window: &str) -> Value {
    client_for(org)
        .get(format!("{base}/api/v1/metrics/dashboard?window={window}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The first and last hour of a 7 d or 24 h volume series that hold mentions.
fn volume_span(kpis: &Value) -> (DateTime<Utc>, DateTime<Utc>) {
    let hours: Vec<DateTime<Utc>> = kpis["volume"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["count"].as_u64().unwrap() > 0)
        .map(|p| p["at"].as_str().unwrap().parse().unwrap())
        .collect();
    (*hours.first().unwrap(), *hours.last().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_start_backfills_history_once() {
    let started = Utc::now();
    let test = spawn_app(backfilling).await;
    let (app, base) = (&test.app, test.root.clone());
    let metrics = std::sync::Arc::clone(app.runtime().metrics());
    // Serving starts at once, while the history is still being written.
    let health = reqwest::get(format!("{base}/api/v1/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    wait_for("the backfill", DEADLINE, async || {
        metrics.mock_backfills_running.load(Ordering::Relaxed) == 0
            && metrics.mock_backfill_mentions.load(Ordering::Relaxed) > 0
    })
    .await;
    let backfilled = metrics.mock_backfill_mentions.load(Ordering::Relaxed);
    assert!(
        (CAP * 9 / 10..=CAP).contains(&backfilled),
        "{backfilled} mentions backfilled, cap {CAP}"
    );
    // Two closing days per campaign (4 to 6 campaigns).
    let reports = metrics
        .mock_backfill_campaign_reports
        .load(Ordering::Relaxed);
    assert!((8..=12).contains(&reports), "{reports} campaign reports");
    // The same figures on /metrics.
    let text = common::metrics_text(&base).await;
    for line in [
        "warroom_mock_backfills_running 0".to_owned(),
        format!("warroom_mock_backfill_mentions_total {backfilled}"),
        format!("warroom_mock_backfill_campaign_reports_total {reports}"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in /metrics");
    }

    // All of it in the windows: the 7 d one spread over more than a day, the 24 h one
    // with the recent tier (2,400 in the last 20 minutes) and the thin older part.
    let mut week = Value::Null;
    wait_for("the 7d window", DEADLINE, async || {
        week = dashboard(&base, "busy", "7d").await;
        week["kpis"]["mention_count"].as_u64().unwrap() >= backfilled
    })
    .await;
    let (first, last) = volume_span(&week["kpis"]);
    assert!(
        last - first > TimeDelta::hours(30),
        "history from {first} to {last}"
    );
    assert!(
        first <= started - TimeDelta::hours(34),
        "oldest hour {first}"
    );
    let day = dashboard(&base, "busy", "24h").await;
    let day_count = day["kpis"]["mention_count"].as_u64().unwrap();
    let week_count = week["kpis"]["mention_count"].as_u64().unwrap();
    assert!(
        day_count > 2_400 && day_count < week_count,
        "24h {day_count}, 7d {week_count}"
    );
    let (first, _) = volume_span(&day["kpis"]);
    assert!(first <= started - TimeDelta::hours(20), "24h from {first}");
    // The last 15 minutes read like the live rate (2/s), not like a pile-up.
    let quarter = dashboard(&base, "busy", "15m").await;
    let n = quarter["kpis"]["mention_count"].as_u64().unwrap() as f64;
    let elapsed = (Utc::now() - started).num_milliseconds() as f64 / 1000.0;
    let expected = 2.0 * 900.0_f64.max(elapsed);
    assert!(
        (n - expected).abs() < 0.15 * expected,
        "15m holds {n}, the live rate gives {expected}"
    );
    assert_eq!(
        dashboard(&base, "busy", "15m").await["active_crises"],
        0,
        "no crisis from history"
    );
    // Stored like any other mock data, with event times back to 36 hours.
    let history = stored_before(app, "busy", started - TimeDelta::minutes(1)).await;
    assert!(history > backfilled * 9 / 10, "{history} stored");
    // No feed, no history.
    let quiet = dashboard(&base, "quiet", "7d").await;
    assert_eq!(quiet["kpis"]["mention_count"], 0);
    let quiet_reports = app
        .runtime()
        .store()
        .campaign_metrics(&OrgId::new("quiet"), DataMode::Mock)
        .await
        .unwrap();
    let today = Utc::now().date_naive();
    assert!(quiet_reports.iter().all(|r| r.date >= today));

    // A second start on the same database recovers the history; it does not add more.
    let test = test.restart().await;
    let (app, base) = (&test.app, test.root.clone());
    let metrics = std::sync::Arc::clone(app.runtime().metrics());
    assert_eq!(metrics.mock_backfills_running.load(Ordering::Relaxed), 0);
    wait_for("the recovered 7d window", DEADLINE, async || {
        dashboard(&base, "busy", "7d").await["kpis"]["mention_count"]
            .as_u64()
            .unwrap()
            >= backfilled
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(metrics.mock_backfill_mentions.load(Ordering::Relaxed), 0);
    assert_eq!(
        metrics
            .mock_backfill_campaign_reports
            .load(Ordering::Relaxed),
        0
    );
    assert_eq!(
        stored_before(app, "busy", started - TimeDelta::minutes(1)).await,
        history,
        "no second history"
    );
    test.shutdown().await;
}

//! The app end to end on PostgreSQL (the other suites run on embedded SQLite): ingest →
//! KPIs, idempotent re-ingest, a restart that recovers identical KPIs, and exports read
//! from the database. Needs PostgreSQL on 127.0.0.1:5432 (scripts/services.sh); each test
//! gets a fresh database.

use crate::common;

use std::time::Duration;

use common::postgres::PgDatabase;
use common::{durable_view, poll_json, spawn_app, varied_mentions};
use serde_json::{json, Value};
use warroom_engine::{Config, DataMode};

const DEADLINE: Duration = Duration::from_secs(30);

/// Organisation `quiet` on PostgreSQL at `url`, fast ticks.
fn on_postgres(config: &mut Config, url: String) {
    config.engine.kpi_interval = Duration::from_millis(100);
    config.engine.epoch_tick = Duration::from_millis(20);
    config.orgs = vec![common::quiet_org("quiet")];
    config.database.url = url;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_kpis_idempotency_restart_and_export_on_postgres() {
    let db = PgDatabase::create().await;
    let test = spawn_app(|config| on_postgres(config, db.url())).await;
    let base = test.root.clone();
    let http = common::client_for("quiet");
    let body = varied_mentions("pg");
    let url = format!("{base}/api/v1/ingest/mentions?org=quiet");
    let first: Value = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["accepted"], 40, "{first}");
    // Idempotent: the same records again are acknowledged as duplicates.
    let again: Value = http
        .post(&url)
        .json(&body[..10])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["duplicates"], 10, "{again}");
    let today = chrono::Utc::now().date_naive().to_string();
    let metrics = json!([{"platform": "meta", "campaign_id": "m-9", "date": today,
        "impressions": 5000, "clicks": 40, "spend": "12.345678", "conversions": 2}]);
    let response = http
        .post(format!("{base}/api/v1/ingest/campaign-metrics?org=quiet"))
        .json(&metrics)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let dashboard_url = format!("{base}/api/v1/metrics/dashboard?org=quiet&window=1h");
    let before = poll_json(&http, &dashboard_url, DEADLINE, |d| {
        d["kpis"]["mention_count"] == 40 && d["campaigns"]["campaigns"] == 1
    })
    .await;
    let before = durable_view(&before);

    // Exports read the database: 40 mentions, once each.
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let export = |format: &'static str, table: &'static str| {
        let http = http.clone();
        let base = base.clone();
        let (from, to) = (from.clone(), to.clone());
        async move {
            http.post(format!("{base}/api/v1/reports/export/{format}?org=quiet"))
                .json(&json!({"table": table, "from": from, "to": to}))
                .send()
                .await
                .unwrap()
        }
    };
    let csv = export("csv", "mentions").await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 41, "header and 40 rows");
    let ids: std::collections::HashSet<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(2))
        .collect();
    assert_eq!(ids.len(), 40);
    let campaign: Value = export("json", "campaign_data").await.json().await.unwrap();
    assert_eq!(campaign.as_array().unwrap().len(), 1);
    assert_eq!(campaign[0]["spend"], json!(12.345678));

    // Same database, new process: identical KPIs, and the records are still duplicates.
    let test = test.restart().await;
    let base = test.root.clone();
    let dashboard_url = format!("{base}/api/v1/metrics/dashboard?org=quiet&window=1h");
    let after = poll_json(&http, &dashboard_url, DEADLINE, |d| {
        d["kpis"]["mention_count"] == 40 && d["campaigns"]["campaigns"] == 1
    })
    .await;
    assert_eq!(durable_view(&after), before);
    let url = format!("{base}/api/v1/ingest/mentions?org=quiet");
    let resent: Value = http
        .post(&url)
        .json(&body[..5])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resent["duplicates"], 5, "{resent}");
    let stored = warroom_storage::open_store(&db.url()).await.unwrap();
    assert_eq!(
        stored
            .count_mentions(&warroom_engine::OrgId::new("quiet"))
            .await
            .unwrap(),
        40
    );
    test.shutdown().await;
    // KPI minute buckets are in the database and add up to the mentions.
    let buckets = stored
        .kpi_buckets_since(
            &warroom_engine::OrgId::new("quiet"),
            DataMode::Mock,
            chrono::Utc::now() - chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(buckets.iter().map(|b| b.mention_count).sum::<u64>(), 40);
    stored.close().await;
}

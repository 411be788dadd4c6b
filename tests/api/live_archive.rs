//! The live Parquet archive end to end: the app ingests through the API, the archive task
//! tails the database, and the Parquet tree is read back file by file (row counts, sums,
//! partition paths, no duplicates) on embedded SQLite and on PostgreSQL, across a
//! graceful restart, and across `kill -9` of the server binary mid-stream.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};
use warroom_engine::Config;
use warroom_storage::archive::{LiveArchiveStats, Table};

use crate::common::postgres::PgDatabase;
use crate::common::{self, spawn_app, wait_for, Server};

const DEADLINE: Duration = Duration::from_secs(60);

/// Organisations `quiet` and `other` (no mock feed), the archive under `root` with quick
/// polls and checkpoints, and `database_url` (a PostgreSQL database) when given.
fn archiving(config: &mut Config, database_url: Option<String>, root: &Path) {
    config.orgs = ["quiet", "other"].map(common::quiet_org).to_vec();
    if let Some(url) = database_url {
        config.database.url = url;
    }
    // KPI minutes are written (and final for the archive) a fraction of a second after
    // they close.
    config.database.kpi_flush_interval = Duration::from_millis(100);
    config.archive.root = root.display().to_string();
    config.archive.poll_interval = Duration::from_millis(50);
    config.archive.max_open = Duration::from_millis(200);
}

/// Every complete data file under `dir`, recursively.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            out.extend(parquet_files(&path));
        } else if name.starts_with("part-") && name.ends_with(".parquet") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A table's published rows by partition (`org_id=…/date=…`).
fn read_table(root: &Path, table: Table) -> BTreeMap<String, Vec<RecordBatch>> {
    let base = root.join(table.as_str());
    let mut out: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
    for path in parquet_files(&base) {
        let partition = path
            .parent()
            .unwrap()
            .strip_prefix(&base)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // A file can vanish between listing and opening while a restarted archive
        // deletes the files of an incomplete checkpoint.
        let Ok(file) = fs::File::open(&path) else {
            continue;
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let batches = out.entry(partition).or_default();
        for batch in reader {
            batches.push(batch.unwrap());
        }
    }
    out
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        let col = batch.column_by_name(column).unwrap();
        let col = col.as_string::<i32>();
        out.extend((0..col.len()).map(|i| col.value(i).to_owned()));
    }
    out
}

fn ints(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for batch in batches {
        let col = batch.column_by_name(column).unwrap();
        let col = col.as_primitive::<Int64Type>();
        out.extend((0..col.len()).map(|i| col.value(i)));
    }
    out
}

fn all(partitions: &BTreeMap<String, Vec<RecordBatch>>) -> Vec<RecordBatch> {
    partitions.values().flatten().cloned().collect()
}

fn archived(stats: &LiveArchiveStats, table: Table) -> u64 {
    stats.table(table).rows_archived.load(Ordering::Relaxed)
}

/// `n` mentions of `org` over two closed minutes ten minutes ago; reach numbers them.
fn mentions(org: &str, first: usize, n: usize, base: DateTime<Utc>) -> Vec<Value> {
    (first..first + n)
        .map(|i| {
            let at =
                base + TimeDelta::minutes((i % 2) as i64) + TimeDelta::seconds((i % 50) as i64);
            let source = ["twitter", "reddit", "news"][i % 3];
            let content = ["Great rally, love it", "Awful decision", "Debate tonight"][i % 3];
            json!({
                "external_id": format!("{org}-{i}"),
                "source": source,
                "content": content,
                "author": {"handle": "@someone", "followers": 10, "reach": 1000 + i},
                "country": "US",
                "event_time": at.to_rfc3339(),
            })
        })
        .collect()
}

async fn ingest(base: &str, org: &str, body: &[Value]) {
    let response = common::client_for(org)
        .post(format!("{base}/api/v1/ingest/mentions?org={org}"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
}

/// Ingests, waits for the archive, reads the tree back; restarts and does it again.
async fn archive_end_to_end(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let test = spawn_app(|config| archiving(config, database_url, &root)).await;
    let (app, base) = (&test.app, test.root.clone());
    let minute0 = (Utc::now() - TimeDelta::minutes(10))
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap();

    let quiet = mentions("quiet", 0, 30, minute0);
    let other = mentions("other", 0, 12, minute0);
    ingest(&base, "quiet", &quiet).await;
    ingest(&base, "other", &other).await;
    let today = Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    let reports = json!([
        {"platform": "meta", "campaign_id": "m-1", "date": today.to_string(),
         "impressions": 5000, "clicks": 40, "spend": "12.345678", "conversions": 2},
        {"platform": "google_ads", "campaign_id": "g-1", "date": yesterday.to_string(),
         "impressions": 900, "clicks": 9, "spend": "1.000001", "conversions": 0.5},
    ]);
    let response = common::client_for("quiet")
        .post(format!("{base}/api/v1/ingest/campaign-metrics?org=quiet"))
        .json(&reports)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());

    // Two organisations × two closed minutes of KPI buckets.
    let stats = Arc::clone(app.runtime().archive().stats());
    wait_for("the archive to catch up", DEADLINE, async || {
        archived(&stats, Table::Mentions) == 42
            && archived(&stats, Table::CampaignData) == 2
            && archived(&stats, Table::KpiBuckets) == 4
    })
    .await;

    // Mentions: one folder per organisation and event day, every row once, exact sums.
    let tree = read_table(&root, Table::Mentions);
    let mut expected_partitions: BTreeMap<String, usize> = BTreeMap::new();
    for (org, rows) in [("quiet", &quiet), ("other", &other)] {
        for m in rows.iter() {
            let at: DateTime<Utc> = m["event_time"].as_str().unwrap().parse().unwrap();
            *expected_partitions
                .entry(format!("org_id={org}/date={}", at.date_naive()))
                .or_default() += 1;
        }
    }
    let got: BTreeMap<String, usize> = tree
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(RecordBatch::num_rows).sum()))
        .collect();
    assert_eq!(got, expected_partitions);
    let rows = all(&tree);
    let ids: HashSet<String> = strings(&rows, "external_id").into_iter().collect();
    assert_eq!(ids.len(), 42, "no duplicates");
    let reach: i64 = ints(&rows, "author_reach").iter().sum();
    let expected_reach: i64 =
        (0..30).map(|i| 1000 + i).sum::<i64>() + (0..12).map(|i| 1000 + i).sum::<i64>();
    assert_eq!(reach, expected_reach);

    // Campaign reports: the day each covers, money exact.
    let campaign = read_table(&root, Table::CampaignData);
    assert_eq!(
        campaign.keys().cloned().collect::<Vec<_>>(),
        [
            format!("org_id=quiet/date={yesterday}"),
            format!("org_id=quiet/date={today}"),
        ]
    );
    let spend: i128 = all(&campaign)
        .iter()
        .map(|b| {
            let col = b
                .column_by_name("spend")
                .unwrap()
                .as_primitive::<Decimal128Type>();
            (0..col.len()).map(|i| col.value(i)).sum::<i128>()
        })
        .sum();
    assert_eq!(spend, 13_345_679);

    // KPI buckets: one row per organisation and minute, counts adding up to the mentions.
    let kpi = all(&read_table(&root, Table::KpiBuckets));
    assert_eq!(ints(&kpi, "mention_count").iter().sum::<i64>(), 42);
    let minutes: HashSet<i64> = kpi
        .iter()
        .flat_map(|b| {
            let col = b
                .column_by_name("minute")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            (0..col.len()).map(|i| col.value(i)).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(minutes.len(), 2);
    assert!(minutes.contains(&minute0.timestamp_micros()));

    // Health and /metrics report it.
    let health: Value = test
        .admin_client("quiet")
        .await
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["services"]["archive"]["status"], "ok", "{health}");
    assert!(health["services"]["archive"]["detail"]
        .as_str()
        .unwrap()
        .contains("rows archived"));
    let metrics = common::metrics_text(&base).await;
    assert!(
        metrics.contains("warroom_archive_rows_total{table=\"mentions\"} 42"),
        "{metrics}"
    );
    assert!(metrics.contains("warroom_archive_lag_rows{table=\"mentions\"} 0"));
    assert!(metrics.contains("warroom_archive_up 1"));

    // A restart resumes where it stopped: only the new rows are archived.
    let test = test.restart().await;
    let (app, base) = (&test.app, test.root.clone());
    let more = mentions("other", 100, 8, minute0);
    ingest(&base, "other", &more).await;
    let stats = Arc::clone(app.runtime().archive().stats());
    wait_for("the new rows", DEADLINE, async || {
        archived(&stats, Table::Mentions) == 8
    })
    .await;
    let rows = all(&read_table(&root, Table::Mentions));
    let ids = strings(&rows, "external_id");
    assert_eq!(ids.len(), 50);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        50,
        "no duplicates"
    );
    test.shutdown().await;
    // A graceful stop leaves no temporary files.
    let leftovers = walk_names(&root)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

fn walk_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk_names(&path));
            } else {
                out.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_archive_on_sqlite() {
    archive_end_to_end(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_archive_on_postgres() {
    let db = PgDatabase::create().await;
    archive_end_to_end(Some(db.url())).await;
}

// ---------------------------------------------------------------------------------------
// kill -9
// ---------------------------------------------------------------------------------------

/// `warroom serve` on `database_url`, archiving under `root` (killed when dropped).
fn spawn_server(database_url: &str, root: &Path) -> (Server, String) {
    Server::spawn(
        database_url,
        &[
            ("WARROOM__ARCHIVE__ROOT", root.to_str().unwrap()),
            ("WARROOM__ARCHIVE__POLL_INTERVAL", "50ms"),
            // Checkpoints every 300 ms and files rolling every 40 rows: at any instant
            // there are rows in temporary files and published files above the saved
            // watermark.
            ("WARROOM__ARCHIVE__MAX_OPEN", "300ms"),
            ("WARROOM__ARCHIVE__MAX_FILE_ROWS", "40"),
        ],
    )
}

/// Every archived mention's external id, duplicates included.
fn archived_ids(root: &Path) -> Vec<String> {
    strings(&all(&read_table(root, Table::Mentions)), "external_id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_archive_survives_kill_9_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let database_url = format!("sqlite://{}", dir.path().join("warroom.db").display());
    let (mut server, addr) = spawn_server(&database_url, &root);
    let sent: Arc<Mutex<usize>> = Arc::default();

    // Two writers post continuously; the server is killed under them.
    let mut writers = Vec::new();
    for writer in 0..2 {
        let url = format!("http://{addr}/api/v1/ingest/mentions?org=harbor-city");
        let sent = Arc::clone(&sent);
        writers.push(tokio::spawn(async move {
            let client = common::client_for("harbor-city");
            for n in 0.. {
                let body: Vec<Value> = (0..25)
                    .map(|i| {
                        json!({"external_id": format!("k-{writer}-{n}-{i}"), "source": "reddit",
                               "content": "They said it again", "event_time": Utc::now().to_rfc3339()})
                    })
                    .collect();
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => *sent.lock().unwrap() += 25,
                    _ => break,
                }
            }
        }));
    }
    // Long enough for several checkpoints and rolled files.
    wait_for("ingest and archive activity", DEADLINE, async || {
        *sent.lock().unwrap() >= 1_500 && !archived_ids(&root).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.kill();
    for w in writers {
        w.await.unwrap();
    }
    let tmp_at_crash = walk_names(&root)
        .iter()
        .filter(|n| n.ends_with(".tmp"))
        .count();
    eprintln!(
        "killed with {tmp_at_crash} temporary files and {} archived rows",
        archived_ids(&root).len()
    );

    // Restart: the archive recovers and catches up with the database, exactly once. A
    // last batch through the restarted server shows when it has.
    let (mut server, addr) = spawn_server(&database_url, &root);
    let last: Vec<Value> = (0..25)
        .map(|i| {
            json!({"external_id": format!("after-{i}"), "source": "news",
                        "content": "After the restart", "event_time": Utc::now().to_rfc3339()})
        })
        .collect();
    let response = common::client_for("harbor-city")
        .post(format!(
            "http://{addr}/api/v1/ingest/mentions?org=harbor-city"
        ))
        .json(&last)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    wait_for("the archive to catch up", DEADLINE, async || {
        let metrics = common::metrics_text(&format!("http://{addr}")).await;
        let ids: HashSet<String> = archived_ids(&root).into_iter().collect();
        metrics.contains("warroom_archive_lag_rows{table=\"mentions\"} 0\n")
            && (0..25).all(|i| ids.contains(&format!("after-{i}")))
    })
    .await;
    let store = warroom_storage::open_store(&database_url).await.unwrap();
    let high = store.archive_high_water().await.unwrap();
    let mut stored = HashSet::new();
    let mut after = 0;
    loop {
        let page = store
            .archive_mentions(after, high.mentions, 10_000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        stored.extend(page.into_iter().map(|m| m.row.mention.external_id));
    }
    assert!(stored.len() >= 1_525);
    let ids = archived_ids(&root);
    server.kill();
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "no row archived twice");
    assert_eq!(unique, stored, "every stored row archived");
}

// ---------------------------------------------------------------------------------------
// Failures: degraded, never down, and recovery
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_failures_degrade_health_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    fs::create_dir_all(&root).unwrap();
    // A state file the archive cannot read: it refuses to guess, and keeps retrying.
    let state = root.join(warroom_storage::archive::live::STATE_FILE);
    fs::write(&state, "not json").unwrap();
    // The server starts anyway.
    let test = spawn_app(|config| archiving(config, None, &root)).await;
    let (app, base) = (&test.app, test.root.clone());
    let admin = test.admin_client("quiet").await;
    let health = || async {
        let response = admin
            .get(format!("{base}/api/v1/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "degraded, never down");
        response.json::<Value>().await.unwrap()
    };
    let degraded = wait_for("the archive to degrade", DEADLINE, async || {
        let h = health().await;
        (h["services"]["archive"]["status"] == "degraded").then_some(h)
    })
    .await;
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    let detail = degraded["services"]["archive"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("failing") && detail.contains(warroom_storage::archive::live::STATE_FILE),
        "{detail}"
    );
    assert!(degraded["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str().unwrap().starts_with("archive: ")));

    // Repaired: the next retry opens the archive and it catches up.
    fs::remove_file(&state).unwrap();
    ingest(
        &base,
        "quiet",
        &mentions("quiet", 0, 5, Utc::now() - TimeDelta::minutes(10)),
    )
    .await;
    let stats = Arc::clone(app.runtime().archive().stats());
    wait_for("the archive to recover", DEADLINE, async || {
        archived(&stats, Table::Mentions) == 5
    })
    .await;
    let h = health().await;
    assert_eq!(h["services"]["archive"]["status"], "ok", "{h}");
    test.shutdown().await;
}

//! Parquet archive throughput: rows per second written by `ArchiveWriter` (realistic
//! generated mentions, VADER-scored, 10 organisations, appended in batches of 1,000 and
//! flushed to zstd Parquet files, fsync included) and rows per second exported by
//! `export` from such an archive into Parquet, CSV and NDJSON (written to a sink).
//!
//! `live_archive/*` measures the live archive (`LiveArchive`): the same 100,000 mentions
//! committed to a store (embedded SQLite; PostgreSQL too when it is reachable on
//! 127.0.0.1:5432), then tailed into a new archive: sequence-paged reads of 5,000 rows,
//! Parquet encoding, one checkpoint (files published, fsync, watermarks saved).
//!
//! Criterion prints throughput in elements (rows) per second.
//!
//! Run: `cargo bench -p warroom --bench parquet`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use warroom_actors::sources::mock::MentionGenerator;
use warroom_engine::{DataMode, OrgId, Organization, ScoredMention, SystemClock};
use warroom_storage::archive::{
    export, ArchiveConfig, ArchiveWriter, ExportFormat, ExportQuery, LiveArchive,
    LiveArchiveOptions, LiveArchiveStats, Table,
};
use warroom_storage::Store;
use warroom_streams::sentiment::analyzer;

const ORGS: usize = 10;
const ROWS: usize = 100_000;
const BATCH: usize = 1_000;

/// `ROWS` mentions spread over `ORGS` organisations, scored like the dataflow scores them.
fn corpus() -> Vec<ScoredMention> {
    let orgs: Vec<OrgId> = (0..ORGS).map(|i| OrgId::new(format!("org-{i}"))).collect();
    let mut generators: Vec<MentionGenerator> =
        orgs.iter().map(|o| MentionGenerator::new(o, 11)).collect();
    let now = Utc::now();
    let analyzer = analyzer();
    let mut rows = Vec::with_capacity(ROWS);
    let mut i = 0;
    while rows.len() < ROWS {
        let org = i % ORGS;
        for mention in generators[org].generate(now, 20, 0.02) {
            let sentiment = analyzer.polarity_scores(&mention.content);
            rows.push(ScoredMention {
                org: orgs[org].clone(),
                sentiment,
                ingested_at_us: now.timestamp_micros(),
                mention,
            });
        }
        i += 1;
    }
    rows.truncate(ROWS);
    rows
}

/// A scratch directory under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "warroom-bench-{name}-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn write_all(root: &Path, rows: &[ScoredMention]) {
    let mut writer = ArchiveWriter::new(
        root.to_owned(),
        ArchiveConfig::default(),
        Arc::new(SystemClock),
    )
    .expect("writer");
    for chunk in rows.chunks(BATCH) {
        black_box(writer.append_mentions(chunk).expect("append"));
    }
    black_box(writer.flush_all().expect("flush"));
}

fn bench_parquet(c: &mut Criterion) {
    let rows = corpus();
    let bytes: usize = rows.iter().map(|r| r.mention.content.len()).sum();
    println!(
        "corpus: {} mentions, {} organisations, {:.0} content bytes per mention",
        rows.len(),
        ORGS,
        bytes as f64 / rows.len() as f64
    );

    let mut group = c.benchmark_group("parquet");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("write_mentions", |b| {
        b.iter_batched(
            || Scratch::new("write"),
            |dir| {
                write_all(dir.path(), &rows);
                dir
            },
            BatchSize::PerIteration,
        )
    });

    // Export one organisation's day from an archive of all of them.
    let archive = Scratch::new("export");
    write_all(archive.path(), &rows);
    let org = OrgId::new("org-0");
    let now = Utc::now();
    let query = ExportQuery {
        table: Table::Mentions,
        org: org.clone(),
        from: now - TimeDelta::days(2),
        to: now + TimeDelta::days(1),
    };
    let org_rows = rows.iter().filter(|r| r.org == org).count() as u64;
    group.throughput(Throughput::Elements(org_rows));
    for (name, format) in [
        ("export_parquet", ExportFormat::Parquet),
        ("export_csv", ExportFormat::Csv),
        ("export_ndjson", ExportFormat::Json),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let stats =
                    export(archive.path(), &query, format, std::io::sink()).expect("export");
                assert_eq!(stats.rows, org_rows);
                black_box(stats)
            })
        });
    }
    group.finish();
}

/// Commits the corpus to a store, 5,000 mentions per transaction.
async fn fill(store: &Arc<dyn Store>, rows: &[ScoredMention]) {
    store.migrate().await.expect("migrate");
    for i in 0..ORGS {
        let org = Organization {
            id: OrgId::new(format!("org-{i}")),
            name: format!("Org {i}"),
        };
        store.upsert_organization(&org).await.expect("org");
    }
    for chunk in rows.chunks(5_000) {
        store
            .insert_mentions(DataMode::Mock, chunk)
            .await
            .expect("insert");
    }
}

/// Tails every stored mention into a new archive under `root`, then checkpoints.
async fn archive_everything(store: &Arc<dyn Store>, root: &Path) {
    let options = LiveArchiveOptions {
        writer: ArchiveConfig {
            max_open: Duration::from_secs(3_600),
            ..ArchiveConfig::default()
        },
        page_size: 5_000,
        kpi_settle: Duration::from_secs(20),
    };
    let mut archive = LiveArchive::open(
        Arc::clone(store),
        root.to_owned(),
        options,
        Arc::new(SystemClock),
        Arc::new(LiveArchiveStats::default()),
    )
    .await
    .expect("open");
    let report = archive.poll().await.expect("poll");
    assert_eq!(report.appended[0], ROWS as u64);
    archive.close().await.expect("checkpoint");
}

/// A fresh Postgres database on the local server, or `None` when there is none.
async fn postgres_database() -> Option<(String, String)> {
    use sqlx::{Connection, Executor};
    for user in ["postgres", "root"] {
        let admin = format!("postgres://{user}@127.0.0.1:5432/postgres");
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
            let name = format!("warroom_bench_{}", std::process::id());
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .ok()?;
            return Some((admin, name));
        }
    }
    None
}

async fn drop_database(admin: &str, name: &str) {
    use sqlx::{Connection, Executor};
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await;
    }
}

fn bench_live_archive(c: &mut Criterion) {
    let rows = corpus();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let db = Scratch::new("live-db");
    let location = db.path().join("warroom.db").display().to_string();
    let sqlite = rt.block_on(async {
        let store = warroom_storage::open_store(&location)
            .await
            .expect("sqlite");
        fill(&store, &rows).await;
        store
    });
    let postgres = rt.block_on(async {
        let (admin, name) = postgres_database().await?;
        let (server, _) = admin.rsplit_once('/')?;
        let store = warroom_storage::open_store(&format!("{server}/{name}"))
            .await
            .ok()?;
        fill(&store, &rows).await;
        Some((store, admin, name))
    });

    let mut group = c.benchmark_group("live_archive");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(rows.len() as u64));
    let mut stores = vec![("sqlite_mentions", sqlite)];
    match &postgres {
        Some((store, _, _)) => stores.push(("postgres_mentions", Arc::clone(store))),
        None => println!("PostgreSQL not reachable on 127.0.0.1:5432: postgres_mentions skipped"),
    }
    for (name, store) in &stores {
        group.bench_function(*name, |b| {
            b.iter_batched(
                || Scratch::new("live"),
                |dir| {
                    rt.block_on(archive_everything(store, dir.path()));
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    if let Some((store, admin, name)) = postgres {
        rt.block_on(async {
            store.close().await;
            drop_database(&admin, &name).await;
        });
    }
}

criterion_group!(benches, bench_parquet, bench_live_archive);
criterion_main!(benches);

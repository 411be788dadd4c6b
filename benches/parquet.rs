//! Parquet archive throughput: rows per second written by `ArchiveWriter` (realistic
//! generated mentions, VADER-scored, 10 organisations, appended in batches of 1,000 and
//! flushed to zstd Parquet files, fsync included) and rows per second exported by
//! `export` from such an archive into Parquet, CSV and NDJSON (written to a sink).
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
use warroom_actors::mock::MentionGenerator;
use warroom_engine::{OrgId, ScoredMention, SystemClock};
use warroom_storage::archive::{
    export, ArchiveConfig, ArchiveWriter, ExportFormat, ExportQuery, Table,
};
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

criterion_group!(benches, bench_parquet);
criterion_main!(benches);

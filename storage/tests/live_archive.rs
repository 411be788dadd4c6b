//! The live archive (`warroom_storage::archive::live`) against a real store: each body
//! runs on embedded SQLite and on PostgreSQL (see `harness`). It tails the store, and
//! the Parquet tree it leaves is read back file by file: rows, sums, partitions, and
//! that nothing is archived twice or lost across a crash at any point.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use warroom_engine::clock::{ManualClock, SharedClock};
use warroom_engine::model::{
    Author, CampaignMetric, DataMode, Mention, OrgId, Organization, Platform, ScoredMention,
    SentimentScores, Source,
};
use warroom_storage::archive::live::{file_seq_range, STATE_FILE};
use warroom_storage::archive::{
    ArchiveConfig, ArchiveWriter, LiveArchive, LiveArchiveOptions, LiveArchiveStats, Table,
};
use warroom_storage::sql::{KpiBucket, Store};

#[macro_use]
mod harness;

conformance!(
    archives_every_row_once_and_resumes_from_the_watermark,
    late_rows_go_to_the_partition_of_their_day,
    crash_before_publish_sweeps_and_archives_once,
    crash_between_publish_and_watermark_does_not_duplicate,
    files_rolled_before_a_crash_are_not_duplicated,
    kpi_minutes_wait_until_final_and_changes_are_restated,
);

// ---------------------------------------------------------------------------------------
// Data and helpers
// ---------------------------------------------------------------------------------------

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, d, 12, 0, 0)
        .single()
        .expect("valid")
}

async fn orgs(store: &dyn Store) -> [OrgId; 2] {
    for id in ["acme", "globex"] {
        store
            .upsert_organization(&Organization {
                id: OrgId::new(id),
                name: id.to_uppercase(),
            })
            .await
            .expect("org");
    }
    [OrgId::new("acme"), OrgId::new("globex")]
}

/// A mention whose follower count is its number, so sums identify the rows.
fn mention(org: &OrgId, n: u64, at: DateTime<Utc>) -> ScoredMention {
    ScoredMention {
        org: org.clone(),
        mention: Mention {
            external_id: format!("ext-{n}"),
            source: Source::Twitter,
            content: format!("mention number {n}"),
            author: Author {
                handle: format!("@a{n}"),
                name: None,
                followers: n,
                reach: 0,
            },
            country: Some("US".to_owned()),
            region: None,
            language: Some("en".to_owned()),
            hashtags: vec!["vote".to_owned()],
            url: None,
            event_time: at + TimeDelta::seconds(i64::try_from(n % 600).expect("small")),
            source_sentiment: None,
        },
        sentiment: SentimentScores {
            neg: 0.0,
            neu: 0.5,
            pos: 0.5,
            compound: 0.5,
        },
        ingested_at_us: at.timestamp_micros(),
    }
}

fn report(n: i64, date: NaiveDate) -> CampaignMetric {
    CampaignMetric {
        platform: Platform::Meta,
        campaign_id: format!("c{n}"),
        campaign_name: format!("Campaign {n}"),
        date,
        impressions: 1_000,
        reach: Some(500),
        clicks: 10,
        spend_micros: n * 1_000_000,
        conversions: 1.5,
        daily_budget_micros: None,
        currency: "USD".to_owned(),
        reported_at: day(20),
    }
}

fn bucket(org: &OrgId, minute: DateTime<Utc>, count: u64) -> KpiBucket {
    KpiBucket {
        org: org.clone(),
        data_mode: DataMode::Mock,
        minute,
        mention_count: count,
        sentiment_sum: 0.5 * count as f64,
        positive: count,
        neutral: 0,
        negative: 0,
        strongly_negative: 0,
        by_source: BTreeMap::new(),
        sketches: serde_json::json!({}),
    }
}

fn options(max_open: Duration) -> LiveArchiveOptions {
    LiveArchiveOptions {
        writer: ArchiveConfig {
            max_open,
            sync: false,
            ..ArchiveConfig::default()
        },
        page_size: 7,
        kpi_settle: Duration::from_secs(20),
    }
}

/// `max_open` zero: every poll that read something checkpoints.
fn eager() -> LiveArchiveOptions {
    options(Duration::ZERO)
}

/// A checkpoint only when asked for.
fn lazy() -> LiveArchiveOptions {
    options(Duration::from_secs(24 * 3600))
}

fn clock_at(at: DateTime<Utc>) -> (ManualClock, SharedClock) {
    let manual = ManualClock::new(at);
    (manual.clone(), Arc::new(manual))
}

async fn open(
    store: &Arc<dyn Store>,
    root: &Path,
    options: LiveArchiveOptions,
    clock: &SharedClock,
) -> LiveArchive {
    LiveArchive::open(
        Arc::clone(store),
        root.to_owned(),
        options,
        Arc::clone(clock),
        Arc::new(LiveArchiveStats::default()),
    )
    .await
    .expect("open the live archive")
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn tmp_files(root: &Path) -> usize {
    files_under(root)
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".parquet.tmp"))
        .count()
}

/// The published rows of a table: per `org_id=…/date=…` partition, its batches.
fn read_table(root: &Path, table: Table) -> BTreeMap<String, Vec<RecordBatch>> {
    let mut out: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
    let base = root.join(table.as_str());
    for path in files_under(&base) {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        if !(name.starts_with("part-") && name.ends_with(".parquet")) {
            continue;
        }
        let partition = path
            .parent()
            .and_then(|p| p.strip_prefix(&base).ok())
            .expect("partition")
            .to_string_lossy()
            .into_owned();
        let file = fs::File::open(&path).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet")
            .build()
            .expect("reader");
        let batches = out.entry(partition).or_default();
        for batch in reader {
            batches.push(batch.expect("batch"));
        }
    }
    out
}

fn rows(partitions: &BTreeMap<String, Vec<RecordBatch>>) -> usize {
    partitions
        .values()
        .flatten()
        .map(RecordBatch::num_rows)
        .sum()
}

fn rows_per_partition(partitions: &BTreeMap<String, Vec<RecordBatch>>) -> BTreeMap<String, usize> {
    partitions
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(RecordBatch::num_rows).sum()))
        .collect()
}

fn int_column(partitions: &BTreeMap<String, Vec<RecordBatch>>, column: &str) -> Vec<i64> {
    let mut values = Vec::new();
    for batch in partitions.values().flatten() {
        let col = batch.column_by_name(column).expect("column");
        let col = col.as_primitive::<Int64Type>();
        values.extend((0..col.len()).map(|i| col.value(i)));
    }
    values.sort_unstable();
    values
}

/// The archived mentions' follower counts, which number them: sorted, so a duplicate or
/// a missing row shows.
fn archived_mention_numbers(root: &Path) -> Vec<i64> {
    int_column(&read_table(root, Table::Mentions), "author_followers")
}

fn numbers(range: std::ops::Range<u64>) -> Vec<i64> {
    range.map(|n| i64::try_from(n).expect("small")).collect()
}

async fn insert(
    store: &Arc<dyn Store>,
    orgs: &[OrgId; 2],
    range: std::ops::Range<u64>,
    at: DateTime<Utc>,
) {
    let batch: Vec<_> = range
        .map(|n| mention(&orgs[usize::from(n % 2 == 1)], n, at))
        .collect();
    store
        .insert_mentions(DataMode::Mock, &batch)
        .await
        .expect("insert");
}

// ---------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------

async fn archives_every_row_once_and_resumes_from_the_watermark(store: Arc<dyn Store>) {
    let orgs = orgs(&*store).await;
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("archive");
    let (_, clock) = clock_at(day(25));

    insert(&store, &orgs, 0..40, day(1)).await;
    insert(&store, &orgs, 40..50, day(2)).await;
    let d1 = day(1).date_naive();
    store
        .insert_campaign_metrics(
            DataMode::Mock,
            &[
                (orgs[0].clone(), report(1, d1)),
                (orgs[1].clone(), report(2, d1)),
                (orgs[0].clone(), report(3, day(2).date_naive())),
            ],
        )
        .await
        .expect("campaign");

    let mut archive = open(&store, &root, eager(), &clock).await;
    let report = archive.poll().await.expect("poll");
    assert_eq!(report.appended, [50, 3, 0]);
    assert!(report.checkpointed);
    assert_eq!(archived_mention_numbers(&root), numbers(0..50));
    let mentions = read_table(&root, Table::Mentions);
    assert_eq!(
        rows_per_partition(&mentions),
        BTreeMap::from([
            ("org_id=acme/date=2024-05-01".to_owned(), 20),
            ("org_id=acme/date=2024-05-02".to_owned(), 5),
            ("org_id=globex/date=2024-05-01".to_owned(), 20),
            ("org_id=globex/date=2024-05-02".to_owned(), 5),
        ])
    );
    let campaign = read_table(&root, Table::CampaignData);
    assert_eq!(rows(&campaign), 3);
    let spend: i128 = campaign
        .values()
        .flatten()
        .map(|b| {
            let col = b.column_by_name("spend").expect("spend");
            let col = col.as_primitive::<arrow::datatypes::Decimal128Type>();
            (0..col.len()).map(|i| col.value(i)).sum::<i128>()
        })
        .sum();
    assert_eq!(spend, 6_000_000, "1 + 2 + 3 units in micro-units");
    assert!(root.join(STATE_FILE).exists());

    // Nothing new: nothing appended, no new files.
    let files = files_under(&root);
    assert_eq!(archive.poll().await.expect("idle").appended, [0, 0, 0]);
    assert_eq!(files_under(&root), files);

    // New rows go to new files; the old ones are untouched.
    insert(&store, &orgs, 50..60, day(2)).await;
    assert_eq!(archive.poll().await.expect("poll").appended, [10, 0, 0]);
    assert_eq!(archived_mention_numbers(&root), numbers(0..60));
    let marks = archive.watermarks();
    archive.close().await.expect("close");

    // A restart resumes from the saved watermark.
    insert(&store, &orgs, 60..65, day(3)).await;
    let mut archive = open(&store, &root, eager(), &clock).await;
    assert_eq!(archive.watermarks(), marks);
    assert_eq!(archive.poll().await.expect("poll").appended, [5, 0, 0]);
    assert_eq!(archived_mention_numbers(&root), numbers(0..65));
    assert_eq!(tmp_files(&root), 0);
}

async fn late_rows_go_to_the_partition_of_their_day(store: Arc<dyn Store>) {
    let orgs = orgs(&*store).await;
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().to_owned();
    let (_, clock) = clock_at(day(25));
    let mut archive = open(&store, &root, eager(), &clock).await;
    insert(&store, &orgs, 0..4, day(10)).await;
    archive.poll().await.expect("poll");
    // A mention of an earlier day committed later: its own day's folder, a new file.
    store
        .insert_mentions(DataMode::Mock, &[mention(&orgs[0], 100, day(3))])
        .await
        .expect("late");
    assert_eq!(archive.poll().await.expect("poll").appended, [1, 0, 0]);
    let per = rows_per_partition(&read_table(&root, Table::Mentions));
    assert_eq!(per.get("org_id=acme/date=2024-05-03"), Some(&1));
    assert_eq!(per.get("org_id=acme/date=2024-05-10"), Some(&2));
    assert_eq!(archived_mention_numbers(&root), vec![0, 1, 2, 3, 100]);
}

async fn crash_before_publish_sweeps_and_archives_once(store: Arc<dyn Store>) {
    let orgs = orgs(&*store).await;
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().to_owned();
    let (_, clock) = clock_at(day(25));
    let mut archive = open(&store, &root, lazy(), &clock).await;
    insert(&store, &orgs, 0..20, day(1)).await;
    archive.poll().await.expect("poll");
    archive.checkpoint().await.expect("checkpoint");
    let marks = archive.watermarks();

    // More rows are appended to open files, then the process dies (no destructor runs).
    insert(&store, &orgs, 20..30, day(1)).await;
    assert_eq!(archive.poll().await.expect("poll").appended, [10, 0, 0]);
    assert!(tmp_files(&root) > 0, "rows wait in temporary files");
    std::mem::forget(archive);
    assert_eq!(archived_mention_numbers(&root), numbers(0..20));

    let mut archive = open(&store, &root, lazy(), &clock).await;
    assert_eq!(tmp_files(&root), 0, "the restart swept them");
    assert_eq!(archive.watermarks(), marks);
    assert_eq!(archive.poll().await.expect("poll").appended, [10, 0, 0]);
    archive.checkpoint().await.expect("checkpoint");
    assert_eq!(archived_mention_numbers(&root), numbers(0..30));
}

async fn crash_between_publish_and_watermark_does_not_duplicate(store: Arc<dyn Store>) {
    let orgs = orgs(&*store).await;
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().to_owned();
    let (_, clock) = clock_at(day(25));
    let mut archive = open(&store, &root, eager(), &clock).await;
    insert(&store, &orgs, 0..20, day(1)).await;
    archive.poll().await.expect("poll");
    let marks = archive.watermarks();
    drop(archive);

    // What a checkpoint does up to the crash: the next rows published in files tagged
    // with their sequence numbers, and the state file not rewritten.
    insert(&store, &orgs, 20..35, day(1)).await;
    let high = store.archive_high_water().await.expect("high");
    let unsaved = store
        .archive_mentions(marks.mentions, high.mentions, 100)
        .await
        .expect("rows");
    assert_eq!(unsaved.len(), 15);
    {
        let mut writer =
            ArchiveWriter::new(root.clone(), eager().writer, Arc::clone(&clock)).expect("writer");
        writer.append_sequenced_mentions(&unsaved).expect("append");
        let published = writer.flush_all().expect("publish");
        for file in &published.closed {
            let (min, max) = file_seq_range(&file.path).expect("read").expect("tagged");
            assert!(min > marks.mentions && max <= high.mentions);
        }
    }
    assert_eq!(
        archived_mention_numbers(&root).len(),
        35,
        "published, watermark not saved"
    );

    // The restart deletes them and archives their rows again: once.
    let mut archive = open(&store, &root, eager(), &clock).await;
    assert_eq!(archived_mention_numbers(&root), numbers(0..20));
    assert_eq!(archive.poll().await.expect("poll").appended, [15, 0, 0]);
    assert_eq!(archived_mention_numbers(&root), numbers(0..35));
}

async fn files_rolled_before_a_crash_are_not_duplicated(store: Arc<dyn Store>) {
    let orgs = orgs(&*store).await;
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().to_owned();
    let (_, clock) = clock_at(day(25));
    // Files roll every 3 rows: most of a checkpoint is published before it completes.
    let mut small = lazy();
    small.writer.max_file_rows = 3;
    let mut archive = open(&store, &root, small.clone(), &clock).await;
    insert(&store, &orgs, 0..10, day(1)).await;
    archive.poll().await.expect("poll");
    archive.checkpoint().await.expect("checkpoint");
    insert(&store, &orgs, 10..30, day(1)).await;
    archive.poll().await.expect("poll");
    let visible = archived_mention_numbers(&root).len();
    assert!(
        visible > 10,
        "rolled files are visible before the checkpoint ({visible})"
    );
    std::mem::forget(archive);

    let mut archive = open(&store, &root, small, &clock).await;
    assert_eq!(archived_mention_numbers(&root), numbers(0..10));
    archive.poll().await.expect("poll");
    archive.checkpoint().await.expect("checkpoint");
    assert_eq!(archived_mention_numbers(&root), numbers(0..30));
    assert_eq!(tmp_files(&root), 0);
}

async fn kpi_minutes_wait_until_final_and_changes_are_restated(store: Arc<dyn Store>) {
    let orgs = orgs(&*store).await;
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().to_owned();
    let now = Utc
        .with_ymd_and_hms(2024, 5, 1, 12, 0, 30)
        .single()
        .expect("now");
    let (manual, clock) = clock_at(now);
    let minute = |m: u32| {
        Utc.with_ymd_and_hms(2024, 5, 1, 11, m, 0)
            .single()
            .expect("m")
    };
    let open_minute = Utc
        .with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .single()
        .expect("m");
    // Written in this order: an old minute, the open one, another old one.
    store
        .upsert_kpi_buckets(&[bucket(&orgs[0], minute(50), 4)])
        .await
        .expect("kpi");
    store
        .upsert_kpi_buckets(&[bucket(&orgs[0], open_minute, 2)])
        .await
        .expect("kpi");
    store
        .upsert_kpi_buckets(&[bucket(&orgs[1], minute(55), 6)])
        .await
        .expect("kpi");
    let mut archive = open(&store, &root, eager(), &clock).await;
    let report = archive.poll().await.expect("poll");
    assert_eq!(
        report.appended[2], 1,
        "stops at the first minute that is not final"
    );
    assert!(report.kpi_waiting);
    assert_eq!(
        int_column(&read_table(&root, Table::KpiBuckets), "mention_count"),
        [4]
    );
    // The open minute closes and settles (1 min + 20 s): both follow.
    manual.advance(Duration::from_secs(60));
    let report = archive.poll().await.expect("poll");
    assert_eq!(report.appended[2], 2);
    assert!(!report.kpi_waiting);
    let kpi = read_table(&root, Table::KpiBuckets);
    assert_eq!(int_column(&kpi, "mention_count"), [2, 4, 6]);
    assert_eq!(
        rows_per_partition(&kpi),
        BTreeMap::from([
            ("org_id=acme/date=2024-05-01".to_owned(), 2),
            ("org_id=globex/date=2024-05-01".to_owned(), 1),
        ])
    );
    // Rewritten with the same counts: nothing new. A late mention: a restatement.
    store
        .upsert_kpi_buckets(&[bucket(&orgs[0], minute(50), 4)])
        .await
        .expect("same");
    assert_eq!(archive.poll().await.expect("poll").appended[2], 0);
    store
        .upsert_kpi_buckets(&[bucket(&orgs[0], minute(50), 5)])
        .await
        .expect("late");
    assert_eq!(archive.poll().await.expect("poll").appended[2], 1);
    let kpi = read_table(&root, Table::KpiBuckets);
    assert_eq!(int_column(&kpi, "mention_count"), [2, 4, 5, 6]);
}

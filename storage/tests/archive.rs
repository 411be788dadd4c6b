//! The Parquet archive end to end: writer → files → export, and the files read by
//! DuckDB and pyarrow.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Decimal128Type, Int64Type, TimeUnit};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use warroom_engine::clock::{ManualClock, SharedClock};
use warroom_engine::model::{
    Author, CampaignMetric, Mention, OrgId, Platform, ScoredMention, SentimentScores, Source,
};
use warroom_storage::archive::{
    export, partition_dir, ArchiveConfig, ArchiveError, ArchiveWriter, ExportFormat, ExportQuery,
    KpiBucketRow, Table,
};

// ---------------------------------------------------------------- the data set

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
}

fn mention(org: &str, i: usize, at: DateTime<Utc>) -> ScoredMention {
    let source = Source::ALL[i % Source::COUNT];
    // Deterministic spread over -0.95..0.95 so every sentiment class occurs.
    let compound = ((i * 37) % 39) as f64 / 20.0 - 0.95;
    ScoredMention {
        org: OrgId::new(org),
        mention: Mention {
            external_id: format!("{org}-{i}"),
            source,
            content: format!("mention {i} about the campaign, \"quoted\", with a comma"),
            author: Author {
                handle: format!("@user{}", i % 50),
                name: (i.is_multiple_of(3)).then(|| format!("User {}", i % 50)),
                followers: (i as u64) * 10,
                reach: (i as u64) * 3,
            },
            country: (!i.is_multiple_of(4)).then(|| ["US", "GB", "DE"][i % 3].to_owned()),
            region: None,
            language: Some("en".into()),
            hashtags: (0..i % 3).map(|k| format!("tag{k}")).collect(),
            url: (i.is_multiple_of(2)).then(|| format!("https://example.com/{i}")),
            event_time: at,
            source_sentiment: (i.is_multiple_of(5)).then_some(0.25),
        },
        sentiment: SentimentScores {
            neg: 0.1,
            neu: 0.8,
            pos: 0.1,
            compound,
        },
        ingested_at_us: at.timestamp_micros() + 1_500,
    }
}

/// `n` mentions of `org`, one every 97 seconds from `t0`: about 2.6 days for 2,400.
fn mentions(org: &str, n: usize) -> Vec<ScoredMention> {
    (0..n)
        .map(|i| mention(org, i, t0() + TimeDelta::seconds(97 * i as i64)))
        .collect()
}

fn metric(campaign: usize, day: u32, spend_micros: i64) -> CampaignMetric {
    CampaignMetric {
        platform: if campaign.is_multiple_of(2) {
            Platform::Meta
        } else {
            Platform::GoogleAds
        },
        campaign_id: format!("c{campaign}"),
        campaign_name: format!("Campaign {campaign}"),
        date: NaiveDate::from_ymd_opt(2024, 5, day).unwrap(),
        impressions: 10_000 + campaign as u64,
        reach: (campaign.is_multiple_of(2)).then_some(7_000),
        clicks: 250,
        spend_micros,
        conversions: 3.5,
        daily_budget_micros: Some(500_000_000),
        currency: "USD".into(),
        reported_at: Utc.with_ymd_and_hms(2024, 5, day, 23, 0, 0).unwrap(),
    }
}

/// Three campaigns over three days with awkward micro amounts; the exact total.
fn campaign_rows() -> (Vec<CampaignMetric>, i128) {
    let mut rows = Vec::new();
    for day in 1..=3 {
        for campaign in 0..3 {
            let spend = 123_456_789 * i64::from(day) + 1_000_001 * campaign as i64 + 7;
            rows.push(metric(campaign, day, spend));
        }
    }
    let total = rows.iter().map(|r| i128::from(r.spend_micros)).sum();
    (rows, total)
}

fn kpi_rows(rows: &[ScoredMention]) -> Vec<KpiBucketRow> {
    let mut buckets: BTreeMap<(OrgId, DateTime<Utc>), KpiBucketRow> = BTreeMap::new();
    for m in rows {
        let row = KpiBucketRow::new(m.org.clone(), m.mention.event_time);
        buckets
            .entry((m.org.clone(), row.minute))
            .or_insert(row)
            .record(m.mention.source, m.sentiment.compound);
    }
    buckets.into_values().collect()
}

fn clock() -> (ManualClock, SharedClock) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 4, 0, 0, 0).unwrap());
    (clock.clone(), Arc::new(clock))
}

fn fast_config() -> ArchiveConfig {
    ArchiveConfig {
        sync: false,
        ..ArchiveConfig::default()
    }
}

/// Writes the data set for `alpha` (2,400 mentions) and `beta` (600) and flushes.
fn write_dataset(root: &Path) -> (Vec<ScoredMention>, i128) {
    let (_, shared) = clock();
    let mut writer = ArchiveWriter::new(root.to_owned(), fast_config(), shared).unwrap();
    let mut all = mentions("alpha", 2_400);
    all.extend(mentions("beta", 600));
    // Appended in several calls, as the engine would.
    for chunk in all.chunks(700) {
        writer.append_mentions(chunk).unwrap();
    }
    let (campaign, total) = campaign_rows();
    writer
        .append_campaign(&OrgId::new("alpha"), &campaign)
        .unwrap();
    writer
        .append_campaign(&OrgId::new("beta"), &campaign[..2])
        .unwrap();
    writer.append_kpi_buckets(&kpi_rows(&all)).unwrap();
    let report = writer.flush_all().unwrap();
    assert_eq!(writer.open_files(), 0);
    assert!(!report.closed.is_empty());
    (all, total)
}

fn query(table: Table, org: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> ExportQuery {
    ExportQuery {
        table,
        org: OrgId::new(org),
        from,
        to,
    }
}

fn everything(table: Table, org: &str) -> ExportQuery {
    query(
        table,
        org,
        t0() - TimeDelta::days(30),
        t0() + TimeDelta::days(30),
    )
}

fn read_parquet(bytes: Vec<u8>) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn export_to_vec(root: &Path, q: &ExportQuery, format: ExportFormat) -> Vec<u8> {
    let mut out = Vec::new();
    export(root, q, format, &mut out).unwrap();
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn per_source(rows: &[&ScoredMention]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for m in rows {
        *counts
            .entry(m.mention.source.as_str().to_owned())
            .or_default() += 1;
    }
    counts
}

// ---------------------------------------------------------------- tests

#[test]
fn round_trip_keeps_counts_types_and_exact_sums() {
    let dir = tempfile::tempdir().unwrap();
    let (all, total_spend) = write_dataset(dir.path());
    let alpha: Vec<&ScoredMention> = all.iter().filter(|m| m.org.as_str() == "alpha").collect();

    // Mentions.
    let batches = read_parquet(export_to_vec(
        dir.path(),
        &everything(Table::Mentions, "alpha"),
        ExportFormat::Parquet,
    ));
    let schema = batches[0].schema();
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    assert_eq!(schema.field_with_name("org_id").unwrap().data_type(), &dict);
    assert_eq!(schema.field_with_name("source").unwrap().data_type(), &dict);
    assert_eq!(
        schema.field_with_name("event_time").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert!(matches!(
        schema.field_with_name("hashtags").unwrap().data_type(),
        DataType::List(_)
    ));
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, alpha.len());
    let mut by_source = BTreeMap::new();
    let mut compound = 0.0;
    let mut external_ids = Vec::new();
    for batch in &batches {
        let sources = batch
            .column_by_name("source")
            .unwrap()
            .as_dictionary::<arrow::datatypes::Int32Type>();
        let values = sources.values().as_string::<i32>();
        for key in sources.keys().iter() {
            *by_source
                .entry(values.value(key.unwrap() as usize).to_owned())
                .or_insert(0_u64) += 1;
        }
        compound += batch
            .column_by_name("sentiment_compound")
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>()
            .values()
            .iter()
            .sum::<f64>();
        let ids = batch
            .column_by_name("external_id")
            .unwrap()
            .as_string::<i32>();
        external_ids.extend(ids.iter().map(|s| s.unwrap().to_owned()));
    }
    assert_eq!(by_source, per_source(&alpha));
    let expected_compound: f64 = alpha.iter().map(|m| m.sentiment.compound).sum();
    assert!((compound - expected_compound).abs() < 1e-9);
    external_ids.sort();
    let mut expected_ids: Vec<String> = alpha
        .iter()
        .map(|m| m.mention.external_id.clone())
        .collect();
    expected_ids.sort();
    assert_eq!(external_ids, expected_ids, "every row exactly once");

    // Campaign data: money exactly.
    let batches = read_parquet(export_to_vec(
        dir.path(),
        &everything(Table::CampaignData, "alpha"),
        ExportFormat::Parquet,
    ));
    let mut spend: i128 = 0;
    let mut rows = 0;
    for batch in &batches {
        let column = batch.column_by_name("spend").unwrap();
        assert_eq!(column.data_type(), &DataType::Decimal128(18, 6));
        spend += column
            .as_primitive::<Decimal128Type>()
            .values()
            .iter()
            .sum::<i128>();
        assert_eq!(
            batch.column_by_name("date").unwrap().data_type(),
            &DataType::Date32
        );
        rows += batch.num_rows();
    }
    assert_eq!(rows, 9);
    assert_eq!(spend, total_spend);

    // KPI buckets add up to the mentions.
    let batches = read_parquet(export_to_vec(
        dir.path(),
        &everything(Table::KpiBuckets, "alpha"),
        ExportFormat::Parquet,
    ));
    let sum = |name: &str| -> i64 {
        batches
            .iter()
            .map(|b| {
                b.column_by_name(name)
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .sum::<i64>()
            })
            .sum()
    };
    assert_eq!(sum("mention_count"), alpha.len() as i64);
    assert_eq!(
        sum("positive") + sum("neutral") + sum("negative"),
        alpha.len() as i64
    );
    let sources: i64 = Source::ALL
        .iter()
        .map(|s| sum(&format!("source_{}", s.as_str())))
        .sum();
    assert_eq!(sources, alpha.len() as i64);
    assert_eq!(sum("source_reddit") as u64, per_source(&alpha)["reddit"]);
}

#[test]
fn partitions_are_hive_style_by_org_and_event_day() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shared) = clock();
    let mut writer = ArchiveWriter::new(dir.path().to_owned(), fast_config(), shared).unwrap();
    let late = mention("alpha", 1, t0() - TimeDelta::minutes(5)); // the day before
    writer
        .append_mentions(&[mention("alpha", 0, t0()), late, mention("beta", 2, t0())])
        .unwrap();
    let report = writer.flush_all().unwrap();
    assert_eq!(report.closed.len(), 3);
    let files = files_under(dir.path());
    let relative: Vec<String> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(dir.path()).unwrap();
            rel.parent().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    assert_eq!(
        relative,
        [
            "mentions/org_id=alpha/date=2024-04-30",
            "mentions/org_id=alpha/date=2024-05-01",
            "mentions/org_id=beta/date=2024-05-01",
        ]
    );
    for name in names(&files) {
        assert!(
            name.starts_with("part-00000000-") && name.ends_with(".parquet"),
            "{name}"
        );
    }
    // A second file in a partition takes the next sequence number.
    writer
        .append_mentions(&[mention("alpha", 3, t0())])
        .unwrap();
    writer.flush_all().unwrap();
    let day = partition_dir(
        dir.path(),
        Table::Mentions,
        &OrgId::new("alpha"),
        t0().date_naive(),
    );
    let in_day = names(&files_under(&day));
    assert_eq!(in_day.len(), 2);
    assert!(in_day[1].starts_with("part-00000001-"), "{in_day:?}");
}

#[test]
fn files_are_visible_only_whole_and_a_crash_leaves_only_tmp_files() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shared) = clock();
    let q = everything(Table::Mentions, "alpha");

    let mut writer =
        ArchiveWriter::new(dir.path().to_owned(), fast_config(), Arc::clone(&shared)).unwrap();
    writer.append_mentions(&mentions("alpha", 100)).unwrap();
    // Open files are hidden temporaries: readers see nothing yet.
    let files = names(&files_under(dir.path()));
    assert!(!files.is_empty());
    assert!(files
        .iter()
        .all(|n| n.starts_with(".part-") && n.ends_with(".parquet.tmp")));
    let csv = String::from_utf8(export_to_vec(dir.path(), &q, ExportFormat::Csv)).unwrap();
    assert_eq!(csv.lines().count(), 1, "header only");

    // Published files are complete Parquet files.
    let report = writer.flush_all().unwrap();
    assert_eq!(report.rows_published(), 100);
    for file in &report.closed {
        let bytes = fs::read(&file.path).unwrap();
        assert_eq!(bytes.len() as u64, file.bytes);
        assert_eq!(&bytes[..4], b"PAR1");
        assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
    }
    let visible = names(&files_under(dir.path()));
    assert!(visible.iter().all(|n| n.starts_with("part-")));

    // A crash with files open: only temporaries are left, and readers ignore them.
    writer.append_mentions(&mentions("alpha", 50)).unwrap();
    std::mem::forget(writer);
    let tmp: Vec<String> = names(&files_under(dir.path()))
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(!tmp.is_empty());
    let batches = read_parquet(export_to_vec(dir.path(), &q, ExportFormat::Parquet));
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        100
    );

    // The next writer's start sweeps them; the published files stay.
    let writer = ArchiveWriter::new(dir.path().to_owned(), fast_config(), shared).unwrap();
    let after = names(&files_under(dir.path()));
    assert_eq!(after, visible);
    drop(writer);
}

#[test]
fn files_roll_by_rows_and_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shared) = clock();
    let config = ArchiveConfig {
        max_file_rows: 100,
        row_group_rows: 30,
        ..fast_config()
    };
    let mut writer =
        ArchiveWriter::new(dir.path().to_owned(), config, Arc::clone(&shared)).unwrap();
    // 250 rows, all on one day and one partition.
    let rows: Vec<ScoredMention> = (0..250)
        .map(|i| mention("alpha", i, t0() + TimeDelta::seconds(i as i64)))
        .collect();
    let report = writer.append_mentions(&rows).unwrap();
    assert_eq!(report.rows_appended, 250);
    assert_eq!(
        report.closed.iter().map(|f| f.rows).collect::<Vec<_>>(),
        [100, 100]
    );
    assert_eq!(writer.pending_rows(), 50);
    let report = writer.flush_all().unwrap();
    assert_eq!(report.closed[0].rows, 50);
    // Row groups respect their own limit inside a file.
    let first = fs::File::open(&files_under(dir.path())[0]).unwrap();
    let meta = ParquetRecordBatchReaderBuilder::try_new(first).unwrap();
    let groups: Vec<i64> = meta
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(groups, [30, 30, 30, 10]);

    // By bytes: a tiny limit closes a file after every append.
    let dir = tempfile::tempdir().unwrap();
    let config = ArchiveConfig {
        max_file_bytes: 1,
        ..fast_config()
    };
    let mut writer = ArchiveWriter::new(dir.path().to_owned(), config, shared).unwrap();
    for i in 0..3 {
        let report = writer
            .append_mentions(&[mention("alpha", i, t0())])
            .unwrap();
        assert_eq!(report.closed.len(), 1);
    }
    assert_eq!(writer.open_files(), 0);
    assert_eq!(files_under(dir.path()).len(), 3);
}

#[test]
fn files_roll_by_time_and_open_files_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (manual, shared) = clock();
    let config = ArchiveConfig {
        max_open: Duration::from_secs(60),
        max_open_files: 2,
        ..fast_config()
    };
    let mut writer = ArchiveWriter::new(dir.path().to_owned(), config, shared).unwrap();
    writer
        .append_mentions(&[mention("alpha", 0, t0())])
        .unwrap();
    manual.advance(Duration::from_secs(30));
    writer.append_mentions(&[mention("beta", 0, t0())]).unwrap();
    assert!(writer.roll_due().unwrap().closed.is_empty());

    manual.advance(Duration::from_secs(31)); // alpha's file is 61 s old, beta's 31 s
    let report = writer.roll_due().unwrap();
    assert_eq!(report.closed.len(), 1);
    assert_eq!(report.closed[0].org.as_str(), "alpha");
    assert_eq!(writer.open_files(), 1);

    // A third partition with two open evicts the least recently written.
    writer
        .append_mentions(&[mention("gamma", 0, t0())])
        .unwrap();
    writer
        .append_mentions(&[mention("delta", 0, t0())])
        .unwrap();
    let report = writer
        .append_mentions(&[mention("alpha", 1, t0())])
        .unwrap();
    assert_eq!(report.closed.len(), 1);
    assert_eq!(report.closed[0].org.as_str(), "gamma");
    assert_eq!(writer.open_files(), 2);
}

#[test]
fn export_filters_by_org_and_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let (all, _) = write_dataset(dir.path());
    // A range that starts and ends mid-day.
    let from = t0() + TimeDelta::hours(10);
    let to = t0() + TimeDelta::hours(30);
    for org in ["alpha", "beta"] {
        let expected: Vec<&ScoredMention> = all
            .iter()
            .filter(|m| {
                m.org.as_str() == org && m.mention.event_time >= from && m.mention.event_time < to
            })
            .collect();
        assert!(!expected.is_empty());
        let out = export_to_vec(
            dir.path(),
            &query(Table::Mentions, org, from, to),
            ExportFormat::Parquet,
        );
        let batches = read_parquet(out);
        let mut ids = Vec::new();
        for batch in &batches {
            let orgs = batch
                .column_by_name("org_id")
                .unwrap()
                .as_dictionary::<arrow::datatypes::Int32Type>();
            let values = orgs.values().as_string::<i32>();
            assert!(orgs
                .keys()
                .iter()
                .all(|k| values.value(k.unwrap() as usize) == org));
            let ids_col = batch
                .column_by_name("external_id")
                .unwrap()
                .as_string::<i32>();
            ids.extend(ids_col.iter().map(|s| s.unwrap().to_owned()));
        }
        assert!(ids.iter().all(|id| id.starts_with(&format!("{org}-"))));
        assert_eq!(ids.len(), expected.len(), "{org}");
    }

    // Campaign days overlapping [May 1 10:00, May 2 06:00): May 1 and May 2.
    let out = export_to_vec(
        dir.path(),
        &query(Table::CampaignData, "beta", from, to),
        ExportFormat::Parquet,
    );
    let rows: usize = read_parquet(out).iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 2, "beta has two reports, both on May 1");
    let out = export_to_vec(
        dir.path(),
        &query(Table::CampaignData, "alpha", from, to),
        ExportFormat::Parquet,
    );
    let rows: usize = read_parquet(out).iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 6);

    // An organisation with nothing archived gets a valid empty file.
    let out = export_to_vec(
        dir.path(),
        &query(Table::Mentions, "nobody", from, to),
        ExportFormat::Parquet,
    );
    assert!(read_parquet(out).is_empty());

    // Row groups outside the range are skipped by their statistics, unread.
    let dir = tempfile::tempdir().unwrap();
    let (_, shared) = clock();
    let config = ArchiveConfig {
        row_group_rows: 100,
        ..fast_config()
    };
    let mut writer = ArchiveWriter::new(dir.path().to_owned(), config, shared).unwrap();
    let rows: Vec<ScoredMention> = (0..1_000)
        .map(|i| mention("alpha", i, t0() + TimeDelta::seconds(i as i64)))
        .collect();
    writer.append_mentions(&rows).unwrap();
    writer.flush_all().unwrap();
    let mut sink = Vec::new();
    let q = query(
        Table::Mentions,
        "alpha",
        t0() + TimeDelta::seconds(250),
        t0() + TimeDelta::seconds(420),
    );
    let stats = export(dir.path(), &q, ExportFormat::Csv, &mut sink).unwrap();
    assert_eq!(stats.rows, 170);
    assert_eq!(stats.files, 1);
    assert_eq!((stats.row_groups_read, stats.row_groups_skipped), (3, 7));
    assert_eq!(stats.bytes, sink.len() as u64);
}

#[test]
fn csv_and_json_exports_have_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (all, _) = write_dataset(dir.path());
    let from = t0();
    let to = t0() + TimeDelta::hours(6);
    let expected = all
        .iter()
        .filter(|m| m.org.as_str() == "alpha" && m.mention.event_time < to)
        .count();
    let q = query(Table::Mentions, "alpha", from, to);

    let csv = String::from_utf8(export_to_vec(dir.path(), &q, ExportFormat::Csv)).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("org_id,source,external_id,content,author_handle"));
    assert!(header.ends_with("sentiment_neg,source_sentiment"));
    // Content has quotes and commas, so count records, not lines, with a CSV-aware split:
    // every record starts with the org.
    assert_eq!(csv.matches("\nalpha,").count(), expected);
    let first = csv.lines().nth(1).unwrap();
    assert!(first.contains("\"mention 0 about the campaign, \"\"quoted\"\", with a comma\""));
    assert!(first.contains(",2024-05-01T00:00:00.000000Z,"), "{first}");
    let third = csv.lines().nth(3).unwrap();
    assert!(third.contains(r#""[""tag0"",""tag1""]""#), "{third}");

    let ndjson = String::from_utf8(export_to_vec(dir.path(), &q, ExportFormat::Json)).unwrap();
    let objects: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), expected);
    let o = &objects[2];
    assert_eq!(o["org_id"], "alpha");
    assert_eq!(o["source"], Source::ALL[2].as_str());
    assert_eq!(o["hashtags"], serde_json::json!(["tag0", "tag1"]));
    assert_eq!(o["event_time"], "2024-05-01T00:03:14.000000Z");
    assert!(o["region"].is_null(), "absent values are explicit nulls");
    assert_eq!(o.as_object().unwrap().len(), 20);

    let array = export_to_vec(dir.path(), &q, ExportFormat::JsonArray);
    let array: Vec<serde_json::Value> = serde_json::from_slice(&array).unwrap();
    assert_eq!(array, objects);

    // Money stays exact in text.
    let cq = query(Table::CampaignData, "alpha", from, to);
    let json = String::from_utf8(export_to_vec(dir.path(), &cq, ExportFormat::Json)).unwrap();
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["date"], "2024-05-01");
    assert_eq!(first["spend"].to_string(), "123.456796");

    // Empty exports are still well-formed.
    let empty = query(Table::Mentions, "nobody", from, to);
    let csv = String::from_utf8(export_to_vec(dir.path(), &empty, ExportFormat::Csv)).unwrap();
    assert_eq!(csv.lines().count(), 1);
    assert_eq!(
        export_to_vec(dir.path(), &empty, ExportFormat::JsonArray),
        b"[]"
    );
    assert!(export_to_vec(dir.path(), &empty, ExportFormat::Json).is_empty());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shared) = clock();
    let mut writer = ArchiveWriter::new(dir.path().to_owned(), fast_config(), shared).unwrap();
    let err = writer
        .append_mentions(&[mention("../escape", 0, t0())])
        .unwrap_err();
    assert!(matches!(err, ArchiveError::InvalidOrg(_)));
    let mut huge = metric(0, 1, 0);
    huge.spend_micros = i64::MAX;
    let err = writer
        .append_campaign(&OrgId::new("alpha"), &[metric(0, 2, 1), huge])
        .unwrap_err();
    assert!(matches!(err, ArchiveError::InvalidRow { .. }));
    assert_eq!(
        writer.pending_rows(),
        0,
        "nothing of a failed call is written"
    );

    // An output that fails is reported as such.
    writer.append_mentions(&mentions("alpha", 10)).unwrap();
    writer.flush_all().unwrap();
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "client went away",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let err = export(
        dir.path(),
        &everything(Table::Mentions, "alpha"),
        ExportFormat::Json,
        Broken,
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::Output(_)), "{err}");
}

// ---------------------------------------------------------------- DuckDB and pyarrow

/// The cached virtualenv with duckdb and pyarrow: `$WARROOM_PYENV`, else
/// `$CARGO_TARGET_DIR/pyenv`, else `<workspace>/target/pyenv`. Created and filled on
/// first use; a marker with the requirements' text makes later runs skip pip.
fn python_env() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match (
        std::env::var_os("WARROOM_PYENV"),
        std::env::var_os("CARGO_TARGET_DIR"),
    ) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(target)) => workspace.join(target).join("pyenv"),
        (None, None) => workspace.join("target").join("pyenv"),
    };
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/requirements.txt");
    let wanted = fs::read_to_string(&requirements).unwrap();
    let python = dir.join("bin").join("python");
    let marker = dir.join(".warroom-ready");
    if fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    if !python.exists() {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&dir)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "python3 is required for the DuckDB/pyarrow check and could not be run ({e}); \
                     install python3 with venv and pip"
                )
            });
        assert!(
            status.success(),
            "`python3 -m venv {}` failed: install python3-venv (or point WARROOM_PYENV at a \
             virtualenv that has duckdb and pyarrow)",
            dir.display()
        );
    }
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "-r",
        ])
        .arg(&requirements)
        .output()
        .unwrap_or_else(|e| panic!("running {} failed: {e}", python.display()));
    assert!(
        output.status.success(),
        "pip could not install duckdb and pyarrow into {} (PyPI must be reachable):\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    fs::write(&marker, wanted).unwrap();
    python
}

#[test]
fn duckdb_and_pyarrow_read_the_archive_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let (all, total_spend) = write_dataset(&root);
    let from = t0() + TimeDelta::hours(3);
    let to = t0() + TimeDelta::hours(50);

    let mut exports = serde_json::Map::new();
    for table in Table::ALL {
        let path = dir.path().join(format!("{table}.parquet"));
        let file = fs::File::create(&path).unwrap();
        export(
            &root,
            &query(table, "alpha", from, to),
            ExportFormat::Parquet,
            file,
        )
        .unwrap();
        exports.insert(table.as_str().into(), path.display().to_string().into());
    }

    let in_range: Vec<&ScoredMention> = all
        .iter()
        .filter(|m| {
            m.org.as_str() == "alpha" && m.mention.event_time >= from && m.mention.event_time < to
        })
        .collect();
    let (campaign, _) = campaign_rows();
    // Campaign days overlapping [May 1 03:00, May 3 02:00): all three.
    let spend_in_range: i128 = campaign.iter().map(|c| i128::from(c.spend_micros)).sum();
    let micros = |v: i128| format!("{}.{:06}", v / 1_000_000, v % 1_000_000);
    let mut per_org = BTreeMap::new();
    for m in &all {
        *per_org.entry(m.org.as_str().to_owned()).or_insert(0_u64) += 1;
    }
    let spec = serde_json::json!({
        "archive_root": root.display().to_string(),
        "org": "alpha",
        "exports": exports,
        "expected": {
            "mentions_rows": in_range.len(),
            "mentions_per_source": per_source(&in_range),
            "hashtags_total": in_range.iter().map(|m| m.mention.hashtags.len()).sum::<usize>(),
            "from_us": from.timestamp_micros(),
            "to_us": to.timestamp_micros(),
            "campaign_rows": campaign.len(),
            "spend_total": micros(spend_in_range),
            "archive_mentions_per_org": per_org,
            "archive_spend_of_org": micros(total_spend),
            "archive_campaign_days_of_org": 3,
            "archive_kpi_rows": kpi_rows(&all).len(),
        }
    });
    let spec_path = dir.path().join("expect.json");
    fs::write(&spec_path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();

    let python = python_env();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_archive.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(&spec_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "DuckDB/pyarrow check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("all checks passed"));
}

#[test]
fn the_writer_can_move_to_a_blocking_thread() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<ArchiveWriter>();
}

/// Sorts a table's rows into a canonical order and renders them, so two exports of the
/// same rows compare equal whatever order they were written in.
fn canonical_rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        // arrow formats named time zones only with its chrono-tz feature: the values are
        // UTC instants, so drop the tag.
        let columns: Vec<Arc<dyn Array>> = batch
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => Arc::new(
                    c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .clone()
                        .with_timezone_opt(None::<String>),
                )
                    as Arc<dyn Array>,
                _ => Arc::clone(c),
            })
            .collect();
        let batch = RecordBatch::try_from_iter(
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .zip(columns),
        )
        .unwrap();
        let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        let text = String::from_utf8(writer.into_inner()).unwrap();
        out.extend(text.lines().map(str::to_owned));
    }
    out.sort();
    out
}

#[test]
fn an_export_written_from_rows_matches_one_read_from_the_archive() {
    use warroom_storage::archive::ExportWriter;
    let dir = tempfile::tempdir().unwrap();
    let (all, _) = write_dataset(dir.path());
    let alpha: Vec<ScoredMention> = all
        .iter()
        .filter(|m| m.org.as_str() == "alpha")
        .cloned()
        .collect();
    let (campaign, total_spend) = campaign_rows();
    let kpi: Vec<KpiBucketRow> = kpi_rows(&alpha);
    for table in Table::ALL {
        let q = everything(table, "alpha");
        let from_archive = read_parquet(export_to_vec(dir.path(), &q, ExportFormat::Parquet));
        let mut out = Vec::new();
        let mut writer = ExportWriter::new(&q, ExportFormat::Parquet, &mut out).unwrap();
        // In pages, as the store export writes them.
        match table {
            Table::Mentions => alpha
                .chunks(1_000)
                .for_each(|c| writer.write_mentions(c).unwrap()),
            Table::CampaignData => writer.write_campaign(&campaign).unwrap(),
            Table::KpiBuckets => writer.write_kpi_buckets(&kpi).unwrap(),
        }
        let stats = writer.finish().unwrap();
        let from_rows = read_parquet(out);
        assert_eq!(from_rows[0].schema(), from_archive[0].schema(), "{table}");
        let rows: usize = from_rows.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows as u64, stats.rows, "{table}");
        assert_eq!(
            canonical_rows(&from_rows),
            canonical_rows(&from_archive),
            "{table}"
        );
        if table == Table::CampaignData {
            let spend: i128 = from_rows
                .iter()
                .flat_map(|b| {
                    b.column_by_name("spend")
                        .unwrap()
                        .as_primitive::<Decimal128Type>()
                        .values()
                        .to_vec()
                })
                .sum();
            assert_eq!(spend, total_spend);
        }
    }
    // Rows of another table are refused, not mixed in.
    let mut writer = ExportWriter::new(
        &everything(Table::Mentions, "alpha"),
        ExportFormat::Csv,
        Vec::new(),
    )
    .unwrap();
    assert!(writer.write_campaign(&campaign).is_err());
}

//! The store conformance suite: every test body runs once on embedded SQLite (a temporary
//! file) and once on PostgreSQL (a fresh database per test on 127.0.0.1:5432, dropped at
//! the end). Postgres is not optional: when it cannot be reached the Postgres half fails
//! and says how to start it (`scripts/services.sh`).
//!
//! `insert_rate_*` (ignored by default) measure sustained insert throughput:
//! `CARGO_TARGET_DIR=/work/target-sql cargo test --release -p warroom-storage --test conformance -- --ignored --nocapture insert_rate`

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sqlx::Connection;
use uuid::Uuid;
use warroom_engine::model::{
    Author, CampaignMetric, CrisisEvent, CrisisEvidence, CrisisKind, CrisisStatus, DataMode,
    Mention, OrgId, Organization, Platform, ScoredMention, SentimentClass, SentimentScores, Source,
};
use warroom_storage::open_store;
use warroom_storage::sql::{
    ArchiveMarks, KpiBucket, MentionCursor, MentionFilter, SourceAggregate, SourceTotals, Store,
    StoreError, DATA_MODE_KEY,
};

#[macro_use]
mod harness;
use harness::{on_postgres, on_sqlite};

conformance!(
    migrations_apply_and_reapply,
    health_round_trip_and_close,
    organizations_upsert,
    mentions_round_trip_exactly,
    reinserting_mentions_is_idempotent,
    large_batches_are_atomic,
    invalid_records_are_permanent_errors,
    tenants_never_see_each_other,
    campaign_restatements_replace_earlier_reports,
    crisis_upsert_and_status_transitions,
    kpi_buckets_upsert_and_read,
    settings_round_trip,
    mentions_page_filters_and_pages,
    mentions_since_pages_oldest_first,
    mention_totals_count_like_the_engine,
    archive_tails_every_table_by_sequence,
    archive_kpi_rewrites_take_a_new_number_only_when_counts_change,
    archive_high_water_never_skips_rows_of_concurrent_writers,
    data_modes_never_mix_in_reads,
);

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("valid time")
}

fn org(id: &str) -> Organization {
    Organization {
        id: OrgId::new(id),
        name: format!("{id} campaign"),
    }
}

async fn with_orgs(store: &dyn Store, ids: &[&str]) -> Vec<OrgId> {
    let mut out = Vec::new();
    for id in ids {
        store
            .upsert_organization(&org(id))
            .await
            .expect("upsert org");
        out.push(OrgId::new(id));
    }
    out
}

/// A mention with every optional field set; `n` varies the content and time.
fn mention(
    org: &OrgId,
    external_id: &str,
    source: Source,
    compound: f64,
    at: DateTime<Utc>,
) -> ScoredMention {
    ScoredMention {
        org: org.clone(),
        mention: Mention {
            external_id: external_id.to_owned(),
            source,
            content: format!("Town hall on the budget vote, post {external_id}: what's next?"),
            author: Author {
                handle: format!("@voter_{external_id}"),
                name: Some("Jane Voter".to_owned()),
                followers: 1_234,
                reach: 5_678,
            },
            country: Some("US".to_owned()),
            region: Some("Ohio".to_owned()),
            language: Some("en".to_owned()),
            hashtags: vec!["budget".to_owned(), "townhall".to_owned()],
            url: Some(format!("https://example.com/{external_id}")),
            event_time: at,
            source_sentiment: Some(-0.25),
        },
        sentiment: SentimentScores {
            neg: 0.1,
            neu: 0.7,
            pos: 0.2,
            compound,
        },
        // Microsecond precision with a non-zero sub-millisecond part.
        ingested_at_us: at.timestamp_micros() + 1_234_567,
    }
}

async fn one_org(store: &dyn Store, id: &str) -> OrgId {
    with_orgs(store, &[id]).await.remove(0)
}

fn bare_mention(org: &OrgId, external_id: &str, at: DateTime<Utc>) -> ScoredMention {
    ScoredMention {
        org: org.clone(),
        mention: Mention {
            external_id: external_id.to_owned(),
            source: Source::Other,
            content: "plain".to_owned(),
            author: Author::default(),
            country: None,
            region: None,
            language: None,
            hashtags: Vec::new(),
            url: None,
            event_time: at,
            source_sentiment: None,
        },
        sentiment: SentimentScores::default(),
        ingested_at_us: at.timestamp_micros(),
    }
}

fn metric(
    campaign: &str,
    date: NaiveDate,
    reported_at: DateTime<Utc>,
    impressions: u64,
) -> CampaignMetric {
    CampaignMetric {
        platform: Platform::Meta,
        campaign_id: campaign.to_owned(),
        campaign_name: format!("Campaign {campaign}"),
        date,
        impressions,
        reach: Some(impressions / 2),
        clicks: impressions / 100,
        spend_micros: i64::try_from(impressions).expect("small") * 1_000,
        conversions: impressions as f64 / 1000.0,
        daily_budget_micros: Some(50_000_000),
        currency: "USD".to_owned(),
        reported_at,
    }
}

fn crisis(org: &OrgId, severity: u8) -> CrisisEvent {
    CrisisEvent {
        id: Uuid::new_v4(),
        org: org.clone(),
        kind: CrisisKind::NegativeSurge,
        severity,
        status: CrisisStatus::Active,
        detected_at: t0(),
        acknowledged_at: None,
        resolved_at: None,
        resolution: None,
        metadata: CrisisEvidence {
            strongly_negative_15m: 42,
            threshold: 20,
            mentions_15m: 300,
            baseline_per_minute: 4.5,
            observed_per_minute: 20.0,
            z_score: 6.25,
            avg_sentiment_15m: Some(-0.61),
            top_sources: vec![Source::Twitter, Source::Reddit],
            top_terms: vec!["scandal".to_owned()],
            sample_external_ids: vec!["tw-1".to_owned(), "rd-9".to_owned()],
        },
    }
}

fn bucket(org: &OrgId, minute: DateTime<Utc>, count: u64) -> KpiBucket {
    let mut by_source = BTreeMap::new();
    by_source.insert(
        Source::Twitter,
        SourceTotals {
            count: count - 1,
            sentiment_sum: -0.5,
        },
    );
    by_source.insert(
        Source::News,
        SourceTotals {
            count: 1,
            sentiment_sum: 0.25,
        },
    );
    KpiBucket {
        org: org.clone(),
        data_mode: DataMode::Mock,
        minute,
        mention_count: count,
        sentiment_sum: -0.25,
        positive: 1,
        neutral: count - 2,
        negative: 1,
        strongly_negative: 1,
        by_source,
        sketches: serde_json::json!({
            "hashtags": [["budget", 3, 0]],
            "countries": [["US", count, 0]],
            "influencers": [{"handle": "@a", "reach": 99}],
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Bodies (each runs on both backends)
// ---------------------------------------------------------------------------------------

async fn migrations_apply_and_reapply(store: Arc<dyn Store>) {
    // The harness migrated once; applying again must be a no-op that keeps the data.
    let a = one_org(&*store, "acme").await;
    let m = mention(&a, "m1", Source::Twitter, 0.5, t0());
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &[m])
            .await
            .expect("insert"),
        1
    );
    store.migrate().await.expect("re-apply migrations");
    store.migrate().await.expect("re-apply migrations again");
    assert_eq!(store.count_mentions(&a).await.expect("count"), 1);
    // Every table the schema promises exists (a zero-row read succeeds).
    assert!(store
        .crises(&a, false)
        .await
        .expect("crisis_events")
        .is_empty());
    assert!(store
        .campaign_metrics(&a, DataMode::Mock)
        .await
        .expect("campaign_data")
        .is_empty());
    assert!(store
        .kpi_buckets_since(&a, DataMode::Mock, t0())
        .await
        .expect("kpi buckets")
        .is_empty());
    assert_eq!(
        store.get_setting("none").await.expect("system_settings"),
        None
    );
}

async fn health_round_trip_and_close(store: Arc<dyn Store>) {
    store.health().await.expect("healthy");
    store.close().await;
    let err = store
        .health()
        .await
        .expect_err("closed store is not healthy");
    assert!(
        err.is_transient(),
        "a closed pool reads as unavailable: {err}"
    );
}

async fn organizations_upsert(store: Arc<dyn Store>) {
    with_orgs(&*store, &["beta", "alpha"]).await;
    store
        .upsert_organization(&Organization {
            id: OrgId::new("alpha"),
            name: "Renamed".to_owned(),
        })
        .await
        .expect("rename");
    let orgs = store.organizations().await.expect("list");
    assert_eq!(
        orgs,
        vec![
            Organization {
                id: OrgId::new("alpha"),
                name: "Renamed".to_owned()
            },
            org("beta"),
        ]
    );
}

async fn mentions_round_trip_exactly(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    let full = mention(
        &a,
        "full",
        Source::Reddit,
        -0.8123456789,
        t0() + Duration::microseconds(1),
    );
    let bare = bare_mention(&a, "bare", t0() + Duration::seconds(1));
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &[full.clone(), bare.clone()])
            .await
            .expect("insert"),
        2
    );
    let back = store.recent_mentions(&a, 10).await.expect("recent");
    assert_eq!(back, vec![full, bare], "every field survives, oldest first");
    let latest = store.recent_mentions(&a, 1).await.expect("recent 1");
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].mention.external_id, "bare");
}

async fn reinserting_mentions_is_idempotent(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    let first: Vec<_> = (0..100)
        .map(|i| {
            mention(
                &a,
                &format!("m{i}"),
                Source::Twitter,
                0.1,
                t0() + Duration::seconds(i),
            )
        })
        .collect();
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &first)
            .await
            .expect("insert"),
        100
    );
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &first)
            .await
            .expect("re-insert"),
        0
    );
    // Half old, half new, and a duplicate inside the batch.
    let mut mixed: Vec<_> = (50..150)
        .map(|i| {
            mention(
                &a,
                &format!("m{i}"),
                Source::Twitter,
                0.1,
                t0() + Duration::seconds(i),
            )
        })
        .collect();
    mixed.push(mixed[60].clone());
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &mixed)
            .await
            .expect("mixed"),
        50
    );
    // Same external id on another source is another mention.
    let other = mention(&a, "m1", Source::Facebook, 0.1, t0());
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &[other])
            .await
            .expect("other source"),
        1
    );
    assert_eq!(store.count_mentions(&a).await.expect("count"), 151);
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &[])
            .await
            .expect("empty"),
        0
    );
}

async fn large_batches_are_atomic(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    // Larger than one statement on either backend (10,000 rows on Postgres, 1,000 on
    // SQLite), so the batch spans several statements in one transaction.
    let batch: Vec<_> = (0..12_001)
        .map(|i| bare_mention(&a, &format!("b{i}"), t0() + Duration::milliseconds(i)))
        .collect();
    // The last row names an organisation that does not exist: the whole batch must fail.
    let mut poisoned = batch.clone();
    poisoned.push(bare_mention(&OrgId::new("ghost"), "x", t0()));
    let err = store
        .insert_mentions(DataMode::Mock, &poisoned)
        .await
        .expect_err("FK violation");
    assert!(
        !err.is_transient(),
        "a constraint violation is permanent: {err}"
    );
    assert_eq!(
        store.count_mentions(&a).await.expect("count"),
        0,
        "nothing half-applied"
    );
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &batch)
            .await
            .expect("insert"),
        12_001
    );
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &batch)
            .await
            .expect("re-insert"),
        0
    );
    assert_eq!(store.count_mentions(&a).await.expect("count"), 12_001);
}

async fn invalid_records_are_permanent_errors(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    let mut nan = mention(&a, "nan", Source::News, 0.0, t0());
    nan.sentiment.compound = f64::NAN;
    let ok = mention(&a, "ok", Source::News, 0.0, t0());
    let err = store
        .insert_mentions(DataMode::Mock, &[ok.clone(), nan])
        .await
        .expect_err("NaN");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let mut huge = ok.clone();
    huge.mention.author.followers = u64::MAX;
    let err = store
        .insert_mentions(DataMode::Mock, &[huge])
        .await
        .expect_err("u64::MAX");
    assert!(matches!(err, StoreError::Invalid(_)) && !err.is_transient());
    assert_eq!(store.count_mentions(&a).await.expect("count"), 0);
    let err = store
        .upsert_crisis(&crisis(&a, 11))
        .await
        .expect_err("severity 11");
    assert!(matches!(err, StoreError::Invalid(_)));
    let mut b = bucket(&a, t0(), 5);
    b.minute += Duration::seconds(30);
    let err = store
        .upsert_kpi_buckets(&[b])
        .await
        .expect_err("half minute");
    assert!(matches!(err, StoreError::Invalid(_)));
}

async fn tenants_never_see_each_other(store: Arc<dyn Store>) {
    let (a, b) = (
        one_org(&*store, "org-a").await,
        one_org(&*store, "org-b").await,
    );
    // The same (source, external_id) in both organisations: two distinct mentions.
    let ma: Vec<_> = (0..5)
        .map(|i| {
            mention(
                &a,
                &format!("x{i}"),
                Source::Twitter,
                -0.9,
                t0() + Duration::seconds(i),
            )
        })
        .collect();
    let mb: Vec<_> = (0..3)
        .map(|i| {
            mention(
                &b,
                &format!("x{i}"),
                Source::Twitter,
                0.9,
                t0() + Duration::seconds(i),
            )
        })
        .collect();
    let mixed: Vec<_> = ma.iter().chain(&mb).cloned().collect();
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &mixed)
            .await
            .expect("insert"),
        8
    );
    assert_eq!(store.count_mentions(&a).await.expect("count a"), 5);
    assert_eq!(store.count_mentions(&b).await.expect("count b"), 3);
    let only = |ms: &[ScoredMention], org: &OrgId| ms.iter().all(|m| &m.org == org);
    assert!(only(
        &store.recent_mentions(&b, 100).await.expect("recent"),
        &b
    ));
    let page = store
        .mentions_page(&b, &MentionFilter::default(), 100, None)
        .await
        .expect("page");
    assert_eq!(page.mentions.len(), 3);
    assert!(only(&page.mentions, &b));
    let since = store
        .mentions_since(&b, DataMode::Mock, t0(), None, 100)
        .await
        .expect("since");
    assert_eq!(since.mentions.len(), 3);
    assert!(only(&since.mentions, &b));
    // A cursor from A's listing used on B only pages within B.
    let a_page = store
        .mentions_page(&a, &MentionFilter::default(), 1, None)
        .await
        .expect("a page");
    let cursor = a_page.next.expect("more of A");
    let b_after = store
        .mentions_page(&b, &MentionFilter::default(), 100, Some(cursor))
        .await
        .expect("b after a cursor");
    assert!(only(&b_after.mentions, &b));

    let day = NaiveDate::from_ymd_opt(2025, 3, 1).expect("date");
    store
        .insert_campaign_metrics(
            DataMode::Mock,
            &[(a.clone(), metric("c1", day, t0(), 1000))],
        )
        .await
        .expect("metrics");
    assert!(store
        .campaign_metrics(&b, DataMode::Mock)
        .await
        .expect("b metrics")
        .is_empty());

    let ca = crisis(&a, 7);
    assert!(store.upsert_crisis(&ca).await.expect("crisis"));
    assert!(store.crises(&b, false).await.expect("b crises").is_empty());
    assert_eq!(store.crisis(&b, ca.id).await.expect("b lookup"), None);
    // B cannot take over or modify A's crisis by reusing its id.
    let mut hijack = ca.clone();
    hijack.org = b.clone();
    hijack.status = CrisisStatus::Resolved;
    assert!(!store.upsert_crisis(&hijack).await.expect("hijack attempt"));
    assert_eq!(store.crisis(&a, ca.id).await.expect("a lookup"), Some(ca));

    store
        .upsert_kpi_buckets(&[bucket(&a, t0(), 5)])
        .await
        .expect("bucket");
    assert!(store
        .kpi_buckets_since(&b, DataMode::Mock, t0() - Duration::days(1))
        .await
        .expect("b")
        .is_empty());
}

async fn campaign_restatements_replace_earlier_reports(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    let d1 = NaiveDate::from_ymd_opt(2025, 3, 1).expect("date");
    let d2 = NaiveDate::from_ymd_opt(2025, 3, 2).expect("date");
    let early = metric("c1", d1, t0(), 1_000);
    let restated = metric("c1", d1, t0() + Duration::hours(3), 4_000);
    let next_day = metric("c1", d2, t0() + Duration::days(1), 2_000);
    let mut google = metric("g7", d1, t0(), 500);
    google.platform = Platform::GoogleAds;
    google.reach = None;
    google.daily_budget_micros = None;
    google.currency = "EUR".to_owned();
    let batch = vec![
        (a.clone(), early.clone()),
        (a.clone(), restated.clone()),
        (a.clone(), next_day.clone()),
        (a.clone(), google.clone()),
    ];
    assert_eq!(
        store
            .insert_campaign_metrics(DataMode::Mock, &batch)
            .await
            .expect("insert"),
        4
    );
    assert_eq!(
        store
            .insert_campaign_metrics(DataMode::Mock, &batch)
            .await
            .expect("resend"),
        0
    );
    // A report older than the stored restatement, arriving late, does not win.
    let stale = metric("c1", d1, t0() + Duration::hours(1), 9_999);
    assert_eq!(
        store
            .insert_campaign_metrics(DataMode::Mock, &[(a.clone(), stale)])
            .await
            .expect("stale"),
        1
    );
    let got = store
        .campaign_metrics(&a, DataMode::Mock)
        .await
        .expect("read");
    assert_eq!(
        got,
        vec![google, restated, next_day],
        "latest report per day, ordered"
    );
}

async fn crisis_upsert_and_status_transitions(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    let mut c = crisis(&a, 5);
    assert!(store.upsert_crisis(&c).await.expect("insert"));
    assert_eq!(store.crisis(&a, c.id).await.expect("get"), Some(c.clone()));

    c.severity = 8;
    c.metadata.strongly_negative_15m = 80;
    assert!(store.upsert_crisis(&c).await.expect("escalate"));
    assert_eq!(store.crisis(&a, c.id).await.expect("get"), Some(c.clone()));

    let mut acked = c.clone();
    acked.status = CrisisStatus::Acknowledged;
    acked.acknowledged_at = Some(t0() + Duration::minutes(5));
    assert!(store.upsert_crisis(&acked).await.expect("ack"));

    // A stale write from before the acknowledgement: severity applies, status does not
    // go back, the acknowledgement time stays.
    let mut stale = c.clone();
    stale.severity = 9;
    assert!(store.upsert_crisis(&stale).await.expect("stale"));
    let got = store.crisis(&a, c.id).await.expect("get").expect("exists");
    assert_eq!(got.status, CrisisStatus::Acknowledged);
    assert_eq!(got.severity, 9);
    assert_eq!(got.acknowledged_at, acked.acknowledged_at);

    let other = crisis(&a, 3);
    store.upsert_crisis(&other).await.expect("second crisis");
    assert_eq!(store.crises(&a, true).await.expect("active").len(), 2);

    let mut resolved = got.clone();
    resolved.status = CrisisStatus::Resolved;
    resolved.resolved_at = Some(t0() + Duration::minutes(30));
    resolved.resolution = Some("manual".to_owned());
    assert!(store.upsert_crisis(&resolved).await.expect("resolve"));
    assert_eq!(
        store.crisis(&a, c.id).await.expect("get"),
        Some(resolved.clone())
    );
    // Resolved stays resolved.
    assert!(store.upsert_crisis(&acked).await.expect("late ack"));
    let got = store.crisis(&a, c.id).await.expect("get").expect("exists");
    assert_eq!(got.status, CrisisStatus::Resolved);
    assert_eq!(got.resolution.as_deref(), Some("manual"));

    let active = store.crises(&a, true).await.expect("active");
    assert_eq!(
        active.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![other.id]
    );
    assert_eq!(store.crises(&a, false).await.expect("all").len(), 2);
}

async fn kpi_buckets_upsert_and_read(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    let m = |i: i64| t0() + Duration::minutes(i);
    let buckets = vec![
        bucket(&a, m(0), 5),
        bucket(&a, m(1), 7),
        bucket(&a, m(2), 9),
    ];
    assert_eq!(store.upsert_kpi_buckets(&buckets).await.expect("upsert"), 3);
    assert_eq!(
        store
            .kpi_buckets_since(&a, DataMode::Mock, m(0))
            .await
            .expect("read"),
        buckets
    );
    // Rewriting replaces; within one batch the last row for a minute wins.
    let replaced = bucket(&a, m(1), 70);
    let batch = vec![bucket(&a, m(1), 50), replaced.clone(), bucket(&a, m(3), 3)];
    assert_eq!(store.upsert_kpi_buckets(&batch).await.expect("upsert"), 2);
    let got = store
        .kpi_buckets_since(&a, DataMode::Mock, m(1))
        .await
        .expect("read");
    assert_eq!(got, vec![replaced, buckets[2].clone(), bucket(&a, m(3), 3)]);
    assert_eq!(store.upsert_kpi_buckets(&[]).await.expect("empty"), 0);
}

async fn archive_tails_every_table_by_sequence(store: Arc<dyn Store>) {
    assert_eq!(
        store.archive_high_water().await.expect("empty"),
        ArchiveMarks::default()
    );
    let orgs = with_orgs(&*store, &["acme", "globex"]).await;
    let first: Vec<_> = (0..5)
        .map(|i| mention(&orgs[i % 2], &format!("m{i}"), Source::Twitter, 0.5, t0()))
        .collect();
    store
        .insert_mentions(DataMode::Mock, &first)
        .await
        .expect("insert");
    let second: Vec<_> = (5..8)
        .map(|i| mention(&orgs[i % 2], &format!("m{i}"), Source::News, -0.5, t0()))
        .collect();
    store
        .insert_mentions(DataMode::Mock, &second)
        .await
        .expect("insert");
    let high = store.archive_high_water().await.expect("high water");
    // Pages by sequence, across organisations, in commit order.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .archive_mentions(after, high.mentions, 3)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = last.seq;
        seen.extend(page);
    }
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq), "increasing");
    let ids: Vec<_> = seen
        .iter()
        .map(|s| s.row.mention.external_id.clone())
        .collect();
    let expected: Vec<_> = (0..8).map(|i| format!("m{i}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(seen[0].row, first[0], "rows round-trip");
    assert_eq!(seen.last().map(|s| s.seq), Some(high.mentions));
    // A re-sent batch adds nothing; `up_to` bounds the page.
    store
        .insert_mentions(DataMode::Mock, &first)
        .await
        .expect("re-insert");
    assert!(store.archive_high_water().await.expect("high").mentions >= high.mentions);
    assert!(store
        .archive_mentions(high.mentions, i64::MAX, 100)
        .await
        .expect("tail")
        .is_empty());
    let bounded = store
        .archive_mentions(0, seen[2].seq, 100)
        .await
        .expect("bounded");
    assert_eq!(bounded.len(), 3);

    // Campaign reports: every report, restatements included, each with its number.
    let day = NaiveDate::from_ymd_opt(2024, 5, 1).expect("date");
    let reports = vec![
        (orgs[0].clone(), metric("c1", day, t0(), 1_000)),
        (orgs[1].clone(), metric("c2", day, t0(), 2_000)),
    ];
    store
        .insert_campaign_metrics(DataMode::Mock, &reports)
        .await
        .expect("insert");
    let restated = vec![(
        orgs[0].clone(),
        metric("c1", day, t0() + Duration::hours(1), 1_500),
    )];
    store
        .insert_campaign_metrics(DataMode::Mock, &restated)
        .await
        .expect("restate");
    store
        .insert_campaign_metrics(DataMode::Mock, &reports)
        .await
        .expect("again");
    let high = store.archive_high_water().await.expect("high");
    let rows = store
        .archive_campaign_data(0, high.campaign_data, 100)
        .await
        .expect("campaign");
    assert_eq!(rows.len(), 3, "the re-sent reports are not new rows");
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(rows[2].row, restated[0]);
    assert_eq!(
        rows.iter().map(|r| r.row.0.as_str()).collect::<Vec<_>>(),
        ["acme", "globex", "acme"]
    );
    assert_eq!(rows[2].seq, high.campaign_data);
    let after_first = store
        .archive_campaign_data(rows[0].seq, high.campaign_data, 100)
        .await
        .expect("after");
    assert_eq!(after_first, rows[1..].to_vec());
}

async fn archive_kpi_rewrites_take_a_new_number_only_when_counts_change(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    let m = |i: i64| t0() + Duration::minutes(i);
    store
        .upsert_kpi_buckets(&[bucket(&a, m(0), 5), bucket(&a, m(1), 7)])
        .await
        .expect("upsert");
    let high = store.archive_high_water().await.expect("high");
    let rows = store
        .archive_kpi_buckets(0, high.kpi_buckets, 100)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].row, bucket(&a, m(0), 5));
    // The same counts again (a recovery rebuild, a repeated flush): no new number.
    store
        .upsert_kpi_buckets(&[bucket(&a, m(0), 5), bucket(&a, m(1), 7)])
        .await
        .expect("same");
    assert_eq!(store.archive_high_water().await.expect("high"), high);
    // A late mention changes minute 0: it moves above everything archived so far.
    store
        .upsert_kpi_buckets(&[bucket(&a, m(0), 6)])
        .await
        .expect("changed");
    let now = store.archive_high_water().await.expect("high");
    assert!(now.kpi_buckets > high.kpi_buckets);
    let restated = store
        .archive_kpi_buckets(high.kpi_buckets, now.kpi_buckets, 100)
        .await
        .expect("restated");
    assert_eq!(restated.len(), 1);
    assert_eq!(restated[0].row, bucket(&a, m(0), 6));
    assert_eq!(restated[0].seq, now.kpi_buckets);
    // A minute is listed once, at its latest number.
    let all = store
        .archive_kpi_buckets(0, now.kpi_buckets, 100)
        .await
        .expect("all");
    assert_eq!(
        all.iter().map(|r| r.row.minute).collect::<Vec<_>>(),
        [m(1), m(0)]
    );
}

/// The tailer's assumption: every row at or below the high-water mark is visible when the
/// mark is read, even with several writers committing at once (on Postgres, sequence
/// numbers are taken before commit; the archive lock orders the read after them).
async fn archive_high_water_never_skips_rows_of_concurrent_writers(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    const WRITERS: usize = 4;
    const BATCHES: usize = 25;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                let batch: Vec<_> = (0..20)
                    .map(|i| bare_mention(&a, &format!("w{w}-b{b}-{i}"), t0()))
                    .collect();
                store
                    .insert_mentions(DataMode::Mock, &batch)
                    .await
                    .expect("insert");
            }
        }));
    }
    // Tail while they write: every mark read must have nothing invisible below it.
    let mut watermark = 0;
    let mut tailed = HashSet::new();
    loop {
        let done = tasks.iter().all(|t| t.is_finished());
        let high = store.archive_high_water().await.expect("high").mentions;
        while watermark < high {
            let page = store
                .archive_mentions(watermark, high, 1_000)
                .await
                .expect("page");
            let Some(last) = page.last() else { break };
            watermark = last.seq;
            for row in page {
                assert!(tailed.insert(row.seq), "seq {} read twice", row.seq);
            }
        }
        watermark = high;
        if done {
            break;
        }
        tokio::task::yield_now().await;
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let total = WRITERS * BATCHES * 20;
    assert_eq!(store.count_mentions(&a).await.expect("count"), total as u64);
    assert_eq!(tailed.len(), total, "the tail saw every committed row");
}

async fn settings_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.get_setting(DATA_MODE_KEY).await.expect("get"), None);
    store.set_setting(DATA_MODE_KEY, "MOCK").await.expect("set");
    assert_eq!(
        store
            .get_setting(DATA_MODE_KEY)
            .await
            .expect("get")
            .as_deref(),
        Some("MOCK")
    );
    store.set_setting(DATA_MODE_KEY, "LIVE").await.expect("set");
    assert_eq!(
        store
            .get_setting(DATA_MODE_KEY)
            .await
            .expect("get")
            .as_deref(),
        Some("LIVE")
    );
    assert_eq!(store.get_setting("other").await.expect("get"), None);
}

async fn mentions_page_filters_and_pages(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    // 25 mentions, pairs sharing an event time (the cursor must break ties by id).
    let sources = [Source::Twitter, Source::News, Source::Reddit];
    let compounds = [0.6, 0.0, -0.9];
    let mut all = Vec::new();
    for i in 0..25_i64 {
        let i_us = usize::try_from(i).expect("small");
        let mut m = mention(
            &a,
            &format!("p{i}"),
            sources[i_us % 3],
            compounds[i_us % 3],
            t0() + Duration::seconds(i / 2),
        );
        if i % 5 == 0 {
            m.mention.country = Some("FR".to_owned());
            m.mention.hashtags = vec!["scandal".to_owned()];
            m.mention.content = format!("A scandal erupts, post {i}");
        }
        all.push(m);
    }
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &all)
            .await
            .expect("insert"),
        25
    );

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .mentions_page(&a, &MentionFilter::default(), 10, cursor)
            .await
            .expect("page");
        pages += 1;
        seen.extend(page.mentions.iter().map(|m| m.mention.external_id.clone()));
        match page.next {
            // Cursors survive the trip through a REST client as strings.
            Some(next) => cursor = Some(next.to_string().parse::<MentionCursor>().expect("cursor")),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        25,
        "no row twice"
    );
    let times: Vec<_> = seen
        .iter()
        .map(|id| {
            all.iter()
                .find(|m| &m.mention.external_id == id)
                .expect("known")
                .mention
                .event_time
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let count = |filter: MentionFilter| {
        let store = store.clone();
        let a = a.clone();
        async move {
            store
                .mentions_page(&a, &filter, 100, None)
                .await
                .expect("filtered page")
                .mentions
        }
    };
    let news = count(MentionFilter {
        source: Some(Source::News),
        ..Default::default()
    })
    .await;
    assert_eq!(news.len(), 8);
    assert!(news.iter().all(|m| m.mention.source == Source::News));
    for (class, expected) in [
        (SentimentClass::Positive, 9),
        (SentimentClass::Neutral, 8),
        (SentimentClass::Negative, 8),
    ] {
        let got = count(MentionFilter {
            sentiment: Some(class),
            ..Default::default()
        })
        .await;
        assert_eq!(got.len(), expected, "{class:?}");
        assert!(got
            .iter()
            .all(|m| SentimentClass::of(m.sentiment.compound) == class));
    }
    let fr = count(MentionFilter {
        country: Some("FR".to_owned()),
        ..Default::default()
    })
    .await;
    assert_eq!(fr.len(), 5);
    let tagged = count(MentionFilter {
        hashtag: Some("scandal".to_owned()),
        ..Default::default()
    })
    .await;
    assert_eq!(tagged.len(), 5);
    let searched = count(MentionFilter {
        search: Some("scandal".to_owned()),
        ..Default::default()
    })
    .await;
    assert_eq!(searched.len(), 5);
    let none = count(MentionFilter {
        search: Some("100%_".to_owned()),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty(), "wildcards in a search are literal");
    let ranged = count(MentionFilter {
        from: Some(t0() + Duration::seconds(2)),
        to: Some(t0() + Duration::seconds(4)),
        ..Default::default()
    })
    .await;
    assert_eq!(ranged.len(), 4, "from inclusive, to exclusive");
    let combined = count(MentionFilter {
        source: Some(Source::Twitter),
        country: Some("FR".to_owned()),
        ..Default::default()
    })
    .await;
    // i % 3 == 0 and i % 5 == 0 → i ∈ {0, 15}.
    assert_eq!(combined.len(), 2);

    assert!("nonsense".parse::<MentionCursor>().is_err());
    assert!("1.x".parse::<MentionCursor>().is_err());
}

async fn mentions_since_pages_oldest_first(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    let all: Vec<_> = (0..30)
        .map(|i| bare_mention(&a, &format!("s{i}"), t0() + Duration::seconds(i / 3)))
        .collect();
    store
        .insert_mentions(DataMode::Mock, &all)
        .await
        .expect("insert");
    let since = t0() + Duration::seconds(2);
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .mentions_since(&a, DataMode::Mock, since, after, 7)
            .await
            .expect("page");
        assert!(page.mentions.len() <= 7);
        got.extend(page.mentions);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(got.len(), 24, "event times at or after `since`");
    assert!(got
        .windows(2)
        .all(|w| w[0].mention.event_time <= w[1].mention.event_time));
    assert_eq!(
        got.iter()
            .map(|m| &m.mention.external_id)
            .collect::<HashSet<_>>()
            .len(),
        24
    );
}

async fn mention_totals_count_like_the_engine(store: Arc<dyn Store>) {
    let ids = with_orgs(&*store, &["acme", "other"]).await;
    let (a, b) = (&ids[0], &ids[1]);
    // Scores on and around every class boundary, two sources, and times at both ends of
    // the range [t0, t0 + 1 min).
    let compounds = [
        0.05, 0.049_999, -0.05, -0.049_999, -0.8, -0.800_001, 0.9, 0.0, -1.0,
    ];
    let sources = [Source::Twitter, Source::Reddit];
    let end = t0() + Duration::minutes(1);
    let mut inside = Vec::new();
    let mut all = Vec::new();
    for (i, compound) in compounds.iter().enumerate() {
        let source = sources[i % 2];
        let at = if i == 0 {
            t0()
        } else {
            end - Duration::microseconds(i as i64)
        };
        let m = mention(a, &format!("in{i}"), source, *compound, at);
        inside.push(m.clone());
        all.push(m);
    }
    // Outside the range or the organisation: never counted.
    all.push(mention(a, "at-end", Source::Twitter, -0.9, end));
    all.push(mention(
        a,
        "before",
        Source::Twitter,
        -0.9,
        t0() - Duration::microseconds(1),
    ));
    all.push(mention(b, "other-org", Source::Twitter, -0.9, t0()));
    store
        .insert_mentions(DataMode::Mock, &all)
        .await
        .expect("insert");
    // The other data mode's mentions of the same minute: never counted with these.
    let live = [mention(a, "live", Source::Twitter, -0.9, t0())];
    store
        .insert_mentions(DataMode::Live, &live)
        .await
        .expect("insert live");

    let got = store
        .mention_totals(a, DataMode::Mock, t0(), end)
        .await
        .expect("totals");
    let mut expected: BTreeMap<Source, SourceAggregate> = BTreeMap::new();
    for m in &inside {
        let c = m.sentiment.compound;
        let e = expected.entry(m.mention.source).or_insert(SourceAggregate {
            source: m.mention.source,
            count: 0,
            sentiment_sum: 0.0,
            positive: 0,
            negative: 0,
            strongly_negative: 0,
        });
        e.count += 1;
        e.sentiment_sum += c;
        match SentimentClass::of(c) {
            SentimentClass::Positive => e.positive += 1,
            SentimentClass::Negative => e.negative += 1,
            SentimentClass::Neutral => {}
        }
        if c < warroom_engine::model::sentiment_class::STRONGLY_NEGATIVE {
            e.strongly_negative += 1;
        }
    }
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for g in &got {
        let e = &expected[&g.source];
        assert_eq!(
            (
                g.source,
                g.count,
                g.positive,
                g.negative,
                g.strongly_negative
            ),
            (
                e.source,
                e.count,
                e.positive,
                e.negative,
                e.strongly_negative
            )
        );
        assert!(
            (g.sentiment_sum - e.sentiment_sum).abs() < 1e-9,
            "{g:?} vs {e:?}"
        );
    }
    assert!(store
        .mention_totals(a, DataMode::Mock, end, end + Duration::minutes(1))
        .await
        .expect("next minute")
        .iter()
        .all(|t| t.count == 1));
    assert!(store
        .mention_totals(b, DataMode::Mock, t0() - Duration::hours(1), t0())
        .await
        .expect("empty range")
        .is_empty());
    let live_totals = store
        .mention_totals(a, DataMode::Live, t0(), end)
        .await
        .expect("live totals");
    assert_eq!(live_totals.len(), 1);
    assert_eq!(
        (live_totals[0].count, live_totals[0].strongly_negative),
        (1, 1)
    );
}

// ---------------------------------------------------------------------------------------
// Backend-specific checks
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_file_is_in_wal_mode_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory location opens `warroom.sqlite3` inside it.
    let store = open_store(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let a = one_org(&*store, "acme").await;
    store
        .insert_mentions(
            DataMode::Mock,
            &[mention(&a, "durable", Source::Blog, 0.3, t0())],
        )
        .await
        .expect("insert");
    store.close().await;
    drop(store);

    let file = dir.path().join(warroom_storage::sql::SQLITE_FILE_NAME);
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", file.display()))
        .await
        .expect("raw connection");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    let _ = conn.close().await;

    let store = open_store(file.to_str().expect("utf-8"))
        .await
        .expect("reopen");
    store.migrate().await.expect("migrate again");
    assert_eq!(store.count_mentions(&a).await.expect("count"), 1);
}

#[tokio::test]
async fn in_memory_sqlite_is_refused() {
    let err = open_store("sqlite::memory:").await.err().expect("refused");
    assert!(matches!(err, StoreError::Location(_)), "{err}");
}

#[tokio::test]
async fn unreachable_postgres_is_transient() {
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let err = open_store("postgres://postgres@127.0.0.1:1/postgres")
        .await
        .err()
        .expect("refused");
    assert!(err.is_transient(), "connection refused is transient: {err}");
}

// ---------------------------------------------------------------------------------------
// Throughput (ignored by default; run with --release, see the module docs)
// ---------------------------------------------------------------------------------------

/// Realistic mentions: 60–280 characters of campaign chatter, 0–3 hashtags, varied
/// authors, sources and countries, event times spread over a day.
fn realistic_mentions(org: &OrgId, n: usize, seed: u64) -> Vec<ScoredMention> {
    const WORDS: [&str; 24] = [
        "the",
        "senator",
        "budget",
        "vote",
        "rally",
        "tonight",
        "crowd",
        "debate",
        "policy",
        "jobs",
        "healthcare",
        "taxes",
        "amazing",
        "terrible",
        "speech",
        "turnout",
        "county",
        "poll",
        "lead",
        "scandal",
        "volunteers",
        "town",
        "hall",
        "support",
    ];
    const TAGS: [&str; 8] = [
        "vote2026", "townhall", "budget", "debate", "rally", "gotv", "jobs", "ohio",
    ];
    const COUNTRIES: [&str; 5] = ["US", "US", "US", "CA", "GB"];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64*: deterministic and dependency-free.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let pick = |r: u64, len: usize| usize::try_from(r % len as u64).expect("index fits");
    (0..n)
        .map(|i| {
            let words = 10 + pick(next(), 35);
            let content = (0..words)
                .map(|_| WORDS[pick(next(), WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ");
            let tags = (0..pick(next(), 4))
                .map(|_| TAGS[pick(next(), TAGS.len())].to_owned())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let compound = (pick(next(), 2001) as f64 - 1000.0) / 1000.0;
            let followers = next() % 200_000;
            let at =
                t0() + Duration::milliseconds(i64::try_from(next() % 86_400_000).expect("fits"));
            ScoredMention {
                org: org.clone(),
                mention: Mention {
                    external_id: format!("{seed}-{i}"),
                    source: Source::ALL[pick(next(), Source::COUNT)],
                    content,
                    author: Author {
                        handle: format!("@user{}", next() % 50_000),
                        name: None,
                        followers,
                        reach: followers * 3,
                    },
                    country: Some(COUNTRIES[pick(next(), COUNTRIES.len())].to_owned()),
                    region: None,
                    language: Some("en".to_owned()),
                    hashtags: tags,
                    url: Some(format!("https://social.example/p/{seed}/{i}")),
                    event_time: at,
                    source_sentiment: None,
                },
                sentiment: SentimentScores {
                    neg: 0.1,
                    neu: 0.75,
                    pos: 0.15,
                    compound,
                },
                ingested_at_us: at.timestamp_micros(),
            }
        })
        .collect()
}

/// Inserts `total` mentions in batches of `batch`, one call per batch (each a committed
/// transaction, as group commit does), and prints mentions/s.
async fn measure(store: Arc<dyn Store>, label: &str, batch: usize, total: usize) {
    let a = one_org(&*store, "bench").await;
    let data = realistic_mentions(&a, total, u64::try_from(batch).expect("fits"));
    let started = Instant::now();
    let mut inserted = 0;
    for chunk in data.chunks(batch) {
        inserted += store
            .insert_mentions(DataMode::Mock, chunk)
            .await
            .expect("insert");
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(inserted, u64::try_from(total).expect("fits"));
    println!(
        "{label}: {total} mentions in batches of {batch}: {secs:.2} s, {:.0} mentions/s",
        total as f64 / secs
    );
}

#[tokio::test]
#[ignore = "throughput measurement; run with --release --ignored --nocapture"]
async fn insert_rate_sqlite() {
    for (batch, total) in [(500, 100_000), (5_000, 200_000)] {
        on_sqlite(|s| measure(s, "sqlite", batch, total)).await;
    }
}

#[tokio::test]
#[ignore = "throughput measurement; run with --release --ignored --nocapture"]
async fn insert_rate_postgres() {
    for (batch, total) in [(500, 100_000), (5_000, 200_000)] {
        on_postgres(|s| measure(s, "postgres", batch, total)).await;
    }
}

/// Mentions, campaign reports and KPI buckets of one data mode are invisible to reads of
/// the other (recovery, bucket recomputation and exports read one mode).
async fn data_modes_never_mix_in_reads(store: Arc<dyn Store>) {
    let a = one_org(&*store, "acme").await;
    let mock: Vec<_> = (0..3)
        .map(|i| bare_mention(&a, &format!("mock-{i}"), t0() + Duration::seconds(i)))
        .collect();
    let live: Vec<_> = (0..2)
        .map(|i| bare_mention(&a, &format!("live-{i}"), t0() + Duration::seconds(i)))
        .collect();
    assert_eq!(
        store
            .insert_mentions(DataMode::Mock, &mock)
            .await
            .expect("mock"),
        3
    );
    assert_eq!(
        store
            .insert_mentions(DataMode::Live, &live)
            .await
            .expect("live"),
        2
    );
    let ids = |page: warroom_storage::sql::MentionPage| -> Vec<String> {
        page.mentions
            .into_iter()
            .map(|m| m.mention.external_id)
            .collect()
    };
    let read = |mode| store.mentions_since(&a, mode, t0(), None, 100);
    assert_eq!(
        ids(read(DataMode::Live).await.expect("live")),
        ["live-0", "live-1"]
    );
    assert_eq!(
        ids(read(DataMode::Mock).await.expect("mock")),
        ["mock-0", "mock-1", "mock-2"]
    );
    assert_eq!(store.count_mentions(&a).await.expect("count"), 5);

    let day = t0().date_naive();
    store
        .insert_campaign_metrics(DataMode::Mock, &[(a.clone(), metric("c1", day, t0(), 100))])
        .await
        .expect("mock report");
    store
        .insert_campaign_metrics(DataMode::Live, &[(a.clone(), metric("c2", day, t0(), 200))])
        .await
        .expect("live report");
    let campaigns = |reports: Vec<CampaignMetric>| -> Vec<String> {
        reports.into_iter().map(|m| m.campaign_id).collect()
    };
    assert_eq!(
        campaigns(
            store
                .campaign_metrics(&a, DataMode::Mock)
                .await
                .expect("mock")
        ),
        ["c1"]
    );
    assert_eq!(
        campaigns(
            store
                .campaign_metrics(&a, DataMode::Live)
                .await
                .expect("live")
        ),
        ["c2"]
    );

    // The same minute has one bucket per mode; writing one leaves the other alone.
    let mock_bucket = bucket(&a, t0(), 5);
    let live_bucket = KpiBucket {
        data_mode: DataMode::Live,
        ..bucket(&a, t0(), 9)
    };
    assert_eq!(
        store
            .upsert_kpi_buckets(&[mock_bucket.clone(), live_bucket.clone()])
            .await
            .expect("upsert"),
        2
    );
    assert_eq!(
        store
            .kpi_buckets_since(&a, DataMode::Mock, t0())
            .await
            .expect("mock"),
        vec![mock_bucket]
    );
    assert_eq!(
        store
            .kpi_buckets_since(&a, DataMode::Live, t0())
            .await
            .expect("live"),
        vec![live_bucket]
    );
}

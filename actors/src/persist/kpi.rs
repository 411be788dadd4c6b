//! KPI minute buckets in the store (`kpi_minute_buckets`): the additive per-minute
//! counters that windows can be rebuilt from and that the archive exports.
//!
//! A bucket is always *recomputed from the stored mentions* of its minute (the
//! database counts them, [`write_minutes`]), never incremented: the store's mentions are de-duplicated by their unique key, so a bucket
//! computed from them is exact whatever was re-sent, retried or replayed, and writing it
//! again is harmless. The persister reports each committed batch ([`CommitObserver`]);
//! [`KpiBuckets`] remembers which `(org, minute)` it touched, and a background task
//! ([`KpiBuckets::run`]) recomputes those minutes once they have closed (their end plus
//! one flush interval has passed), so each minute is normally read once, and again only
//! when late mentions arrive for it. A crash loses the set of touched minutes, so
//! recovery on start recomputes every minute it replays ([`buckets_of`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use parking_lot::Mutex;
use warroom_engine::clock::SharedClock;
use warroom_engine::model::{sentiment_class, SentimentClass};
use warroom_engine::{CampaignMetric, DataMode, OrgId, ScoredMention};
use warroom_storage::sql::{KpiBucket, SourceAggregate, SourceTotals};
use warroom_storage::Store;

/// Told about every batch the persister committed. Called on the writer task: must not
/// block.
pub trait CommitObserver: Send + Sync + 'static {
    /// `mentions` and `campaigns` of data mode `mode` are committed (some may have been
    /// stored before).
    fn committed(
        &self,
        mode: DataMode,
        mentions: &[ScoredMention],
        campaigns: &[(OrgId, CampaignMetric)],
    );
}

/// The start of the minute containing `at`.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    // Truncation fails only at the edge of chrono's range; `at` itself is harmless there.
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

/// Aggregates mentions of data mode `mode` into buckets, one per organisation and minute.
pub fn buckets_of<'a>(
    mode: DataMode,
    mentions: impl IntoIterator<Item = &'a ScoredMention>,
) -> BTreeMap<(OrgId, DateTime<Utc>), KpiBucket> {
    let mut buckets = BTreeMap::new();
    add_to(&mut buckets, mode, mentions);
    buckets
}

/// Counts mentions of data mode `mode` into `buckets` (which hold only that mode's).
pub fn add_to<'a>(
    buckets: &mut BTreeMap<(OrgId, DateTime<Utc>), KpiBucket>,
    mode: DataMode,
    mentions: impl IntoIterator<Item = &'a ScoredMention>,
) {
    for m in mentions {
        let minute = minute_of(m.mention.event_time);
        let bucket = buckets
            .entry((m.org.clone(), minute))
            .or_insert_with(|| empty_bucket(&m.org, mode, minute));
        let compound = m.sentiment.compound;
        bucket.mention_count += 1;
        bucket.sentiment_sum += compound;
        match SentimentClass::of(compound) {
            SentimentClass::Positive => bucket.positive += 1,
            SentimentClass::Neutral => bucket.neutral += 1,
            SentimentClass::Negative => bucket.negative += 1,
        }
        if compound < sentiment_class::STRONGLY_NEGATIVE {
            bucket.strongly_negative += 1;
        }
        let totals: &mut SourceTotals = bucket.by_source.entry(m.mention.source).or_default();
        totals.count += 1;
        totals.sentiment_sum += compound;
    }
}

/// Counters for health and metrics.
#[derive(Debug, Default)]
pub struct KpiStats {
    /// Buckets written.
    pub written: std::sync::atomic::AtomicU64,
    /// Minutes waiting to be recomputed.
    pub pending: std::sync::atomic::AtomicUsize,
}

/// A touched minute: organisation, data mode, start of the minute.
pub type MinuteKey = (OrgId, DataMode, DateTime<Utc>);

/// The set of minutes touched by committed mentions, and the task that writes their
/// buckets.
#[derive(Default)]
pub struct KpiBuckets {
    touched: Mutex<HashSet<MinuteKey>>,
    stats: KpiStats,
}

impl CommitObserver for KpiBuckets {
    fn committed(&self, mode: DataMode, mentions: &[ScoredMention], _: &[(OrgId, CampaignMetric)]) {
        if mentions.is_empty() {
            return;
        }
        let mut touched = self.touched.lock();
        for m in mentions {
            touched.insert((m.org.clone(), mode, minute_of(m.mention.event_time)));
        }
        self.stats
            .pending
            .store(touched.len(), std::sync::atomic::Ordering::Relaxed);
    }
}

impl KpiBuckets {
    /// Counters.
    pub fn stats(&self) -> &KpiStats {
        &self.stats
    }

    /// Takes the touched minutes that closed at least `settle` before `now`.
    fn take_closed(&self, now: DateTime<Utc>, settle: TimeDelta) -> Vec<MinuteKey> {
        let mut touched = self.touched.lock();
        let closed: Vec<_> = touched
            .iter()
            .filter(|(_, _, minute)| *minute + TimeDelta::minutes(1) + settle <= now)
            .cloned()
            .collect();
        for key in &closed {
            touched.remove(key);
        }
        closed
    }

    fn put_back(&self, keys: Vec<MinuteKey>) {
        self.touched.lock().extend(keys);
    }

    /// Recomputes and writes the buckets of the closed touched minutes; on a store error
    /// they stay touched for the next round. Returns the buckets written.
    pub async fn flush(
        &self,
        store: &dyn Store,
        now: DateTime<Utc>,
        settle: TimeDelta,
    ) -> Result<u64, String> {
        let keys = self.take_closed(now, settle);
        if keys.is_empty() {
            return Ok(0);
        }
        match write_minutes(store, &keys).await {
            Ok(n) => {
                self.stats
                    .written
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                self.put_back(keys);
                Err(e)
            }
        }
    }

    /// Flushes every `interval` (minutes close `interval` after their end); runs until
    /// its task is aborted.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        clock: SharedClock,
        interval: Duration,
    ) {
        let settle = TimeDelta::from_std(interval).unwrap_or(TimeDelta::seconds(10));
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.flush(store.as_ref(), clock.now(), settle).await {
                tracing::warn!(error = %e, "KPI buckets not written; retrying next round");
            }
        }
    }
}

/// Recomputes the given minutes from the stored mentions of their mode and upserts
/// their buckets.
///
/// The database does the counting ([`Store::mention_totals`]): reading every mention
/// back to count it cost the engine a core-second per 200,000 mentions, in a burst each
/// time a busy minute closed.
pub async fn write_minutes(store: &dyn Store, keys: &[MinuteKey]) -> Result<u64, String> {
    let mut buckets = Vec::with_capacity(keys.len());
    for (org, mode, minute) in keys {
        let totals = store
            .mention_totals(org, *mode, *minute, *minute + TimeDelta::minutes(1))
            .await
            .map_err(|e| format!("counting mentions of {org}: {e}"))?;
        if let Some(bucket) = bucket_of_totals(org, *mode, *minute, &totals) {
            buckets.push(bucket);
        }
    }
    if buckets.is_empty() {
        return Ok(0);
    }
    store
        .upsert_kpi_buckets(&buckets)
        .await
        .map_err(|e| format!("writing KPI buckets: {e}"))
}

/// The bucket of one minute from its per-source totals; `None` when it has no mentions.
pub fn bucket_of_totals(
    org: &OrgId,
    mode: DataMode,
    minute: DateTime<Utc>,
    totals: &[SourceAggregate],
) -> Option<KpiBucket> {
    if totals.is_empty() {
        return None;
    }
    let mut bucket = empty_bucket(org, mode, minute);
    for t in totals {
        bucket.mention_count += t.count;
        bucket.sentiment_sum += t.sentiment_sum;
        bucket.positive += t.positive;
        bucket.negative += t.negative;
        // The classes partition the mentions (`SentimentClass::of`).
        bucket.neutral += t.count.saturating_sub(t.positive + t.negative);
        bucket.strongly_negative += t.strongly_negative;
        let source = bucket.by_source.entry(t.source).or_default();
        source.count += t.count;
        source.sentiment_sum += t.sentiment_sum;
    }
    Some(bucket)
}

fn empty_bucket(org: &OrgId, mode: DataMode, minute: DateTime<Utc>) -> KpiBucket {
    KpiBucket {
        org: org.clone(),
        data_mode: mode,
        minute,
        mention_count: 0,
        sentiment_sum: 0.0,
        positive: 0,
        neutral: 0,
        negative: 0,
        strongly_negative: 0,
        by_source: BTreeMap::new(),
        sketches: serde_json::json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_engine::model::{Author, Mention, SentimentScores, Source};

    fn scored(org: &str, at: &str, source: Source, compound: f64) -> ScoredMention {
        ScoredMention {
            org: OrgId::new(org),
            mention: Mention {
                external_id: format!("{at}-{compound}"),
                source,
                content: "x".into(),
                author: Author::default(),
                country: None,
                region: None,
                language: None,
                hashtags: vec![],
                url: None,
                event_time: at.parse().unwrap(),
                source_sentiment: None,
            },
            sentiment: SentimentScores {
                compound,
                pos: 0.0,
                neu: 1.0,
                neg: 0.0,
            },
            ingested_at_us: 0,
        }
    }

    #[test]
    fn buckets_split_by_org_and_minute_and_classify() {
        let rows = [
            scored("a", "2024-05-01T10:00:05Z", Source::Twitter, 0.5),
            scored("a", "2024-05-01T10:00:59Z", Source::Reddit, -0.9),
            scored("a", "2024-05-01T10:01:00Z", Source::Twitter, 0.0),
            scored("b", "2024-05-01T10:00:30Z", Source::Twitter, 0.0),
        ];
        let buckets = buckets_of(DataMode::Mock, &rows);
        assert_eq!(buckets.len(), 3);
        let first = &buckets[&(OrgId::new("a"), "2024-05-01T10:00:00Z".parse().unwrap())];
        assert_eq!(first.mention_count, 2);
        assert_eq!((first.positive, first.neutral, first.negative), (1, 0, 1));
        assert_eq!(first.strongly_negative, 1);
        assert!((first.sentiment_sum + 0.4).abs() < 1e-12);
        assert_eq!(first.by_source[&Source::Reddit].count, 1);
    }

    #[test]
    fn buckets_from_database_totals_equal_buckets_counted_here() {
        let rows = [
            scored("a", "2024-05-01T10:00:05Z", Source::Twitter, 0.5),
            scored("a", "2024-05-01T10:00:10Z", Source::Twitter, 0.0),
            scored("a", "2024-05-01T10:00:59Z", Source::Reddit, -0.9),
            scored("a", "2024-05-01T10:00:30Z", Source::Reddit, -0.3),
        ];
        let minute: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        let counted = &buckets_of(DataMode::Live, &rows)[&(OrgId::new("a"), minute)];
        // What `Store::mention_totals` returns for these rows.
        let totals = [
            SourceAggregate {
                source: Source::Twitter,
                count: 2,
                sentiment_sum: 0.5,
                positive: 1,
                negative: 0,
                strongly_negative: 0,
            },
            SourceAggregate {
                source: Source::Reddit,
                count: 2,
                sentiment_sum: -1.2,
                positive: 0,
                negative: 2,
                strongly_negative: 1,
            },
        ];
        let from_totals =
            bucket_of_totals(&OrgId::new("a"), DataMode::Live, minute, &totals).unwrap();
        assert_eq!(from_totals.data_mode, DataMode::Live);
        assert_eq!(from_totals.mention_count, counted.mention_count);
        assert_eq!(
            (
                from_totals.positive,
                from_totals.neutral,
                from_totals.negative
            ),
            (counted.positive, counted.neutral, counted.negative)
        );
        assert_eq!(from_totals.strongly_negative, counted.strongly_negative);
        assert!((from_totals.sentiment_sum - counted.sentiment_sum).abs() < 1e-12);
        assert_eq!(
            from_totals.by_source.keys().collect::<Vec<_>>(),
            counted.by_source.keys().collect::<Vec<_>>()
        );
        assert_eq!(from_totals.by_source[&Source::Reddit].count, 2);
        assert!(bucket_of_totals(&OrgId::new("a"), DataMode::Live, minute, &[]).is_none());
    }

    #[test]
    fn only_closed_minutes_are_taken() {
        let kpi = KpiBuckets::default();
        let rows = [
            scored("a", "2024-05-01T10:00:05Z", Source::Twitter, 0.5),
            scored("a", "2024-05-01T10:01:05Z", Source::Twitter, 0.5),
        ];
        kpi.committed(DataMode::Mock, &rows, &[]);
        let now: DateTime<Utc> = "2024-05-01T10:01:20Z".parse().unwrap();
        let taken = kpi.take_closed(now, TimeDelta::seconds(10));
        assert_eq!(
            taken,
            vec![(
                OrgId::new("a"),
                DataMode::Mock,
                "2024-05-01T10:00:00Z".parse().unwrap()
            )]
        );
        assert_eq!(kpi.touched.lock().len(), 1, "the open minute waits");
    }
}

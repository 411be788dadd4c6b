//! Conversions between the domain model and SQL column values, shared by both backends,
//! and the checks that keep a batch from failing half-way inside the database.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use warroom_engine::model::{
    CampaignMetric, CrisisEvent, CrisisKind, CrisisStatus, DataMode, OrgId, Platform,
    ScoredMention, Source,
};

use super::{KpiBucket, StoreError, StoreResult};

/// A count as a signed SQL integer.
pub(crate) fn count_to_i64(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} {value} exceeds i64")))
}

/// A stored count back as unsigned.
pub(crate) fn count_from_i64(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Invalid(format!("stored {what} {value} < 0")))
}

/// Microseconds since the epoch (the stored precision) back to a time.
pub(crate) fn time_from_us(us: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Invalid(format!("timestamp {us} µs out of range")))
}

/// A date as stored on SQLite (`YYYY-MM-DD`).
pub(crate) fn date_to_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A date stored on SQLite back.
pub(crate) fn date_from_text(text: &str) -> StoreResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| StoreError::Invalid(format!("stored date {text:?}")))
}

/// A stored source name back.
pub(crate) fn parse_source(name: &str) -> StoreResult<Source> {
    Source::parse(name).ok_or_else(|| StoreError::Invalid(format!("stored source {name:?}")))
}

/// A stored platform name back.
pub(crate) fn parse_platform(name: &str) -> StoreResult<Platform> {
    [Platform::Meta, Platform::GoogleAds]
        .into_iter()
        .find(|p| p.as_str() == name)
        .ok_or_else(|| StoreError::Invalid(format!("stored platform {name:?}")))
}

/// A stored crisis kind back.
pub(crate) fn parse_crisis_kind(name: &str) -> StoreResult<CrisisKind> {
    [CrisisKind::NegativeSurge, CrisisKind::VolumeSpike]
        .into_iter()
        .find(|k| k.as_str() == name)
        .ok_or_else(|| StoreError::Invalid(format!("stored crisis kind {name:?}")))
}

/// The `crisis_events.status` value of a status.
pub(crate) fn crisis_status_str(status: CrisisStatus) -> &'static str {
    match status {
        CrisisStatus::Active => "active",
        CrisisStatus::Acknowledged => "acknowledged",
        CrisisStatus::Resolved => "resolved",
    }
}

/// A stored crisis status back.
pub(crate) fn parse_crisis_status(name: &str) -> StoreResult<CrisisStatus> {
    match name {
        "active" => Ok(CrisisStatus::Active),
        "acknowledged" => Ok(CrisisStatus::Acknowledged),
        "resolved" => Ok(CrisisStatus::Resolved),
        _ => Err(StoreError::Invalid(format!(
            "stored crisis status {name:?}"
        ))),
    }
}

fn finite(value: f64, what: &str) -> StoreResult<()> {
    if value.is_finite() {
        Ok(())
    } else {
        // SQLite would store NaN as NULL and Postgres would sort it above everything.
        Err(StoreError::Invalid(format!("{what} is not finite")))
    }
}

/// Typed copies of a mention's unsigned counts, checked before anything is sent.
pub(crate) struct MentionNumbers {
    pub followers: i64,
    pub reach: i64,
}

/// Checks what the schema cannot hold (so a batch fails before, not inside, the database)
/// and converts the counts.
pub(crate) fn check_mention(m: &ScoredMention) -> StoreResult<MentionNumbers> {
    let s = &m.sentiment;
    for (v, what) in [
        (s.compound, "compound"),
        (s.pos, "pos"),
        (s.neu, "neu"),
        (s.neg, "neg"),
    ] {
        finite(v, what)?;
    }
    if let Some(v) = m.mention.source_sentiment {
        finite(v, "source_sentiment")?;
    }
    time_from_us(m.ingested_at_us)?;
    Ok(MentionNumbers {
        followers: count_to_i64(m.mention.author.followers, "followers")?,
        reach: count_to_i64(m.mention.author.reach, "reach")?,
    })
}

/// Typed copies of a campaign report's numbers.
pub(crate) struct MetricNumbers {
    pub impressions: i64,
    pub clicks: i64,
    pub reach: Option<i64>,
}

/// Checks and converts a campaign report.
pub(crate) fn check_metric(m: &CampaignMetric) -> StoreResult<MetricNumbers> {
    finite(m.conversions, "conversions")?;
    Ok(MetricNumbers {
        impressions: count_to_i64(m.impressions, "impressions")?,
        clicks: count_to_i64(m.clicks, "clicks")?,
        reach: m.reach.map(|r| count_to_i64(r, "reach")).transpose()?,
    })
}

/// Checks what `crisis_events` constrains.
pub(crate) fn check_crisis(c: &CrisisEvent) -> StoreResult<()> {
    if !(1..=10).contains(&c.severity) {
        return Err(StoreError::Invalid(format!(
            "crisis severity {} outside 1-10",
            c.severity
        )));
    }
    Ok(())
}

/// Typed copies of a bucket's counts and its JSON columns.
pub(crate) struct BucketColumns {
    pub mention_count: i64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
    pub strongly_negative: i64,
    pub by_source: String,
    pub sketches: String,
}

/// Checks and converts a KPI bucket.
pub(crate) fn bucket_columns(b: &KpiBucket) -> StoreResult<BucketColumns> {
    if b.minute.second() != 0 || b.minute.nanosecond() != 0 {
        return Err(StoreError::Invalid(format!(
            "bucket minute {} is not the start of a minute",
            b.minute
        )));
    }
    finite(b.sentiment_sum, "sentiment_sum")?;
    for totals in b.by_source.values() {
        finite(totals.sentiment_sum, "source sentiment_sum")?;
    }
    Ok(BucketColumns {
        mention_count: count_to_i64(b.mention_count, "mention_count")?,
        positive: count_to_i64(b.positive, "positive")?,
        neutral: count_to_i64(b.neutral, "neutral")?,
        negative: count_to_i64(b.negative, "negative")?,
        strongly_negative: count_to_i64(b.strongly_negative, "strongly_negative")?,
        by_source: serde_json::to_string(&b.by_source)?,
        sketches: serde_json::to_string(&b.sketches)?,
    })
}

/// The buckets of a batch with repeated `(org, minute)` keys reduced to the last one, in
/// first-seen order. Postgres refuses an `ON CONFLICT DO UPDATE` that touches the same row
/// twice in one statement.
pub(crate) fn last_bucket_per_key(buckets: &[KpiBucket]) -> Vec<&KpiBucket> {
    let mut index: HashMap<(&OrgId, DataMode, i64), usize> = HashMap::with_capacity(buckets.len());
    let mut out: Vec<&KpiBucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match index.entry((&b.org, b.data_mode, b.minute.timestamp_micros())) {
            std::collections::hash_map::Entry::Occupied(slot) => out[*slot.get()] = b,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(b);
            }
        }
    }
    out
}

/// The newest report per `(org, platform, campaign)` of a batch: what the `campaigns`
/// table keeps (name, currency, budget).
pub(crate) fn latest_campaigns(
    metrics: &[(OrgId, CampaignMetric)],
) -> Vec<&(OrgId, CampaignMetric)> {
    let mut latest: HashMap<(&OrgId, Platform, &str), &(OrgId, CampaignMetric)> = HashMap::new();
    for entry in metrics {
        let key = (&entry.0, entry.1.platform, entry.1.campaign_id.as_str());
        latest
            .entry(key)
            .and_modify(|seen| {
                if entry.1.reported_at >= seen.1.reported_at {
                    *seen = entry;
                }
            })
            .or_insert(entry);
    }
    let mut out: Vec<_> = latest.into_values().collect();
    // A stable order keeps row locks taken in the same order by concurrent writers.
    out.sort_by(|a, b| {
        (
            a.0.as_str(),
            a.1.platform.as_str(),
            a.1.campaign_id.as_str(),
        )
            .cmp(&(
                b.0.as_str(),
                b.1.platform.as_str(),
                b.1.campaign_id.as_str(),
            ))
    });
    out
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern and wraps it in `%`.
pub(crate) fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A stored `data_mode` column (`MOCK` or `LIVE`).
pub(crate) fn data_mode_from_str(stored: &str) -> StoreResult<DataMode> {
    DataMode::parse(stored)
        .ok_or_else(|| StoreError::Invalid(format!("stored data mode {stored:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_contains("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn counts_beyond_i64_are_rejected() {
        assert!(count_to_i64(u64::MAX, "x").is_err());
        assert_eq!(count_to_i64(7, "x").ok(), Some(7));
    }

    #[test]
    fn parses_every_name_it_writes() {
        for s in Source::ALL {
            assert_eq!(parse_source(s.as_str()).ok(), Some(s));
        }
        for p in [Platform::Meta, Platform::GoogleAds] {
            assert_eq!(parse_platform(p.as_str()).ok(), Some(p));
        }
        for st in [
            CrisisStatus::Active,
            CrisisStatus::Acknowledged,
            CrisisStatus::Resolved,
        ] {
            assert_eq!(parse_crisis_status(crisis_status_str(st)).ok(), Some(st));
        }
        for k in [CrisisKind::NegativeSurge, CrisisKind::VolumeSpike] {
            assert_eq!(parse_crisis_kind(k.as_str()).ok(), Some(k));
        }
    }
}

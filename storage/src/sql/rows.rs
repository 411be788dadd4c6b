//! Row decoders of the main store, once for both dialects: each column list below and
//! the decoder reading it belong together.

use warroom_engine::model::{
    sentiment_class, Author, CampaignMetric, CrisisEvent, Mention, OrgId, ScoredMention,
    SentimentScores,
};

use super::codec;
use super::dialect::{Dialect, RowOf};
use super::{KpiBucket, MentionCursor, MentionPage, SourceAggregate, StoreError, StoreResult};

/// What [`mention`] reads.
pub const MENTION_COLUMNS: &str = "id, org_id, source, external_id, content, author_handle, \
    author_name, author_followers, author_reach, country, region, language, hashtags, url, \
    sentiment_score, sentiment_pos, sentiment_neu, sentiment_neg, source_sentiment, \
    event_time, ingested_at";

/// What [`metric`] reads (`campaign_data`, without the organisation).
pub const METRIC_COLUMNS: &str = "platform, campaign_id, campaign_name, date_recorded, \
    impressions, clicks, spend_micros, conversions, reach, daily_budget_micros, currency, \
    reported_at";

/// What [`crisis`] reads.
pub const CRISIS_COLUMNS: &str = "id, org_id, kind, severity, status, detected_at, \
    acknowledged_at, resolved_at, resolution, metadata";

/// What [`bucket`] reads.
pub const BUCKET_COLUMNS: &str = "org_id, data_mode, minute, mention_count, sentiment_sum, \
    positive, neutral, negative, strongly_negative, by_source, sketches";

/// The select list [`source_aggregate`] reads, thresholds inlined from
/// [`sentiment_class`] so the database classifies exactly as the engine does.
pub fn mention_totals_columns() -> String {
    // `{:?}` prints an f64 that parses back to the same value.
    format!(
        "source, COUNT(*) AS n, SUM(sentiment_score) AS total, \
         SUM(CASE WHEN sentiment_score >= CAST({p:?} AS DOUBLE PRECISION) THEN 1 ELSE 0 END) \
         AS positive, \
         SUM(CASE WHEN sentiment_score <= CAST({n:?} AS DOUBLE PRECISION) THEN 1 ELSE 0 END) \
         AS negative, \
         SUM(CASE WHEN sentiment_score < CAST({s:?} AS DOUBLE PRECISION) THEN 1 ELSE 0 END) \
         AS strongly_negative",
        p = sentiment_class::POSITIVE,
        n = sentiment_class::NEGATIVE,
        s = sentiment_class::STRONGLY_NEGATIVE,
    )
}

/// A stored count back as unsigned.
fn count<D: Dialect>(row: &RowOf<D>, column: &str) -> StoreResult<u64> {
    codec::count_from_i64(D::bigint(row, column)?, column)
}

/// A row of [`MENTION_COLUMNS`]: its id and the mention.
pub fn mention<D: Dialect>(row: &RowOf<D>) -> StoreResult<(i64, ScoredMention)> {
    let mention = ScoredMention {
        org: OrgId::new(D::text(row, "org_id")?),
        mention: Mention {
            external_id: D::text(row, "external_id")?,
            source: codec::parse_source(&D::text(row, "source")?)?,
            content: D::text(row, "content")?,
            author: Author {
                handle: D::text(row, "author_handle")?,
                name: D::opt_text(row, "author_name")?,
                followers: codec::count_from_i64(D::bigint(row, "author_followers")?, "followers")?,
                reach: codec::count_from_i64(D::bigint(row, "author_reach")?, "reach")?,
            },
            country: D::opt_text(row, "country")?,
            region: D::opt_text(row, "region")?,
            language: D::opt_text(row, "language")?,
            hashtags: D::json_of(row, "hashtags")?,
            url: D::opt_text(row, "url")?,
            event_time: D::time(row, "event_time")?,
            source_sentiment: D::opt_float(row, "source_sentiment")?,
        },
        sentiment: SentimentScores {
            neg: D::float(row, "sentiment_neg")?,
            neu: D::float(row, "sentiment_neu")?,
            pos: D::float(row, "sentiment_pos")?,
            compound: D::float(row, "sentiment_score")?,
        },
        ingested_at_us: D::time(row, "ingested_at")?.timestamp_micros(),
    };
    Ok((D::bigint(row, "id")?, mention))
}

/// Decodes a page's rows; `limit + 1` were asked for, so a surplus row means there is a
/// next page, which starts after the last row kept.
pub fn page<D: Dialect>(rows: &[RowOf<D>], limit: usize) -> StoreResult<MentionPage> {
    let mut mentions = Vec::with_capacity(rows.len().min(limit));
    let mut last = None;
    for row in rows.iter().take(limit) {
        let (id, m) = mention::<D>(row)?;
        last = Some(MentionCursor {
            event_time_us: m.mention.event_time.timestamp_micros(),
            id,
        });
        mentions.push(m);
    }
    let next = if rows.len() > limit { last } else { None };
    Ok(MentionPage { mentions, next })
}

/// A row of [`METRIC_COLUMNS`].
pub fn metric<D: Dialect>(row: &RowOf<D>) -> StoreResult<CampaignMetric> {
    Ok(CampaignMetric {
        platform: codec::parse_platform(&D::text(row, "platform")?)?,
        campaign_id: D::text(row, "campaign_id")?,
        campaign_name: D::text(row, "campaign_name")?,
        date: D::date(row, "date_recorded")?,
        impressions: count::<D>(row, "impressions")?,
        reach: D::opt_bigint(row, "reach")?
            .map(|r| codec::count_from_i64(r, "reach"))
            .transpose()?,
        clicks: count::<D>(row, "clicks")?,
        spend_micros: D::bigint(row, "spend_micros")?,
        conversions: D::float(row, "conversions")?,
        daily_budget_micros: D::opt_bigint(row, "daily_budget_micros")?,
        currency: D::text(row, "currency")?,
        reported_at: D::time(row, "reported_at")?,
    })
}

/// A row of [`CRISIS_COLUMNS`].
pub fn crisis<D: Dialect>(row: &RowOf<D>) -> StoreResult<CrisisEvent> {
    let severity = D::int(row, "severity")?
        .ok_or_else(|| StoreError::Invalid("severity is NULL".to_owned()))?;
    Ok(CrisisEvent {
        id: D::uuid(row, "id")?,
        org: OrgId::new(D::text(row, "org_id")?),
        kind: codec::parse_crisis_kind(&D::text(row, "kind")?)?,
        severity: u8::try_from(severity)
            .map_err(|_| StoreError::Invalid(format!("stored severity {severity}")))?,
        status: codec::parse_crisis_status(&D::text(row, "status")?)?,
        detected_at: D::time(row, "detected_at")?,
        acknowledged_at: D::opt_time(row, "acknowledged_at")?,
        resolved_at: D::opt_time(row, "resolved_at")?,
        resolution: D::opt_text(row, "resolution")?,
        metadata: D::opt_json(row, "metadata")?.unwrap_or_default(),
    })
}

/// A row of [`BUCKET_COLUMNS`].
pub fn bucket<D: Dialect>(row: &RowOf<D>) -> StoreResult<KpiBucket> {
    Ok(KpiBucket {
        org: OrgId::new(D::text(row, "org_id")?),
        data_mode: codec::data_mode_from_str(&D::text(row, "data_mode")?)?,
        minute: D::time(row, "minute")?,
        mention_count: count::<D>(row, "mention_count")?,
        sentiment_sum: D::float(row, "sentiment_sum")?,
        positive: count::<D>(row, "positive")?,
        neutral: count::<D>(row, "neutral")?,
        negative: count::<D>(row, "negative")?,
        strongly_negative: count::<D>(row, "strongly_negative")?,
        by_source: D::json_of(row, "by_source")?,
        sketches: D::json_of(row, "sketches")?,
    })
}

/// A row of [`mention_totals_columns`].
pub fn source_aggregate<D: Dialect>(row: &RowOf<D>) -> StoreResult<SourceAggregate> {
    Ok(SourceAggregate {
        source: codec::parse_source(&D::text(row, "source")?)?,
        count: count::<D>(row, "n")?,
        sentiment_sum: D::float(row, "total")?,
        positive: count::<D>(row, "positive")?,
        negative: count::<D>(row, "negative")?,
        strongly_negative: count::<D>(row, "strongly_negative")?,
    })
}

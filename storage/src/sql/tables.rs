//! What each batch insert of the main store writes, once for both dialects: the table,
//! its column list, its `ON CONFLICT` clause, and how a chunk of records becomes one
//! column of values per name (checking each record first).

use uuid::Uuid;
use warroom_engine::model::{CampaignMetric, DataMode, OrgId, ScoredMention};

use super::batch::{Column, Table};
use super::dialect::Dialect;
use super::{codec, KpiBucket, StoreResult};

/// `mentions`, keyed by `(org_id, source, external_id)`.
pub const MENTIONS: Table = Table {
    name: "mentions",
    columns: "org_id, source, external_id, content, author_handle, author_name, \
        author_followers, author_reach, country, region, language, hashtags, url, \
        sentiment_score, sentiment_pos, sentiment_neu, sentiment_neg, \
        source_sentiment, event_time, ingested_at, data_mode",
    archived: true,
};

/// A mention already stored is skipped.
pub const INSERT_MENTIONS_CONFLICT: &str = "ON CONFLICT (org_id, source, external_id) DO NOTHING";

/// `campaigns`: one row per campaign, its latest name, currency and budget. The id is
/// generated here because SQLite has no `gen_random_uuid()`.
pub const CAMPAIGNS: Table = Table {
    name: "campaigns",
    columns: "id, org_id, platform, campaign_id, name, currency, daily_budget_micros",
    archived: false,
};

/// `campaign_data`: every report, keyed by `(org, platform, campaign, date, reported_at)`.
pub const CAMPAIGN_DATA: Table = Table {
    name: "campaign_data",
    columns: "id, org_id, platform, campaign_id, campaign_name, date_recorded, impressions, \
        clicks, spend_micros, conversions, reach, daily_budget_micros, currency, \
        reported_at, metrics, data_mode",
    archived: true,
};

/// A report already stored is skipped.
pub const INSERT_CAMPAIGN_DATA_CONFLICT: &str =
    "ON CONFLICT (org_id, platform, campaign_id, date_recorded, reported_at) DO NOTHING";

/// `kpi_minute_buckets`, keyed by `(org_id, data_mode, minute)`.
pub const KPI_BUCKETS: Table = Table {
    name: "kpi_minute_buckets",
    columns: "org_id, data_mode, minute, mention_count, sentiment_sum, positive, neutral, \
        negative, strongly_negative, by_source, sketches",
    archived: true,
};

/// Refreshes a campaign's name, currency and budget (a report without a budget keeps
/// the known one).
pub fn upsert_campaigns_conflict<D: Dialect>() -> String {
    format!(
        "ON CONFLICT (org_id, platform, campaign_id) DO UPDATE SET name = EXCLUDED.name, \
         currency = EXCLUDED.currency, daily_budget_micros = \
         COALESCE(EXCLUDED.daily_budget_micros, campaigns.daily_budget_micros), \
         updated_at = {now}",
        now = D::NOW
    )
}

/// Replaces the whole bucket (and renumbers it for the archive when its counts changed).
pub fn upsert_buckets_conflict<D: Dialect>() -> String {
    format!(
        "ON CONFLICT (org_id, data_mode, minute) DO UPDATE SET \
         mention_count = EXCLUDED.mention_count, sentiment_sum = EXCLUDED.sentiment_sum, \
         positive = EXCLUDED.positive, neutral = EXCLUDED.neutral, \
         negative = EXCLUDED.negative, strongly_negative = EXCLUDED.strongly_negative, \
         by_source = EXCLUDED.by_source, sketches = EXCLUDED.sketches, \
         updated_at = {now}{reseq}",
        now = D::NOW,
        reseq = D::BUCKET_RESEQUENCE
    )
}

/// The columns of a chunk of mentions, each checked first.
pub fn mention_columns(mode: DataMode, chunk: &[ScoredMention]) -> StoreResult<Vec<Column<'_>>> {
    let n = chunk.len();
    let (mut followers, mut reach) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut hashtags, mut ingested) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for m in chunk {
        let numbers = codec::check_mention(m)?;
        followers.push(numbers.followers);
        reach.push(numbers.reach);
        hashtags.push(serde_json::to_string(&m.mention.hashtags)?);
        ingested.push(codec::time_from_us(m.ingested_at_us)?);
    }
    let text = |f: fn(&ScoredMention) -> &str| Column::Text(chunk.iter().map(f).collect());
    let opt_text =
        |f: fn(&ScoredMention) -> Option<&str>| Column::OptText(chunk.iter().map(f).collect());
    let float = |f: fn(&ScoredMention) -> f64| Column::Float(chunk.iter().map(f).collect());
    Ok(vec![
        text(|m| m.org.as_str()),
        text(|m| m.mention.source.as_str()),
        text(|m| &m.mention.external_id),
        text(|m| &m.mention.content),
        text(|m| &m.mention.author.handle),
        opt_text(|m| m.mention.author.name.as_deref()),
        Column::BigInt(followers),
        Column::BigInt(reach),
        opt_text(|m| m.mention.country.as_deref()),
        opt_text(|m| m.mention.region.as_deref()),
        opt_text(|m| m.mention.language.as_deref()),
        Column::Json(hashtags),
        opt_text(|m| m.mention.url.as_deref()),
        float(|m| m.sentiment.compound),
        float(|m| m.sentiment.pos),
        float(|m| m.sentiment.neu),
        float(|m| m.sentiment.neg),
        Column::OptFloat(chunk.iter().map(|m| m.mention.source_sentiment).collect()),
        Column::Time(chunk.iter().map(|m| m.mention.event_time).collect()),
        Column::Time(ingested),
        Column::Text(vec![mode.as_str(); n]),
    ])
}

/// The columns of a chunk of `campaigns` rows (the newest report of each campaign).
pub fn campaign_columns<'a>(chunk: &[&'a (OrgId, CampaignMetric)]) -> Vec<Column<'a>> {
    let text = |f: fn(&'a (OrgId, CampaignMetric)) -> &'a str| {
        Column::Text(chunk.iter().map(|&c| f(c)).collect())
    };
    vec![
        Column::Uuid(chunk.iter().map(|_| Uuid::new_v4()).collect()),
        text(|(org, _)| org.as_str()),
        text(|(_, m)| m.platform.as_str()),
        text(|(_, m)| &m.campaign_id),
        text(|(_, m)| &m.campaign_name),
        text(|(_, m)| &m.currency),
        Column::OptBigInt(chunk.iter().map(|(_, m)| m.daily_budget_micros).collect()),
    ]
}

/// The columns of a chunk of campaign reports, each checked first.
pub fn report_columns(
    mode: DataMode,
    chunk: &[(OrgId, CampaignMetric)],
) -> StoreResult<Vec<Column<'_>>> {
    let n = chunk.len();
    let (mut impressions, mut clicks) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut reach, mut json) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (_, m) in chunk {
        let numbers = codec::check_metric(m)?;
        impressions.push(numbers.impressions);
        clicks.push(numbers.clicks);
        reach.push(numbers.reach);
        json.push(serde_json::to_string(m)?);
    }
    let text =
        |f: fn(&(OrgId, CampaignMetric)) -> &str| Column::Text(chunk.iter().map(f).collect());
    Ok(vec![
        Column::Uuid(chunk.iter().map(|_| Uuid::new_v4()).collect()),
        text(|(org, _)| org.as_str()),
        text(|(_, m)| m.platform.as_str()),
        text(|(_, m)| &m.campaign_id),
        text(|(_, m)| &m.campaign_name),
        Column::Date(chunk.iter().map(|(_, m)| m.date).collect()),
        Column::BigInt(impressions),
        Column::BigInt(clicks),
        Column::BigInt(chunk.iter().map(|(_, m)| m.spend_micros).collect()),
        Column::Float(chunk.iter().map(|(_, m)| m.conversions).collect()),
        Column::OptBigInt(reach),
        Column::OptBigInt(chunk.iter().map(|(_, m)| m.daily_budget_micros).collect()),
        text(|(_, m)| &m.currency),
        Column::Time(chunk.iter().map(|(_, m)| m.reported_at).collect()),
        Column::Json(json),
        Column::Text(vec![mode.as_str(); n]),
    ])
}

/// The columns of a chunk of KPI buckets, each checked first.
pub fn bucket_columns<'a>(chunk: &[&'a KpiBucket]) -> StoreResult<Vec<Column<'a>>> {
    let n = chunk.len();
    let mut counts: [Vec<i64>; 5] = Default::default();
    let (mut by_source, mut sketches) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for b in chunk {
        let cols = codec::bucket_columns(b)?;
        for (column, value) in counts.iter_mut().zip([
            cols.mention_count,
            cols.positive,
            cols.neutral,
            cols.negative,
            cols.strongly_negative,
        ]) {
            column.push(value);
        }
        by_source.push(cols.by_source);
        sketches.push(cols.sketches);
    }
    let [count, positive, neutral, negative, strongly] = counts;
    Ok(vec![
        Column::Text(chunk.iter().map(|b| b.org.as_str()).collect()),
        Column::Text(chunk.iter().map(|b| b.data_mode.as_str()).collect()),
        Column::Time(chunk.iter().map(|b| b.minute).collect()),
        Column::BigInt(count),
        Column::Float(chunk.iter().map(|b| b.sentiment_sum).collect()),
        Column::BigInt(positive),
        Column::BigInt(neutral),
        Column::BigInt(negative),
        Column::BigInt(strongly),
        Column::Json(by_source),
        Column::Json(sketches),
    ])
}

// The live archive tails exactly these tables; their writers take PostgreSQL's archive
// lock (`postgres.rs`), checked at compile time.
const _: () = assert!(MENTIONS.archived && CAMPAIGN_DATA.archived && KPI_BUCKETS.archived);
const _: () = assert!(!CAMPAIGNS.archived);

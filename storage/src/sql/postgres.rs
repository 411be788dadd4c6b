//! [`PgStore`]: the [`Store`] on PostgreSQL, over a sqlx connection pool.
//!
//! Batches go in as `INSERT … SELECT FROM UNNEST($1::text[], $2::text[], …)`: one array
//! parameter per column, so a batch of any size is one prepared statement and one round
//! trip (up to 10,000 rows; larger batches are split inside one transaction). Unlike
//! `COPY` it can say `ON CONFLICT DO NOTHING`, which is what makes re-ingestion
//! idempotent. The server-side cost of an insert is dominated by index maintenance, above
//! all the seed's full-text GIN index on `content` (measured: about 60% of the insert
//! time), not by how rows travel.

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;
use warroom_engine::model::{
    sentiment_class, Author, CampaignMetric, CrisisEvent, CrisisEvidence, DataMode, Mention, OrgId,
    Organization, ScoredMention, SentimentClass, SentimentScores,
};

use super::codec::{self, PG_ROWS_PER_STATEMENT};
use super::{
    ArchiveMarks, Backend, KpiBucket, MentionCursor, MentionFilter, MentionPage, Sequenced,
    SourceAggregate, Store, StoreError, StoreOptions, StoreResult, MAX_PAGE_SIZE,
};

/// The migrations in `migrations/postgres`, embedded at compile time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

const MENTION_COLUMNS: &str = "id, org_id, source, external_id, content, author_handle, \
    author_name, author_followers, author_reach, country, region, language, hashtags, url, \
    sentiment_score, sentiment_pos, sentiment_neu, sentiment_neg, source_sentiment, \
    event_time, ingested_at";

const INSERT_MENTIONS: &str = "WITH archive_lock AS MATERIALIZED \
    (SELECT pg_advisory_xact_lock_shared(6287397068257316145)) \
    INSERT INTO mentions (org_id, source, external_id, content, \
    author_handle, author_name, author_followers, author_reach, country, region, language, \
    hashtags, url, sentiment_score, sentiment_pos, sentiment_neu, sentiment_neg, \
    source_sentiment, event_time, ingested_at, data_mode) \
    SELECT org_id, source, external_id, content, author_handle, author_name, \
    author_followers, author_reach, country, region, language, hashtags::jsonb, url, \
    compound, pos, neu, neg, source_sentiment, event_time, ingested_at, $21 \
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
    $7::int8[], $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], \
    $14::float8[], $15::float8[], $16::float8[], $17::float8[], $18::float8[], \
    $19::timestamptz[], $20::timestamptz[]) \
    AS u(org_id, source, external_id, content, author_handle, author_name, author_followers, \
    author_reach, country, region, language, hashtags, url, compound, pos, neu, neg, \
    source_sentiment, event_time, ingested_at) CROSS JOIN archive_lock \
    ON CONFLICT (org_id, source, external_id) DO NOTHING";

const UPSERT_CAMPAIGNS: &str = "INSERT INTO campaigns (org_id, platform, campaign_id, name, \
    currency, daily_budget_micros) \
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
    $6::int8[]) \
    ON CONFLICT (org_id, platform, campaign_id) DO UPDATE SET name = EXCLUDED.name, \
    currency = EXCLUDED.currency, \
    daily_budget_micros = COALESCE(EXCLUDED.daily_budget_micros, campaigns.daily_budget_micros), \
    updated_at = NOW()";

const INSERT_CAMPAIGN_DATA: &str = "WITH archive_lock AS MATERIALIZED \
    (SELECT pg_advisory_xact_lock_shared(6287397068257316145)) \
    INSERT INTO campaign_data (org_id, platform, campaign_id, \
    campaign_name, date_recorded, impressions, clicks, spend_micros, conversions, reach, \
    daily_budget_micros, currency, reported_at, metrics, data_mode) \
    SELECT org_id, platform, campaign_id, campaign_name, date_recorded, impressions, clicks, \
    spend_micros, conversions, reach, daily_budget_micros, currency, reported_at, \
    metrics::jsonb, $15 \
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::int8[], \
    $7::int8[], $8::int8[], $9::float8[], $10::int8[], $11::int8[], $12::text[], \
    $13::timestamptz[], $14::text[]) \
    AS u(org_id, platform, campaign_id, campaign_name, date_recorded, impressions, clicks, \
    spend_micros, conversions, reach, daily_budget_micros, currency, reported_at, metrics) \
    CROSS JOIN archive_lock \
    ON CONFLICT (org_id, platform, campaign_id, date_recorded, reported_at) DO NOTHING";

const SELECT_CAMPAIGN_METRICS: &str = "SELECT platform, campaign_id, campaign_name, \
    date_recorded, impressions, clicks, spend_micros, conversions, reach, \
    daily_budget_micros, currency, reported_at \
    FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY platform, campaign_id, date_recorded \
    ORDER BY reported_at DESC) AS rn FROM campaign_data WHERE org_id = $1 AND data_mode = $2) latest \
    WHERE rn = 1 ORDER BY platform, campaign_id, date_recorded";

// The status CASE expressions are `codec::status_rank_sql`, written out so the statement
// stays a compile-time constant.
const UPSERT_CRISIS: &str = "INSERT INTO crisis_events (id, org_id, kind, severity, status, \
    detected_at, acknowledged_at, resolved_at, resolution, metadata) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
    ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, severity = EXCLUDED.severity, \
    status = CASE WHEN \
    (CASE EXCLUDED.status WHEN 'active' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END) >= \
    (CASE crisis_events.status WHEN 'active' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END) \
    THEN EXCLUDED.status ELSE crisis_events.status END, \
    acknowledged_at = COALESCE(crisis_events.acknowledged_at, EXCLUDED.acknowledged_at), \
    resolved_at = COALESCE(crisis_events.resolved_at, EXCLUDED.resolved_at), \
    resolution = COALESCE(crisis_events.resolution, EXCLUDED.resolution), \
    metadata = EXCLUDED.metadata, updated_at = NOW() \
    WHERE crisis_events.org_id = EXCLUDED.org_id";

const CRISIS_COLUMNS: &str = "id, org_id, kind, severity, status, detected_at, \
    acknowledged_at, resolved_at, resolution, metadata";

const UPSERT_BUCKETS: &str = "WITH archive_lock AS MATERIALIZED \
    (SELECT pg_advisory_xact_lock_shared(6287397068257316145)) \
    INSERT INTO kpi_minute_buckets (org_id, minute, mention_count, \
    sentiment_sum, positive, neutral, negative, strongly_negative, by_source, sketches, \
    data_mode) \
    SELECT org_id, minute, mention_count, sentiment_sum, positive, neutral, negative, \
    strongly_negative, by_source::jsonb, sketches::jsonb, data_mode \
    FROM UNNEST($1::text[], $2::timestamptz[], $3::int8[], $4::float8[], $5::int8[], \
    $6::int8[], $7::int8[], $8::int8[], $9::text[], $10::text[], $11::text[]) \
    AS u(org_id, minute, mention_count, sentiment_sum, positive, neutral, negative, \
    strongly_negative, by_source, sketches, data_mode) CROSS JOIN archive_lock \
    ON CONFLICT (org_id, data_mode, minute) DO UPDATE SET mention_count = EXCLUDED.mention_count, \
    sentiment_sum = EXCLUDED.sentiment_sum, positive = EXCLUDED.positive, \
    neutral = EXCLUDED.neutral, negative = EXCLUDED.negative, \
    strongly_negative = EXCLUDED.strongly_negative, by_source = EXCLUDED.by_source, \
    sketches = EXCLUDED.sketches, updated_at = NOW(), \
    seq = CASE WHEN kpi_minute_buckets.mention_count <> EXCLUDED.mention_count \
    OR kpi_minute_buckets.positive <> EXCLUDED.positive \
    OR kpi_minute_buckets.neutral <> EXCLUDED.neutral \
    OR kpi_minute_buckets.negative <> EXCLUDED.negative \
    OR kpi_minute_buckets.strongly_negative <> EXCLUDED.strongly_negative \
    OR abs(kpi_minute_buckets.sentiment_sum - EXCLUDED.sentiment_sum) > \
    1e-9 * greatest(1.0, abs(kpi_minute_buckets.sentiment_sum)) \
    THEN nextval('kpi_minute_buckets_seq') ELSE kpi_minute_buckets.seq END";

/// The advisory lock key ordering archive reads after the writers of archived tables
/// (`WARROOM1` in ASCII): writers hold it shared (the `archive_lock` CTE of their insert
/// statements, which spell the number out), `archive_high_water` exclusively. See
/// `migrations/postgres/0003_archive.sql`.
pub const ARCHIVE_LOCK_KEY: i64 = 0x5741_5252_4f4f_4d31;

/// How long `archive_high_water` waits for in-flight writers before failing (transient).
const ARCHIVE_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '10s'";

/// The [`Store`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects a pool to a `postgres://` URL. Fails as [`StoreError::Unavailable`] when
    /// the server cannot be reached.
    pub async fn connect(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Location(format!("bad Postgres URL: {e}")))?
            .application_name("warroom");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for queries this trait does not cover yet.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn mention_from_row(row: &PgRow) -> StoreResult<(i64, ScoredMention)> {
    let ingested: DateTime<Utc> = row.try_get("ingested_at")?;
    let Json(hashtags): Json<Vec<String>> = row.try_get("hashtags")?;
    let mention = ScoredMention {
        org: OrgId::new(row.try_get::<&str, _>("org_id")?),
        mention: Mention {
            external_id: row.try_get("external_id")?,
            source: codec::parse_source(row.try_get("source")?)?,
            content: row.try_get("content")?,
            author: Author {
                handle: row.try_get("author_handle")?,
                name: row.try_get("author_name")?,
                followers: codec::count_from_i64(row.try_get("author_followers")?, "followers")?,
                reach: codec::count_from_i64(row.try_get("author_reach")?, "reach")?,
            },
            country: row.try_get("country")?,
            region: row.try_get("region")?,
            language: row.try_get("language")?,
            hashtags,
            url: row.try_get("url")?,
            event_time: row.try_get("event_time")?,
            source_sentiment: row.try_get("source_sentiment")?,
        },
        sentiment: SentimentScores {
            neg: row.try_get("sentiment_neg")?,
            neu: row.try_get("sentiment_neu")?,
            pos: row.try_get("sentiment_pos")?,
            compound: row.try_get("sentiment_score")?,
        },
        ingested_at_us: ingested.timestamp_micros(),
    };
    Ok((row.try_get("id")?, mention))
}

/// Decodes the page's rows; `limit + 1` were asked for, so a surplus row means there is a
/// next page, which starts after the last row kept.
fn page_from_rows(rows: &[PgRow], limit: usize) -> StoreResult<MentionPage> {
    let mut mentions = Vec::with_capacity(rows.len().min(limit));
    let mut last = None;
    for row in rows.iter().take(limit) {
        let (id, m) = mention_from_row(row)?;
        last = Some(MentionCursor {
            event_time_us: m.mention.event_time.timestamp_micros(),
            id,
        });
        mentions.push(m);
    }
    let next = if rows.len() > limit { last } else { None };
    Ok(MentionPage { mentions, next })
}

fn crisis_from_row(row: &PgRow) -> StoreResult<CrisisEvent> {
    let metadata: Option<Json<CrisisEvidence>> = row.try_get("metadata")?;
    let severity: i32 = row.try_get("severity")?;
    Ok(CrisisEvent {
        id: row.try_get("id")?,
        org: OrgId::new(row.try_get::<&str, _>("org_id")?),
        kind: codec::parse_crisis_kind(row.try_get("kind")?)?,
        severity: u8::try_from(severity)
            .map_err(|_| StoreError::Invalid(format!("stored severity {severity}")))?,
        status: codec::parse_crisis_status(row.try_get("status")?)?,
        detected_at: row.try_get("detected_at")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
        resolved_at: row.try_get("resolved_at")?,
        resolution: row.try_get("resolution")?,
        metadata: metadata.map(|Json(m)| m).unwrap_or_default(),
    })
}

fn bucket_from_row(row: &PgRow) -> StoreResult<KpiBucket> {
    let Json(by_source) = row.try_get("by_source")?;
    let Json(sketches) = row.try_get("sketches")?;
    Ok(KpiBucket {
        org: OrgId::new(row.try_get::<&str, _>("org_id")?),
        data_mode: codec::data_mode_from_str(row.try_get("data_mode")?)?,
        minute: row.try_get("minute")?,
        mention_count: codec::count_from_i64(row.try_get("mention_count")?, "mention_count")?,
        sentiment_sum: row.try_get("sentiment_sum")?,
        positive: codec::count_from_i64(row.try_get("positive")?, "positive")?,
        neutral: codec::count_from_i64(row.try_get("neutral")?, "neutral")?,
        negative: codec::count_from_i64(row.try_get("negative")?, "negative")?,
        strongly_negative: codec::count_from_i64(
            row.try_get("strongly_negative")?,
            "strongly_negative",
        )?,
        by_source,
        sketches,
    })
}

fn metric_from_row(row: &PgRow) -> StoreResult<CampaignMetric> {
    let reach: Option<i64> = row.try_get("reach")?;
    Ok(CampaignMetric {
        platform: codec::parse_platform(row.try_get("platform")?)?,
        campaign_id: row.try_get("campaign_id")?,
        campaign_name: row.try_get("campaign_name")?,
        date: row.try_get("date_recorded")?,
        impressions: codec::count_from_i64(row.try_get("impressions")?, "impressions")?,
        reach: reach
            .map(|r| codec::count_from_i64(r, "reach"))
            .transpose()?,
        clicks: codec::count_from_i64(row.try_get("clicks")?, "clicks")?,
        spend_micros: row.try_get("spend_micros")?,
        conversions: row.try_get("conversions")?,
        daily_budget_micros: row.try_get("daily_budget_micros")?,
        currency: row.try_get("currency")?,
        reported_at: row.try_get("reported_at")?,
    })
}

/// Appends the sentiment-class condition (VADER's thresholds, bound as parameters).
fn push_sentiment(qb: &mut QueryBuilder<Postgres>, class: SentimentClass) {
    match class {
        SentimentClass::Positive => {
            qb.push(" AND sentiment_score >= ")
                .push_bind(sentiment_class::POSITIVE);
        }
        SentimentClass::Negative => {
            qb.push(" AND sentiment_score <= ")
                .push_bind(sentiment_class::NEGATIVE);
        }
        SentimentClass::Neutral => {
            qb.push(" AND sentiment_score > ")
                .push_bind(sentiment_class::NEGATIVE)
                .push(" AND sentiment_score < ")
                .push_bind(sentiment_class::POSITIVE);
        }
    }
}

impl PgStore {
    async fn insert_mention_chunk<'e, E>(
        &self,
        executor: E,
        mode: DataMode,
        chunk: &[ScoredMention],
    ) -> StoreResult<u64>
    where
        E: sqlx::PgExecutor<'e>,
    {
        let n = chunk.len();
        let mut org = Vec::with_capacity(n);
        let mut source = Vec::with_capacity(n);
        let mut external_id = Vec::with_capacity(n);
        let mut content = Vec::with_capacity(n);
        let mut handle = Vec::with_capacity(n);
        let mut name = Vec::with_capacity(n);
        let mut followers = Vec::with_capacity(n);
        let mut reach = Vec::with_capacity(n);
        let mut country = Vec::with_capacity(n);
        let mut region = Vec::with_capacity(n);
        let mut language = Vec::with_capacity(n);
        let mut hashtags = Vec::with_capacity(n);
        let mut url = Vec::with_capacity(n);
        let mut compound = Vec::with_capacity(n);
        let mut pos = Vec::with_capacity(n);
        let mut neu = Vec::with_capacity(n);
        let mut neg = Vec::with_capacity(n);
        let mut source_sentiment = Vec::with_capacity(n);
        let mut event_time = Vec::with_capacity(n);
        let mut ingested_at = Vec::with_capacity(n);
        for m in chunk {
            let numbers = codec::check_mention(m)?;
            let mention = &m.mention;
            org.push(m.org.as_str());
            source.push(mention.source.as_str());
            external_id.push(mention.external_id.as_str());
            content.push(mention.content.as_str());
            handle.push(mention.author.handle.as_str());
            name.push(mention.author.name.as_deref());
            followers.push(numbers.followers);
            reach.push(numbers.reach);
            country.push(mention.country.as_deref());
            region.push(mention.region.as_deref());
            language.push(mention.language.as_deref());
            hashtags.push(serde_json::to_string(&mention.hashtags)?);
            url.push(mention.url.as_deref());
            compound.push(m.sentiment.compound);
            pos.push(m.sentiment.pos);
            neu.push(m.sentiment.neu);
            neg.push(m.sentiment.neg);
            source_sentiment.push(mention.source_sentiment);
            event_time.push(mention.event_time);
            ingested_at.push(codec::time_from_us(m.ingested_at_us)?);
        }
        let done = sqlx::query(INSERT_MENTIONS)
            .bind(&org)
            .bind(&source)
            .bind(&external_id)
            .bind(&content)
            .bind(&handle)
            .bind(&name)
            .bind(&followers)
            .bind(&reach)
            .bind(&country)
            .bind(&region)
            .bind(&language)
            .bind(&hashtags)
            .bind(&url)
            .bind(&compound)
            .bind(&pos)
            .bind(&neu)
            .bind(&neg)
            .bind(&source_sentiment)
            .bind(&event_time)
            .bind(&ingested_at)
            .bind(mode.as_str())
            .execute(executor)
            .await?;
        Ok(done.rows_affected())
    }
}

impl PgStore {
    /// The archive's tail read: rows of `table` whose `seq_column` is in `(after, up_to]`,
    /// in that order, at most `limit` (and [`MAX_PAGE_SIZE`]). The names are constants
    /// of this module, never input.
    async fn rows_by_sequence(
        &self,
        columns: &str,
        table: &str,
        seq_column: &str,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> StoreResult<Vec<PgRow>> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM {table} WHERE {seq_column} > $1 AND {seq_column} <= $2 \
             ORDER BY {seq_column} LIMIT $3"
        )))
        .bind(after)
        .bind(up_to)
        .bind(i64::from(limit.min(MAX_PAGE_SIZE)))
        .fetch_all(&self.pool)
        .await?)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn accounts(&self) -> &dyn crate::accounts::AccountStore {
        self
    }

    fn webhooks(&self) -> &dyn crate::webhooks::WebhookStore {
        self
    }

    async fn migrate(&self) -> StoreResult<()> {
        // The migrator takes an advisory lock, so several nodes starting at once are safe.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn health(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn upsert_organization(&self, org: &Organization) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO organizations (id, name) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = NOW()",
        )
        .bind(org.id.as_str())
        .bind(&org.name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn organizations(&self) -> StoreResult<Vec<Organization>> {
        let rows = sqlx::query("SELECT id, name FROM organizations ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Organization {
                    id: OrgId::new(row.try_get::<&str, _>("id")?),
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    async fn insert_mentions(
        &self,
        mode: DataMode,
        mentions: &[ScoredMention],
    ) -> StoreResult<u64> {
        match mentions.len() {
            0 => Ok(0),
            n if n <= PG_ROWS_PER_STATEMENT => {
                self.insert_mention_chunk(&self.pool, mode, mentions).await
            }
            _ => {
                let mut tx = self.pool.begin().await?;
                let mut inserted = 0;
                for chunk in mentions.chunks(PG_ROWS_PER_STATEMENT) {
                    inserted += self.insert_mention_chunk(&mut *tx, mode, chunk).await?;
                }
                tx.commit().await?;
                Ok(inserted)
            }
        }
    }

    async fn count_mentions(&self, org: &OrgId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mentions WHERE org_id = $1")
            .bind(org.as_str())
            .fetch_one(&self.pool)
            .await?;
        codec::count_from_i64(n, "count")
    }

    async fn recent_mentions(&self, org: &OrgId, limit: u32) -> StoreResult<Vec<ScoredMention>> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {MENTION_COLUMNS} FROM mentions WHERE org_id = "
        ));
        qb.push_bind(org.as_str())
            .push(" ORDER BY event_time DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut out = rows
            .iter()
            .map(|row| mention_from_row(row).map(|(_, m)| m))
            .collect::<StoreResult<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    async fn mention_totals(
        &self,
        org: &OrgId,
        mode: DataMode,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<SourceAggregate>> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {} FROM mentions WHERE org_id = ",
            super::mention_totals_columns()
        ));
        qb.push_bind(org.as_str())
            .push(" AND data_mode = ")
            .push_bind(mode.as_str())
            .push(" AND event_time >= ")
            .push_bind(from)
            .push(" AND event_time < ")
            .push_bind(to)
            .push(" GROUP BY source ORDER BY source");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(super::source_aggregate).collect()
    }

    async fn mentions_since(
        &self,
        org: &OrgId,
        mode: DataMode,
        since: DateTime<Utc>,
        after: Option<MentionCursor>,
        limit: u32,
    ) -> StoreResult<MentionPage> {
        let limit = limit.min(MAX_PAGE_SIZE);
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {MENTION_COLUMNS} FROM mentions WHERE org_id = "
        ));
        qb.push_bind(org.as_str())
            .push(" AND data_mode = ")
            .push_bind(mode.as_str())
            .push(" AND event_time >= ")
            .push_bind(since);
        if let Some(c) = after {
            qb.push(" AND (event_time, id) > (")
                .push_bind(codec::time_from_us(c.event_time_us)?)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(" ORDER BY event_time, id LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await?;
        page_from_rows(&rows, limit as usize)
    }

    async fn mentions_page(
        &self,
        org: &OrgId,
        filter: &MentionFilter,
        limit: u32,
        cursor: Option<MentionCursor>,
    ) -> StoreResult<MentionPage> {
        let limit = limit.min(MAX_PAGE_SIZE);
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {MENTION_COLUMNS} FROM mentions WHERE org_id = "
        ));
        qb.push_bind(org.as_str());
        if let Some(source) = filter.source {
            qb.push(" AND source = ").push_bind(source.as_str());
        }
        if let Some(class) = filter.sentiment {
            push_sentiment(&mut qb, class);
        }
        if let Some(country) = &filter.country {
            qb.push(" AND country = ").push_bind(country.as_str());
        }
        if let Some(tag) = &filter.hashtag {
            qb.push(" AND hashtags @> ")
                .push_bind(Json([tag.as_str()]))
                .push("::jsonb");
        }
        if let Some(from) = filter.from {
            qb.push(" AND event_time >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            qb.push(" AND event_time < ").push_bind(to);
        }
        if let Some(text) = &filter.search {
            // Same expression as idx_mentions_content_search, so the GIN index serves it.
            qb.push(" AND to_tsvector('english', content) @@ plainto_tsquery('english', ")
                .push_bind(text.as_str())
                .push(")");
        }
        if let Some(c) = cursor {
            qb.push(" AND (event_time, id) < (")
                .push_bind(codec::time_from_us(c.event_time_us)?)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(" ORDER BY event_time DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await?;
        page_from_rows(&rows, limit as usize)
    }

    async fn insert_campaign_metrics(
        &self,
        mode: DataMode,
        metrics: &[(OrgId, CampaignMetric)],
    ) -> StoreResult<u64> {
        if metrics.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;

        let campaigns = codec::latest_campaigns(metrics);
        let c_org: Vec<&str> = campaigns.iter().map(|(o, _)| o.as_str()).collect();
        let c_platform: Vec<&str> = campaigns.iter().map(|(_, m)| m.platform.as_str()).collect();
        let c_id: Vec<&str> = campaigns
            .iter()
            .map(|(_, m)| m.campaign_id.as_str())
            .collect();
        let c_name: Vec<&str> = campaigns
            .iter()
            .map(|(_, m)| m.campaign_name.as_str())
            .collect();
        let c_currency: Vec<&str> = campaigns.iter().map(|(_, m)| m.currency.as_str()).collect();
        let c_budget: Vec<Option<i64>> = campaigns
            .iter()
            .map(|(_, m)| m.daily_budget_micros)
            .collect();
        sqlx::query(UPSERT_CAMPAIGNS)
            .bind(&c_org)
            .bind(&c_platform)
            .bind(&c_id)
            .bind(&c_name)
            .bind(&c_currency)
            .bind(&c_budget)
            .execute(&mut *tx)
            .await?;

        let mut inserted = 0;
        for chunk in metrics.chunks(PG_ROWS_PER_STATEMENT) {
            let n = chunk.len();
            let mut org = Vec::with_capacity(n);
            let mut platform = Vec::with_capacity(n);
            let mut campaign_id = Vec::with_capacity(n);
            let mut name = Vec::with_capacity(n);
            let mut date: Vec<NaiveDate> = Vec::with_capacity(n);
            let mut impressions = Vec::with_capacity(n);
            let mut clicks = Vec::with_capacity(n);
            let mut spend = Vec::with_capacity(n);
            let mut conversions = Vec::with_capacity(n);
            let mut reach = Vec::with_capacity(n);
            let mut budget = Vec::with_capacity(n);
            let mut currency = Vec::with_capacity(n);
            let mut reported_at = Vec::with_capacity(n);
            let mut json = Vec::with_capacity(n);
            for (o, m) in chunk {
                let numbers = codec::check_metric(m)?;
                org.push(o.as_str());
                platform.push(m.platform.as_str());
                campaign_id.push(m.campaign_id.as_str());
                name.push(m.campaign_name.as_str());
                date.push(m.date);
                impressions.push(numbers.impressions);
                clicks.push(numbers.clicks);
                spend.push(m.spend_micros);
                conversions.push(m.conversions);
                reach.push(numbers.reach);
                budget.push(m.daily_budget_micros);
                currency.push(m.currency.as_str());
                reported_at.push(m.reported_at);
                json.push(serde_json::to_string(m)?);
            }
            inserted += sqlx::query(INSERT_CAMPAIGN_DATA)
                .bind(&org)
                .bind(&platform)
                .bind(&campaign_id)
                .bind(&name)
                .bind(&date)
                .bind(&impressions)
                .bind(&clicks)
                .bind(&spend)
                .bind(&conversions)
                .bind(&reach)
                .bind(&budget)
                .bind(&currency)
                .bind(&reported_at)
                .bind(&json)
                .bind(mode.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn campaign_metrics(
        &self,
        org: &OrgId,
        mode: DataMode,
    ) -> StoreResult<Vec<CampaignMetric>> {
        let rows = sqlx::query(SELECT_CAMPAIGN_METRICS)
            .bind(org.as_str())
            .bind(mode.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(metric_from_row).collect()
    }

    async fn upsert_crisis(&self, crisis: &CrisisEvent) -> StoreResult<bool> {
        codec::check_crisis(crisis)?;
        let done = sqlx::query(UPSERT_CRISIS)
            .bind(crisis.id)
            .bind(crisis.org.as_str())
            .bind(crisis.kind.as_str())
            .bind(i32::from(crisis.severity))
            .bind(codec::crisis_status_str(crisis.status))
            .bind(crisis.detected_at)
            .bind(crisis.acknowledged_at)
            .bind(crisis.resolved_at)
            .bind(crisis.resolution.as_deref())
            .bind(Json(&crisis.metadata))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn crisis(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<CrisisEvent>> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {CRISIS_COLUMNS} FROM crisis_events WHERE org_id = "
        ));
        qb.push_bind(org.as_str()).push(" AND id = ").push_bind(id);
        let row = qb.build().fetch_optional(&self.pool).await?;
        row.as_ref().map(crisis_from_row).transpose()
    }

    async fn crises(&self, org: &OrgId, active_only: bool) -> StoreResult<Vec<CrisisEvent>> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {CRISIS_COLUMNS} FROM crisis_events WHERE org_id = "
        ));
        qb.push_bind(org.as_str());
        if active_only {
            qb.push(" AND status <> 'resolved'");
        }
        qb.push(" ORDER BY detected_at DESC, id");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(crisis_from_row).collect()
    }

    async fn upsert_kpi_buckets(&self, buckets: &[KpiBucket]) -> StoreResult<u64> {
        let buckets = codec::last_bucket_per_key(buckets);
        if buckets.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let mut written = 0;
        for chunk in buckets.chunks(PG_ROWS_PER_STATEMENT) {
            let n = chunk.len();
            let mut org = Vec::with_capacity(n);
            let mut minute = Vec::with_capacity(n);
            let mut count = Vec::with_capacity(n);
            let mut sum = Vec::with_capacity(n);
            let mut positive = Vec::with_capacity(n);
            let mut neutral = Vec::with_capacity(n);
            let mut negative = Vec::with_capacity(n);
            let mut strongly = Vec::with_capacity(n);
            let mut by_source = Vec::with_capacity(n);
            let mut sketches = Vec::with_capacity(n);
            let mut mode = Vec::with_capacity(n);
            for b in chunk {
                let cols = codec::bucket_columns(b)?;
                org.push(b.org.as_str());
                minute.push(b.minute);
                count.push(cols.mention_count);
                sum.push(b.sentiment_sum);
                positive.push(cols.positive);
                neutral.push(cols.neutral);
                negative.push(cols.negative);
                strongly.push(cols.strongly_negative);
                by_source.push(cols.by_source);
                sketches.push(cols.sketches);
                mode.push(b.data_mode.as_str());
            }
            written += sqlx::query(UPSERT_BUCKETS)
                .bind(&org)
                .bind(&minute)
                .bind(&count)
                .bind(&sum)
                .bind(&positive)
                .bind(&neutral)
                .bind(&negative)
                .bind(&strongly)
                .bind(&by_source)
                .bind(&sketches)
                .bind(&mode)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn kpi_buckets_since(
        &self,
        org: &OrgId,
        mode: DataMode,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<KpiBucket>> {
        let rows = sqlx::query(
            "SELECT org_id, data_mode, minute, mention_count, sentiment_sum, positive, neutral, \
             negative, strongly_negative, by_source, sketches FROM kpi_minute_buckets \
             WHERE org_id = $1 AND data_mode = $2 AND minute >= $3 ORDER BY minute",
        )
        .bind(org.as_str())
        .bind(mode.as_str())
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(bucket_from_row).collect()
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM system_settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO system_settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = NOW()",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn archive_high_water(&self) -> StoreResult<ArchiveMarks> {
        // Exclusive against the writers' shared lock: once granted, no writer is between
        // taking a sequence number and committing, so the maxima read next (a new
        // snapshot, READ COMMITTED) have no invisible rows below them.
        let mut tx = self.pool.begin().await?;
        sqlx::query(ARCHIVE_LOCK_TIMEOUT).execute(&mut *tx).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ARCHIVE_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM mentions) AS mentions, \
             (SELECT COALESCE(MAX(seq), 0) FROM campaign_data) AS campaign_data, \
             (SELECT COALESCE(MAX(seq), 0) FROM kpi_minute_buckets) AS kpi_buckets",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ArchiveMarks {
            mentions: row.try_get("mentions")?,
            campaign_data: row.try_get("campaign_data")?,
            kpi_buckets: row.try_get("kpi_buckets")?,
        })
    }

    async fn archive_mentions(
        &self,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Sequenced<ScoredMention>>> {
        let rows = self
            .rows_by_sequence(MENTION_COLUMNS, "mentions", "id", after, up_to, limit)
            .await?;
        rows.iter()
            .map(|row| mention_from_row(row).map(|(seq, row)| Sequenced { seq, row }))
            .collect()
    }

    async fn archive_campaign_data(
        &self,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Sequenced<(OrgId, CampaignMetric)>>> {
        let rows = self
            .rows_by_sequence(
                "seq, org_id, platform, campaign_id, campaign_name, date_recorded, \
                 impressions, clicks, spend_micros, conversions, reach, daily_budget_micros, \
                 currency, reported_at",
                "campaign_data",
                "seq",
                after,
                up_to,
                limit,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Sequenced {
                    seq: row.try_get("seq")?,
                    row: (
                        OrgId::new(row.try_get::<&str, _>("org_id")?),
                        metric_from_row(row)?,
                    ),
                })
            })
            .collect()
    }

    async fn archive_kpi_buckets(
        &self,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Sequenced<KpiBucket>>> {
        let rows = self
            .rows_by_sequence(
                "seq, org_id, data_mode, minute, mention_count, sentiment_sum, positive, \
                 neutral, negative, strongly_negative, by_source, sketches",
                "kpi_minute_buckets",
                "seq",
                after,
                up_to,
                limit,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Sequenced {
                    seq: row.try_get("seq")?,
                    row: bucket_from_row(row)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_take_the_archive_lock_by_its_number() {
        let shared = format!("pg_advisory_xact_lock_shared({ARCHIVE_LOCK_KEY})");
        for statement in [INSERT_MENTIONS, INSERT_CAMPAIGN_DATA, UPSERT_BUCKETS] {
            assert!(statement.contains(&shared), "{statement}");
            assert!(statement.contains("CROSS JOIN archive_lock"), "{statement}");
        }
    }
}

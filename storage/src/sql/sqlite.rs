//! [`SqliteStore`]: the [`Store`] on an embedded SQLite file, the default when no Postgres
//! URL is configured.
//!
//! One writer connection and a pool of readers over the same file in WAL mode. The single
//! writer serialises writes in-process (SQLite allows one writer at a time anyway), so a
//! write never fails with `SQLITE_BUSY` because of another writer of ours; WAL lets the
//! readers run beside it. `synchronous=FULL` fsyncs the WAL at each commit: a committed
//! batch survives `kill -9`, an OS crash and power loss. Batches are multi-row
//! `INSERT … VALUES` statements inside one transaction, so the fsync is paid per batch.
//!
//! Column types follow `migrations/sqlite`: times are INTEGER microseconds since the epoch,
//! dates `YYYY-MM-DD` text, UUIDs hyphenated text, JSON text.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;
use warroom_engine::model::{
    sentiment_class, Author, CampaignMetric, CrisisEvent, CrisisEvidence, DataMode, Mention, OrgId,
    Organization, ScoredMention, SentimentClass, SentimentScores,
};

use super::codec;
use super::{
    ArchiveMarks, Backend, KpiBucket, MentionCursor, MentionFilter, MentionPage, Sequenced,
    SourceAggregate, Store, StoreError, StoreOptions, StoreResult, MAX_PAGE_SIZE, SQLITE_FILE_NAME,
};

/// The migrations in `migrations/sqlite`, embedded at compile time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Most mention rows per `INSERT` statement (20 columns each, within SQLite's limit of
/// 32,766 bound variables per statement).
pub const SQLITE_ROWS_PER_STATEMENT: usize = 1_000;

/// SQLite's limit on bound variables per statement (since 3.32).
const MAX_VARIABLES: usize = 32_766;

/// How long a connection waits on a lock held by another process before failing as
/// unavailable (`SQLITE_BUSY`), e.g. `warroom migrate` running beside `warroom serve`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const MENTION_COLUMNS: &str = "id, org_id, source, external_id, content, author_handle, \
    author_name, author_followers, author_reach, country, region, language, hashtags, url, \
    sentiment_score, sentiment_pos, sentiment_neu, sentiment_neg, source_sentiment, \
    event_time, ingested_at";

const CRISIS_COLUMNS: &str = "id, org_id, kind, severity, status, detected_at, \
    acknowledged_at, resolved_at, resolution, metadata";

/// Same rules as the Postgres statement: status only moves forward, set times are kept,
/// and an id of another organisation is left alone.
const UPSERT_CRISIS: &str = "INSERT INTO crisis_events (id, org_id, kind, severity, status, \
    detected_at, acknowledged_at, resolved_at, resolution, metadata) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
    ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, severity = excluded.severity, \
    status = CASE WHEN \
    (CASE excluded.status WHEN 'active' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END) >= \
    (CASE crisis_events.status WHEN 'active' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END) \
    THEN excluded.status ELSE crisis_events.status END, \
    acknowledged_at = COALESCE(crisis_events.acknowledged_at, excluded.acknowledged_at), \
    resolved_at = COALESCE(crisis_events.resolved_at, excluded.resolved_at), \
    resolution = COALESCE(crisis_events.resolution, excluded.resolution), \
    metadata = excluded.metadata, \
    updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) \
    WHERE crisis_events.org_id = excluded.org_id";

const SELECT_CAMPAIGN_METRICS: &str = "SELECT platform, campaign_id, campaign_name, \
    date_recorded, impressions, clicks, spend_micros, conversions, reach, \
    daily_budget_micros, currency, reported_at \
    FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY platform, campaign_id, date_recorded \
    ORDER BY reported_at DESC) AS rn FROM campaign_data WHERE org_id = ? AND data_mode = ?) latest \
    WHERE rn = 1 ORDER BY platform, campaign_id, date_recorded";

/// Rows per statement for a table of `columns` bound columns.
fn rows_per_statement(columns: usize) -> usize {
    (MAX_VARIABLES / columns).min(SQLITE_ROWS_PER_STATEMENT)
}

/// The [`Store`] on an embedded SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write goes through it.
    pub(crate) writer: SqlitePool,
    /// Reads, concurrent with the writer thanks to WAL.
    pub(crate) readers: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating when missing) the database a location names: a `sqlite:` URL, a
    /// file path, or an existing directory (then the file is [`SQLITE_FILE_NAME`] in it).
    /// In-memory databases are refused: the store exists to keep data.
    pub async fn open(location: &str, options: &StoreOptions) -> StoreResult<Self> {
        if location.contains(":memory:") || location.contains("mode=memory") {
            return Err(StoreError::Location(format!(
                "{location:?} is in memory; the SQLite store needs a file"
            )));
        }
        let base = if location.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(location)
                .map_err(|e| StoreError::Location(format!("bad SQLite URL: {e}")))?
        } else {
            let mut path = PathBuf::from(location);
            if path.is_dir() {
                path.push(SQLITE_FILE_NAME);
            }
            SqliteConnectOptions::new().filename(path)
        };
        let path = base.get_filename().to_path_buf();
        if path.as_os_str().is_empty() {
            return Err(StoreError::Location(format!(
                "{location:?} names no file; the SQLite store needs one"
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Location(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let connect = base
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer first: it creates the file and switches it to WAL before readers open.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Self {
            writer,
            readers,
            path,
        })
    }

    /// Opens `<data_dir>/warroom.sqlite3`, creating the directory when missing.
    pub async fn open_in_dir(data_dir: &Path, options: &StoreOptions) -> StoreResult<Self> {
        let path = data_dir.join(SQLITE_FILE_NAME);
        let location = path
            .to_str()
            .ok_or_else(|| StoreError::Location(format!("{} is not UTF-8", path.display())))?;
        Self::open(location, options).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn uuid_from_text(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| StoreError::Invalid(format!("stored uuid {text:?}")))
}

fn opt_time(us: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    us.map(codec::time_from_us).transpose()
}

fn mention_from_row(row: &SqliteRow) -> StoreResult<(i64, ScoredMention)> {
    let hashtags: Vec<String> = serde_json::from_str(row.try_get("hashtags")?)?;
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
            event_time: codec::time_from_us(row.try_get("event_time")?)?,
            source_sentiment: row.try_get("source_sentiment")?,
        },
        sentiment: SentimentScores {
            neg: row.try_get("sentiment_neg")?,
            neu: row.try_get("sentiment_neu")?,
            pos: row.try_get("sentiment_pos")?,
            compound: row.try_get("sentiment_score")?,
        },
        ingested_at_us: row.try_get("ingested_at")?,
    };
    Ok((row.try_get("id")?, mention))
}

/// See the Postgres counterpart: `limit + 1` rows were asked for.
fn page_from_rows(rows: &[SqliteRow], limit: usize) -> StoreResult<MentionPage> {
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

fn crisis_from_row(row: &SqliteRow) -> StoreResult<CrisisEvent> {
    let metadata: Option<&str> = row.try_get("metadata")?;
    let metadata: CrisisEvidence = match metadata {
        Some(text) => serde_json::from_str(text)?,
        None => CrisisEvidence::default(),
    };
    let severity: i64 = row.try_get("severity")?;
    Ok(CrisisEvent {
        id: uuid_from_text(row.try_get("id")?)?,
        org: OrgId::new(row.try_get::<&str, _>("org_id")?),
        kind: codec::parse_crisis_kind(row.try_get("kind")?)?,
        severity: u8::try_from(severity)
            .map_err(|_| StoreError::Invalid(format!("stored severity {severity}")))?,
        status: codec::parse_crisis_status(row.try_get("status")?)?,
        detected_at: codec::time_from_us(row.try_get("detected_at")?)?,
        acknowledged_at: opt_time(row.try_get("acknowledged_at")?)?,
        resolved_at: opt_time(row.try_get("resolved_at")?)?,
        resolution: row.try_get("resolution")?,
        metadata,
    })
}

fn bucket_from_row(row: &SqliteRow) -> StoreResult<KpiBucket> {
    Ok(KpiBucket {
        org: OrgId::new(row.try_get::<&str, _>("org_id")?),
        data_mode: codec::data_mode_from_str(row.try_get("data_mode")?)?,
        minute: codec::time_from_us(row.try_get("minute")?)?,
        mention_count: codec::count_from_i64(row.try_get("mention_count")?, "mention_count")?,
        sentiment_sum: row.try_get("sentiment_sum")?,
        positive: codec::count_from_i64(row.try_get("positive")?, "positive")?,
        neutral: codec::count_from_i64(row.try_get("neutral")?, "neutral")?,
        negative: codec::count_from_i64(row.try_get("negative")?, "negative")?,
        strongly_negative: codec::count_from_i64(
            row.try_get("strongly_negative")?,
            "strongly_negative",
        )?,
        by_source: serde_json::from_str(row.try_get("by_source")?)?,
        sketches: serde_json::from_str(row.try_get("sketches")?)?,
    })
}

fn metric_from_row(row: &SqliteRow) -> StoreResult<CampaignMetric> {
    let reach: Option<i64> = row.try_get("reach")?;
    Ok(CampaignMetric {
        platform: codec::parse_platform(row.try_get("platform")?)?,
        campaign_id: row.try_get("campaign_id")?,
        campaign_name: row.try_get("campaign_name")?,
        date: codec::date_from_text(row.try_get("date_recorded")?)?,
        impressions: codec::count_from_i64(row.try_get("impressions")?, "impressions")?,
        reach: reach
            .map(|r| codec::count_from_i64(r, "reach"))
            .transpose()?,
        clicks: codec::count_from_i64(row.try_get("clicks")?, "clicks")?,
        spend_micros: row.try_get("spend_micros")?,
        conversions: row.try_get("conversions")?,
        daily_budget_micros: row.try_get("daily_budget_micros")?,
        currency: row.try_get("currency")?,
        reported_at: codec::time_from_us(row.try_get("reported_at")?)?,
    })
}

fn push_sentiment(qb: &mut QueryBuilder<Sqlite>, class: SentimentClass) {
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

impl SqliteStore {
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
    ) -> StoreResult<Vec<SqliteRow>> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM {table} WHERE {seq_column} > ? AND {seq_column} <= ? \
             ORDER BY {seq_column} LIMIT ?"
        )))
        .bind(after)
        .bind(up_to)
        .bind(i64::from(limit.min(MAX_PAGE_SIZE)))
        .fetch_all(&self.readers)
        .await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn accounts(&self) -> &dyn crate::accounts::AccountStore {
        self
    }

    fn webhooks(&self) -> &dyn crate::webhooks::WebhookStore {
        self
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn health(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    async fn upsert_organization(&self, org: &Organization) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO organizations (id, name) VALUES (?, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)",
        )
        .bind(org.id.as_str())
        .bind(&org.name)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn organizations(&self) -> StoreResult<Vec<Organization>> {
        let rows = sqlx::query("SELECT id, name FROM organizations ORDER BY id")
            .fetch_all(&self.readers)
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
        if mentions.is_empty() {
            return Ok(0);
        }
        // Check every record before the transaction, so bad data never half-applies.
        let mut prepared = Vec::with_capacity(mentions.len());
        for m in mentions {
            let numbers = codec::check_mention(m)?;
            prepared.push((m, numbers, serde_json::to_string(&m.mention.hashtags)?));
        }
        let mut tx = self.writer.begin().await?;
        let mut inserted = 0;
        for chunk in prepared.chunks(rows_per_statement(21)) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO mentions (org_id, source, external_id, content, author_handle, \
                 author_name, author_followers, author_reach, country, region, language, \
                 hashtags, url, sentiment_score, sentiment_pos, sentiment_neu, sentiment_neg, \
                 source_sentiment, event_time, ingested_at, data_mode) ",
            );
            qb.push_values(chunk, |mut row, (m, numbers, hashtags)| {
                let mention = &m.mention;
                row.push_bind(m.org.as_str())
                    .push_bind(mention.source.as_str())
                    .push_bind(mention.external_id.as_str())
                    .push_bind(mention.content.as_str())
                    .push_bind(mention.author.handle.as_str())
                    .push_bind(mention.author.name.as_deref())
                    .push_bind(numbers.followers)
                    .push_bind(numbers.reach)
                    .push_bind(mention.country.as_deref())
                    .push_bind(mention.region.as_deref())
                    .push_bind(mention.language.as_deref())
                    .push_bind(hashtags.as_str())
                    .push_bind(mention.url.as_deref())
                    .push_bind(m.sentiment.compound)
                    .push_bind(m.sentiment.pos)
                    .push_bind(m.sentiment.neu)
                    .push_bind(m.sentiment.neg)
                    .push_bind(mention.source_sentiment)
                    .push_bind(mention.event_time.timestamp_micros())
                    .push_bind(m.ingested_at_us)
                    .push_bind(mode.as_str());
            });
            qb.push(" ON CONFLICT (org_id, source, external_id) DO NOTHING");
            inserted += qb.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn count_mentions(&self, org: &OrgId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mentions WHERE org_id = ?")
            .bind(org.as_str())
            .fetch_one(&self.readers)
            .await?;
        codec::count_from_i64(n, "count")
    }

    async fn recent_mentions(&self, org: &OrgId, limit: u32) -> StoreResult<Vec<ScoredMention>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {MENTION_COLUMNS} FROM mentions WHERE org_id = "
        ));
        qb.push_bind(org.as_str())
            .push(" ORDER BY event_time DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.readers).await?;
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
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {} FROM mentions WHERE org_id = ",
            super::mention_totals_columns()
        ));
        qb.push_bind(org.as_str())
            .push(" AND data_mode = ")
            .push_bind(mode.as_str())
            .push(" AND event_time >= ")
            .push_bind(from.timestamp_micros())
            .push(" AND event_time < ")
            .push_bind(to.timestamp_micros())
            .push(" GROUP BY source ORDER BY source");
        let rows = qb.build().fetch_all(&self.readers).await?;
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
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {MENTION_COLUMNS} FROM mentions WHERE org_id = "
        ));
        qb.push_bind(org.as_str())
            .push(" AND data_mode = ")
            .push_bind(mode.as_str())
            .push(" AND event_time >= ")
            .push_bind(since.timestamp_micros());
        if let Some(c) = after {
            qb.push(" AND (event_time, id) > (")
                .push_bind(c.event_time_us)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(" ORDER BY event_time, id LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = qb.build().fetch_all(&self.readers).await?;
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
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
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
            qb.push(" AND EXISTS (SELECT 1 FROM json_each(mentions.hashtags) WHERE value = ")
                .push_bind(tag.as_str())
                .push(")");
        }
        if let Some(from) = filter.from {
            qb.push(" AND event_time >= ")
                .push_bind(from.timestamp_micros());
        }
        if let Some(to) = filter.to {
            qb.push(" AND event_time < ")
                .push_bind(to.timestamp_micros());
        }
        if let Some(text) = &filter.search {
            qb.push(" AND content LIKE ")
                .push_bind(codec::like_contains(text))
                .push(" ESCAPE '\\'");
        }
        if let Some(c) = cursor {
            qb.push(" AND (event_time, id) < (")
                .push_bind(c.event_time_us)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(" ORDER BY event_time DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = qb.build().fetch_all(&self.readers).await?;
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
        let mut prepared = Vec::with_capacity(metrics.len());
        for (org, m) in metrics {
            let numbers = codec::check_metric(m)?;
            prepared.push((org, m, numbers, serde_json::to_string(m)?));
        }
        let campaigns = codec::latest_campaigns(metrics);
        let mut tx = self.writer.begin().await?;
        for chunk in campaigns.chunks(rows_per_statement(7)) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO campaigns (id, org_id, platform, campaign_id, name, currency, \
                 daily_budget_micros) ",
            );
            qb.push_values(chunk, |mut row, (org, m)| {
                row.push_bind(Uuid::new_v4().to_string())
                    .push_bind(org.as_str())
                    .push_bind(m.platform.as_str())
                    .push_bind(m.campaign_id.as_str())
                    .push_bind(m.campaign_name.as_str())
                    .push_bind(m.currency.as_str())
                    .push_bind(m.daily_budget_micros);
            });
            qb.push(
                " ON CONFLICT (org_id, platform, campaign_id) DO UPDATE SET \
                 name = excluded.name, currency = excluded.currency, \
                 daily_budget_micros = \
                 COALESCE(excluded.daily_budget_micros, campaigns.daily_budget_micros), \
                 updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)",
            );
            qb.build().execute(&mut *tx).await?;
        }
        let mut inserted = 0;
        for chunk in prepared.chunks(rows_per_statement(16)) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO campaign_data (id, org_id, platform, campaign_id, campaign_name, \
                 date_recorded, impressions, clicks, spend_micros, conversions, reach, \
                 daily_budget_micros, currency, reported_at, metrics, data_mode) ",
            );
            qb.push_values(chunk, |mut row, (org, m, numbers, json)| {
                row.push_bind(Uuid::new_v4().to_string())
                    .push_bind(org.as_str())
                    .push_bind(m.platform.as_str())
                    .push_bind(m.campaign_id.as_str())
                    .push_bind(m.campaign_name.as_str())
                    .push_bind(codec::date_to_text(m.date))
                    .push_bind(numbers.impressions)
                    .push_bind(numbers.clicks)
                    .push_bind(m.spend_micros)
                    .push_bind(m.conversions)
                    .push_bind(numbers.reach)
                    .push_bind(m.daily_budget_micros)
                    .push_bind(m.currency.as_str())
                    .push_bind(m.reported_at.timestamp_micros())
                    .push_bind(json.as_str())
                    .push_bind(mode.as_str());
            });
            qb.push(
                " ON CONFLICT (org_id, platform, campaign_id, date_recorded, reported_at) \
                 DO NOTHING",
            );
            inserted += qb.build().execute(&mut *tx).await?.rows_affected();
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
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(metric_from_row).collect()
    }

    async fn upsert_crisis(&self, crisis: &CrisisEvent) -> StoreResult<bool> {
        codec::check_crisis(crisis)?;
        let done = sqlx::query(UPSERT_CRISIS)
            .bind(crisis.id.hyphenated().to_string())
            .bind(crisis.org.as_str())
            .bind(crisis.kind.as_str())
            .bind(i64::from(crisis.severity))
            .bind(codec::crisis_status_str(crisis.status))
            .bind(crisis.detected_at.timestamp_micros())
            .bind(crisis.acknowledged_at.map(|t| t.timestamp_micros()))
            .bind(crisis.resolved_at.map(|t| t.timestamp_micros()))
            .bind(crisis.resolution.as_deref())
            .bind(serde_json::to_string(&crisis.metadata)?)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn crisis(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<CrisisEvent>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {CRISIS_COLUMNS} FROM crisis_events WHERE org_id = "
        ));
        qb.push_bind(org.as_str())
            .push(" AND id = ")
            .push_bind(id.hyphenated().to_string());
        let row = qb.build().fetch_optional(&self.readers).await?;
        row.as_ref().map(crisis_from_row).transpose()
    }

    async fn crises(&self, org: &OrgId, active_only: bool) -> StoreResult<Vec<CrisisEvent>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {CRISIS_COLUMNS} FROM crisis_events WHERE org_id = "
        ));
        qb.push_bind(org.as_str());
        if active_only {
            qb.push(" AND status <> 'resolved'");
        }
        qb.push(" ORDER BY detected_at DESC, id");
        let rows = qb.build().fetch_all(&self.readers).await?;
        rows.iter().map(crisis_from_row).collect()
    }

    async fn upsert_kpi_buckets(&self, buckets: &[KpiBucket]) -> StoreResult<u64> {
        let buckets = codec::last_bucket_per_key(buckets);
        if buckets.is_empty() {
            return Ok(0);
        }
        let mut prepared = Vec::with_capacity(buckets.len());
        for b in buckets {
            prepared.push((b, codec::bucket_columns(b)?));
        }
        let mut tx = self.writer.begin().await?;
        let mut written = 0;
        for chunk in prepared.chunks(rows_per_statement(11)) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO kpi_minute_buckets (org_id, data_mode, minute, mention_count, \
                 sentiment_sum, positive, neutral, negative, strongly_negative, by_source, \
                 sketches) ",
            );
            qb.push_values(chunk, |mut row, (b, cols)| {
                row.push_bind(b.org.as_str())
                    .push_bind(b.data_mode.as_str())
                    .push_bind(b.minute.timestamp_micros())
                    .push_bind(cols.mention_count)
                    .push_bind(b.sentiment_sum)
                    .push_bind(cols.positive)
                    .push_bind(cols.neutral)
                    .push_bind(cols.negative)
                    .push_bind(cols.strongly_negative)
                    .push_bind(cols.by_source.as_str())
                    .push_bind(cols.sketches.as_str());
            });
            qb.push(
                " ON CONFLICT (org_id, data_mode, minute) DO UPDATE SET \
                 mention_count = excluded.mention_count, sentiment_sum = excluded.sentiment_sum, \
                 positive = excluded.positive, neutral = excluded.neutral, \
                 negative = excluded.negative, strongly_negative = excluded.strongly_negative, \
                 by_source = excluded.by_source, sketches = excluded.sketches, \
                 updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)",
            );
            written += qb.build().execute(&mut *tx).await?.rows_affected();
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
             WHERE org_id = ? AND data_mode = ? AND minute >= ? ORDER BY minute",
        )
        .bind(org.as_str())
        .bind(mode.as_str())
        .bind(since.timestamp_micros())
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(bucket_from_row).collect()
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM system_settings WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO system_settings (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn archive_high_water(&self) -> StoreResult<ArchiveMarks> {
        // One write transaction commits at a time, in the order it took its numbers, so
        // the maxima of one read snapshot have nothing invisible below them.
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM mentions) AS mentions, \
             (SELECT COALESCE(MAX(seq), 0) FROM campaign_data) AS campaign_data, \
             (SELECT COALESCE(MAX(seq), 0) FROM kpi_minute_buckets) AS kpi_buckets",
        )
        .fetch_one(&self.readers)
        .await?;
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

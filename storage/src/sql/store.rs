//! [`Store`] once, over both SQL databases ([`Dialect`]): the query text, the batch
//! column lists and the order of statements are shared; the dialect says how values are
//! stored, how a batch travels and the few conditions it spells its own way.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;
use warroom_engine::model::{
    sentiment_class, CampaignMetric, CrisisEvent, DataMode, OrgId, Organization, ScoredMention,
    SentimentClass,
};

use super::dialect::{sql, values, Dialect, RowOf, Value};
use super::tables::{
    bucket_columns, campaign_columns, mention_columns, report_columns, upsert_buckets_conflict,
    upsert_campaigns_conflict, CAMPAIGNS, CAMPAIGN_DATA, INSERT_CAMPAIGN_DATA_CONFLICT,
    INSERT_MENTIONS_CONFLICT, KPI_BUCKETS, MENTIONS,
};
use super::{
    codec, rows, ArchiveMarks, Backend, KpiBucket, MentionCursor, MentionFilter, MentionPage,
    Sequenced, SourceAggregate, Store, StoreResult, MAX_PAGE_SIZE,
};

/// The latest report per `(platform, campaign, date)` (restatements replace earlier
/// ones), up to `WHERE org_id = `; [`Store::campaign_metrics`] completes it.
fn select_campaign_metrics() -> String {
    format!(
        "SELECT {cols} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY platform, \
         campaign_id, date_recorded ORDER BY reported_at DESC) AS rn FROM campaign_data \
         WHERE org_id = ",
        cols = rows::METRIC_COLUMNS
    )
}

/// The crisis upsert after its `VALUES`: the status only moves forward, times once set
/// are kept, and an id of another organisation is left alone (no row affected).
fn upsert_crisis_conflict<D: Dialect>() -> String {
    format!(
        " ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, severity = EXCLUDED.severity, \
         status = CASE WHEN {new} >= {old} THEN EXCLUDED.status ELSE crisis_events.status END, \
         acknowledged_at = COALESCE(crisis_events.acknowledged_at, EXCLUDED.acknowledged_at), \
         resolved_at = COALESCE(crisis_events.resolved_at, EXCLUDED.resolved_at), \
         resolution = COALESCE(crisis_events.resolution, EXCLUDED.resolution), \
         metadata = EXCLUDED.metadata, updated_at = {now} \
         WHERE crisis_events.org_id = EXCLUDED.org_id",
        new = status_rank("EXCLUDED.status"),
        old = status_rank("crisis_events.status"),
        now = D::NOW
    )
}

/// SQL ranking a status column in the order a crisis moves through them.
fn status_rank(column: &str) -> String {
    format!("(CASE {column} WHEN 'active' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END)")
}

/// `SELECT <columns> FROM mentions WHERE org_id = <org>`, to be narrowed.
fn select_mentions<D: Dialect>(columns: &str, org: &OrgId) -> QueryBuilder<D::Db> {
    let mut query = sql::<D>(&format!("SELECT {columns} FROM mentions WHERE org_id = "));
    D::push_text(&mut query, org.as_str());
    query
}

/// Appends the sentiment-class condition (VADER's thresholds, bound as parameters).
fn push_sentiment<D: Dialect>(query: &mut QueryBuilder<D::Db>, class: SentimentClass) {
    match class {
        SentimentClass::Positive => {
            query.push(" AND sentiment_score >= ");
            D::push_float(query, sentiment_class::POSITIVE);
        }
        SentimentClass::Negative => {
            query.push(" AND sentiment_score <= ");
            D::push_float(query, sentiment_class::NEGATIVE);
        }
        SentimentClass::Neutral => {
            query.push(" AND sentiment_score > ");
            D::push_float(query, sentiment_class::NEGATIVE);
            query.push(" AND sentiment_score < ");
            D::push_float(query, sentiment_class::POSITIVE);
        }
    }
}

/// Appends ` AND (event_time, id) <op> (<cursor>)`.
fn push_cursor<D: Dialect>(
    query: &mut QueryBuilder<D::Db>,
    op: &str,
    cursor: MentionCursor,
) -> StoreResult<()> {
    query.push(format_args!(" AND (event_time, id) {op} ("));
    D::push_time_us(query, cursor.event_time_us)?;
    query.push(", ");
    D::push_bigint(query, cursor.id);
    query.push(")");
    Ok(())
}

/// Appends ` ORDER BY <order> LIMIT <limit + 1>`: one row more than a page, to tell
/// whether there is a next one ([`rows::page`]).
fn push_page_end<D: Dialect>(query: &mut QueryBuilder<D::Db>, order: &str, limit: u32) {
    query.push(format_args!(" ORDER BY {order} LIMIT "));
    D::push_bigint(query, i64::from(limit) + 1);
}

/// Runs a batch's statements: one on its own (a transaction by itself), several in one
/// transaction; the rows they affected.
async fn run_batch<D: Dialect>(
    store: &D,
    mut statements: Vec<QueryBuilder<D::Db>>,
) -> StoreResult<u64> {
    match statements.len() {
        0 => Ok(0),
        1 => store.execute(statements.remove(0)).await,
        _ => store.execute_all(statements).await,
    }
}

/// The archive's tail read: rows of `table` whose `seq_column` is in `(after, up_to]`,
/// in that order, at most `limit` (and [`MAX_PAGE_SIZE`]). The names are constants of
/// this module, never input.
async fn rows_by_sequence<D: Dialect>(
    store: &D,
    columns: &str,
    table: &str,
    seq_column: &str,
    (after, up_to, limit): (i64, i64, u32),
) -> StoreResult<Vec<RowOf<D>>> {
    let mut query = sql::<D>(&format!(
        "SELECT {columns} FROM {table} WHERE {seq_column} > "
    ));
    D::push_bigint(&mut query, after);
    query.push(format_args!(" AND {seq_column} <= "));
    D::push_bigint(&mut query, up_to);
    query.push(format_args!(" ORDER BY {seq_column} LIMIT "));
    D::push_bigint(&mut query, i64::from(limit.min(MAX_PAGE_SIZE)));
    store.fetch_all(query).await
}

#[async_trait]
impl<D: Dialect + 'static> Store for D {
    fn backend(&self) -> Backend {
        D::BACKEND
    }

    fn accounts(&self) -> &dyn crate::accounts::AccountStore {
        self
    }

    fn webhooks(&self) -> &dyn crate::webhooks::WebhookStore {
        self
    }

    async fn migrate(&self) -> StoreResult<()> {
        self.run_migrations().await
    }

    async fn health(&self) -> StoreResult<()> {
        self.fetch_all(sql::<D>("SELECT 1")).await?;
        Ok(())
    }

    async fn close(&self) {
        self.close_pools().await;
    }

    async fn upsert_organization(&self, org: &Organization) -> StoreResult<()> {
        let mut query = sql::<D>("INSERT INTO organizations (id, name)");
        values::<D>(
            &mut query,
            &[Value::Text(org.id.as_str()), Value::Text(&org.name)],
        )?;
        query.push(format_args!(
            " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = {}",
            D::NOW
        ));
        self.execute(query).await?;
        Ok(())
    }

    async fn organizations(&self) -> StoreResult<Vec<Organization>> {
        let rows = self
            .fetch_all(sql::<D>("SELECT id, name FROM organizations ORDER BY id"))
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Organization {
                    id: OrgId::new(D::text(row, "id")?),
                    name: D::text(row, "name")?,
                })
            })
            .collect()
    }

    async fn insert_mentions(
        &self,
        mode: DataMode,
        mentions: &[ScoredMention],
    ) -> StoreResult<u64> {
        let statements = MENTIONS.statements::<D, _>(mentions, INSERT_MENTIONS_CONFLICT, |c| {
            mention_columns(mode, c)
        })?;
        run_batch(self, statements).await
    }

    async fn count_mentions(&self, org: &OrgId) -> StoreResult<u64> {
        let rows = self
            .fetch_all(select_mentions::<D>("COUNT(*) AS n", org))
            .await?;
        let n = rows.first().map(|row| D::bigint(row, "n")).transpose()?;
        codec::count_from_i64(n.unwrap_or(0), "count")
    }

    async fn recent_mentions(&self, org: &OrgId, limit: u32) -> StoreResult<Vec<ScoredMention>> {
        let mut query = select_mentions::<D>(rows::MENTION_COLUMNS, org);
        query.push(" ORDER BY event_time DESC, id DESC LIMIT ");
        D::push_bigint(&mut query, i64::from(limit));
        let rows = self.fetch_all(query).await?;
        let mut out = rows
            .iter()
            .map(|row| rows::mention::<D>(row).map(|(_, m)| m))
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
        let mut query = select_mentions::<D>(&rows::mention_totals_columns(), org);
        query.push(" AND data_mode = ");
        D::push_text(&mut query, mode.as_str());
        query.push(" AND event_time >= ");
        D::push_time(&mut query, from);
        query.push(" AND event_time < ");
        D::push_time(&mut query, to);
        query.push(" GROUP BY source ORDER BY source");
        let rows = self.fetch_all(query).await?;
        rows.iter().map(rows::source_aggregate::<D>).collect()
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
        let mut query = select_mentions::<D>(rows::MENTION_COLUMNS, org);
        query.push(" AND data_mode = ");
        D::push_text(&mut query, mode.as_str());
        query.push(" AND event_time >= ");
        D::push_time(&mut query, since);
        if let Some(cursor) = after {
            push_cursor::<D>(&mut query, ">", cursor)?;
        }
        push_page_end::<D>(&mut query, "event_time, id", limit);
        let rows = self.fetch_all(query).await?;
        rows::page::<D>(&rows, limit as usize)
    }

    async fn mentions_page(
        &self,
        org: &OrgId,
        filter: &MentionFilter,
        limit: u32,
        cursor: Option<MentionCursor>,
    ) -> StoreResult<MentionPage> {
        let limit = limit.min(MAX_PAGE_SIZE);
        let mut query = select_mentions::<D>(rows::MENTION_COLUMNS, org);
        if let Some(source) = filter.source {
            query.push(" AND source = ");
            D::push_text(&mut query, source.as_str());
        }
        if let Some(class) = filter.sentiment {
            push_sentiment::<D>(&mut query, class);
        }
        if let Some(country) = &filter.country {
            query.push(" AND country = ");
            D::push_text(&mut query, country);
        }
        if let Some(tag) = &filter.hashtag {
            D::push_has_hashtag(&mut query, tag);
        }
        if let Some(from) = filter.from {
            query.push(" AND event_time >= ");
            D::push_time(&mut query, from);
        }
        if let Some(to) = filter.to {
            query.push(" AND event_time < ");
            D::push_time(&mut query, to);
        }
        if let Some(text) = &filter.search {
            D::push_search(&mut query, text);
        }
        if let Some(cursor) = cursor {
            push_cursor::<D>(&mut query, "<", cursor)?;
        }
        push_page_end::<D>(&mut query, "event_time DESC, id DESC", limit);
        let rows = self.fetch_all(query).await?;
        rows::page::<D>(&rows, limit as usize)
    }

    async fn insert_campaign_metrics(
        &self,
        mode: DataMode,
        metrics: &[(OrgId, CampaignMetric)],
    ) -> StoreResult<u64> {
        if metrics.is_empty() {
            return Ok(0);
        }
        let campaigns = codec::latest_campaigns(metrics);
        let conflict = upsert_campaigns_conflict::<D>();
        let campaigns = CAMPAIGNS
            .statements::<D, _>(&campaigns, &conflict, |chunk| Ok(campaign_columns(chunk)))?;
        let reports =
            CAMPAIGN_DATA.statements::<D, _>(metrics, INSERT_CAMPAIGN_DATA_CONFLICT, |chunk| {
                report_columns(mode, chunk)
            })?;
        // One transaction; only the reports count as inserted.
        let mut tx = self.begin().await?;
        for statement in campaigns {
            D::execute_in(&mut tx, statement).await?;
        }
        let mut inserted = 0;
        for statement in reports {
            inserted += D::execute_in(&mut tx, statement).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn campaign_metrics(
        &self,
        org: &OrgId,
        mode: DataMode,
    ) -> StoreResult<Vec<CampaignMetric>> {
        let mut query = sql::<D>(&select_campaign_metrics());
        D::push_text(&mut query, org.as_str());
        query.push(" AND data_mode = ");
        D::push_text(&mut query, mode.as_str());
        query.push(") latest WHERE rn = 1 ORDER BY platform, campaign_id, date_recorded");
        let rows = self.fetch_all(query).await?;
        rows.iter().map(rows::metric::<D>).collect()
    }

    async fn upsert_crisis(&self, crisis: &CrisisEvent) -> StoreResult<bool> {
        codec::check_crisis(crisis)?;
        let mut query = sql::<D>(
            "INSERT INTO crisis_events (id, org_id, kind, severity, status, detected_at, \
             acknowledged_at, resolved_at, resolution, metadata) VALUES (",
        );
        D::push_uuid(&mut query, Some(crisis.id));
        query.push(", ");
        D::push_text(&mut query, crisis.org.as_str());
        query.push(", ");
        D::push_text(&mut query, crisis.kind.as_str());
        query.push(", ");
        D::push_int(&mut query, Some(i64::from(crisis.severity)));
        query.push(", ");
        D::push_text(&mut query, codec::crisis_status_str(crisis.status));
        query.push(", ");
        D::push_time(&mut query, crisis.detected_at);
        query.push(", ");
        D::push_opt_time(&mut query, crisis.acknowledged_at);
        query.push(", ");
        D::push_opt_time(&mut query, crisis.resolved_at);
        query.push(", ");
        D::push_opt_text(&mut query, crisis.resolution.as_deref());
        query.push(", ");
        D::push_json(&mut query, &crisis.metadata)?;
        query.push(")");
        query.push(upsert_crisis_conflict::<D>());
        Ok(self.execute(query).await? == 1)
    }

    async fn crisis(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<CrisisEvent>> {
        let mut query = sql::<D>(&format!(
            "SELECT {} FROM crisis_events WHERE org_id = ",
            rows::CRISIS_COLUMNS
        ));
        D::push_text(&mut query, org.as_str());
        query.push(" AND id = ");
        D::push_uuid(&mut query, Some(id));
        let rows = self.fetch_all(query).await?;
        rows.first().map(rows::crisis::<D>).transpose()
    }

    async fn crises(&self, org: &OrgId, active_only: bool) -> StoreResult<Vec<CrisisEvent>> {
        let mut query = sql::<D>(&format!(
            "SELECT {} FROM crisis_events WHERE org_id = ",
            rows::CRISIS_COLUMNS
        ));
        D::push_text(&mut query, org.as_str());
        if active_only {
            query.push(" AND status <> 'resolved'");
        }
        query.push(" ORDER BY detected_at DESC, id");
        let rows = self.fetch_all(query).await?;
        rows.iter().map(rows::crisis::<D>).collect()
    }

    async fn upsert_kpi_buckets(&self, buckets: &[KpiBucket]) -> StoreResult<u64> {
        let buckets = codec::last_bucket_per_key(buckets);
        let conflict = upsert_buckets_conflict::<D>();
        let statements = KPI_BUCKETS.statements::<D, _>(&buckets, &conflict, bucket_columns)?;
        run_batch(self, statements).await
    }

    async fn kpi_buckets_since(
        &self,
        org: &OrgId,
        mode: DataMode,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<KpiBucket>> {
        let mut query = sql::<D>(&format!(
            "SELECT {} FROM kpi_minute_buckets WHERE org_id = ",
            rows::BUCKET_COLUMNS
        ));
        D::push_text(&mut query, org.as_str());
        query.push(" AND data_mode = ");
        D::push_text(&mut query, mode.as_str());
        query.push(" AND minute >= ");
        D::push_time(&mut query, since);
        query.push(" ORDER BY minute");
        let rows = self.fetch_all(query).await?;
        rows.iter().map(rows::bucket::<D>).collect()
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        let mut query = sql::<D>("SELECT value FROM system_settings WHERE key = ");
        D::push_text(&mut query, key);
        let rows = self.fetch_all(query).await?;
        rows.first().map(|row| D::text(row, "value")).transpose()
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let mut query = sql::<D>("INSERT INTO system_settings (key, value)");
        values::<D>(&mut query, &[Value::Text(key), Value::Text(value)])?;
        query.push(format_args!(
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = {}",
            D::NOW
        ));
        self.execute(query).await?;
        Ok(())
    }

    async fn archive_high_water(&self) -> StoreResult<ArchiveMarks> {
        let query = sql::<D>(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM mentions) AS mentions, \
             (SELECT COALESCE(MAX(seq), 0) FROM campaign_data) AS campaign_data, \
             (SELECT COALESCE(MAX(seq), 0) FROM kpi_minute_buckets) AS kpi_buckets",
        );
        let rows = self.fetch_all_settled(query).await?;
        let row = rows
            .first()
            .ok_or_else(|| super::StoreError::Invalid("no high-water row".to_owned()))?;
        Ok(ArchiveMarks {
            mentions: D::bigint(row, "mentions")?,
            campaign_data: D::bigint(row, "campaign_data")?,
            kpi_buckets: D::bigint(row, "kpi_buckets")?,
        })
    }

    async fn archive_mentions(
        &self,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Sequenced<ScoredMention>>> {
        let rows = rows_by_sequence(
            self,
            rows::MENTION_COLUMNS,
            "mentions",
            "id",
            (after, up_to, limit),
        )
        .await?;
        rows.iter()
            .map(|row| rows::mention::<D>(row).map(|(seq, row)| Sequenced { seq, row }))
            .collect()
    }

    async fn archive_campaign_data(
        &self,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Sequenced<(OrgId, CampaignMetric)>>> {
        let columns = format!("seq, org_id, {}", rows::METRIC_COLUMNS);
        let rows = rows_by_sequence(
            self,
            &columns,
            "campaign_data",
            "seq",
            (after, up_to, limit),
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Sequenced {
                    seq: D::bigint(row, "seq")?,
                    row: (OrgId::new(D::text(row, "org_id")?), rows::metric::<D>(row)?),
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
        let columns = format!("seq, {}", rows::BUCKET_COLUMNS);
        let rows = rows_by_sequence(
            self,
            &columns,
            "kpi_minute_buckets",
            "seq",
            (after, up_to, limit),
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Sequenced {
                    seq: D::bigint(row, "seq")?,
                    row: rows::bucket::<D>(row)?,
                })
            })
            .collect()
    }
}

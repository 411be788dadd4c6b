//! Exports read from the store, the system of record: one organisation's rows of one
//! table over a time range, streamed into a single Parquet, CSV or JSON file
//! ([`ExportWriter`]). Used by `warroom export` and `POST /api/v1/reports/export/*`.
//!
//! The store is read a page at a time ([`StoreRows`]) on the async side and the file is
//! encoded on a blocking thread; a channel of [`PIPELINE_PAGES`] pages between them
//! bounds memory whatever the range. Reading the first page before any output is
//! produced lets a caller answer "database unavailable" as a clean error rather than a
//! truncated file.

use std::io::Write;
use std::sync::Arc;

use chrono::NaiveDate;
use warroom_engine::model::{CampaignMetric, DataMode, ScoredMention, Source};

use crate::archive::{ArchiveError, ExportFormat, ExportQuery, ExportStats, ExportWriter};
use crate::archive::{KpiBucketRow, Table};
use crate::sql::{KpiBucket, MentionCursor, Store, StoreError};

/// Pages in flight between the store reader and the file encoder.
pub const PIPELINE_PAGES: usize = 2;

/// Why an export from the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreExportError {
    /// Reading the store failed ([`StoreError::is_transient`] says whether to retry).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Encoding failed, the query is invalid, or the destination failed
    /// ([`ArchiveError::Output`]).
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// One page of rows read from the store.
#[derive(Debug, Clone)]
pub enum RowPage {
    /// Mentions, in event-time order.
    Mentions(Vec<ScoredMention>),
    /// Campaign reports (the latest per platform, campaign and day).
    Campaign(Vec<CampaignMetric>),
    /// KPI minute buckets, oldest first.
    Kpi(Vec<KpiBucketRow>),
}

impl RowPage {
    /// Rows in the page.
    pub fn len(&self) -> usize {
        match self {
            RowPage::Mentions(r) => r.len(),
            RowPage::Campaign(r) => r.len(),
            RowPage::Kpi(r) => r.len(),
        }
    }

    /// Whether the page has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write<W: Write + Send>(&self, out: &mut ExportWriter<W>) -> Result<(), ArchiveError> {
        match self {
            RowPage::Mentions(r) => out.write_mentions(r),
            RowPage::Campaign(r) => out.write_campaign(r),
            RowPage::Kpi(r) => out.write_kpi_buckets(r),
        }
    }
}

/// A store bucket as an archive row (the per-source sentiment sums and sketches are not
/// part of the archive schema).
impl From<&KpiBucket> for KpiBucketRow {
    fn from(b: &KpiBucket) -> Self {
        let mut by_source = [0; Source::COUNT];
        for (source, totals) in &b.by_source {
            by_source[source.index()] = totals.count;
        }
        KpiBucketRow {
            org: b.org.clone(),
            minute: b.minute,
            mention_count: b.mention_count,
            sentiment_sum: b.sentiment_sum,
            positive: b.positive,
            neutral: b.neutral,
            negative: b.negative,
            strongly_negative: b.strongly_negative,
            by_source,
        }
    }
}

enum Cursor {
    Mentions(Option<MentionCursor>),
    Whole,
    Done,
}

/// Reads the rows of an [`ExportQuery`] from the store, a page at a time: only rows of
/// one data mode (the engine's current mode, for the REST API and the CLI), so an export
/// never mixes mock and live records.
///
/// Mentions are paged by `(event_time, id)` from `from` and stop at the first one at or
/// after `to`. Campaign reports (the latest report per platform, campaign and day, whose
/// day overlaps the range) and KPI buckets (`minute` in the range; at most one row per
/// minute) come in one read each.
pub struct StoreRows {
    store: Arc<dyn Store>,
    query: ExportQuery,
    mode: DataMode,
    page_rows: u32,
    cursor: Cursor,
}

impl StoreRows {
    /// A reader of `query`'s rows of data mode `mode`; checks the organisation id and
    /// the range first.
    pub fn new(
        store: Arc<dyn Store>,
        query: ExportQuery,
        mode: DataMode,
        page_rows: u32,
    ) -> Result<Self, StoreExportError> {
        if warroom_engine::model::OrgId::parse(query.org.as_str()).is_err() {
            return Err(ArchiveError::InvalidOrg(query.org.as_str().to_owned()).into());
        }
        if query.from >= query.to {
            return Err(ArchiveError::InvalidRange {
                from: query.from,
                to: query.to,
            }
            .into());
        }
        let cursor = match query.table {
            Table::Mentions => Cursor::Mentions(None),
            Table::CampaignData | Table::KpiBuckets => Cursor::Whole,
        };
        Ok(Self {
            store,
            query,
            mode,
            page_rows: page_rows.max(1),
            cursor,
        })
    }

    /// The query.
    pub fn query(&self) -> &ExportQuery {
        &self.query
    }

    /// The next page, or `None` when the range is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<RowPage>, StoreError> {
        let q = &self.query;
        match self.cursor {
            Cursor::Done => Ok(None),
            Cursor::Mentions(after) => {
                let page = self
                    .store
                    .mentions_since(&q.org, self.mode, q.from, after, self.page_rows)
                    .await?;
                let mut rows = page.mentions;
                let full = rows.len();
                rows.retain(|m| m.mention.event_time < q.to);
                self.cursor = match page.next {
                    Some(next) if rows.len() == full => Cursor::Mentions(Some(next)),
                    _ => Cursor::Done,
                };
                Ok(Some(RowPage::Mentions(rows)))
            }
            Cursor::Whole => {
                self.cursor = Cursor::Done;
                match q.table {
                    Table::CampaignData => {
                        let first = q.from.date_naive();
                        let last: NaiveDate =
                            (q.to - chrono::TimeDelta::microseconds(1)).date_naive();
                        let mut rows = self.store.campaign_metrics(&q.org, self.mode).await?;
                        rows.retain(|m| m.date >= first && m.date <= last);
                        Ok(Some(RowPage::Campaign(rows)))
                    }
                    _ => {
                        let buckets = self
                            .store
                            .kpi_buckets_since(&q.org, self.mode, q.from)
                            .await?;
                        let rows = buckets
                            .iter()
                            .filter(|b| b.minute < q.to)
                            .map(KpiBucketRow::from)
                            .collect();
                        Ok(Some(RowPage::Kpi(rows)))
                    }
                }
            }
        }
    }
}

/// Streams the rows of `rows` (after `first`, a page the caller already read, if any)
/// into `out` in `format`. The file is encoded on a blocking thread; `progress` is called
/// with the running row count after each page. On a store error mid-way the output is
/// left incomplete and the error returned: the caller must discard it.
pub async fn stream_export<W: Write + Send + 'static>(
    mut rows: StoreRows,
    first: Option<RowPage>,
    format: ExportFormat,
    out: W,
    progress: impl Fn(u64) + Send + 'static,
) -> Result<ExportStats, StoreExportError> {
    let query = rows.query().clone();
    // `None` tells the encoder the read failed: it stops without writing a footer, so
    // a truncated export never looks complete.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<RowPage>>(PIPELINE_PAGES);
    // Even the header is written on the blocking thread: `out` may block.
    let encoder = tokio::task::spawn_blocking(move || {
        let mut writer = ExportWriter::new(&query, format, out)?;
        while let Some(page) = rx.blocking_recv() {
            let Some(page) = page else {
                return Ok(None);
            };
            page.write(&mut writer)?;
            progress(writer.rows());
        }
        writer.finish().map(Some)
    });
    let mut read_error = None;
    let mut next = first;
    loop {
        let page = match next.take() {
            Some(page) => page,
            None => match rows.next_page().await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(e);
                    let _ = tx.send(None).await;
                    break;
                }
            },
        };
        if !page.is_empty() && tx.send(Some(page)).await.is_err() {
            // The encoder stopped (its error is reported below).
            break;
        }
    }
    drop(tx);
    let encoded = encoder
        .await
        .map_err(|e| ArchiveError::Config(format!("export encoder panicked: {e}")))?;
    if let Some(e) = read_error {
        return Err(e.into());
    }
    encoded?.ok_or_else(|| ArchiveError::Config("export stopped without an error".into()).into())
}

//! The actors' side of the storage layer: the group-commit adapter over the SQL store,
//! and recovery of each organisation's state from it on start.

use std::sync::Arc;
use std::time::Duration;

use warroom_engine::{CampaignMetric, DataMode, Event, OrgId, ScoredMention};
use warroom_storage::sql::MentionPage;
use warroom_storage::Store;
use warroom_streams::dataflow::{IngestError, IngestHandle};

use crate::persist::{BatchError, BatchStore};

/// Writes group-commit batches to the SQL store.
pub struct StoreBatches(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl BatchStore for StoreBatches {
    async fn write_batch(
        &self,
        mode: DataMode,
        mentions: &[ScoredMention],
        campaigns: &[(OrgId, CampaignMetric)],
    ) -> Result<(), BatchError> {
        let failed = |e: warroom_storage::StoreError| BatchError {
            transient: e.is_transient(),
            message: e.to_string(),
        };
        if !mentions.is_empty() {
            self.0
                .insert_mentions(mode, mentions)
                .await
                .map_err(failed)?;
        }
        if !campaigns.is_empty() {
            self.0
                .insert_campaign_metrics(mode, campaigns)
                .await
                .map_err(failed)?;
        }
        Ok(())
    }
}

/// What recovery rebuilt, for the log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recovered {
    /// Mentions replayed into the windows.
    pub mentions: u64,
    /// Campaign reports replayed.
    pub campaign_reports: u64,
    /// KPI minute buckets rebuilt and written.
    pub kpi_buckets: u64,
}

/// Mentions read from the store per page during recovery.
const RECOVERY_PAGE: u32 = 5_000;

/// Sends events into the dataflow, waiting while it is saturated (recovery has nowhere
/// else to put them and must not drop any).
async fn feed(handle: &IngestHandle, events: Vec<Event>) -> Result<(), String> {
    let mut events = Some(events);
    loop {
        let batch = events.take().unwrap_or_default();
        let len = batch.len();
        match handle.try_reserve(len) {
            Ok(reservation) => {
                reservation.send(batch);
                return Ok(());
            }
            Err(IngestError::Saturated { .. }) => {
                events = Some(batch);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(IngestError::Stopped) => {
                return Err("the stream operators stopped during recovery".into())
            }
        }
    }
}

/// Replays one organisation's stored mentions (event time within `window` of now) and
/// campaign reports of data mode `mode` (the current one) into the dataflow, so windows,
/// campaign aggregates, the recent list and the ring buffer come back as they were, and
/// records of the other mode stay out of them. Calls `seen` with each replayed record's
/// de-duplication identity so re-sent records stay off the push path.
pub async fn recover_org(
    store: &dyn Store,
    handle: &IngestHandle,
    org: &OrgId,
    mode: DataMode,
    since: chrono::DateTime<chrono::Utc>,
    mut seen: impl FnMut(&Event),
) -> Result<Recovered, String> {
    let mut recovered = Recovered::default();
    let mut buckets = std::collections::BTreeMap::new();
    let mut after = None;
    loop {
        let MentionPage {
            mentions: items,
            next,
        } = store
            .mentions_since(org, mode, since, after, RECOVERY_PAGE)
            .await
            .map_err(|e| format!("reading mentions of {org}: {e}"))?;
        recovered.mentions += items.len() as u64;
        crate::persist::kpi::add_to(&mut buckets, mode, &items);
        let events: Vec<Event> = items
            .into_iter()
            // Stored mentions carry the score they were accepted with: not scored again.
            .map(Event::Mention)
            .collect();
        events.iter().for_each(&mut seen);
        feed(handle, events).await?;
        match next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    // The stored KPI buckets are rebuilt from the same mentions: the minutes touched
    // before a crash may never have been written. The first minute is partial (`since`
    // falls inside it) and is left as stored.
    let rebuilt: Vec<_> = buckets
        .into_values()
        .filter(|b: &warroom_storage::sql::KpiBucket| b.minute >= since)
        .collect();
    for chunk in rebuilt.chunks(1_000) {
        store
            .upsert_kpi_buckets(chunk)
            .await
            .map_err(|e| format!("writing KPI buckets of {org}: {e}"))?;
    }
    recovered.kpi_buckets = rebuilt.len() as u64;
    let metrics = store
        .campaign_metrics(org, mode)
        .await
        .map_err(|e| format!("reading campaign metrics of {org}: {e}"))?;
    recovered.campaign_reports = metrics.len() as u64;
    let events: Vec<Event> = metrics
        .into_iter()
        .map(|metric| Event::Campaign {
            org: org.clone(),
            metric,
            ingested_at_us: 0,
        })
        .collect();
    events.iter().for_each(&mut seen);
    feed(handle, events).await?;
    Ok(recovered)
}

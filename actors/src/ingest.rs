//! The single entry point for records: de-duplicate, stamp, and hand to the dataflow.
//!
//! Used by the ingest API and by every source actor alike, so a mock, a live connector
//! and an HTTP client get the same idempotency and the same backpressure.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use warroom_engine::clock::SharedClock;
use warroom_engine::wire::IngestAccepted;
use warroom_engine::{CampaignMetric, Event, Mention, OrgId};
use warroom_streams::dataflow::{IngestError, IngestHandle};

use crate::dedup::{self, Dedup};

/// Why records were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestRefusal {
    /// No such organisation.
    #[error("unknown organisation {0}")]
    UnknownOrg(String),
    /// The operators are saturated or stopped; nothing was applied.
    #[error(transparent)]
    Unavailable(#[from] IngestError),
}

/// De-duplicates and forwards records into the dataflow.
pub struct Ingestor {
    handle: IngestHandle,
    dedup: HashMap<OrgId, Mutex<Dedup>>,
    clock: SharedClock,
}

impl Ingestor {
    /// An ingestor for a fixed set of organisations.
    pub fn new(
        handle: IngestHandle,
        orgs: &[OrgId],
        dedup_capacity: usize,
        clock: SharedClock,
    ) -> Self {
        let dedup = orgs
            .iter()
            .map(|org| (org.clone(), Mutex::new(Dedup::new(dedup_capacity))))
            .collect();
        Self {
            handle,
            dedup,
            clock,
        }
    }

    /// Whether the organisation exists.
    pub fn knows(&self, org: &OrgId) -> bool {
        self.dedup.contains_key(org)
    }

    /// The dataflow handle (for health and metrics).
    pub fn handle(&self) -> &IngestHandle {
        &self.handle
    }

    /// Accepts mentions all-or-nothing: either every new one goes to the operators, or
    /// (saturated) none does and nothing is remembered as seen.
    pub fn mentions(
        &self,
        org: &OrgId,
        mentions: Vec<Mention>,
    ) -> Result<IngestAccepted, IngestRefusal> {
        self.accept(
            org,
            mentions,
            |m| dedup::key(m.source.as_str(), &m.external_id),
            |org, mention, at| Event::Mention {
                org,
                mention,
                ingested_at_us: at,
            },
        )
    }

    /// Accepts campaign reports all-or-nothing (idempotent per report).
    pub fn campaign_metrics(
        &self,
        org: &OrgId,
        metrics: Vec<CampaignMetric>,
    ) -> Result<IngestAccepted, IngestRefusal> {
        self.accept(
            org,
            metrics,
            |m| dedup::key("campaign", &m.external_id()),
            |org, metric, at| Event::Campaign {
                org,
                metric,
                ingested_at_us: at,
            },
        )
    }

    fn accept<T>(
        &self,
        org: &OrgId,
        records: Vec<T>,
        key_of: impl Fn(&T) -> u64,
        event_of: impl Fn(OrgId, T, i64) -> Event,
    ) -> Result<IngestAccepted, IngestRefusal> {
        let dedup = self
            .dedup
            .get(org)
            .ok_or_else(|| IngestRefusal::UnknownOrg(org.to_string()))?;
        let received = records.len();
        // Reserve before touching the de-duplication set, so a refusal changes nothing.
        let reservation = self.handle.try_reserve(received)?;
        let at = self.clock.now_micros();
        let mut events = Vec::with_capacity(received);
        {
            let mut seen = dedup.lock();
            for record in records {
                if seen.insert(key_of(&record)) {
                    events.push(event_of(org.clone(), record, at));
                }
            }
        }
        let accepted = events.len();
        reservation.send(events);
        Ok(IngestAccepted {
            received,
            accepted,
            duplicates: received - accepted,
        })
    }
}

/// A shareable ingestor.
pub type SharedIngestor = Arc<Ingestor>;

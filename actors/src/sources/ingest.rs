//! The single entry point for records: de-duplicate, stamp, and hand to the dataflow.
//!
//! Used by the ingest API and by every source actor alike, so a mock, a live connector
//! and an HTTP client get the same idempotency and the same backpressure.
//!
//! Source actors submit with the data mode they belong to ([`Ingestor::mentions_from`]);
//! once the runtime switched the mode ([`Ingestor::set_mode`]), records of the other
//! mode are refused. The switch also starts a new dataflow generation: every
//! organisation's windows are reset, and a record admitted before the switch that
//! reaches the operators after the reset (through another worker) is left out, so mock
//! and live records never share a window.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use warroom_engine::clock::SharedClock;
use warroom_engine::wire::IngestAccepted;
use warroom_engine::{CampaignMetric, DataMode, Event, Mention, OrgId};
/// Why the stream operators refused records (saturated or stopped), as the gateway
/// reports it.
pub use warroom_streams::dataflow::IngestError;
use warroom_streams::dataflow::IngestHandle;

use crate::persist::{PersistError, Persister};
use crate::sources::dedup::{self, Dedup};

/// Why records were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestRefusal {
    /// No such organisation.
    #[error("unknown organisation {0}")]
    UnknownOrg(String),
    /// The operators are saturated or stopped; nothing was applied.
    #[error(transparent)]
    Unavailable(#[from] IngestError),
    /// The storage queue is full or the writer stopped; nothing was applied.
    #[error(transparent)]
    Storage(#[from] PersistError),
    /// The records were handed over but their commit did not complete in time: they
    /// may still be committed, and a retry is idempotent.
    #[error("the commit did not complete within {0:?}; retry (idempotent)")]
    CommitTimeout(std::time::Duration),
    /// The database refused the batch these records were in; nothing was acknowledged.
    #[error("the database refused the records: {0}")]
    Rejected(String),
    /// A source of one data mode submitted while the engine runs in the other; nothing
    /// was applied.
    #[error("{origin:?} records refused: the engine runs in {current:?} mode")]
    OtherMode {
        /// The mode of the source.
        origin: DataMode,
        /// The engine's mode.
        current: DataMode,
    },
}

/// De-duplicates and forwards records into the dataflow, and into the persister.
pub struct Ingestor {
    handle: IngestHandle,
    dedup: HashMap<OrgId, Mutex<Dedup>>,
    clock: SharedClock,
    persistence: Option<(Persister, std::time::Duration)>,
    /// The mode whose sources may submit; `None` (no runtime) lets every source in.
    /// Held for reading while a batch is handed over, so [`Ingestor::set_mode`] returns
    /// only after every batch admitted under the old mode is in the dataflow.
    mode: parking_lot::RwLock<Option<DataMode>>,
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
            persistence: None,
            mode: parking_lot::RwLock::new(None),
        }
    }

    /// Admits only sources of `mode` from now on (see the module docs). A change of
    /// mode also starts a new dataflow generation: every organisation's windows,
    /// detectors and campaign book are reset, and records admitted under the old mode
    /// that reach the operators afterwards are left out of them (they stay stored).
    pub fn set_mode(&self, mode: DataMode) {
        let mut current = self.mode.write();
        let previous = current.replace(mode);
        if previous.is_some_and(|p| p != mode) {
            // Under the write lock: no batch is being stamped meanwhile.
            self.handle
                .start_generation(self.dedup.keys().cloned().collect(), mode);
        }
    }

    /// Mentions from a source of data mode `origin`: refused when the engine runs in
    /// the other mode, else as [`Ingestor::mentions`].
    pub async fn mentions_from(
        &self,
        origin: DataMode,
        org: &OrgId,
        mentions: Vec<Mention>,
    ) -> Result<IngestAccepted, IngestRefusal> {
        self.accept(
            Some(origin),
            org,
            mentions,
            |m| dedup::key(m.source.as_str(), &m.external_id),
            |org, mention, at| Event::Mention {
                org,
                mention,
                ingested_at_us: at,
            },
        )
        .await
    }

    /// Campaign reports from a source of data mode `origin` (see
    /// [`Ingestor::mentions_from`]).
    pub async fn campaign_metrics_from(
        &self,
        origin: DataMode,
        org: &OrgId,
        metrics: Vec<CampaignMetric>,
    ) -> Result<IngestAccepted, IngestRefusal> {
        self.accept(
            Some(origin),
            org,
            metrics,
            |m| dedup::key("campaign", &m.external_id()),
            |org, metric, at| Event::Campaign {
                org,
                metric,
                ingested_at_us: at,
            },
        )
        .await
    }

    /// Acknowledges only after records are committed by `persister` (waiting at most
    /// `ack_timeout`).
    pub fn with_persister(
        mut self,
        persister: Persister,
        ack_timeout: std::time::Duration,
    ) -> Self {
        self.persistence = Some((persister, ack_timeout));
        self
    }

    /// Remembers a replayed record as seen (recovery), so a re-send stays off the push path.
    pub fn mark_seen(&self, event: &Event) {
        let (org, key) = match event {
            Event::Mention { org, mention, .. } => (
                org,
                dedup::key(mention.source.as_str(), &mention.external_id),
            ),
            Event::Campaign { org, metric, .. } => {
                (org, dedup::key("campaign", &metric.external_id()))
            }
        };
        if let Some(dedup) = self.dedup.get(org) {
            dedup.lock().insert(key);
        }
    }

    /// The dataflow handle (for health and metrics).
    pub fn handle(&self) -> &IngestHandle {
        &self.handle
    }

    /// Accepts mentions all-or-nothing: either every new one goes to the operators and
    /// every one (new or re-sent) to storage, or (saturated) nothing happens at all.
    /// Returns once they are committed.
    pub async fn mentions(
        &self,
        org: &OrgId,
        mentions: Vec<Mention>,
    ) -> Result<IngestAccepted, IngestRefusal> {
        self.accept(
            None,
            org,
            mentions,
            |m| dedup::key(m.source.as_str(), &m.external_id),
            |org, mention, at| Event::Mention {
                org,
                mention,
                ingested_at_us: at,
            },
        )
        .await
    }

    /// Accepts campaign reports all-or-nothing (idempotent per report); returns once
    /// they are committed.
    pub async fn campaign_metrics(
        &self,
        org: &OrgId,
        metrics: Vec<CampaignMetric>,
    ) -> Result<IngestAccepted, IngestRefusal> {
        self.accept(
            None,
            org,
            metrics,
            |m| dedup::key("campaign", &m.external_id()),
            |org, metric, at| Event::Campaign {
                org,
                metric,
                ingested_at_us: at,
            },
        )
        .await
    }

    async fn accept<T: Clone>(
        &self,
        origin: Option<DataMode>,
        org: &OrgId,
        records: Vec<T>,
        key_of: impl Fn(&T) -> u64,
        event_of: impl Fn(OrgId, T, i64) -> Event,
    ) -> Result<IngestAccepted, IngestRefusal> {
        let (accepted, committed) = self.hand_over(origin, org, records, key_of, event_of)?;
        if let (Some((_, ack_timeout)), Some(committed)) = (&self.persistence, committed) {
            tokio::time::timeout(*ack_timeout, committed)
                .await
                .map_err(|_| IngestRefusal::CommitTimeout(*ack_timeout))?
                .map_err(|_| IngestRefusal::Storage(PersistError::Stopped))?
                .map_err(IngestRefusal::Rejected)?;
        }
        Ok(accepted)
    }

    /// The synchronous part of [`Ingestor::accept`]: checks the mode, de-duplicates, and
    /// hands the records to the dataflow and the persister (whose commit is returned).
    #[allow(clippy::type_complexity)]
    fn hand_over<T: Clone>(
        &self,
        origin: Option<DataMode>,
        org: &OrgId,
        records: Vec<T>,
        key_of: impl Fn(&T) -> u64,
        event_of: impl Fn(OrgId, T, i64) -> Event,
    ) -> Result<
        (
            IngestAccepted,
            Option<tokio::sync::oneshot::Receiver<Result<(), String>>>,
        ),
        IngestRefusal,
    > {
        let dedup = self
            .dedup
            .get(org)
            .ok_or_else(|| IngestRefusal::UnknownOrg(org.to_string()))?;
        let mode = self.mode.read();
        if let (Some(origin), Some(current)) = (origin, *mode) {
            if origin != current {
                return Err(IngestRefusal::OtherMode { origin, current });
            }
        }
        // The mode the records are stored under: their source's, else the engine's (an
        // API client feeds the current mode's windows); MOCK when no mode is set (an
        // ingestor without a runtime, in tests).
        let record_mode = origin.or(*mode).unwrap_or_default();
        let received = records.len();
        // Reserve everywhere before touching the de-duplication set, so that a refusal
        // changes nothing.
        let stored = match &self.persistence {
            Some((persister, _)) => Some(persister.reserve(received)?),
            None => None,
        };
        let reservation = self.handle.try_reserve(received)?;
        let at = self.clock.now_micros();
        let mut events = Vec::with_capacity(received);
        let mut all = Vec::with_capacity(if stored.is_some() { received } else { 0 });
        {
            let mut seen = dedup.lock();
            for record in records {
                let first = seen.insert(key_of(&record));
                match (first, stored.is_some()) {
                    (true, true) => {
                        events.push(event_of(org.clone(), record.clone(), at));
                        all.push(event_of(org.clone(), record, at));
                    }
                    (true, false) => events.push(event_of(org.clone(), record, at)),
                    // A re-sent record stays off the push path but is written again: its
                    // first attempt may not have been committed (the store ignores it if so).
                    (false, true) => all.push(event_of(org.clone(), record, at)),
                    (false, false) => {}
                }
            }
        }
        let accepted = events.len();
        reservation.send(events);
        let mut committed = None;
        if let (Some((persister, _)), Some(stored)) = (&self.persistence, stored) {
            let mut mentions = Vec::new();
            let mut campaigns = Vec::new();
            for event in all {
                match event {
                    Event::Mention {
                        org,
                        mention,
                        ingested_at_us,
                    } => mentions.push((org, mention, ingested_at_us)),
                    Event::Campaign { org, metric, .. } => campaigns.push((org, metric)),
                }
            }
            committed = Some(persister.submit(stored, record_mode, mentions, campaigns)?);
        }
        drop(mode);
        Ok((
            IngestAccepted {
                received,
                accepted,
                duplicates: received - accepted,
            },
            committed,
        ))
    }
}

/// A shareable ingestor.
pub type SharedIngestor = Arc<Ingestor>;

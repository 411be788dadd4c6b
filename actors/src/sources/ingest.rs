//! The single entry point for records ([`Ingestor::ingest`]): stamp, score, de-duplicate,
//! and hand to the dataflow and the persister.
//!
//! Used by the ingest API and by every source actor alike, so a mock, a live connector
//! and an HTTP client get the same idempotency and the same backpressure. Each record
//! becomes one [`Event`] here; a mention is scored with VADER once, here, and the same
//! scored event goes to the operators (the push path) and to the store.
//!
//! Source actors submit with the data mode they belong to ([`Origin::Source`]);
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
use warroom_engine::{CampaignMetric, DataMode, Event, Mention, OrgId, ScoredMention};
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
    /// Scoring the mentions failed (a bug); nothing was applied.
    #[error("scoring the mentions failed: {0}")]
    Scoring(String),
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

/// Where records come from: decides which data mode they are admitted and stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An API client (ingest endpoints, incoming webhooks): its records feed the mode the
    /// engine runs in.
    Api,
    /// A source actor of this data mode (mock generator or live connector): refused once
    /// the engine runs in the other mode.
    Source(DataMode),
}

/// A batch of records of one kind, as a source or a request delivers it.
#[derive(Debug, Clone)]
pub enum Records {
    /// Social mentions (scored on the way in).
    Mentions(Vec<Mention>),
    /// Ad platform reports.
    Campaigns(Vec<CampaignMetric>),
}

/// Text scored on the calling task at most; a larger batch is scored on a blocking
/// thread. VADER takes about 5 ns per byte (0.9 µs for a 30-word post, `cargo bench
/// --bench sentiment`), so 16 KiB is under 0.1 ms of CPU, less than handing the batch
/// to another thread costs for a one-mention request.
const INLINE_SCORING_BYTES: usize = 16 * 1024;

/// The text of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "the scorer panicked".to_owned())
}

/// Computes a mention's sentiment from its text.
type Scorer = fn(&str) -> warroom_engine::SentimentScores;

/// VADER, the engine's one sentiment scorer.
fn score_with_vader(content: &str) -> warroom_engine::SentimentScores {
    warroom_streams::sentiment::analyzer().polarity_scores(content)
}

/// The de-duplication key of an event: its source and external id (its report key for
/// campaign reports).
fn dedup_key(event: &Event) -> u64 {
    match event {
        Event::Mention(scored) => {
            dedup::key(scored.mention.source.as_str(), &scored.mention.external_id)
        }
        Event::Campaign { metric, .. } => dedup::key("campaign", &metric.external_id()),
    }
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
    /// VADER; tests give one that fails.
    score: Scorer,
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
            score: score_with_vader,
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
        if let Some(dedup) = self.dedup.get(event.org()) {
            dedup.lock().insert(dedup_key(event));
        }
    }

    /// The dataflow handle (for health and metrics).
    pub fn handle(&self) -> &IngestHandle {
        &self.handle
    }

    /// Accepts a batch all-or-nothing: either every new record goes to the operators
    /// and every one (new or re-sent) to storage, or (saturated, other mode, unknown
    /// organisation) nothing happens at all. Returns once the batch is committed (when
    /// a persister is attached), so an acknowledged record is stored.
    pub async fn ingest(
        &self,
        origin: Origin,
        org: &OrgId,
        records: Records,
    ) -> Result<IngestAccepted, IngestRefusal> {
        // Checked before scoring: an unknown organisation costs nothing.
        let dedup = self
            .dedup
            .get(org)
            .ok_or_else(|| IngestRefusal::UnknownOrg(org.to_string()))?;
        let events = self.events_of(org, records).await?;
        let (accepted, committed) = self.hand_over(origin, dedup, events)?;
        if let (Some((_, ack_timeout)), Some(committed)) = (&self.persistence, committed) {
            tokio::time::timeout(*ack_timeout, committed)
                .await
                .map_err(|_| IngestRefusal::CommitTimeout(*ack_timeout))?
                .map_err(|_| IngestRefusal::Storage(PersistError::Stopped))?
                .map_err(IngestRefusal::Rejected)?;
        }
        Ok(accepted)
    }

    /// Turns each record into its event, stamped with the time it was accepted; mentions
    /// are scored on a blocking thread (VADER is CPU work, kept off the async workers).
    /// A scorer that panics refuses the batch: it must never be acknowledged unscored.
    async fn events_of(&self, org: &OrgId, records: Records) -> Result<Vec<Event>, IngestRefusal> {
        let at = self.clock.now_micros();
        match records {
            Records::Campaigns(metrics) => Ok(metrics
                .into_iter()
                .map(|metric| Event::Campaign {
                    org: org.clone(),
                    metric,
                    ingested_at_us: at,
                })
                .collect()),
            Records::Mentions(mentions) => {
                let org = org.clone();
                let score = self.score;
                let text_bytes: usize = mentions.iter().map(|m| m.content.len()).sum();
                let score_all = move || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        mentions
                            .into_iter()
                            .map(|mention| {
                                Event::Mention(ScoredMention {
                                    org: org.clone(),
                                    sentiment: score(&mention.content),
                                    mention,
                                    ingested_at_us: at,
                                })
                            })
                            .collect()
                    }))
                    .map_err(|panic| IngestRefusal::Scoring(panic_message(panic.as_ref())))
                };
                if text_bytes <= INLINE_SCORING_BYTES {
                    score_all()
                } else {
                    tokio::task::spawn_blocking(score_all)
                        .await
                        .map_err(|e| IngestRefusal::Scoring(e.to_string()))?
                }
            }
        }
    }

    /// The synchronous part of [`Ingestor::ingest`]: checks the mode, de-duplicates, and
    /// hands the events to the dataflow and the persister (whose commit is returned).
    #[allow(clippy::type_complexity)]
    fn hand_over(
        &self,
        origin: Origin,
        dedup: &Mutex<Dedup>,
        events: Vec<Event>,
    ) -> Result<
        (
            IngestAccepted,
            Option<tokio::sync::oneshot::Receiver<Result<(), String>>>,
        ),
        IngestRefusal,
    > {
        let mode = self.mode.read();
        let source_mode = match origin {
            Origin::Api => None,
            Origin::Source(mode) => Some(mode),
        };
        if let (Some(origin), Some(current)) = (source_mode, *mode) {
            if origin != current {
                return Err(IngestRefusal::OtherMode { origin, current });
            }
        }
        // The mode the records are stored under: their source's, else the engine's (an
        // API client feeds the current mode's windows); MOCK when no mode is set (an
        // ingestor without a runtime, in tests).
        let record_mode = source_mode.or(*mode).unwrap_or_default();
        let received = events.len();
        // Reserve everywhere before touching the de-duplication set, so that a refusal
        // changes nothing.
        let stored = match &self.persistence {
            Some((persister, _)) => Some(persister.reserve(received)?),
            None => None,
        };
        let reservation = self.handle.try_reserve(received)?;
        let mut to_operators = Vec::with_capacity(received);
        let mut mentions = Vec::new();
        let mut campaigns = Vec::new();
        {
            let mut seen = dedup.lock();
            for event in events {
                let first = seen.insert(dedup_key(&event));
                // A re-sent record stays off the push path but is written again: its
                // first attempt may not have been committed (the store ignores it if so).
                if stored.is_some() {
                    match &event {
                        Event::Mention(scored) => mentions.push(scored.clone()),
                        Event::Campaign { org, metric, .. } => {
                            campaigns.push((org.clone(), metric.clone()))
                        }
                    }
                }
                if first {
                    to_operators.push(event);
                }
            }
        }
        let accepted = to_operators.len();
        reservation.send(to_operators);
        let mut committed = None;
        if let (Some((persister, _)), Some(stored)) = (&self.persistence, stored) {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use warroom_engine::{Author, Config, OrgUpdate, Source, SystemClock, UpdateSink};
    use warroom_streams::dataflow::{Dataflow, DataflowConfig};

    use super::*;
    use crate::persist::{BatchError, BatchStore, PersistConfig};

    /// Keeps the mentions the operators published.
    #[derive(Default)]
    struct Pushed(Mutex<Vec<ScoredMention>>);

    impl UpdateSink for Pushed {
        fn publish(&self, _: &OrgId, update: OrgUpdate) {
            if let OrgUpdate::Mentions(mentions) = update {
                self.0.lock().extend(mentions);
            }
        }
    }

    /// Keeps the mentions written, as the store would.
    #[derive(Default)]
    struct Stored(Mutex<Vec<ScoredMention>>);

    #[async_trait::async_trait]
    impl BatchStore for Stored {
        async fn write_batch(
            &self,
            _: DataMode,
            mentions: &[ScoredMention],
            _: &[(OrgId, CampaignMetric)],
        ) -> Result<(), BatchError> {
            self.0.lock().extend_from_slice(mentions);
            Ok(())
        }
    }

    fn mention(id: &str, content: &str) -> Mention {
        Mention {
            external_id: id.to_owned(),
            source: Source::Twitter,
            content: content.to_owned(),
            author: Author::default(),
            country: None,
            region: None,
            language: None,
            hashtags: Vec::new(),
            url: None,
            event_time: chrono::Utc::now(),
            source_sentiment: None,
        }
    }

    /// An ingestor for organisation `o` on a running dataflow that pushes into `pushed`,
    /// committing into `stored`.
    fn ingestor(pushed: &Arc<Pushed>, stored: &Arc<Stored>) -> (Dataflow, Ingestor) {
        let defaults = Config::defaults();
        let mut config = DataflowConfig::new(&defaults.engine, &defaults.crisis);
        config.workers = 1;
        let dataflow =
            Dataflow::start(config, Arc::new(SystemClock), Arc::clone(pushed) as _).unwrap();
        let persister = Persister::start(
            Arc::clone(stored) as _,
            PersistConfig {
                max_queued: 100,
                max_batch: 100,
                commit_window: Duration::from_millis(1),
                write_timeout: Duration::from_secs(5),
            },
        );
        let ingestor = Ingestor::new(
            dataflow.handle(),
            &[OrgId::new("o")],
            100,
            Arc::new(SystemClock),
        )
        .with_persister(persister, Duration::from_secs(5));
        (dataflow, ingestor)
    }

    fn wait_for(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mention_is_scored_once_and_the_same_score_is_pushed_and_stored() {
        let (pushed, stored) = (Arc::<Pushed>::default(), Arc::<Stored>::default());
        let (_dataflow, ingestor) = ingestor(&pushed, &stored);
        let text = "This is a GREAT plan, but the rollout was awful :(";
        let accepted = ingestor
            .ingest(
                Origin::Api,
                &OrgId::new("o"),
                Records::Mentions(vec![mention("m1", text)]),
            )
            .await
            .unwrap();
        assert_eq!(accepted.accepted, 1);
        // Acknowledged: it is stored already, with VADER's score.
        let expected = score_with_vader(text);
        assert_ne!(expected, Default::default());
        assert_eq!(stored.0.lock()[0].sentiment, expected);
        wait_for("the pushed mention", || !pushed.0.lock().is_empty());
        assert_eq!(pushed.0.lock()[0].sentiment, expected);
        assert_eq!(pushed.0.lock()[0], stored.0.lock()[0]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scorer_that_panics_refuses_the_batch_and_changes_nothing() {
        let (pushed, stored) = (Arc::<Pushed>::default(), Arc::<Stored>::default());
        let (dataflow, mut ingestor) = ingestor(&pushed, &stored);
        ingestor.score = |text| {
            assert_ne!(text, "crash", "scorer bug");
            score_with_vader(text)
        };
        let org = OrgId::new("o");
        // Scored on the request's task (small) and on a blocking thread (over 16 KiB).
        for filler in [0, 400] {
            let mut batch = vec![mention("beside", "fine"), mention("crashing", "crash")];
            batch.extend((0..filler).map(|i| mention(&format!("f{i}"), &"good news ".repeat(10))));
            let refused = ingestor
                .ingest(Origin::Api, &org, Records::Mentions(batch))
                .await
                .unwrap_err();
            assert!(
                matches!(&refused, IngestRefusal::Scoring(m) if m.contains("scorer bug")),
                "{refused}"
            );
        }
        // Nothing was handed over: the de-duplication set is untouched, so the good
        // mention is new when it comes again, and it is the only one stored and pushed.
        let accepted = ingestor
            .ingest(
                Origin::Api,
                &org,
                Records::Mentions(vec![mention("beside", "fine")]),
            )
            .await
            .unwrap();
        assert_eq!((accepted.accepted, accepted.duplicates), (1, 0));
        assert_eq!(stored.0.lock().len(), 1);
        let handle = dataflow.handle();
        let stats = handle.stats();
        wait_for("the pushed mention", || {
            stats.mentions_applied.load(Ordering::Relaxed) == 1
        });
        assert_eq!(pushed.0.lock().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_source_of_the_other_mode_is_refused_and_a_resent_record_is_stored_not_pushed() {
        let (pushed, stored) = (Arc::<Pushed>::default(), Arc::<Stored>::default());
        let (_dataflow, ingestor) = ingestor(&pushed, &stored);
        ingestor.set_mode(DataMode::Live);
        let org = OrgId::new("o");
        let batch = || Records::Mentions(vec![mention("m1", "good")]);
        let refused = ingestor
            .ingest(Origin::Source(DataMode::Mock), &org, batch())
            .await
            .unwrap_err();
        assert!(
            matches!(refused, IngestRefusal::OtherMode { .. }),
            "{refused}"
        );
        assert!(stored.0.lock().is_empty());

        let first = ingestor
            .ingest(Origin::Source(DataMode::Live), &org, batch())
            .await
            .unwrap();
        let again = ingestor.ingest(Origin::Api, &org, batch()).await.unwrap();
        assert_eq!((first.accepted, again.duplicates), (1, 1));
        // Written twice (the store ignores the second), pushed once.
        assert_eq!(stored.0.lock().len(), 2);
        wait_for("the pushed mention", || !pushed.0.lock().is_empty());
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pushed.0.lock().len(), 1);

        let unknown = ingestor
            .ingest(Origin::Api, &OrgId::new("nobody"), batch())
            .await
            .unwrap_err();
        assert_eq!(unknown, IngestRefusal::UnknownOrg("nobody".into()));
    }
}

//! Source actors: one per (organisation, source), supervised and restarted with backoff.
//!
//! In MOCK mode each organisation has three: `mentions` (a social-listening feed, like
//! Mentionlytics), `meta` and `google_ads` (ad platform reports). They generate on a tick
//! and submit through the shared [`Ingestor`], exactly as a live connector or an API
//! client would, so de-duplication and backpressure apply to them too. A batch the
//! operators refuse (saturated) is kept and retried on the next tick, up to a bound.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use warroom_engine::clock::SharedClock;
use warroom_engine::config::{CrisisScenario, MockConfig};
use warroom_engine::{CampaignMetric, DataMode, Mention, OrgId, Platform};

use crate::ingest::{IngestRefusal, Ingestor};
use crate::mock::{poisson_count, CampaignGenerator, MentionGenerator};

/// Records a source keeps for retry while the operators refuse them; beyond it the
/// oldest generated (never acknowledged) records are discarded and counted.
const MAX_PENDING: usize = 100_000;

/// What a source produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Social mentions.
    Mentions,
    /// Meta ad reports.
    Meta,
    /// Google Ads reports.
    GoogleAds,
}

impl SourceKind {
    /// The name used in child names and health.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Mentions => "mentions",
            SourceKind::Meta => "meta",
            SourceKind::GoogleAds => "google_ads",
        }
    }
}

/// Arguments of a mock source actor.
#[derive(Clone)]
pub struct MockSourceArgs {
    /// Organisation.
    pub org: OrgId,
    /// What it produces.
    pub kind: SourceKind,
    /// Mentions per second (mentions source).
    pub mentions_per_second: f64,
    /// Scheduled crisis bursts (mentions source).
    pub crises: Vec<CrisisScenario>,
    /// Generator settings.
    pub mock: MockConfig,
    /// When the engine started (crisis times are relative to it).
    pub started: DateTime<Utc>,
    /// Where records go.
    pub ingestor: Arc<Ingestor>,
    /// Clock.
    pub clock: SharedClock,
}

/// Messages of a mock source.
#[derive(Debug)]
pub enum SourceMsg {
    /// Generate and submit.
    Tick,
    /// Fail on purpose (for supervision tests and drills).
    Crash(String),
}

/// A mock source actor.
pub struct MockSource;

enum Generator {
    Mentions(MentionGenerator, VecDeque<Mention>),
    Campaigns(CampaignGenerator, Platform, VecDeque<CampaignMetric>),
}

/// State of a mock source.
pub struct MockSourceState {
    args: MockSourceArgs,
    generator: Generator,
    rng: SmallRng,
    last_tick: Instant,
    last_campaign_report: Option<Instant>,
    discarded: u64,
}

impl MockSourceState {
    fn crisis_rate(&self, now: DateTime<Utc>) -> f64 {
        let elapsed = (now - self.args.started).to_std().unwrap_or_default();
        self.args
            .crises
            .iter()
            .filter(|c| elapsed >= c.at && elapsed < c.at + c.duration)
            .map(|c| c.mentions_per_second)
            .sum()
    }

    async fn tick(&mut self) {
        let now = self.args.clock.now();
        let dt = self.last_tick.elapsed();
        self.last_tick = Instant::now();
        let crisis_rate = self.crisis_rate(now);
        let ingestor = Arc::clone(&self.args.ingestor);
        let org = self.args.org.clone();
        match &mut self.generator {
            Generator::Mentions(generator, pending) => {
                let count = poisson_count(&mut self.rng, self.args.mentions_per_second, dt);
                pending.extend(generator.generate(now, count, self.args.mock.late_fraction));
                if crisis_rate > 0.0 {
                    let burst = poisson_count(&mut self.rng, crisis_rate, dt);
                    pending.extend(generator.generate_crisis(now, burst));
                }
                self.discarded += trim(pending);
                if !pending.is_empty() {
                    let batch: Vec<Mention> = pending.iter().cloned().collect();
                    settle(
                        pending,
                        ingestor.mentions_from(DataMode::Mock, &org, batch).await,
                    );
                }
            }
            Generator::Campaigns(generator, platform, pending) => {
                let due = self
                    .last_campaign_report
                    .is_none_or(|t| t.elapsed() >= self.args.mock.campaign_interval);
                if due {
                    self.last_campaign_report = Some(Instant::now());
                    let platform = *platform;
                    pending.extend(
                        generator
                            .report(now)
                            .into_iter()
                            .filter(|m| m.platform == platform),
                    );
                }
                self.discarded += trim(pending);
                if !pending.is_empty() {
                    let batch: Vec<CampaignMetric> = pending.iter().cloned().collect();
                    settle(
                        pending,
                        ingestor
                            .campaign_metrics_from(DataMode::Mock, &org, batch)
                            .await,
                    );
                }
            }
        }
    }
}

fn trim<T>(pending: &mut VecDeque<T>) -> u64 {
    let excess = pending.len().saturating_sub(MAX_PENDING);
    pending.drain(..excess);
    excess as u64
}

/// Clears what was acknowledged; on a transient refusal keeps it for the next tick (the
/// retry is idempotent).
fn settle<T>(
    pending: &mut VecDeque<T>,
    outcome: Result<warroom_engine::wire::IngestAccepted, IngestRefusal>,
) {
    match outcome {
        Ok(_) => pending.clear(),
        Err(IngestRefusal::UnknownOrg(org)) => {
            tracing::error!(%org, "mock source for an unknown organisation; discarding");
            pending.clear();
        }
        // The engine switched to LIVE: mock records are never to be mixed in.
        Err(IngestRefusal::OtherMode { .. }) => pending.clear(),
        Err(e) => {
            tracing::debug!(error = %e, kept = pending.len(), "mock batch not acknowledged; retrying")
        }
    }
}

impl Actor for MockSource {
    type Msg = SourceMsg;
    type State = MockSourceState;
    type Arguments = MockSourceArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SourceMsg>,
        args: MockSourceArgs,
    ) -> Result<MockSourceState, ActorProcessingErr> {
        let seed = args.mock.seed;
        let generator = match args.kind {
            SourceKind::Mentions => {
                Generator::Mentions(MentionGenerator::new(&args.org, seed), VecDeque::new())
            }
            SourceKind::Meta => Generator::Campaigns(
                CampaignGenerator::new(&args.org, seed),
                Platform::Meta,
                VecDeque::new(),
            ),
            SourceKind::GoogleAds => Generator::Campaigns(
                CampaignGenerator::new(&args.org, seed),
                Platform::GoogleAds,
                VecDeque::new(),
            ),
        };
        myself.send_interval(args.mock.tick, || SourceMsg::Tick);
        let rng_seed = seed ^ args.org.route_hash() ^ (args.kind as u64).wrapping_mul(0x9e37_79b9);
        Ok(MockSourceState {
            rng: SmallRng::seed_from_u64(rng_seed),
            generator,
            last_tick: Instant::now(),
            last_campaign_report: None,
            discarded: 0,
            args,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<SourceMsg>,
        message: SourceMsg,
        state: &mut MockSourceState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SourceMsg::Tick => state.tick().await,
            SourceMsg::Crash(reason) => return Err(reason.into()),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SourceMsg>,
        state: &mut MockSourceState,
    ) -> Result<(), ActorProcessingErr> {
        if state.discarded > 0 {
            tracing::warn!(org = %state.args.org, source = state.args.kind.as_str(), discarded = state.discarded,
                "mock records discarded while the operators were saturated");
        }
        Ok(())
    }
}

//! Source actors: one per (organisation, source), supervised and restarted with backoff.
//!
//! In MOCK mode each organisation has three: `mentions` (a social-listening feed, like
//! Mentionlytics), `meta` and `google_ads` (ad platform reports). They generate on a tick
//! and submit through the shared [`Ingestor`], exactly as a live connector or an API
//! client would, so de-duplication and backpressure apply to them too. A batch the
//! operators refuse (saturated) is kept and retried on the next tick, up to a bound.
//!
//! At an organisation's first start in MOCK mode the runtime also runs
//! [`backfill_history`] once, in the background: `[mock] backfill` of generated history
//! (see [`crate::sources::mock::history`]) submitted through the same [`Ingestor`].

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use warroom_engine::clock::SharedClock;
use warroom_engine::config::{CrisisScenario, MockConfig};
use warroom_engine::{CampaignMetric, DataMode, Mention, OrgId, Platform};
use warroom_streams::dataflow::IngestError;

use crate::metrics::EngineMetrics;
use crate::persist::PersistError;
use crate::sources::ingest::{IngestRefusal, Ingestor, Origin, Records};
use crate::sources::mock::history::{event_times, HistoryPlan, Slot};
use crate::sources::mock::{poisson_count, CampaignGenerator, MentionGenerator};

/// Records a source keeps for retry while the operators refuse them; beyond it the
/// oldest generated (never acknowledged) records are discarded and counted.
const MAX_PENDING: usize = 100_000;

/// Where mock records come from: sources of MOCK mode.
const MOCK: Origin = Origin::Source(DataMode::Mock);

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
                        ingestor.ingest(MOCK, &org, Records::Mentions(batch)).await,
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
                        ingestor.ingest(MOCK, &org, Records::Campaigns(batch)).await,
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

/// Mentions per backfill batch (one group commit at the default `database.max_batch`).
const BACKFILL_BATCH: usize = 5_000;
/// A backfill batch the database refuses this many times in a row ends the backfill.
const BACKFILL_MAX_REJECTIONS: u32 = 5;
/// How often a running backfill logs its progress.
const BACKFILL_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What a mock history backfill needs.
#[derive(Clone)]
pub struct BackfillArgs {
    /// Organisation.
    pub org: OrgId,
    /// Its live mock rate (mentions per second): the recent tier's rate.
    pub mentions_per_second: f64,
    /// Generator settings, `backfill*` included.
    pub mock: MockConfig,
    /// The end of the history: when the live mock sources started.
    pub end: DateTime<Utc>,
    /// Also backfill the closing campaign reports of the past days.
    pub campaigns: bool,
    /// Where records go.
    pub ingestor: Arc<Ingestor>,
    /// Counts what it acknowledged.
    pub metrics: Arc<EngineMetrics>,
}

/// What a backfill submitted and had acknowledged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backfilled {
    /// Mentions stored and applied.
    pub mentions: u64,
    /// Mentions already known (a re-sent batch after a commit timeout).
    pub duplicates: u64,
    /// Campaign reports stored and applied.
    pub campaign_reports: u64,
}

/// The generated history, batch by batch, oldest first.
struct HistoryFeed {
    generator: MentionGenerator,
    rng: SmallRng,
    slots: std::vec::IntoIter<Slot>,
    times: VecDeque<DateTime<Utc>>,
}

impl HistoryFeed {
    /// At most `max` mentions, in event-time order; empty once the history is exhausted.
    fn next_batch(&mut self, max: usize) -> Vec<Mention> {
        while self.times.len() < max {
            let Some(slot) = self.slots.next() else { break };
            self.times.extend(event_times(&slot, &mut self.rng));
        }
        let n = self.times.len().min(max);
        let times: Vec<DateTime<Utc>> = self.times.drain(..n).collect();
        self.generator.generate_at(&times)
    }
}

/// Generates `[mock] backfill` of history for one organisation (see
/// [`crate::sources::mock::history`] for how dense) and submits it through the ingestor like live
/// mock data: campaign reports closing each past day (when `campaigns`), then mentions in
/// event-time order in batches of [`BACKFILL_BATCH`], the next batch generated while the
/// previous one commits. A refused batch is retried (idempotent); the backfill ends early,
/// with the refusal, when the organisation is unknown, the engine left MOCK mode, the
/// engine is stopping, or the database refused one batch [`BACKFILL_MAX_REJECTIONS`]
/// times.
pub async fn backfill_history(args: BackfillArgs) -> Result<Backfilled, IngestRefusal> {
    let started = Instant::now();
    let org = args.org.clone();
    let seed = args.mock.seed;
    let mut done = Backfilled::default();
    let plan = HistoryPlan::new(
        args.end,
        args.mock.backfill,
        args.mock.backfill_full_rate,
        args.mentions_per_second,
        args.mock.backfill_max_mentions,
    );
    let mut rng = SmallRng::seed_from_u64(seed ^ org.route_hash() ^ 0x6261_636b_6669_6c6c);
    let slots = plan.slots(&mut rng);
    let planned: u64 = slots.iter().map(|s| u64::from(s.count)).sum();
    tracing::info!(%org, mentions = planned, since = %plan.start(), full_rate_since = %plan.full_rate_since(),
        older_sample = plan.sample(), "backfilling mock history");

    if args.campaigns && !args.mock.backfill.is_zero() {
        let days = args.mock.backfill.as_secs().div_ceil(86_400).clamp(1, 7) as u32;
        let reports = CampaignGenerator::new(&org, seed).history(args.end, days);
        let accepted = submit(&args.ingestor, &org, Records::Campaigns(reports)).await?;
        done.campaign_reports += accepted.accepted as u64;
        args.metrics
            .mock_backfill_campaign_reports
            .fetch_add(accepted.accepted as u64, Ordering::Relaxed);
    }

    let mut feed = HistoryFeed {
        generator: MentionGenerator::for_history(&org, seed, args.end),
        rng,
        slots: slots.into_iter(),
        times: VecDeque::new(),
    };
    let generate = |mut feed: HistoryFeed| {
        tokio::task::spawn_blocking(move || {
            let batch = feed.next_batch(BACKFILL_BATCH);
            (feed, batch)
        })
    };
    let stopped = || IngestRefusal::Unavailable(IngestError::Stopped);
    let mut next = generate(feed);
    let mut last_progress = Instant::now();
    loop {
        let batch;
        (feed, batch) = next.await.map_err(|_| stopped())?;
        if batch.is_empty() {
            break;
        }
        next = generate(feed);
        let accepted = submit(&args.ingestor, &org, Records::Mentions(batch)).await?;
        done.mentions += accepted.accepted as u64;
        done.duplicates += accepted.duplicates as u64;
        args.metrics
            .mock_backfill_mentions
            .fetch_add(accepted.accepted as u64, Ordering::Relaxed);
        if last_progress.elapsed() >= BACKFILL_PROGRESS_EVERY {
            last_progress = Instant::now();
            tracing::info!(%org, mentions = done.mentions, of = planned,
                elapsed_ms = started.elapsed().as_millis() as u64, "backfilling mock history");
        }
    }
    tracing::info!(%org, mentions = done.mentions, campaign_reports = done.campaign_reports,
        elapsed_ms = started.elapsed().as_millis() as u64, "mock history backfilled");
    Ok(done)
}

/// A batch of one kind.
/// Submits a backfill batch as MOCK records, retrying while the engine is saturated or the
/// commit is slow (idempotent), and giving up on what retrying cannot fix.
async fn submit(
    ingestor: &Ingestor,
    org: &OrgId,
    records: Records,
) -> Result<warroom_engine::wire::IngestAccepted, IngestRefusal> {
    let mut rejections = 0;
    let mut pause = Duration::from_millis(20);
    loop {
        let outcome = ingestor.ingest(MOCK, org, records.clone()).await;
        let error = match outcome {
            Ok(accepted) => return Ok(accepted),
            Err(e) => e,
        };
        match &error {
            IngestRefusal::UnknownOrg(_)
            | IngestRefusal::OtherMode { .. }
            | IngestRefusal::Scoring(_)
            | IngestRefusal::Unavailable(IngestError::Stopped)
            | IngestRefusal::Storage(PersistError::Stopped) => return Err(error),
            IngestRefusal::Rejected(_) => {
                rejections += 1;
                if rejections >= BACKFILL_MAX_REJECTIONS {
                    return Err(error);
                }
            }
            IngestRefusal::Unavailable(_)
            | IngestRefusal::Storage(_)
            | IngestRefusal::CommitTimeout(_) => {}
        }
        tracing::debug!(%org, %error, "mock history batch not acknowledged; retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

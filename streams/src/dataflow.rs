//! The timely dataflow that runs the operators.
//!
//! ```text
//!  tokio side                  worker i (one thread each)
//!  IngestHandle ──channel i──▶ Ingest source ─▶ Score (VADER) ─▶ exchange by org ─▶ OrgState
//!   (round-robin, wakes the     (epoch = tick,    (where the        (hash of org      (windows, crisis,
//!    worker's SyncActivator)     bounded drain)    record landed)    id)               campaigns) ─▶ UpdateSink
//! ```
//!
//! * Inputs come from tokio through one unbounded channel per worker; the amount in flight
//!   is bounded by [`IngestHandle::try_reserve`], so a producer that outruns the operators
//!   is refused (the gateway answers 503) instead of growing memory.
//! * Epochs are coarse: the source downgrades its capability on a processing-time tick
//!   (`epoch_tick`), as timely's own advice goes. Nothing waits on epochs to push data:
//!   `OrgState` applies each record as it arrives and publishes mention batches at once, so
//!   the push path is not delayed by the tick. KPI snapshots go out on `kpi_interval`.
//! * Idle workers park (`step_or_park`) and are woken by the source's `SyncActivator`
//!   when tokio sends, and by delayed activations for ticks; they do not spin.
//! * Sentiment is scored where a record lands (spreading the cost over workers whatever
//!   the org skew), then records are exchanged by a stable hash of the organisation.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::Probe;
use timely::dataflow::ProbeHandle;
use timely::scheduling::SyncActivator;
use timely::WorkerConfig;
use warroom_engine::clock::SharedClock;
use warroom_engine::config::{CrisisConfig, EngineConfig};
use warroom_engine::{CampaignMetric, Event, OrgId, OrgUpdate, ScoredMention, UpdateSink, Window};

use crate::campaign::CampaignBook;
use crate::crisis::{CrisisDetector, CrisisParams};
use crate::sentiment::analyzer;
use crate::window::{Applied, OrgWindows, WindowParams};

/// Most records one activation of the ingest source hands on, so a burst cannot starve the
/// KPI tick or make one step arbitrarily long.
const SOURCE_BATCH: usize = 8192;
/// Campaigns tracked per organisation.
const MAX_CAMPAIGNS_PER_ORG: usize = 1000;
/// Days of campaign history kept per campaign.
const MAX_CAMPAIGN_DAYS: usize = 400;
/// Organisations publish their KPI snapshots in this many staggered slots per
/// `kpi_interval`, so that fifty organisations do not all push to every socket at the same
/// instant (a burst that queued mention frames behind it in the fan-out profile).
const KPI_SLOTS: u64 = 8;

/// Everything the dataflow needs to start.
#[derive(Clone)]
pub struct DataflowConfig {
    /// Worker threads.
    pub workers: usize,
    /// Epoch tick.
    pub epoch_tick: Duration,
    /// KPI snapshot interval.
    pub kpi_interval: Duration,
    /// Accepted-but-unprocessed records, at most.
    pub max_in_flight: usize,
    /// Window sketch sizes.
    pub window: WindowParams,
    /// Crisis detector settings.
    pub crisis: CrisisConfig,
    /// Per-organisation overrides of the negative-surge threshold.
    pub negative_thresholds: HashMap<OrgId, u64>,
}

impl DataflowConfig {
    /// Builds the dataflow settings from the engine and crisis configuration.
    pub fn new(engine: &EngineConfig, crisis: &CrisisConfig) -> Self {
        Self {
            workers: engine.workers,
            epoch_tick: engine.epoch_tick,
            kpi_interval: engine.kpi_interval,
            max_in_flight: engine.max_in_flight,
            window: WindowParams {
                sketch_capacity: engine.sketch_capacity,
                top_k: engine.top_k,
            },
            crisis: crisis.clone(),
            negative_thresholds: HashMap::new(),
        }
    }
}

/// Counters the dataflow keeps, readable from any thread (health, benches, metrics).
#[derive(Debug, Default)]
pub struct DataflowStats {
    /// Records accepted by [`IngestHandle`] and not yet taken by a worker.
    pub in_flight: AtomicUsize,
    /// Mentions applied to windows (including late ones).
    pub mentions_applied: AtomicU64,
    /// Mentions older than the retention: counted, not applied.
    pub mentions_too_late: AtomicU64,
    /// Campaign reports applied.
    pub campaign_reports: AtomicU64,
    /// KPI snapshot rounds published.
    pub kpi_rounds: AtomicU64,
    /// Workers whose loop is running.
    pub workers_running: AtomicUsize,
}

/// Why the dataflow refused records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// Too many records are waiting for the operators; retry later.
    #[error("the stream operators are saturated ({in_flight} records waiting, limit {limit})")]
    Saturated {
        /// Records waiting.
        in_flight: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The dataflow has shut down.
    #[error("the stream operators have stopped")]
    Stopped,
}

/// A reservation of room for `n` records in the dataflow; see [`IngestHandle::try_reserve`].
#[must_use = "a reservation holds capacity until it is sent or dropped"]
pub struct Reservation<'a> {
    handle: &'a IngestHandle,
    count: usize,
}

impl Reservation<'_> {
    /// Sends the events the room was reserved for (at most the reserved count).
    pub fn send(mut self, events: Vec<Event>) {
        debug_assert!(events.len() <= self.count);
        // Room not used by the events is released now; the rest when a worker takes them.
        let unused = self.count.saturating_sub(events.len());
        self.handle
            .stats
            .in_flight
            .fetch_sub(unused, Ordering::AcqRel);
        self.count = 0;
        self.handle.push(events);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.count > 0 {
            self.handle
                .stats
                .in_flight
                .fetch_sub(self.count, Ordering::AcqRel);
        }
    }
}

struct WorkerInbox {
    sender: crossbeam_channel::Sender<Vec<Event>>,
    activator: Mutex<Option<SyncActivator>>,
}

/// The tokio-side handle that feeds events into the dataflow. Cheap to clone.
#[derive(Clone)]
pub struct IngestHandle {
    inboxes: Arc<Vec<WorkerInbox>>,
    next: Arc<AtomicUsize>,
    stats: Arc<DataflowStats>,
    max_in_flight: usize,
    stopped: Arc<AtomicBool>,
}

impl IngestHandle {
    /// Reserves room for `count` records, or says why there is none. Reserve before
    /// applying side effects (de-duplication), so a refused request changes nothing.
    pub fn try_reserve(&self, count: usize) -> Result<Reservation<'_>, IngestError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(IngestError::Stopped);
        }
        let previous = self.stats.in_flight.fetch_add(count, Ordering::AcqRel);
        if previous + count > self.max_in_flight && previous > 0 {
            self.stats.in_flight.fetch_sub(count, Ordering::AcqRel);
            return Err(IngestError::Saturated {
                in_flight: previous,
                limit: self.max_in_flight,
            });
        }
        Ok(Reservation {
            handle: self,
            count,
        })
    }

    /// Reserves and sends in one step (for producers that do not de-duplicate first).
    pub fn send(&self, events: Vec<Event>) -> Result<(), IngestError> {
        if events.is_empty() {
            return Ok(());
        }
        self.try_reserve(events.len())?.send(events);
        Ok(())
    }

    fn push(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.inboxes.len();
        let inbox = &self.inboxes[index];
        let count = events.len();
        if inbox.sender.send(events).is_err() {
            // The worker is gone (shutdown): release the room so counters stay truthful.
            self.stats.in_flight.fetch_sub(count, Ordering::AcqRel);
            return;
        }
        if let Some(activator) = inbox.activator.lock().ok().and_then(|a| a.clone()) {
            let _ = activator.activate();
        }
    }

    /// Shared counters.
    pub fn stats(&self) -> &Arc<DataflowStats> {
        &self.stats
    }

    /// Records accepted but not yet taken by the operators.
    pub fn in_flight(&self) -> usize {
        self.stats.in_flight.load(Ordering::Acquire)
    }

    /// The configured limit of records in flight.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
}

/// A running dataflow: the workers and the handle that feeds them.
pub struct Dataflow {
    handle: IngestHandle,
    guards: Option<timely::communication::WorkerGuards<()>>,
}

impl Dataflow {
    /// Starts `config.workers` worker threads running the operators; updates go to `sink`.
    pub fn start(
        config: DataflowConfig,
        clock: SharedClock,
        sink: Arc<dyn UpdateSink>,
    ) -> Result<Self, String> {
        let workers = config.workers.max(1);
        let stats = Arc::new(DataflowStats::default());
        let stopped = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::with_capacity(workers);
        let mut inboxes = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (sender, receiver) = crossbeam_channel::unbounded();
            receivers.push(Mutex::new(Some(receiver)));
            inboxes.push(WorkerInbox {
                sender,
                activator: Mutex::new(None),
            });
        }
        let inboxes = Arc::new(inboxes);
        let receivers = Arc::new(receivers);
        let handle = IngestHandle {
            inboxes: Arc::clone(&inboxes),
            next: Arc::new(AtomicUsize::new(0)),
            stats: Arc::clone(&stats),
            max_in_flight: config.max_in_flight,
            stopped: Arc::clone(&stopped),
        };

        let timely_config = timely::Config {
            communication: timely::CommunicationConfig::Process(workers),
            // Spin only briefly before parking: an idle war room should cost no CPU.
            worker: WorkerConfig::default().idle_spin(Duration::from_micros(5)),
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let ready_tx = Mutex::new(ready_tx);
        let guards = timely::execute(timely_config, move |worker| {
            let index = worker.index();
            let Some(receiver) = receivers[index].lock().ok().and_then(|mut r| r.take()) else {
                return;
            };
            stats.workers_running.fetch_add(1, Ordering::AcqRel);
            let probe = ProbeHandle::<u64>::new();
            build_worker_dataflow(
                worker,
                &config,
                receiver,
                &inboxes[index],
                Arc::clone(&stopped),
                Arc::clone(&stats),
                Arc::clone(&clock),
                Arc::clone(&sink),
                &probe,
            );
            if let Ok(tx) = ready_tx.lock() {
                let _ = tx.send(());
            }
            // `step_or_park` returns false once every dataflow has completed, which
            // happens after shutdown drops the source's capability.
            while worker.step_or_park(Some(Duration::from_secs(1))) {}
            stats.workers_running.fetch_sub(1, Ordering::AcqRel);
        })?;
        // Wait until every worker has registered its activator, so the first send wakes it.
        for _ in 0..workers {
            ready_rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| "a timely worker did not start within 10s".to_owned())?;
        }
        Ok(Self {
            handle,
            guards: Some(guards),
        })
    }

    /// The handle to feed events in.
    pub fn handle(&self) -> IngestHandle {
        self.handle.clone()
    }

    /// Stops accepting input, lets the workers drain what was accepted, and joins them.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.handle.stopped.store(true, Ordering::Release);
        for inbox in self.handle.inboxes.iter() {
            if let Some(activator) = inbox.activator.lock().ok().and_then(|a| a.clone()) {
                let _ = activator.activate();
            }
        }
        if let Some(guards) = self.guards.take() {
            for result in guards.join() {
                if let Err(e) = result {
                    tracing::error!(error = %e, "timely worker ended with an error");
                }
            }
        }
    }
}

impl Drop for Dataflow {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// A record after the sentiment operator, as exchanged between workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Scored {
    Mention(ScoredMention),
    Campaign { org: OrgId, metric: CampaignMetric },
}

impl Scored {
    fn org(&self) -> &OrgId {
        match self {
            Scored::Mention(m) => &m.org,
            Scored::Campaign { org, .. } => org,
        }
    }
}

fn score(event: Event) -> Scored {
    match event {
        Event::Mention {
            org,
            mention,
            ingested_at_us,
        } => {
            let sentiment = analyzer().polarity_scores(&mention.content);
            Scored::Mention(ScoredMention {
                org,
                mention,
                sentiment,
                ingested_at_us,
            })
        }
        Event::Campaign { org, metric, .. } => Scored::Campaign { org, metric },
    }
}

/// One organisation's operator state, owned by exactly one worker.
struct OrgState {
    windows: OrgWindows,
    detector: CrisisDetector,
    campaigns: CampaignBook,
    /// Something changed since the last KPI publication.
    kpis_dirty: bool,
    campaigns_dirty: bool,
    /// The minute of the last KPI publication: windows slide when it changes.
    last_kpi_minute: i64,
}

impl OrgState {
    fn new(org: &OrgId, config: &DataflowConfig) -> Self {
        let threshold = config.negative_thresholds.get(org).copied();
        Self {
            windows: OrgWindows::new(config.window),
            detector: CrisisDetector::new(CrisisParams::from_config(&config.crisis, threshold)),
            campaigns: CampaignBook::new(MAX_CAMPAIGNS_PER_ORG, MAX_CAMPAIGN_DAYS),
            kpis_dirty: true,
            campaigns_dirty: false,
            last_kpi_minute: i64::MIN,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_worker_dataflow(
    worker: &mut timely::worker::Worker,
    config: &DataflowConfig,
    receiver: crossbeam_channel::Receiver<Vec<Event>>,
    inbox: &WorkerInbox,
    stopped: Arc<AtomicBool>,
    stats: Arc<DataflowStats>,
    clock: SharedClock,
    sink: Arc<dyn UpdateSink>,
    probe: &ProbeHandle<u64>,
) {
    let epoch_tick = config.epoch_tick;
    let kpi_interval = config.kpi_interval;
    let org_config = config.clone();
    worker.dataflow::<u64, _, _>(|scope| {
        let source_stats = Arc::clone(&stats);
        let ingest = source::<_, CapacityContainerBuilder<Vec<Event>>, _, _>(
            scope,
            "Ingest",
            |capability, info| {
                let sync_activator = scope.worker().sync_activator_for(info.address.to_vec());
                if let Ok(mut slot) = inbox.activator.lock() {
                    *slot = Some(sync_activator);
                }
                let activator = scope.activator_for(Rc::clone(&info.address));
                let started = Instant::now();
                let mut capability = Some(capability);
                move |output| {
                    let Some(cap) = capability.as_mut() else {
                        return;
                    };
                    let epoch =
                        (started.elapsed().as_nanos() / epoch_tick.as_nanos().max(1)) as u64;
                    if *cap.time() < epoch {
                        cap.downgrade(&epoch);
                    }
                    let mut taken = 0;
                    {
                        let mut session = output.session(&*cap);
                        while taken < SOURCE_BATCH {
                            match receiver.try_recv() {
                                Ok(batch) => {
                                    taken += batch.len();
                                    source_stats
                                        .in_flight
                                        .fetch_sub(batch.len(), Ordering::AcqRel);
                                    for event in batch {
                                        session.give(event);
                                    }
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    if taken >= SOURCE_BATCH {
                        activator.activate();
                    } else if stopped.load(Ordering::Acquire) && receiver.is_empty() {
                        // Everything accepted has been handed on; let the dataflow complete.
                        capability = None;
                    } else {
                        activator.activate_after(epoch_tick);
                    }
                }
            },
        );

        ingest
            .map(score)
            .unary_frontier::<CapacityContainerBuilder<Vec<u64>>, _, _, _>(
                Exchange::new(|record: &Scored| record.org().route_hash()),
                "OrgState",
                move |capability, info| {
                    // This operator publishes through the sink, not through timely outputs.
                    drop(capability);
                    let activator = scope.activator_for(Rc::clone(&info.address));
                    let mut orgs: HashMap<OrgId, OrgState> = HashMap::new();
                    let mut batches: HashMap<OrgId, Vec<ScoredMention>> = HashMap::new();
                    let mut next_kpi = Instant::now();
                    let kpi_slot = kpi_interval / KPI_SLOTS as u32;
                    let mut kpi_round: u64 = 0;
                    move |(input, frontier), _output| {
                        let now_ms = clock.now_millis();
                        input.for_each(|_time, data| {
                            for record in data.drain(..) {
                                match record {
                                    Scored::Mention(mention) => {
                                        let state =
                                            orgs.entry(mention.org.clone()).or_insert_with(|| {
                                                OrgState::new(&mention.org, &org_config)
                                            });
                                        match state.windows.apply(&mention, now_ms) {
                                            Applied::TooLate => {
                                                stats
                                                    .mentions_too_late
                                                    .fetch_add(1, Ordering::Relaxed);
                                            }
                                            Applied::OnTime | Applied::Late => {
                                                stats
                                                    .mentions_applied
                                                    .fetch_add(1, Ordering::Relaxed);
                                            }
                                        }
                                        state.kpis_dirty = true;
                                        batches
                                            .entry(mention.org.clone())
                                            .or_default()
                                            .push(mention);
                                    }
                                    Scored::Campaign { org, metric } => {
                                        let state = orgs
                                            .entry(org.clone())
                                            .or_insert_with(|| OrgState::new(&org, &org_config));
                                        stats.campaign_reports.fetch_add(1, Ordering::Relaxed);
                                        if state.campaigns.apply(&metric) {
                                            state.campaigns_dirty = true;
                                        }
                                    }
                                }
                            }
                        });
                        // Push path first: mentions go out as soon as they are applied.
                        for (org, mentions) in batches.drain() {
                            if let Some(state) = orgs.get_mut(&org) {
                                for signal in state.detector.evaluate(&state.windows, now_ms) {
                                    sink.publish(&org, OrgUpdate::Crisis(signal));
                                }
                            }
                            sink.publish(&org, OrgUpdate::Mentions(mentions));
                        }
                        let finished = frontier.is_empty();
                        if Instant::now() >= next_kpi || finished {
                            next_kpi = Instant::now() + kpi_slot;
                            let slot = if finished {
                                None
                            } else {
                                Some(kpi_round % KPI_SLOTS)
                            };
                            kpi_round += 1;
                            publish_kpis(&mut orgs, slot, now_ms, &clock, sink.as_ref());
                            stats.kpi_rounds.fetch_add(1, Ordering::Relaxed);
                        }
                        if !finished {
                            activator
                                .activate_after(next_kpi.saturating_duration_since(Instant::now()));
                        }
                    }
                },
            )
            .probe_with(probe);
    });
}

/// One KPI slot: for the organisations of this slot (all of them when `slot` is None),
/// slide the windows, publish what changed, and let detectors clear.
fn publish_kpis(
    orgs: &mut HashMap<OrgId, OrgState>,
    slot: Option<u64>,
    now_ms: i64,
    clock: &SharedClock,
    sink: &dyn UpdateSink,
) {
    let minute = now_ms.div_euclid(60_000);
    for (org, state) in orgs.iter_mut() {
        if slot.is_some_and(|slot| org.route_hash() % KPI_SLOTS != slot) {
            continue;
        }
        state.windows.advance(now_ms);
        for signal in state.detector.evaluate(&state.windows, now_ms) {
            sink.publish(org, OrgUpdate::Crisis(signal));
        }
        if state.kpis_dirty || state.last_kpi_minute != minute {
            let windows = Window::ALL
                .iter()
                .map(|w| state.windows.snapshot(*w, now_ms))
                .collect();
            sink.publish(
                org,
                OrgUpdate::Kpis {
                    windows,
                    counters: state.windows.counters(),
                },
            );
            state.kpis_dirty = false;
            state.last_kpi_minute = minute;
        }
        if state.campaigns_dirty {
            sink.publish(
                org,
                OrgUpdate::Campaigns(state.campaigns.aggregates(clock.now())),
            );
            state.campaigns_dirty = false;
        }
    }
}

//! The timely dataflow that runs the operators.
//!
//! ```text
//!  tokio side                  worker i (one thread each)
//!  IngestHandle ──channel i──▶ Ingest source ─▶ exchange by org ─▶ OrgState
//!   (round-robin, wakes the     (epoch = tick,    (hash of org      (windows, crisis,
//!    worker's SyncActivator)     bounded drain)    id)               campaigns) ─▶ UpdateSink
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
//! * Mentions arrive scored (the ingestor runs VADER once per mention and the same score
//!   goes to the store); records are exchanged by a stable hash of the organisation.

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
use timely::dataflow::operators::Probe;
use timely::dataflow::ProbeHandle;
use timely::scheduling::SyncActivator;
use timely::WorkerConfig;
use warroom_engine::clock::SharedClock;
use warroom_engine::config::{CrisisConfig, EngineConfig};
use warroom_engine::{DataMode, Event, OrgId, OrgUpdate, ScoredMention, UpdateSink, Window};

use crate::campaign::CampaignBook;
use crate::crisis::{CrisisDetector, CrisisParams};
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
    /// Records of an earlier generation (data mode) that reached an organisation's
    /// operators after its windows were reset for a newer one: counted, not applied
    /// (they are stored all the same).
    pub records_of_earlier_generation: AtomicU64,
    /// Organisation resets applied (one per organisation per data-mode switch).
    pub resets: AtomicU64,
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
        let generation = self.handle.generation.load(Ordering::Acquire);
        self.handle.push(Inbound::Events(generation, events));
    }
}

/// What a worker's inbox carries: records stamped with the generation they were accepted
/// in, or the start of a new generation for some organisations.
enum Inbound {
    Events(u64, Vec<Event>),
    Reset(u64, Vec<OrgId>),
}

/// A record on its way to the organisation operator, with its generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
// Boxing the event would cost an allocation per record for the sake of a rare marker.
#[allow(clippy::large_enum_variant)]
enum Staged {
    Event(u64, Event),
    Reset(u64, OrgId),
}

impl Staged {
    /// The generation it belongs to.
    fn generation(&self) -> u64 {
        match self {
            Staged::Event(generation, _) | Staged::Reset(generation, _) => *generation,
        }
    }

    /// The organisation it belongs to (the exchange key).
    fn org(&self) -> &OrgId {
        match self {
            Staged::Event(_, event) => event.org(),
            Staged::Reset(_, org) => org,
        }
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
    sender: crossbeam_channel::Sender<Inbound>,
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
    /// The current generation: every record sent is stamped with it.
    generation: Arc<AtomicU64>,
    /// The data mode of each recent generation (for the organisations' reset updates).
    generation_modes: Arc<Mutex<GenerationModes>>,
}

/// Generations remembered with their data mode; older ones are forgotten (a generation
/// whose mode is forgotten resets without naming it).
const GENERATION_MODES_KEPT: usize = 64;

/// The data mode of recent generations, oldest first.
#[derive(Debug, Default)]
struct GenerationModes(std::collections::VecDeque<(u64, DataMode)>);

impl GenerationModes {
    fn insert(&mut self, generation: u64, mode: DataMode) {
        if self.0.len() == GENERATION_MODES_KEPT {
            self.0.pop_front();
        }
        self.0.push_back((generation, mode));
    }

    fn get(&self, generation: u64) -> Option<DataMode> {
        self.0
            .iter()
            .rev()
            .find(|(g, _)| *g == generation)
            .map(|(_, m)| *m)
    }
}

impl IngestHandle {
    /// Starts a new generation (a data-mode switch) and resets the windows, detectors
    /// and campaign books of `orgs` for it. Records stamped with an earlier generation
    /// that reach an organisation after its reset are counted and left out, whatever
    /// worker they travelled through, so the two generations never share a window.
    /// The caller serialises this with every send (the ingestor's mode lock), so that a
    /// record is stamped with the generation of the mode it was admitted under. Each
    /// organisation's sink receives [`OrgUpdate::Reset`] (naming `mode`) when its state
    /// is reset, in order with its other updates.
    pub fn start_generation(&self, orgs: Vec<OrgId>, mode: DataMode) -> u64 {
        let next = self.generation.load(Ordering::Acquire) + 1;
        // Known before any record or marker of the generation can reach an operator.
        if let Ok(mut modes) = self.generation_modes.lock() {
            modes.insert(next, mode);
        }
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.push(Inbound::Reset(generation, orgs));
        generation
    }

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

    fn push(&self, inbound: Inbound) {
        let count = match &inbound {
            Inbound::Events(_, events) if events.is_empty() => return,
            Inbound::Events(_, events) => events.len(),
            Inbound::Reset(..) => 0,
        };
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.inboxes.len();
        let inbox = &self.inboxes[index];
        if inbox.sender.send(inbound).is_err() {
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
            generation: Arc::new(AtomicU64::new(0)),
            generation_modes: Arc::new(Mutex::new(GenerationModes::default())),
        };
        let generation_modes = Arc::clone(&handle.generation_modes);

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
                Arc::clone(&generation_modes),
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
    /// The generation (data mode) its windows hold.
    generation: u64,
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
            generation: 0,
        }
    }

    /// The state for a record or reset of `generation`: `None` when it belongs to an
    /// earlier generation than the windows hold; a fresh state (published at the next
    /// KPI round) when to a later one.
    fn for_generation(
        &mut self,
        org: &OrgId,
        generation: u64,
        config: &DataflowConfig,
        stats: &DataflowStats,
    ) -> Option<&mut Self> {
        if generation < self.generation {
            return None;
        }
        if generation > self.generation {
            *self = OrgState::new(org, config);
            self.generation = generation;
            self.campaigns_dirty = true;
            stats.resets.fetch_add(1, Ordering::Relaxed);
        }
        Some(self)
    }
}

#[allow(clippy::too_many_arguments)]
fn build_worker_dataflow(
    worker: &mut timely::worker::Worker,
    config: &DataflowConfig,
    receiver: crossbeam_channel::Receiver<Inbound>,
    inbox: &WorkerInbox,
    stopped: Arc<AtomicBool>,
    stats: Arc<DataflowStats>,
    clock: SharedClock,
    sink: Arc<dyn UpdateSink>,
    generation_modes: Arc<Mutex<GenerationModes>>,
    probe: &ProbeHandle<u64>,
) {
    let epoch_tick = config.epoch_tick;
    let kpi_interval = config.kpi_interval;
    let org_config = config.clone();
    worker.dataflow::<u64, _, _>(|scope| {
        let source_stats = Arc::clone(&stats);
        let ingest = source::<_, CapacityContainerBuilder<Vec<Staged>>, _, _>(
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
                                Ok(Inbound::Events(generation, batch)) => {
                                    taken += batch.len();
                                    source_stats
                                        .in_flight
                                        .fetch_sub(batch.len(), Ordering::AcqRel);
                                    for event in batch {
                                        session.give(Staged::Event(generation, event));
                                    }
                                }
                                Ok(Inbound::Reset(generation, orgs)) => {
                                    taken += orgs.len();
                                    for org in orgs {
                                        session.give(Staged::Reset(generation, org));
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
            .unary_frontier::<CapacityContainerBuilder<Vec<u64>>, _, _, _>(
                Exchange::new(|record: &Staged| record.org().route_hash()),
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
                                let generation = record.generation();
                                let org = record.org().clone();
                                let state = orgs
                                    .entry(org.clone())
                                    .or_insert_with(|| OrgState::new(&org, &org_config));
                                let held = state.generation;
                                let Some(state) =
                                    state.for_generation(&org, generation, &org_config, &stats)
                                else {
                                    if !matches!(record, Staged::Reset(..)) {
                                        stats
                                            .records_of_earlier_generation
                                            .fetch_add(1, Ordering::Relaxed);
                                    }
                                    continue;
                                };
                                if state.generation != held {
                                    // Mentions of the earlier generation taken in this
                                    // round stay off the push path too.
                                    batches.remove(&org);
                                    // The organisation actor drops what it holds of the
                                    // earlier mode, in order with every other update.
                                    let data_mode = generation_modes
                                        .lock()
                                        .ok()
                                        .and_then(|m| m.get(state.generation));
                                    sink.publish(&org, OrgUpdate::Reset { data_mode });
                                }
                                match record {
                                    Staged::Event(_, Event::Mention(mention)) => {
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
                                        batches.entry(org).or_default().push(mention);
                                    }
                                    Staged::Event(_, Event::Campaign { metric, .. }) => {
                                        stats.campaign_reports.fetch_add(1, Ordering::Relaxed);
                                        if state.campaigns.apply(&metric) {
                                            state.campaigns_dirty = true;
                                        }
                                    }
                                    // The state was reset (or already was) for this generation.
                                    Staged::Reset(..) => {}
                                }
                            }
                        });
                        // Push path first: mentions go out as soon as they are applied.
                        // The mentions before the crisis they raise: the organisation
                        // actor then holds the ones the crisis quotes as evidence.
                        for (org, mentions) in batches.drain() {
                            sink.publish(&org, OrgUpdate::Mentions(mentions));
                            if let Some(state) = orgs.get_mut(&org) {
                                for signal in state.detector.evaluate(&state.windows, now_ms) {
                                    sink.publish(&org, OrgUpdate::Crisis(signal));
                                }
                            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_engine::{Author, Config, Mention, SentimentScores, Source, SystemClock};

    /// Keeps the last 7-day mention count published per organisation.
    #[derive(Default)]
    struct LastCount(Mutex<Option<u64>>, Mutex<Vec<Option<DataMode>>>);

    impl UpdateSink for LastCount {
        fn publish(&self, _org: &OrgId, update: OrgUpdate) {
            match update {
                OrgUpdate::Kpis { windows, .. } => {
                    if let Some(d7) = windows.iter().find(|w| w.window == Window::D7) {
                        *self.0.lock().unwrap() = Some(d7.mention_count);
                    }
                }
                OrgUpdate::Reset { data_mode } => self.1.lock().unwrap().push(data_mode),
                _ => {}
            }
        }
    }

    fn mention(org: &OrgId, id: &str) -> Event {
        Event::Mention(ScoredMention {
            org: org.clone(),
            mention: Mention {
                external_id: id.to_owned(),
                source: Source::Twitter,
                content: "a text".into(),
                author: Author::default(),
                country: None,
                region: None,
                language: None,
                hashtags: Vec::new(),
                url: None,
                event_time: chrono::Utc::now(),
                source_sentiment: None,
            },
            sentiment: SentimentScores::default(),
            ingested_at_us: 0,
        })
    }

    fn wait(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_new_generation_resets_the_windows_and_leaves_stragglers_out() {
        let defaults = Config::defaults();
        let mut config = DataflowConfig::new(&defaults.engine, &defaults.crisis);
        // One worker: the inbox is FIFO, so the straggler surely arrives after the reset.
        config.workers = 1;
        config.kpi_interval = Duration::from_millis(20);
        config.epoch_tick = Duration::from_millis(5);
        let sink = Arc::new(LastCount::default());
        let dataflow =
            Dataflow::start(config, Arc::new(SystemClock), Arc::clone(&sink) as _).unwrap();
        let handle = dataflow.handle();
        let org = OrgId::new("acme");
        handle
            .send(vec![mention(&org, "old-1"), mention(&org, "old-2")])
            .unwrap();
        wait("the first generation's KPIs", || {
            *sink.0.lock().unwrap() == Some(2)
        });

        assert_eq!(
            handle.start_generation(vec![org.clone()], DataMode::Live),
            1
        );
        // A record admitted under generation 0 that reaches the operator after the reset.
        handle.stats.in_flight.fetch_add(1, Ordering::AcqRel);
        handle.push(Inbound::Events(0, vec![mention(&org, "old-straggler")]));
        handle.send(vec![mention(&org, "new-1")]).unwrap();
        let stats = Arc::clone(handle.stats());
        wait("the straggler", || {
            stats.records_of_earlier_generation.load(Ordering::Relaxed) == 1
        });
        wait("the new generation's KPIs", || {
            *sink.0.lock().unwrap() == Some(1)
        });
        assert_eq!(stats.resets.load(Ordering::Relaxed), 1);
        assert_eq!(stats.mentions_applied.load(Ordering::Relaxed), 3);
        // The sink heard of the reset once, with the new generation's mode.
        assert_eq!(*sink.1.lock().unwrap(), vec![Some(DataMode::Live)]);
        dataflow.shutdown();
    }
}

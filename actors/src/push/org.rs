//! The organisation actor: one per tenant, owner of everything its dashboards read.
//!
//! It holds the materialised dashboard (latest KPI snapshots, campaign aggregates), the
//! crises and their status, a bounded list of recent mentions, and a ring buffer of the
//! recent frames with a per-organisation sequence number. Updates from the dataflow are
//! encoded once here and the same bytes are queued on every subscribed socket. REST reads
//! ask this actor; they never recompute.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use warroom_engine::clock::SharedClock;
use warroom_engine::config::PushConfig;
use warroom_engine::wire::{events, Channel, KpiUpdateData, SubscribedData, WindowFigures};
use warroom_engine::{
    CampaignAggregate, CrisisEvent, CrisisKind, CrisisSignal, CrisisStatus, KpiSnapshot, OrgId,
    OrgUpdate, Organization, ScoredMention, SentimentClass, Source, StreamCounters, UpdateSink,
    Window,
};

use crate::push::dashboard_cache::DashboardCache;
use crate::push::directory::OrgDirectory;
use crate::push::outbox::{self, EncodedFrame, FrameClass, Outbox};

/// Mentions per `dashboard:mention-stream` frame at most; larger batches are split.
const MENTIONS_PER_FRAME: usize = 256;
/// Crises remembered per organisation (resolved ones are forgotten oldest first).
const CRISIS_HISTORY: usize = 1000;
/// Mentions quoted as a crisis's evidence (`sample_external_ids`).
const CRISIS_SAMPLES: usize = 5;
/// How far back those samples are taken (the detectors' span).
const CRISIS_SAMPLE_SPAN_MINUTES: i64 = 15;
/// Largest page of `GET /mentions`.
pub const MAX_PAGE: usize = 500;

/// The organisation actor (stateless handler; see [`OrgState`]).
pub struct OrgActor;

/// What an organisation actor starts from.
pub struct OrgArgs {
    /// The organisation.
    pub org: Organization,
    /// Push settings (ring size).
    pub push: PushConfig,
    /// Mentions kept for listing.
    pub recent_capacity: usize,
    /// Clock for server times.
    pub clock: SharedClock,
    /// Updates sent to this actor and not yet handled (mailbox depth gauge).
    pub pending: Arc<AtomicUsize>,
    /// Where crises are persisted (write-behind), if anywhere.
    pub store: Option<Arc<dyn warroom_storage::Store>>,
    /// Crises recovered from the store, to resume with.
    pub crises: Vec<CrisisEvent>,
    /// Where rendered dashboard views are published for REST reads.
    pub dashboard: Arc<DashboardCache>,
    /// Outgoing webhooks: crisis events are offered here (never waiting).
    pub webhooks: Option<crate::webhook::WebhookQueue>,
    /// Engine counters (frames pushed).
    pub metrics: Arc<crate::metrics::EngineMetrics>,
}

/// A subscriber: one socket's queue and the channels it wants.
struct Subscriber {
    session_id: u64,
    channels: u8,
    outbox: Arc<Outbox>,
}

/// A frame kept for resume. Snapshot frames superseded by a newer one are blanked.
struct RingEntry {
    frame: Option<EncodedFrame>,
    seq: u64,
}

/// A subscription request from a session.
pub struct SubscribeRequest {
    /// The session's id (for unsubscribe).
    pub session_id: u64,
    /// The session's outgoing queue.
    pub outbox: Arc<Outbox>,
    /// Channels wanted.
    pub channels: Vec<Channel>,
    /// Resume point: the epoch and the last sequence number the client processed.
    pub resume: Option<(Option<String>, u64)>,
}

/// The outcome of a subscription (the `subscribed` frame carries the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscribeOutcome {
    /// Stream epoch.
    pub epoch: String,
    /// Newest sequence number.
    pub seq: u64,
    /// Whether the resume succeeded.
    pub recovered: bool,
    /// Frames replayed.
    pub replayed: u64,
}

/// Filters and paging of `GET /api/v1/mentions`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MentionQuery {
    /// Only this source.
    pub source: Option<Source>,
    /// Only this sentiment class.
    pub sentiment: Option<SentimentClass>,
    /// Event time at or after.
    pub from: Option<DateTime<Utc>>,
    /// Event time before.
    pub to: Option<DateTime<Utc>>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<u64>,
}

/// One page of mentions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MentionPage {
    /// The mentions.
    pub items: Vec<ScoredMention>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<u64>,
    /// Mentions held in memory for listing (older ones are in storage once it exists).
    pub retained: usize,
}

/// Totals across all campaigns, for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CampaignTotals {
    /// Campaigns reported.
    pub campaigns: usize,
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Spend in currency units (campaigns in other currencies are summed as is).
    pub spend: f64,
    /// Conversions.
    pub conversions: f64,
    /// clicks / impressions.
    pub ctr: Option<f64>,
    /// spend / clicks.
    pub cpc: Option<f64>,
    /// spend / conversions.
    pub cpa: Option<f64>,
}

/// The body of `GET /api/v1/metrics/dashboard`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DashboardView {
    /// Organisation.
    pub org: OrgId,
    /// Requested window.
    pub window: Window,
    /// End of the windows.
    pub as_of: DateTime<Utc>,
    /// The seed's dashboard query: mentions in the last 24 hours.
    pub mentions_24h: u64,
    /// The seed's dashboard query: average sentiment over the last 7 days.
    pub avg_sentiment: Option<f64>,
    /// The seed's dashboard query: crises not resolved.
    pub active_crises: u64,
    /// KPIs of the requested window.
    pub kpis: KpiSnapshot,
    /// Crises not resolved.
    pub crises: Vec<CrisisEvent>,
    /// Campaign totals.
    pub campaigns: CampaignTotals,
    /// Data counters.
    pub counters: StreamCounters,
    /// The newest stream sequence number (a client can subscribe from here).
    pub seq: u64,
    /// The stream epoch.
    pub epoch: String,
}

/// Which crises `GET /api/v1/alerts` lists.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct AlertQuery {
    /// Only this status.
    pub status: Option<CrisisStatus>,
}

/// A user action on a crisis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    /// Active → acknowledged.
    Acknowledge,
    /// Active or acknowledged → resolved.
    Resolve,
}

/// Why an alert action failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// No such crisis in this organisation.
    #[error("no alert {0}")]
    NotFound(Uuid),
    /// The transition is not allowed from the current status.
    #[error("alert {id} is {status:?}; cannot {action}")]
    Conflict {
        /// The crisis.
        id: Uuid,
        /// Its status.
        status: CrisisStatus,
        /// What was asked.
        action: &'static str,
    },
}

/// Messages an organisation actor handles.
pub enum OrgMsg {
    /// An update from the dataflow.
    Update(OrgUpdate),
    /// A system event to broadcast on the `system` channel.
    System {
        /// Event name (`system:health-change`, `system:data-mode-change`).
        event: &'static str,
        /// Payload.
        data: serde_json::Value,
    },
    /// Subscribe a socket.
    Subscribe(SubscribeRequest, RpcReplyPort<SubscribeOutcome>),
    /// Unsubscribe a socket.
    Unsubscribe(u64),
    /// The dashboard of a window, as JSON bytes.
    Dashboard(Window, RpcReplyPort<Bytes>),
    /// The KPI snapshot of a window.
    Kpis(Window, RpcReplyPort<KpiSnapshot>),
    /// A page of recent mentions.
    Mentions(MentionQuery, RpcReplyPort<MentionPage>),
    /// All campaign aggregates.
    Campaigns(RpcReplyPort<Vec<CampaignAggregate>>),
    /// Crises.
    Alerts(AlertQuery, RpcReplyPort<Vec<CrisisEvent>>),
    /// Acknowledge or resolve a crisis.
    AlertAction(
        Uuid,
        AlertAction,
        RpcReplyPort<Result<CrisisEvent, AlertError>>,
    ),
}

/// The organisation actor's state.
pub struct OrgState {
    org: Organization,
    store: Option<Arc<dyn warroom_storage::Store>>,
    clock: SharedClock,
    pending: Arc<AtomicUsize>,
    epoch: String,
    seq: u64,
    ring: VecDeque<RingEntry>,
    ring_capacity: usize,
    ring_max_bytes: usize,
    ring_bytes: usize,
    subscribers: Vec<Subscriber>,
    kpis: Option<Vec<KpiSnapshot>>,
    counters: StreamCounters,
    campaigns: Vec<CampaignAggregate>,
    crises: VecDeque<CrisisEvent>,
    recent: VecDeque<(u64, ScoredMention)>,
    recent_capacity: usize,
    next_mention_id: u64,
    dashboard_cache: Arc<DashboardCache>,
    latest_kpi_frame: Option<EncodedFrame>,
    latest_campaign_frame: Option<EncodedFrame>,
    webhooks: Option<crate::webhook::WebhookQueue>,
    metrics: Arc<crate::metrics::EngineMetrics>,
}

fn mask(channels: &[Channel]) -> u8 {
    channels.iter().fold(0, |m, c| m | c.bit())
}

impl OrgState {
    fn new(args: OrgArgs) -> Self {
        let mut crises: VecDeque<CrisisEvent> = args.crises.into_iter().collect();
        crises.make_contiguous().sort_by_key(|c| c.detected_at);
        Self {
            org: args.org,
            store: args.store,
            clock: args.clock,
            pending: args.pending,
            // A new epoch per actor life: after a restart old sequence numbers mean nothing.
            epoch: new_epoch(),
            seq: 0,
            ring: VecDeque::with_capacity(args.push.ring_capacity.min(4096)),
            ring_capacity: args.push.ring_capacity,
            ring_max_bytes: args.push.ring_max_bytes,
            ring_bytes: 0,
            subscribers: Vec::new(),
            kpis: None,
            counters: StreamCounters::default(),
            campaigns: Vec::new(),
            crises,
            recent: VecDeque::new(),
            recent_capacity: args.recent_capacity,
            next_mention_id: 1,
            webhooks: args.webhooks,
            metrics: args.metrics,
            dashboard_cache: {
                // A (re)started actor has a new epoch: views of the old one are stale.
                args.dashboard.clear();
                args.dashboard
            },
            latest_kpi_frame: None,
            latest_campaign_frame: None,
        }
    }

    fn id(&self) -> &OrgId {
        &self.org.id
    }

    /// Assigns the next sequence number, encodes, keeps for resume and fans out.
    fn emit<T: Serialize>(&mut self, event: &'static str, ingested_at_us: Option<i64>, data: &T) {
        self.seq += 1;
        let bytes = outbox::encode(
            event,
            &self.org.id,
            self.seq,
            self.clock.now(),
            ingested_at_us,
            data,
        );
        let encoded = EncodedFrame {
            seq: self.seq,
            channel: Channel::of_event(event),
            class: outbox::class_of(event),
            bytes,
        };
        self.keep_for_resume(&encoded);
        self.fan_out(&encoded);
    }

    fn keep_for_resume(&mut self, encoded: &EncodedFrame) {
        if let FrameClass::Conflate(key) = encoded.class {
            // Only the newest snapshot is worth replaying.
            for entry in self.ring.iter_mut().rev() {
                if matches!(&entry.frame, Some(f) if f.class == FrameClass::Conflate(key)) {
                    if let Some(old) = entry.frame.take() {
                        self.ring_bytes -= old.bytes.len();
                    }
                    break;
                }
            }
            match key {
                outbox::ConflationKey::Kpi => self.latest_kpi_frame = Some(encoded.clone()),
                outbox::ConflationKey::Campaigns => {
                    self.latest_campaign_frame = Some(encoded.clone())
                }
            }
        }
        self.ring_bytes += encoded.bytes.len();
        self.ring.push_back(RingEntry {
            frame: Some(encoded.clone()),
            seq: encoded.seq,
        });
        // Bounded by count and by bytes; a resume from before the oldest kept frame
        // answers `recovered: false`.
        while self.ring.len() > self.ring_capacity || self.ring_bytes > self.ring_max_bytes {
            match self.ring.pop_front() {
                Some(entry) => self.ring_bytes -= entry.frame.map_or(0, |f| f.bytes.len()),
                None => break,
            }
        }
    }

    fn fan_out(&mut self, encoded: &EncodedFrame) {
        let bit = encoded.channel.map_or(u8::MAX, Channel::bit);
        let mut pushed = 0;
        self.subscribers.retain(|sub| {
            if sub.channels & bit == 0 {
                return true;
            }
            pushed += 1;
            sub.outbox.push(encoded.clone()) != crate::push::outbox::PushOutcome::Closed
        });
        // One relaxed add per frame, not per subscriber.
        self.metrics
            .frames_pushed
            .fetch_add(pushed, std::sync::atomic::Ordering::Relaxed);
    }

    fn apply(&mut self, update: OrgUpdate) {
        match update {
            OrgUpdate::Mentions(mentions) => self.apply_mentions(mentions),
            OrgUpdate::Kpis { windows, counters } => {
                self.kpis = Some(windows);
                self.counters = counters;
                self.dashboard_cache.clear();
                let data = self.kpi_update_data();
                self.emit(events::KPI_UPDATE, None, &data);
            }
            OrgUpdate::Campaigns(aggregates) => {
                self.campaigns = aggregates;
                self.dashboard_cache.clear();
                let campaigns = self.campaigns.clone();
                self.emit(events::CAMPAIGN_UPDATE, None, &campaigns);
            }
            OrgUpdate::Crisis(signal) => self.apply_crisis(signal),
            OrgUpdate::Reset { data_mode } => self.reset_for_mode(data_mode),
        }
    }

    /// The data mode changed (the dataflow reset this organisation's windows): nothing
    /// of the previous mode may reach a dashboard afterwards. Open crises are resolved
    /// with resolution `data_mode_change` (their evidence belongs to the old mode, and
    /// the detectors that would clear them were reset); the recent mentions, the
    /// snapshots and the resume ring are dropped and a new epoch starts, so a resume
    /// from before the switch answers `recovered: false` (refetch). Then
    /// `system:data-mode-change` is pushed: it is the first frame of the new epoch, and
    /// every later frame belongs to the new mode.
    fn reset_for_mode(&mut self, data_mode: Option<warroom_engine::DataMode>) {
        let now = self.clock.now();
        let open: Vec<usize> = self
            .crises
            .iter()
            .enumerate()
            .filter(|(_, c)| c.status != CrisisStatus::Resolved)
            .map(|(i, _)| i)
            .collect();
        for index in open {
            let crisis = &mut self.crises[index];
            crisis.status = CrisisStatus::Resolved;
            crisis.resolved_at = Some(now);
            crisis.resolution = Some(DATA_MODE_CHANGE_RESOLUTION.to_owned());
            let crisis = crisis.clone();
            tracing::info!(org = %self.org.id, id = %crisis.id, "crisis closed by a data-mode change");
            self.persist_crisis(&crisis);
            self.notify_webhooks("crisis:resolved", &crisis);
            // Still in the old epoch: a connected client learns the crisis ended.
            self.emit(events::CRISIS_RESOLVED, None, &resolved_payload(&crisis));
        }
        self.recent.clear();
        self.kpis = None;
        self.counters = StreamCounters::default();
        self.campaigns.clear();
        self.latest_kpi_frame = None;
        self.latest_campaign_frame = None;
        self.ring.clear();
        self.ring_bytes = 0;
        self.epoch = new_epoch();
        self.dashboard_cache.clear();
        if let Some(mode) = data_mode {
            let data = serde_json::Value::String(mode.as_str().to_owned());
            self.emit(events::DATA_MODE_CHANGE, None, &data);
        }
    }

    fn apply_mentions(&mut self, mentions: Vec<ScoredMention>) {
        for chunk in mentions.chunks(MENTIONS_PER_FRAME) {
            let earliest = chunk.iter().map(|m| m.ingested_at_us).min();
            self.emit(events::MENTION_STREAM, earliest, &chunk);
        }
        for mention in mentions {
            if self.recent.len() == self.recent_capacity {
                self.recent.pop_front();
            }
            self.recent.push_back((self.next_mention_id, mention));
            self.next_mention_id += 1;
        }
    }

    fn active_crisis_mut(&mut self, kind: CrisisKind) -> Option<&mut CrisisEvent> {
        self.crises
            .iter_mut()
            .rev()
            .find(|c| c.kind == kind && c.status != CrisisStatus::Resolved)
    }

    fn apply_crisis(&mut self, signal: CrisisSignal) {
        self.dashboard_cache.clear();
        match signal {
            CrisisSignal::Raised {
                kind,
                severity,
                mut evidence,
                at,
            } => {
                evidence.sample_external_ids = self.crisis_samples(at);
                // An incident of this kind is still open (e.g. recovered after a restart,
                // whose detectors start afresh): it continues, it is not a new crisis.
                if let Some(open) = self.active_crisis_mut(kind) {
                    open.severity = open.severity.max(severity);
                    open.metadata = evidence;
                    let crisis = open.clone();
                    self.persist_crisis(&crisis);
                    self.notify_webhooks("crisis:escalated", &crisis);
                    self.emit(events::CRISIS_UPDATED, None, &crisis);
                    return;
                }
                let crisis = CrisisEvent {
                    id: Uuid::new_v4(),
                    org: self.org.id.clone(),
                    kind,
                    severity,
                    status: CrisisStatus::Active,
                    detected_at: at,
                    acknowledged_at: None,
                    resolved_at: None,
                    resolution: None,
                    metadata: evidence,
                };
                tracing::warn!(org = %self.org.id, kind = kind.as_str(), severity, id = %crisis.id, "crisis detected");
                self.remember_crisis(crisis.clone());
                self.persist_crisis(&crisis);
                self.notify_webhooks("crisis:detected", &crisis);
                self.emit(events::CRISIS_DETECTED, None, &crisis);
            }
            CrisisSignal::Escalated {
                kind,
                severity,
                mut evidence,
            } => {
                evidence.sample_external_ids = self.crisis_samples(self.clock.now());
                if let Some(crisis) = self.active_crisis_mut(kind) {
                    crisis.severity = crisis.severity.max(severity);
                    crisis.metadata = evidence;
                    let crisis = crisis.clone();
                    self.persist_crisis(&crisis);
                    self.notify_webhooks("crisis:escalated", &crisis);
                    self.emit(events::CRISIS_UPDATED, None, &crisis);
                }
            }
            CrisisSignal::Cleared { kind, at } => {
                if let Some(crisis) = self.active_crisis_mut(kind) {
                    crisis.status = CrisisStatus::Resolved;
                    crisis.resolved_at = Some(at);
                    crisis.resolution = Some("auto".to_owned());
                    let crisis = crisis.clone();
                    tracing::info!(org = %self.org.id, id = %crisis.id, "crisis cleared");
                    self.persist_crisis(&crisis);
                    self.notify_webhooks("crisis:resolved", &crisis);
                    self.emit(events::CRISIS_RESOLVED, None, &resolved_payload(&crisis));
                }
            }
        }
    }

    /// A crisis's sample mentions: the most negative of the last 15 minutes that this
    /// actor still holds, worst first, then by reach. The dataflow's windows keep no
    /// mention, so the detectors leave the samples to the actor.
    fn crisis_samples(&self, at: DateTime<Utc>) -> Vec<String> {
        let since = at - chrono::Duration::minutes(CRISIS_SAMPLE_SPAN_MINUTES);
        let mut negative: Vec<&ScoredMention> = self
            .recent
            .iter()
            .map(|(_, m)| m)
            .filter(|m| {
                m.mention.event_time >= since
                    && m.sentiment.compound <= warroom_engine::sentiment_class::NEGATIVE
            })
            .collect();
        negative.sort_by(|a, b| {
            a.sentiment
                .compound
                .total_cmp(&b.sentiment.compound)
                .then(b.mention.author.reach.cmp(&a.mention.author.reach))
        });
        negative
            .into_iter()
            .take(CRISIS_SAMPLES)
            .map(|m| m.mention.external_id.clone())
            .collect()
    }

    /// Offers a crisis event to the outgoing webhooks (a `try_send`: never waits).
    fn notify_webhooks(&self, event: &'static str, crisis: &CrisisEvent) {
        if let Some(queue) = &self.webhooks {
            queue.offer(crate::webhook::WebhookEvent {
                org: self.org.id.clone(),
                event,
                data: serde_json::to_value(crisis).unwrap_or_default(),
                at: self.clock.now(),
            });
        }
    }

    /// Writes a crisis behind the push path; retried a few times, then logged.
    fn persist_crisis(&self, crisis: &CrisisEvent) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let crisis = crisis.clone();
        tokio::spawn(async move {
            let mut delay = std::time::Duration::from_millis(100);
            for attempt in 1..=5 {
                match store.upsert_crisis(&crisis).await {
                    Ok(_) => return,
                    Err(e) if attempt == 5 => {
                        tracing::error!(id = %crisis.id, error = %e, "crisis not persisted after 5 attempts")
                    }
                    Err(_) => {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        });
    }

    fn remember_crisis(&mut self, crisis: CrisisEvent) {
        if self.crises.len() >= CRISIS_HISTORY {
            if let Some(index) = self
                .crises
                .iter()
                .position(|c| c.status == CrisisStatus::Resolved)
            {
                self.crises.remove(index);
            }
        }
        self.crises.push_back(crisis);
    }

    fn alert_action(&mut self, id: Uuid, action: AlertAction) -> Result<CrisisEvent, AlertError> {
        let now = self.clock.now();
        let crisis = self
            .crises
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or(AlertError::NotFound(id))?;
        let conflict = |status, action| Err(AlertError::Conflict { id, status, action });
        match (action, crisis.status) {
            (AlertAction::Acknowledge, CrisisStatus::Active) => {
                crisis.status = CrisisStatus::Acknowledged;
                crisis.acknowledged_at = Some(now);
            }
            // Acknowledging twice is harmless: idempotent.
            (AlertAction::Acknowledge, CrisisStatus::Acknowledged) => return Ok(crisis.clone()),
            (AlertAction::Acknowledge, status) => return conflict(status, "acknowledge"),
            (AlertAction::Resolve, CrisisStatus::Active | CrisisStatus::Acknowledged) => {
                crisis.status = CrisisStatus::Resolved;
                crisis.resolved_at = Some(now);
                crisis.resolution = Some("manual".to_owned());
            }
            (AlertAction::Resolve, status) => return conflict(status, "resolve"),
        }
        let crisis = crisis.clone();
        self.dashboard_cache.clear();
        self.persist_crisis(&crisis);
        match action {
            AlertAction::Acknowledge => {
                self.notify_webhooks("crisis:acknowledged", &crisis);
                self.emit(events::CRISIS_UPDATED, None, &crisis)
            }
            AlertAction::Resolve => {
                self.notify_webhooks("crisis:resolved", &crisis);
                self.emit(events::CRISIS_RESOLVED, None, &resolved_payload(&crisis))
            }
        }
        Ok(crisis)
    }

    fn active_crises(&self) -> Vec<CrisisEvent> {
        self.crises
            .iter()
            .filter(|c| c.status != CrisisStatus::Resolved)
            .cloned()
            .collect()
    }

    fn snapshot(&self, window: Window) -> KpiSnapshot {
        self.kpis
            .as_ref()
            .and_then(|k| k.iter().find(|s| s.window == window).cloned())
            .unwrap_or_else(|| empty_snapshot(window, self.clock.now()))
    }

    fn kpi_update_data(&self) -> KpiUpdateData {
        let snapshot = |w| self.snapshot(w);
        let windows = Window::ALL
            .iter()
            .map(|w| {
                let s = snapshot(*w);
                (
                    w.as_str().to_owned(),
                    WindowFigures {
                        mention_count: s.mention_count,
                        avg_sentiment: s.avg_sentiment,
                        negative_share: s.negative_share,
                        positive_share: s.positive_share,
                        strongly_negative: s.strongly_negative,
                    },
                )
            })
            .collect();
        let h1 = snapshot(Window::H1);
        let m15 = snapshot(Window::M15);
        KpiUpdateData {
            as_of: h1.as_of,
            mentions_24h: snapshot(Window::H24).mention_count,
            avg_sentiment: snapshot(Window::D7).avg_sentiment,
            active_crises: self.active_crises().len() as u64,
            windows,
            volume_1h: h1.volume.iter().map(|p| p.count).collect(),
            volume_1h_negative: h1.volume.iter().map(|p| p.negative).collect(),
            volume_1h_positive: h1.volume.iter().map(|p| p.positive).collect(),
            by_source_15m: m15.by_source,
            trending_1h: h1.trending,
            counters: self.counters,
        }
    }

    fn campaign_totals(&self) -> CampaignTotals {
        let mut t = CampaignTotals {
            campaigns: self.campaigns.len(),
            ..CampaignTotals::default()
        };
        for c in &self.campaigns {
            t.impressions += c.impressions;
            t.clicks += c.clicks;
            t.spend += c.spend;
            t.conversions += c.conversions;
        }
        let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        t.ctr = ratio(t.clicks as f64, t.impressions as f64);
        t.cpc = ratio(t.spend, t.clicks as f64);
        t.cpa = ratio(t.spend, t.conversions);
        t
    }

    fn dashboard(&mut self, window: Window) -> Bytes {
        if let Some(cached) = self.dashboard_cache.get(window) {
            return cached;
        }
        let view = DashboardView {
            org: self.org.id.clone(),
            window,
            as_of: self.snapshot(Window::H1).as_of,
            mentions_24h: self.snapshot(Window::H24).mention_count,
            avg_sentiment: self.snapshot(Window::D7).avg_sentiment,
            active_crises: self.active_crises().len() as u64,
            kpis: self.snapshot(window),
            crises: self.active_crises(),
            campaigns: self.campaign_totals(),
            counters: self.counters,
            seq: self.seq,
            epoch: self.epoch.clone(),
        };
        let bytes = Bytes::from(serde_json::to_vec(&view).unwrap_or_default());
        // Only cache when the view cannot change without an update that clears the cache.
        if self.kpis.is_some() {
            self.dashboard_cache.put(window, bytes.clone());
        }
        bytes
    }

    fn mentions(&self, query: &MentionQuery) -> MentionPage {
        let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
        let mut items = Vec::with_capacity(limit);
        let mut next_cursor = None;
        for (id, m) in self.recent.iter().rev() {
            if query.cursor.is_some_and(|c| *id >= c) {
                continue;
            }
            let keep = query.source.is_none_or(|s| s == m.mention.source)
                && query
                    .sentiment
                    .is_none_or(|c| c == SentimentClass::of(m.sentiment.compound))
                && query.from.is_none_or(|f| m.mention.event_time >= f)
                && query.to.is_none_or(|t| m.mention.event_time < t);
            if !keep {
                continue;
            }
            if items.len() == limit {
                next_cursor = items.last().map(|(id, _): &(u64, ScoredMention)| *id);
                break;
            }
            items.push((*id, m.clone()));
        }
        MentionPage {
            items: items.into_iter().map(|(_, m)| m).collect(),
            next_cursor,
            retained: self.recent.len(),
        }
    }

    fn subscribe(&mut self, request: SubscribeRequest) -> SubscribeOutcome {
        let channels = if request.channels.is_empty() {
            Channel::ALL.to_vec()
        } else {
            request.channels.clone()
        };
        let channel_mask = mask(&channels);
        let wants = |f: &EncodedFrame| f.channel.is_none_or(|c| channel_mask & c.bit() != 0);
        // Resume works when the epoch matches and nothing after last_seq left the ring.
        let oldest = self.ring.front().map_or(self.seq + 1, |e| e.seq);
        let (recovered, replay): (bool, Vec<EncodedFrame>) = match &request.resume {
            None => (true, Vec::new()),
            Some((epoch, last_seq)) => {
                let epoch_ok = epoch.as_deref().is_none_or(|e| e == self.epoch);
                if epoch_ok && *last_seq <= self.seq && last_seq + 1 >= oldest {
                    let frames = self
                        .ring
                        .iter()
                        .filter(|e| e.seq > *last_seq)
                        .filter_map(|e| e.frame.clone())
                        .filter(|f| wants(f))
                        .collect();
                    (true, frames)
                } else {
                    (false, Vec::new())
                }
            }
        };
        let outcome = SubscribeOutcome {
            epoch: self.epoch.clone(),
            seq: self.seq,
            recovered,
            replayed: replay.len() as u64,
        };
        let subscribed = SubscribedData {
            epoch: outcome.epoch.clone(),
            seq: outcome.seq,
            recovered,
            replayed: outcome.replayed,
            channels,
        };
        let control = EncodedFrame {
            seq: 0,
            channel: None,
            class: FrameClass::Critical,
            bytes: outbox::encode(
                events::SUBSCRIBED,
                &self.org.id,
                0,
                self.clock.now(),
                None,
                &subscribed,
            ),
        };
        let mut initial = vec![control];
        if request.resume.is_some() {
            initial.extend(replay);
        } else {
            // A fresh client gets the current snapshots at once instead of waiting a tick.
            initial.extend(
                [&self.latest_kpi_frame, &self.latest_campaign_frame]
                    .into_iter()
                    .flatten()
                    .filter(|f| wants(f))
                    .cloned(),
            );
        }
        request.outbox.push_replay(initial);
        self.subscribers
            .retain(|s| s.session_id != request.session_id);
        self.subscribers.push(Subscriber {
            session_id: request.session_id,
            channels: channel_mask,
            outbox: request.outbox,
        });
        outcome
    }
}

/// The resolution of a crisis closed because the data mode changed.
pub const DATA_MODE_CHANGE_RESOLUTION: &str = "data_mode_change";

/// A fresh stream epoch (12 hex digits).
fn new_epoch() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn resolved_payload(crisis: &CrisisEvent) -> serde_json::Value {
    // The seed names `{ id, resolvedAt }`; the full crisis rides along.
    serde_json::json!({ "id": crisis.id, "resolvedAt": crisis.resolved_at, "crisis": crisis })
}

/// A snapshot with no data, for organisations that have not received any yet.
pub fn empty_snapshot(window: Window, now: DateTime<Utc>) -> KpiSnapshot {
    KpiSnapshot {
        window,
        as_of: now,
        mention_count: 0,
        avg_sentiment: None,
        negative_share: 0.0,
        positive_share: 0.0,
        neutral_share: 0.0,
        strongly_negative: 0,
        volume: Vec::new(),
        volume_resolution_secs: if window.minutes() <= 60 { 60 } else { 3600 },
        by_source: Vec::new(),
        top_countries: Vec::new(),
        top_influencers: Vec::new(),
        trending: Vec::new(),
    }
}

impl Actor for OrgActor {
    type Msg = OrgMsg;
    type State = OrgState;
    type Arguments = OrgArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<OrgMsg>,
        args: OrgArgs,
    ) -> Result<OrgState, ActorProcessingErr> {
        Ok(OrgState::new(args))
    }

    async fn handle(
        &self,
        _myself: ActorRef<OrgMsg>,
        message: OrgMsg,
        state: &mut OrgState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            OrgMsg::Update(update) => {
                state.pending.fetch_sub(1, Ordering::AcqRel);
                state.apply(update);
            }
            OrgMsg::System { event, data } => state.emit(event, None, &data),
            OrgMsg::Subscribe(request, reply) => {
                let outcome = state.subscribe(request);
                let _ = reply.send(outcome);
            }
            OrgMsg::Unsubscribe(session_id) => {
                state.subscribers.retain(|s| s.session_id != session_id)
            }
            OrgMsg::Dashboard(window, reply) => {
                let _ = reply.send(state.dashboard(window));
            }
            OrgMsg::Kpis(window, reply) => {
                let _ = reply.send(state.snapshot(window));
            }
            OrgMsg::Mentions(query, reply) => {
                let _ = reply.send(state.mentions(&query));
            }
            OrgMsg::Campaigns(reply) => {
                let _ = reply.send(state.campaigns.clone());
            }
            OrgMsg::Alerts(query, reply) => {
                let list = state
                    .crises
                    .iter()
                    .rev()
                    .filter(|c| query.status.is_none_or(|s| s == c.status))
                    .cloned()
                    .collect();
                let _ = reply.send(list);
            }
            OrgMsg::AlertAction(id, action, reply) => {
                let _ = reply.send(state.alert_action(id, action));
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<OrgMsg>,
        state: &mut OrgState,
    ) -> Result<(), ActorProcessingErr> {
        // Sockets of a stopped organisation actor must reconnect (and will find a new epoch).
        for sub in state.subscribers.drain(..) {
            sub.outbox.close(1012, "organisation restarting");
        }
        tracing::debug!(org = %state.id(), "organisation actor stopped");
        Ok(())
    }
}

/// The dataflow's way into the organisation actors: an update is a non-blocking send to
/// the organisation's mailbox, counted in [`crate::push::directory::OrgEntry::pending`]
/// until the actor handles it.
impl UpdateSink for OrgDirectory {
    fn publish(&self, org: &OrgId, update: OrgUpdate) {
        let Some(entry) = self.get(org) else {
            tracing::warn!(%org, "update for an unknown organisation dropped");
            return;
        };
        match entry.actor() {
            Some(actor) => {
                entry.pending.fetch_add(1, Ordering::AcqRel);
                if actor.send_message(OrgMsg::Update(update)).is_err() {
                    entry.pending.fetch_sub(1, Ordering::AcqRel);
                    tracing::warn!(%org, "organisation actor is down; update dropped");
                }
            }
            None => tracing::warn!(%org, "organisation actor not running; update dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_engine::clock::SystemClock;
    use warroom_engine::model::{Author, CrisisEvidence, Mention, SentimentScores};
    use warroom_engine::DataMode;

    fn open_crisis(org: &OrgId) -> CrisisEvent {
        CrisisEvent {
            id: Uuid::new_v4(),
            org: org.clone(),
            kind: CrisisKind::NegativeSurge,
            severity: 3,
            status: CrisisStatus::Active,
            detected_at: Utc::now(),
            acknowledged_at: None,
            resolved_at: None,
            resolution: None,
            metadata: CrisisEvidence {
                strongly_negative_15m: 30,
                threshold: 20,
                mentions_15m: 100,
                baseline_per_minute: 1.0,
                observed_per_minute: 7.0,
                z_score: 5.0,
                avg_sentiment_15m: Some(-0.7),
                top_sources: vec![Source::Twitter],
                top_terms: vec!["outage".to_owned()],
                sample_external_ids: vec!["m-1".to_owned()],
            },
        }
    }

    fn scored(org: &OrgId, id: &str) -> ScoredMention {
        ScoredMention {
            org: org.clone(),
            mention: Mention {
                external_id: id.to_owned(),
                source: Source::Twitter,
                content: "a text".into(),
                author: Author::default(),
                country: None,
                region: None,
                language: None,
                hashtags: vec![],
                url: None,
                event_time: Utc::now(),
                source_sentiment: None,
            },
            sentiment: SentimentScores::default(),
            ingested_at_us: 0,
        }
    }

    fn events_of(outbox: &Outbox) -> Vec<serde_json::Value> {
        outbox
            .take(usize::MAX)
            .frames
            .iter()
            .map(|bytes| {
                // Skip the server frame's header (unmasked text frame).
                let header = match bytes[1] {
                    126 => 4,
                    127 => 10,
                    _ => 2,
                };
                serde_json::from_slice(&bytes[header..]).unwrap()
            })
            .collect()
    }

    /// An organisation actor "Acme" with no store, and its pending-update counter.
    async fn spawn_org(
        org: &OrgId,
        crises: Vec<CrisisEvent>,
    ) -> (
        ActorRef<OrgMsg>,
        tokio::task::JoinHandle<()>,
        Arc<AtomicUsize>,
    ) {
        let pending = Arc::new(AtomicUsize::new(0));
        let args = OrgArgs {
            org: Organization {
                id: org.clone(),
                name: "Acme".into(),
            },
            push: warroom_engine::Config::defaults().push,
            recent_capacity: 100,
            clock: Arc::new(SystemClock),
            pending: Arc::clone(&pending),
            store: None,
            crises,
            dashboard: Arc::new(DashboardCache::default()),
            webhooks: None,
            metrics: Arc::default(),
        };
        let (actor, handle) = Actor::spawn(None, OrgActor, args).await.unwrap();
        (actor, handle, pending)
    }

    fn scored_with(
        org: &OrgId,
        id: &str,
        compound: f64,
        reach: u64,
        age_minutes: i64,
    ) -> ScoredMention {
        let mut m = scored(org, id);
        m.sentiment.compound = compound;
        m.mention.author.reach = reach;
        m.mention.event_time = Utc::now() - chrono::Duration::minutes(age_minutes);
        m
    }

    /// A raised crisis quotes the most negative recent mentions, worst first and then by
    /// reach, leaving out positive ones and those older than the detectors' span.
    #[tokio::test]
    async fn a_raised_crisis_quotes_the_most_negative_recent_mentions() {
        let org = OrgId::new("acme");
        let (actor, handle, pending) = spawn_org(&org, vec![]).await;
        let mut mentions = vec![
            scored_with(&org, "glad", 0.8, 1_000_000, 1),
            scored_with(&org, "old-worst", -0.99, 10, 20),
            scored_with(&org, "bad-small", -0.9, 10, 1),
            scored_with(&org, "bad-big", -0.9, 5_000, 2),
            scored_with(&org, "worst", -0.95, 1, 3),
            scored_with(&org, "meh", -0.1, 1, 1),
        ];
        for i in 0..6 {
            mentions.push(scored_with(&org, &format!("mild-{i}"), -0.06, 1, 1));
        }
        pending.fetch_add(2, Ordering::AcqRel);
        actor
            .send_message(OrgMsg::Update(OrgUpdate::Mentions(mentions)))
            .unwrap();
        actor
            .send_message(OrgMsg::Update(OrgUpdate::Crisis(CrisisSignal::Raised {
                kind: CrisisKind::NegativeSurge,
                severity: 5,
                evidence: CrisisEvidence::default(),
                at: Utc::now(),
            })))
            .unwrap();
        let alerts = ractor::call!(actor, OrgMsg::Alerts, AlertQuery::default()).unwrap();
        assert_eq!(
            alerts[0].metadata.sample_external_ids,
            ["worst", "bad-big", "bad-small", "meh", "mild-0"]
        );
        actor.stop(None);
        handle.await.unwrap();
    }

    /// At a data-mode switch the actor keeps nothing of the old mode: recent mentions,
    /// snapshots and the resume ring are gone (a resume from before answers
    /// `recovered: false`), an open crisis is resolved as `data_mode_change`, and
    /// `system:data-mode-change` opens the new epoch.
    #[tokio::test]
    async fn a_mode_reset_drops_old_mode_state_and_closes_open_crises() {
        let org = OrgId::new("acme");
        let crisis = open_crisis(&org);
        let (actor, handle, pending) = spawn_org(&org, vec![crisis.clone()]).await;
        let limits = crate::push::outbox::OutboxLimits {
            max_frames: 1000,
            max_bytes: 1 << 24,
        };
        let live = Arc::new(Outbox::new(limits));
        let subscribe = |outbox: Arc<Outbox>, resume| {
            let actor = actor.clone();
            async move {
                ractor::call!(
                    actor,
                    OrgMsg::Subscribe,
                    SubscribeRequest {
                        session_id: 1,
                        outbox,
                        channels: vec![],
                        resume,
                    }
                )
                .unwrap()
            }
        };
        let before = subscribe(Arc::clone(&live), None).await;
        pending.fetch_add(1, Ordering::AcqRel);
        actor
            .send_message(OrgMsg::Update(OrgUpdate::Mentions(vec![scored(
                &org, "mock-1",
            )])))
            .unwrap();
        let old = ractor::call!(actor, OrgMsg::Mentions, MentionQuery::default()).unwrap();
        assert_eq!(old.items.len(), 1);
        let seq_before_reset = old_seq(&actor).await;
        events_of(&live);

        pending.fetch_add(1, Ordering::AcqRel);
        actor
            .send_message(OrgMsg::Update(OrgUpdate::Reset {
                data_mode: Some(DataMode::Live),
            }))
            .unwrap();
        let page = ractor::call!(actor, OrgMsg::Mentions, MentionQuery::default()).unwrap();
        assert!(page.items.is_empty(), "old-mode mentions still listed");
        assert_eq!(page.retained, 0);
        let alerts = ractor::call!(actor, OrgMsg::Alerts, AlertQuery::default()).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].status, CrisisStatus::Resolved);
        assert_eq!(
            alerts[0].resolution.as_deref(),
            Some(DATA_MODE_CHANGE_RESOLUTION)
        );
        assert!(alerts[0].resolved_at.is_some());
        // The connected client saw the crisis end, then the switch.
        let frames = events_of(&live);
        let names: Vec<&str> = frames.iter().filter_map(|f| f["event"].as_str()).collect();
        assert_eq!(names, ["crisis:resolved", "system:data-mode-change"]);
        assert_eq!(frames[1]["data"], "LIVE");
        assert_eq!(frames[1]["seq"], seq_before_reset + 2);

        // A resume from before the switch: new epoch, nothing replayed, refetch.
        let resumed = subscribe(
            Arc::new(Outbox::new(limits)),
            Some((Some(before.epoch.clone()), before.seq)),
        )
        .await;
        assert_ne!(resumed.epoch, before.epoch);
        assert!(!resumed.recovered);
        assert_eq!(resumed.replayed, 0);
        // A resume within the new epoch from its first frame replays nothing of the old
        // mode: the ring starts with the switch.
        let fresh = Arc::new(Outbox::new(limits));
        let within = subscribe(
            Arc::clone(&fresh),
            Some((Some(resumed.epoch.clone()), seq_before_reset + 1)),
        )
        .await;
        assert!(within.recovered);
        let replayed = events_of(&fresh);
        let names: Vec<&str> = replayed
            .iter()
            .filter_map(|f| f["event"].as_str())
            .collect();
        assert_eq!(names, ["subscribed", "system:data-mode-change"]);
        actor.stop(None);
        handle.await.unwrap();
    }

    async fn old_seq(actor: &ActorRef<OrgMsg>) -> u64 {
        let view = ractor::call!(actor, OrgMsg::Dashboard, Window::H1).unwrap();
        let view: serde_json::Value = serde_json::from_slice(&view).unwrap();
        view["seq"].as_u64().unwrap()
    }
}

//! The running engine: the dataflow, the organisation actors, the supervised sources and
//! health, started together and stopped together. The gateway holds one [`Runtime`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use ractor::{Actor, ActorRef};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use utoipa::ToSchema;
use warroom_engine::clock::SharedClock;
use warroom_engine::{Config, DataMode, HealthStatus, OrgId, Organization};
use warroom_streams::dataflow::{Dataflow, DataflowConfig, DataflowStats};

use warroom_storage::cache::{CacheKind, CacheServices};

use crate::archive::ArchiveTask;
use crate::connectors::google_ads::GoogleAds;
use crate::connectors::http::{Http, RateLimit, ResponseCache};
use crate::connectors::mentionlytics::Mentionlytics;
use crate::connectors::meta::Meta;
use crate::connectors::{
    Connector, ConnectorActor, ConnectorArgs, ConnectorFactory, ConnectorRegistry, ConnectorStatus,
};
use crate::data_mode::{DataModeMessage, DATA_MODE_CHANNEL};
use crate::directory::OrgDirectory;
use crate::health::EventLoopLag;
use crate::ingest::Ingestor;
use crate::kpi::{CommitObserver, KpiBuckets};
use crate::metrics::EngineMetrics;
use crate::org::{OrgActor, OrgArgs};
use crate::persist::{PersistConfig, Persister};
use crate::source::{backfill_history, BackfillArgs, MockSource, MockSourceArgs, SourceKind};
use crate::store::{recover_org, StoreBatches};
use crate::supervisor::{
    ChildRegistry, ChildSpec, ChildState, RestartPolicy, StartFn, Supervisor, SupervisorArgs,
    SupervisorMsg,
};
use crate::webhook::{WebhookDispatcher, WebhookQueue};

/// Health of one part of the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartHealth {
    /// Status.
    pub status: HealthStatus,
    /// What it means, in words.
    pub detail: String,
}

/// The body of `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthReport {
    /// Overall status: the worst of the parts.
    pub status: HealthStatus,
    /// Current data mode.
    pub data_mode: DataMode,
    /// Server time.
    pub timestamp: DateTime<Utc>,
    /// Engine version.
    pub version: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Per-part status.
    pub services: BTreeMap<String, PartHealth>,
    /// Every running live connector's state, by child name (`source:{org}:{kind}`).
    /// Not serialised: `/api/v1/health` is public and this report is pushed to every
    /// organisation, so per-organisation states are served to each organisation's
    /// admins by `/api/v1/admin/connectors` instead.
    #[serde(skip)]
    pub connectors: BTreeMap<String, ConnectorStatus>,
    /// Why the status is not `ok`: `"<part>: <detail>"` for each part that is not.
    pub reasons: Vec<String>,
}

impl HealthReport {
    /// The report without the parts' details (file paths, the Redis host, counts): what
    /// the public `/api/v1/health` shows to callers who are not administrators, and what
    /// is pushed to every organisation's sockets. `reasons` keeps each troubled part's
    /// name and status.
    pub fn public(mut self) -> Self {
        for part in self.services.values_mut() {
            part.detail.clear();
        }
        self.reasons = self
            .services
            .iter()
            .filter(|(_, part)| part.status != HealthStatus::Ok)
            .map(|(name, part)| format!("{name}: {}", part.status))
            .collect();
        self
    }
}

/// Mailbox depth of an organisation actor above which health says `degraded`.
const ORG_BACKLOG_DEGRADED: usize = 10_000;

/// The engine's parts, running.
pub struct Runtime {
    config: Config,
    clock: SharedClock,
    directory: Arc<OrgDirectory>,
    ingestor: Arc<Ingestor>,
    /// Behind a mutex because timely's worker guards are `Send` but not `Sync`.
    dataflow: parking_lot::Mutex<Option<Dataflow>>,
    stats: Arc<DataflowStats>,
    supervisor: ActorRef<SupervisorMsg>,
    children: Arc<ChildRegistry>,
    connectors: Arc<ConnectorRegistry>,
    data_mode: RwLock<DataMode>,
    started: DateTime<Utc>,
    next_session: AtomicU64,
    health_task: RwLock<Option<JoinHandle<()>>>,
    store: Arc<dyn warroom_storage::Store>,
    persister: Persister,
    cache: CacheServices,
    /// Identifies this node on the bus (it ignores its own data-mode messages).
    node_id: String,
    /// Serialises data-mode changes (local, from the bus, from the periodic re-read).
    mode_change: tokio::sync::Mutex<()>,
    mode_task: RwLock<Option<JoinHandle<()>>>,
    /// Minutes touched by committed mentions, whose KPI buckets are written behind.
    kpi: Arc<KpiBuckets>,
    kpi_task: parking_lot::Mutex<Option<JoinHandle<()>>>,
    metrics: Arc<EngineMetrics>,
    event_loop: Arc<EventLoopLag>,
    webhooks: WebhookQueue,
    /// The live Parquet archive (or why it is off).
    archive: ArchiveTask,
    /// The webhook dispatcher, the event-loop probe and the receipt pruner.
    background: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    /// Mock history backfills (stopped with the mock sources).
    backfills: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

impl Runtime {
    /// Starts everything the configuration describes. Must run inside a tokio runtime.
    pub async fn start(config: Config, clock: SharedClock) -> Result<Arc<Self>, String> {
        let orgs: Vec<Organization> = config
            .orgs
            .iter()
            .map(|o| Organization {
                id: OrgId::new(&o.id),
                name: o.name.clone(),
            })
            .collect();
        let org_ids: Vec<OrgId> = orgs.iter().map(|o| o.id.clone()).collect();
        let directory = Arc::new(OrgDirectory::new(orgs));

        let store = warroom_storage::open_store(&config.database.url)
            .await
            .map_err(|e| {
                format!(
                    "opening the database {}: {e}",
                    config.database.redacted_url()
                )
            })?;
        store
            .migrate()
            .await
            .map_err(|e| format!("migrating the database: {e}"))?;
        for entry in directory.iter() {
            store
                .upsert_organization(&entry.org)
                .await
                .map_err(|e| format!("registering organisation {}: {e}", entry.org.id))?;
        }

        // The persisted mode wins; the configuration only seeds an empty database.
        let data_mode = crate::data_mode::load_or_seed(store.as_ref(), config.data.mode).await?;
        let cache = warroom_storage::cache::connect(&config.redis)
            .await
            .map_err(|e| format!("redis {}: {e}", config.redis.redacted_url()))?;
        if let Err(error) = cache
            .cache
            .put_system(
                warroom_storage::sql::DATA_MODE_KEY,
                data_mode.as_str().as_bytes(),
                None,
            )
            .await
        {
            tracing::warn!(%error, "data mode not mirrored in the cache");
        }

        let children = Arc::new(ChildRegistry::default());
        let (supervisor, _) = Actor::spawn(
            None,
            Supervisor,
            SupervisorArgs {
                policy: RestartPolicy::default(),
                registry: Arc::clone(&children),
            },
        )
        .await
        .map_err(|e| format!("supervisor did not start: {e}"))?;

        let metrics = Arc::new(EngineMetrics::default());
        let (webhooks, dispatcher) =
            WebhookDispatcher::start(&config.webhooks, Arc::clone(&store), Arc::clone(&clock))?;
        let event_loop = Arc::new(EventLoopLag::default());
        let probe = tokio::spawn(crate::health::probe_event_loop(
            Arc::clone(&event_loop),
            config.health.lag_probe_interval,
        ));
        let pruner = tokio::spawn(prune_webhook_receipts(
            Arc::clone(&store),
            Arc::clone(&clock),
            config.webhooks.timestamp_tolerance,
        ));
        let org_extras = OrgExtras {
            webhooks: webhooks.clone(),
            metrics: Arc::clone(&metrics),
        };

        // Organisation actors first: the dataflow publishes to them from its first tick.
        for entry in directory.iter() {
            let spec = org_child_spec(
                &directory,
                &entry.org.id,
                &config,
                &clock,
                &store,
                &org_extras,
            );
            start_child(&supervisor, spec).await?;
        }

        let mut dataflow_config = DataflowConfig::new(&config.engine, &config.crisis);
        for org in &config.orgs {
            if let Some(threshold) = org.negative_threshold {
                dataflow_config
                    .negative_thresholds
                    .insert(OrgId::new(&org.id), threshold);
            }
        }
        let sink: Arc<dyn warroom_engine::UpdateSink> = Arc::clone(&directory) as _;
        let dataflow = Dataflow::start(dataflow_config, Arc::clone(&clock), sink)?;
        let stats = Arc::clone(dataflow.handle().stats());
        let kpi = Arc::new(KpiBuckets::default());
        let persister = Persister::start_observed(
            Arc::new(StoreBatches(Arc::clone(&store))),
            PersistConfig {
                max_queued: config.database.max_queued,
                max_batch: config.database.max_batch,
                commit_window: config.database.commit_window,
                write_timeout: config.database.write_timeout,
            },
            Some(Arc::clone(&kpi) as Arc<dyn CommitObserver>),
        );
        let ingestor = Arc::new(
            Ingestor::new(
                dataflow.handle(),
                &org_ids,
                config.engine.dedup_capacity_per_org,
                Arc::clone(&clock),
            )
            .with_persister(persister.clone(), config.database.ack_timeout),
        );
        ingestor.set_mode(data_mode);

        // Recovery: replay what the windows cover, before any source produces.
        let since = clock.now()
            - chrono::Duration::from_std(config.database.recovery_window)
                .unwrap_or_else(|_| chrono::Duration::days(7));
        let handle = dataflow.handle();
        for org in &org_ids {
            let recovered = recover_org(store.as_ref(), &handle, org, data_mode, since, |e| {
                ingestor.mark_seen(e)
            })
            .await?;
            if recovered.mentions + recovered.campaign_reports > 0 {
                tracing::info!(%org, mentions = recovered.mentions, campaign_reports = recovered.campaign_reports,
                    kpi_buckets = recovered.kpi_buckets, "recovered from the store");
            }
        }

        // After recovery (which rewrites the replayed KPI minutes); it only reads the store.
        let archive = ArchiveTask::start(&config, Arc::clone(&store), Arc::clone(&clock));
        let kpi_task = tokio::spawn(Arc::clone(&kpi).run(
            Arc::clone(&store),
            Arc::clone(&clock),
            config.database.kpi_flush_interval,
        ));
        let runtime = Arc::new(Self {
            data_mode: RwLock::new(data_mode),
            started: clock.now(),
            config,
            clock,
            directory,
            ingestor,
            dataflow: parking_lot::Mutex::new(Some(dataflow)),
            stats,
            supervisor,
            children,
            connectors: Arc::new(ConnectorRegistry::default()),
            next_session: AtomicU64::new(1),
            health_task: RwLock::new(None),
            kpi_task: parking_lot::Mutex::new(Some(kpi_task)),
            kpi,
            store,
            persister,
            cache,
            node_id: uuid::Uuid::new_v4().to_string(),
            mode_change: tokio::sync::Mutex::new(()),
            mode_task: RwLock::new(None),
            metrics,
            event_loop,
            webhooks,
            archive,
            background: parking_lot::Mutex::new(vec![dispatcher, probe, pruner]),
            backfills: parking_lot::Mutex::new(Vec::new()),
        });
        runtime.start_sources(runtime.data_mode()).await?;
        let task = tokio::spawn(crate::health::watch_health(
            Arc::downgrade(&runtime),
            runtime.config.health.interval,
        ));
        *runtime.health_task.write() = Some(task);
        let task = tokio::spawn(watch_data_mode(
            Arc::downgrade(&runtime),
            runtime.config.redis.mode_sync_interval,
        ));
        *runtime.mode_task.write() = Some(task);
        Ok(runtime)
    }

    /// Starts the sources of `mode`: the mock generators (when `mock.enabled`) or the
    /// live connectors of the organisations that configure them.
    async fn start_sources(&self, mode: DataMode) -> Result<(), String> {
        match mode {
            DataMode::Mock if self.config.mock.enabled => self.start_mock_sources().await,
            DataMode::Mock => Ok(()),
            DataMode::Live => {
                let started = self.start_connectors().await?;
                if started == 0 {
                    tracing::warn!(
                        "data mode LIVE: no organisation configures a connector; no source runs"
                    );
                }
                Ok(())
            }
        }
    }

    /// Stops every source, mock or live (before the other mode's start).
    async fn stop_sources(&self) {
        for task in self.backfills.lock().drain(..) {
            task.abort();
        }
        for org in &self.config.orgs {
            for kind in [
                SourceKind::Mentions,
                SourceKind::Meta,
                SourceKind::GoogleAds,
            ] {
                let name = source_child_name(&OrgId::new(&org.id), kind);
                let _ = self
                    .supervisor
                    .call(
                        |reply| SupervisorMsg::Stop(name.clone(), reply),
                        Some(Duration::from_secs(10)),
                    )
                    .await;
                self.connectors.remove(&name);
            }
        }
    }

    /// Switches the global data mode: persists it (the database is the system of
    /// record), applies it here (mock sources run only in MOCK), pushes
    /// `system:data-mode-change` to every organisation's sockets, and shares it with the
    /// other nodes (cache value and bus message). Returns whether the mode changed. When
    /// the database refuses the write nothing changes and the error is returned.
    pub async fn set_data_mode(&self, mode: DataMode) -> Result<bool, String> {
        let _serialised = self.mode_change.lock().await;
        crate::data_mode::persist(self.store.as_ref(), mode).await?;
        let changed = self.apply_data_mode(mode).await;
        crate::data_mode::share(&self.cache, mode, &self.node_id).await;
        Ok(changed)
    }

    /// Applies a mode decided elsewhere (bus, database), without persisting or
    /// publishing it. The caller holds `mode_change`.
    async fn apply_data_mode(&self, mode: DataMode) -> bool {
        let previous = std::mem::replace(&mut *self.data_mode.write(), mode);
        if previous == mode {
            return false;
        }
        tracing::info!(
            from = previous.as_str(),
            to = mode.as_str(),
            "data mode changed"
        );
        // Refuse the old mode's records first: a batch its sources are submitting right
        // now is either in before this returns or refused (and never acknowledged).
        // This also resets every organisation's windows (a new dataflow generation); each
        // organisation actor then drops what it holds of the old mode and pushes
        // `system:data-mode-change`, in order with the stream (see `OrgUpdate::Reset`).
        self.ingestor.set_mode(mode);
        self.stop_sources().await;
        if let Err(error) = self.start_sources(mode).await {
            tracing::error!(%error, mode = mode.as_str(), "sources did not start");
        }
        true
    }

    /// Applies a data-mode message from the bus (ignoring this node's own).
    async fn on_data_mode_message(&self, payload: &[u8]) {
        match serde_json::from_slice::<DataModeMessage>(payload) {
            Ok(message) if message.origin == self.node_id => {}
            Ok(message) => {
                let _serialised = self.mode_change.lock().await;
                self.apply_data_mode(message.mode).await;
            }
            Err(error) => tracing::warn!(%error, "unreadable data-mode message on the bus"),
        }
    }

    /// Re-reads the persisted mode and applies it if it differs (a change whose bus
    /// message this node missed, or one made with `warroom data-mode`).
    async fn sync_data_mode(&self) {
        match crate::data_mode::read(self.store.as_ref()).await {
            Ok(Some(mode)) if mode != self.data_mode() => {
                let _serialised = self.mode_change.lock().await;
                self.apply_data_mode(mode).await;
            }
            Ok(_) => {}
            // The storage part of health reports an unreachable database.
            Err(error) => tracing::debug!(%error, "data mode not re-read"),
        }
    }

    /// The cache, rate limiter and bus (Redis or in process).
    pub fn cache(&self) -> &CacheServices {
        &self.cache
    }

    /// Starts the live connectors configured per organisation; returns how many.
    async fn start_connectors(&self) -> Result<usize, String> {
        let mut started = 0;
        for org in &self.config.orgs {
            let org_id = OrgId::new(&org.id);
            let accounts = &org.connectors;
            let mut plans: Vec<(
                SourceKind,
                &'static str,
                std::time::Duration,
                ConnectorFactory,
            )> = Vec::new();
            let settings = self.config.connectors.clone();
            let skew = warroom_engine::validate::TimeBounds::from_config(&self.config.engine);
            let limiter = Arc::clone(&self.cache.limiter);
            let rate = move |vendor: &str, limit: u64, window: std::time::Duration| RateLimit {
                limiter: Arc::clone(&limiter),
                key: format!("connector:{}:{vendor}", org.id),
                limit,
                window,
            };
            // Ad reports change slowly: their responses are shared for the seed's TTL
            // (meta_insights, google_ads). Mentions are not cached: a 5-minute-old
            // answer would delay the feed, and re-reads are de-duplicated anyway.
            let response_cache = |kind: CacheKind| ResponseCache {
                cache: Arc::clone(&self.cache.cache),
                org: org_id.clone(),
                ttl: self.cache.ttl.ttl(kind),
            };
            if let Some(account) = accounts.mentionlytics.clone() {
                let (cfg, rate) = (
                    settings.clone(),
                    rate(
                        "mentionlytics",
                        settings.mentionlytics.rate_limit,
                        settings.mentionlytics.rate_window,
                    ),
                );
                let factory: ConnectorFactory = Arc::new(move || {
                    let http = Http::new(&cfg, rate.clone())?;
                    Ok(Box::new(Mentionlytics::new(
                        http,
                        cfg.mentionlytics.clone(),
                        &account,
                        skew,
                    )) as Box<dyn Connector>)
                });
                plans.push((
                    SourceKind::Mentions,
                    "mentionlytics",
                    settings.mentionlytics.poll_interval,
                    factory,
                ));
            }
            if let Some(account) = accounts.meta.clone() {
                let (cfg, rate) = (
                    settings.clone(),
                    rate("meta", settings.meta.rate_limit, settings.meta.rate_window),
                );
                let cache = response_cache(CacheKind::MetaInsights);
                let factory: ConnectorFactory = Arc::new(move || {
                    let http = Http::new(&cfg, rate.clone())?.with_cache(cache.clone());
                    Ok(Box::new(Meta::new(http, cfg.meta.clone(), &account)) as Box<dyn Connector>)
                });
                plans.push((
                    SourceKind::Meta,
                    "meta",
                    settings.meta.poll_interval,
                    factory,
                ));
            }
            if let Some(account) = accounts.google_ads.clone() {
                let (cfg, rate) = (
                    settings.clone(),
                    rate(
                        "google_ads",
                        settings.google_ads.rate_limit,
                        settings.google_ads.rate_window,
                    ),
                );
                let cache = response_cache(CacheKind::GoogleAds);
                let factory: ConnectorFactory = Arc::new(move || {
                    let http = Http::new(&cfg, rate.clone())?.with_cache(cache.clone());
                    Ok(
                        Box::new(GoogleAds::new(http, cfg.google_ads.clone(), &account))
                            as Box<dyn Connector>,
                    )
                });
                plans.push((
                    SourceKind::GoogleAds,
                    "google_ads",
                    settings.google_ads.poll_interval,
                    factory,
                ));
            }
            for (kind, vendor, poll_interval, factory) in plans {
                let name = source_child_name(&org_id, kind);
                let args = ConnectorArgs {
                    org: org_id.clone(),
                    name: name.clone(),
                    vendor,
                    factory,
                    ingestor: Arc::clone(&self.ingestor),
                    store: Arc::clone(&self.store),
                    registry: Arc::clone(&self.connectors),
                    clock: Arc::clone(&self.clock),
                    poll_interval,
                    breaker_failures: self.config.connectors.breaker_failures,
                    breaker_cool_down: self.config.connectors.breaker_cool_down,
                };
                let start: StartFn = Arc::new(move |supervisor| {
                    let args = args.clone();
                    Box::pin(async move {
                        Actor::spawn_linked(None, ConnectorActor, args, supervisor)
                            .await
                            .map(|(actor, _)| actor.get_cell())
                            .map_err(|e| e.to_string())
                    })
                });
                start_child(&self.supervisor, ChildSpec { name, start }).await?;
                started += 1;
            }
        }
        Ok(started)
    }

    /// Every live connector's state.
    pub fn connector_statuses(&self) -> BTreeMap<String, ConnectorStatus> {
        self.connectors.snapshot(self.clock.now())
    }

    async fn start_mock_sources(&self) -> Result<(), String> {
        // Decided before the live sources store anything: the history ends where they begin.
        let end = self.clock.now();
        let backfills = self.mock_backfills().await;
        for org in &self.config.orgs {
            let kinds = [
                SourceKind::Mentions,
                SourceKind::Meta,
                SourceKind::GoogleAds,
            ];
            for kind in kinds {
                if kind == SourceKind::Mentions
                    && org.mentions_per_second <= 0.0
                    && org.crises.is_empty()
                {
                    continue;
                }
                let args = MockSourceArgs {
                    org: OrgId::new(&org.id),
                    kind,
                    mentions_per_second: org.mentions_per_second,
                    crises: org.crises.clone(),
                    mock: self.config.mock.clone(),
                    started: self.started,
                    ingestor: Arc::clone(&self.ingestor),
                    clock: Arc::clone(&self.clock),
                };
                let name = source_child_name(&args.org, kind);
                let start: StartFn = Arc::new(move |supervisor| {
                    let args = args.clone();
                    Box::pin(async move {
                        Actor::spawn_linked(None, MockSource, args, supervisor)
                            .await
                            .map(|(actor, _)| actor.get_cell())
                            .map_err(|e| e.to_string())
                    })
                });
                start_child(&self.supervisor, ChildSpec { name, start }).await?;
            }
        }
        let mut tasks = self.backfills.lock();
        tasks.retain(|task| !task.is_finished());
        for (org, campaigns) in backfills {
            let args = BackfillArgs {
                org: OrgId::new(&org.id),
                mentions_per_second: org.mentions_per_second,
                mock: self.config.mock.clone(),
                end,
                campaigns,
                ingestor: Arc::clone(&self.ingestor),
                metrics: Arc::clone(&self.metrics),
            };
            // Counted from now on, not from the task's first poll.
            let running = BackfillRunning::new(Arc::clone(&self.metrics));
            tasks.push(tokio::spawn(async move {
                let _running = running;
                let org = args.org.clone();
                if let Err(error) = backfill_history(args).await {
                    tracing::warn!(%org, %error, "mock history backfill ended early");
                }
            }));
        }
        Ok(())
    }

    /// The organisations whose mock history is to be backfilled, each with whether its
    /// campaign reports are too: `[mock] backfill` and `backfill_max_mentions` non-zero, a
    /// live mock rate above zero, and no MOCK mention stored for it yet (its first start; a
    /// restart recovers the stored window instead). Campaign history also needs no MOCK
    /// campaign report stored. An organisation whose store cannot be read is skipped.
    async fn mock_backfills(&self) -> Vec<(&warroom_engine::config::OrgConfig, bool)> {
        let mock = &self.config.mock;
        if mock.backfill.is_zero() || mock.backfill_max_mentions == 0 {
            return Vec::new();
        }
        let mut due = Vec::new();
        for org in &self.config.orgs {
            if !(org.mentions_per_second.is_finite() && org.mentions_per_second > 0.0) {
                continue;
            }
            let id = OrgId::new(&org.id);
            let stored = self
                .store
                .mentions_since(&id, DataMode::Mock, DateTime::UNIX_EPOCH, None, 1)
                .await;
            match stored {
                Ok(page) if page.mentions.is_empty() => {}
                Ok(_) => {
                    tracing::debug!(org = %id, "mock history stored already; no backfill");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(org = %id, %error, "stored mentions not readable; no mock history backfill");
                    continue;
                }
            }
            let campaigns = match self.store.campaign_metrics(&id, DataMode::Mock).await {
                Ok(reports) => reports.is_empty(),
                Err(error) => {
                    tracing::warn!(org = %id, %error, "stored campaign reports not readable; no campaign history");
                    false
                }
            };
            due.push((org, campaigns));
        }
        due
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Organisations and their actors.
    pub fn directory(&self) -> &Arc<OrgDirectory> {
        &self.directory
    }

    /// The ingest entry point.
    pub fn ingestor(&self) -> &Arc<Ingestor> {
        &self.ingestor
    }

    /// Dataflow counters.
    pub fn stats(&self) -> &Arc<DataflowStats> {
        &self.stats
    }

    /// Supervised children's statuses.
    pub fn children(&self) -> &Arc<ChildRegistry> {
        &self.children
    }

    /// Counters shared with the gateway (ingest, frames, sockets, incoming webhooks).
    pub fn metrics(&self) -> &Arc<EngineMetrics> {
        &self.metrics
    }

    /// Event-loop lag as the probe measured it.
    pub fn event_loop_lag(&self) -> &Arc<EventLoopLag> {
        &self.event_loop
    }

    /// The outgoing webhook queue.
    pub fn webhooks(&self) -> &WebhookQueue {
        &self.webhooks
    }

    /// The write-behind persister's counters.
    pub fn persist_stats(&self) -> &Arc<crate::persist::PersistStats> {
        self.persister.stats()
    }

    /// Mailbox depth of every organisation actor: `(org, updates waiting)`.
    pub fn org_backlogs(&self) -> Vec<(OrgId, usize)> {
        self.directory
            .iter()
            .map(|e| (e.org.id.clone(), e.pending.load(Ordering::Acquire)))
            .collect()
    }

    /// The current data mode.
    pub fn data_mode(&self) -> DataMode {
        *self.data_mode.read()
    }

    /// A fresh session id.
    pub fn next_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Health of every part, and overall.
    pub fn health(&self) -> HealthReport {
        let mut services = BTreeMap::new();
        let workers = self.stats.workers_running.load(Ordering::Acquire);
        let in_flight = self.stats.in_flight.load(Ordering::Acquire);
        let limit = self.config.engine.max_in_flight;
        let operators = if workers < self.config.engine.workers {
            PartHealth {
                status: HealthStatus::Down,
                detail: format!(
                    "{workers} of {} timely workers running",
                    self.config.engine.workers
                ),
            }
        } else if in_flight * 5 > limit * 4 {
            PartHealth {
                status: HealthStatus::Degraded,
                detail: format!("saturated: {in_flight} of {limit} records waiting"),
            }
        } else {
            PartHealth {
                status: HealthStatus::Ok,
                detail: format!("{workers} workers, {in_flight} records waiting"),
            }
        };
        services.insert("stream_operators".to_owned(), operators);

        let mut backlog = 0;
        let mut missing = Vec::new();
        let children = self.children.snapshot();
        for entry in self.directory.iter() {
            backlog = backlog.max(entry.pending.load(Ordering::Acquire));
            // Restarting, or left stopped after its restart budget ran out.
            let supervised = children
                .get(&format!("org:{}", entry.org.id))
                .map(|c| c.state);
            if entry.actor().is_none()
                || supervised.is_some_and(|state| state != ChildState::Running)
            {
                missing.push(entry.org.id.to_string());
            }
        }
        let org_status = if !missing.is_empty() || backlog > ORG_BACKLOG_DEGRADED {
            HealthStatus::Degraded
        } else {
            HealthStatus::Ok
        };
        services.insert(
            "org_actors".to_owned(),
            PartHealth {
                status: org_status,
                detail: if missing.is_empty() {
                    format!("largest backlog {backlog} updates")
                } else {
                    format!("not running: {}", missing.join(", "))
                },
            },
        );

        let troubled: Vec<String> = children
            .iter()
            .filter(|(name, s)| name.starts_with("source:") && s.state != ChildState::Running)
            .map(|(name, s)| format!("{name} {:?}", s.state).to_lowercase())
            .collect();
        let running = children
            .iter()
            .filter(|(name, s)| name.starts_with("source:") && s.state == ChildState::Running)
            .count();
        services.insert(
            "sources".to_owned(),
            PartHealth {
                status: if troubled.is_empty() {
                    HealthStatus::Ok
                } else {
                    HealthStatus::Degraded
                },
                detail: if troubled.is_empty() {
                    format!("{running} running ({} mode)", self.data_mode().as_str())
                } else {
                    troubled.join(", ")
                },
            },
        );
        let connectors = self.connector_statuses();
        if !connectors.is_empty() {
            // Counts only: this part is public (see `HealthReport::connectors`).
            let failing = connectors.values().filter(|s| s.troubled()).count();
            let open = connectors
                .values()
                .filter(|s| s.breaker != crate::connectors::breaker::BreakerState::Closed)
                .count();
            services.insert(
                "connectors".to_owned(),
                PartHealth {
                    // A failing vendor leaves the engine serving: degraded, never down.
                    status: if failing == 0 {
                        HealthStatus::Ok
                    } else {
                        HealthStatus::Degraded
                    },
                    detail: if failing == 0 {
                        format!("{} connectors polling", connectors.len())
                    } else {
                        format!(
                            "{failing} of {} connectors failing, {open} with an open circuit breaker",
                            connectors.len()
                        )
                    },
                },
            );
        }
        services.insert("storage".to_owned(), self.storage_health());
        let cache = self.cache.health.status();
        services.insert(
            "cache".to_owned(),
            PartHealth {
                // Without Redis the engine is slower, never wrong: degraded, not down.
                status: if cache.ok {
                    HealthStatus::Ok
                } else {
                    HealthStatus::Degraded
                },
                detail: cache.detail,
            },
        );
        services.insert(
            "event_loop".to_owned(),
            self.event_loop.health(&self.config.health),
        );
        services.insert("webhooks".to_owned(), self.webhook_health());
        services.insert("archive".to_owned(), self.archive.health(self.clock.now()));
        let status = services
            .iter()
            // A database outage stops acknowledgements, not the live dashboards.
            .map(|(name, p)| {
                if name == "storage" && p.status == HealthStatus::Down {
                    HealthStatus::Degraded
                } else {
                    p.status
                }
            })
            .max_by_key(|s| match s {
                HealthStatus::Ok => 0,
                HealthStatus::Degraded => 1,
                HealthStatus::Down => 2,
            })
            .unwrap_or(HealthStatus::Ok);
        HealthReport {
            status,
            data_mode: self.data_mode(),
            timestamp: self.clock.now(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_secs: (self.clock.now() - self.started).num_seconds().max(0) as u64,
            reasons: services
                .iter()
                .filter(|(_, p)| p.status != HealthStatus::Ok)
                .map(|(name, p)| format!("{name}: {}", p.detail))
                .collect(),
            services,
            connectors,
        }
    }

    fn webhook_health(&self) -> PartHealth {
        let stats = self.webhooks.stats();
        let depth = self.webhooks.depth();
        let capacity = self.webhooks.capacity();
        let dropped = stats.dropped.load(Ordering::Relaxed);
        let detail = format!(
            "queue {depth} of {capacity}, {} pending, {} delivered, {} failed attempts, {} abandoned, {dropped} dropped (queue full)",
            stats.pending.load(Ordering::Relaxed),
            stats.delivered.load(Ordering::Relaxed),
            stats.failed_attempts.load(Ordering::Relaxed),
            stats.gave_up.load(Ordering::Relaxed),
        );
        // A full queue loses events: degraded (the engine itself is unaffected).
        let status = if depth * 5 > capacity * 4 {
            HealthStatus::Degraded
        } else {
            HealthStatus::Ok
        };
        PartHealth { status, detail }
    }

    fn storage_health(&self) -> PartHealth {
        let stats = self.persister.stats();
        let queued = stats.queued.load(Ordering::Acquire);
        let limit = self.persister.max_queued();
        let backend = format!("{:?}", self.store.backend()).to_lowercase();
        if stats.failing.load(Ordering::Acquire) {
            PartHealth {
                status: HealthStatus::Down,
                detail: format!(
                    "{backend}: writes failing ({}); {queued} records waiting, ingest answers 503 when {limit} are",
                    stats.last_error.lock().clone().unwrap_or_default()
                ),
            }
        } else if queued * 5 > limit * 4 {
            PartHealth {
                status: HealthStatus::Degraded,
                detail: format!("{backend}: slow, {queued} of {limit} records waiting"),
            }
        } else {
            PartHealth {
                status: HealthStatus::Ok,
                detail: format!(
                    "{backend}: {} records committed in {} batches",
                    stats.committed.load(Ordering::Relaxed),
                    stats.batches.load(Ordering::Relaxed)
                ),
            }
        }
    }

    /// The live Parquet archive task.
    pub fn archive(&self) -> &ArchiveTask {
        &self.archive
    }

    /// The system of record.
    pub fn store(&self) -> &Arc<dyn warroom_storage::Store> {
        &self.store
    }

    /// Sends `Crash` to a source actor (for drills and supervision tests).
    pub fn crash_source(&self, org: &OrgId, kind: SourceKind) -> bool {
        let name = source_child_name(org, kind);
        self.children
            .cell(&name)
            .map(|cell| {
                cell.send_message(crate::source::SourceMsg::Crash("drill".to_owned()))
                    .is_ok()
            })
            .unwrap_or(false)
    }

    /// Stops sources, drains the dataflow, stops the actors.
    pub async fn shutdown(&self) {
        self.children.begin_shutdown();
        if let Some(task) = self.health_task.write().take() {
            task.abort();
        }
        if let Some(task) = self.mode_task.write().take() {
            task.abort();
        }
        for task in self.background.lock().drain(..) {
            task.abort();
        }
        for task in self.backfills.lock().drain(..) {
            task.abort();
        }
        self.supervisor.stop_children(Some("shutdown".to_owned()));
        // The dataflow is dropped (and joined) by the owner of the last reference; the
        // organisation actors stop with the supervisor.
        let _ = self
            .supervisor
            .stop_and_wait(Some("shutdown".to_owned()), Some(Duration::from_secs(5)))
            .await;
        // Write the buckets of every touched minute, closed or not, before closing the
        // store (a later start would rebuild them anyway; this keeps them current).
        if let Some(task) = self.kpi_task.lock().take() {
            task.abort();
        }
        if let Err(e) = self
            .kpi
            .flush(
                self.store.as_ref(),
                DateTime::<Utc>::MAX_UTC,
                chrono::TimeDelta::zero(),
            )
            .await
        {
            tracing::warn!(error = %e, "KPI buckets not written at shutdown; the next start rebuilds them");
        }
        // A final checkpoint publishes what the archive read; it needs the store open.
        self.archive.stop().await;
        self.store.close().await;
        self.cache.close().await;
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(task) = self.kpi_task.lock().take() {
            task.abort();
        }
        if let Some(dataflow) = self.dataflow.lock().take() {
            dataflow.shutdown();
        }
    }
}

/// Counts a backfill in [`EngineMetrics::mock_backfills_running`] while it lives (an
/// aborted one included).
struct BackfillRunning(Arc<EngineMetrics>);

impl BackfillRunning {
    fn new(metrics: Arc<EngineMetrics>) -> Self {
        metrics
            .mock_backfills_running
            .fetch_add(1, Ordering::Relaxed);
        Self(metrics)
    }
}

impl Drop for BackfillRunning {
    fn drop(&mut self) {
        self.0
            .mock_backfills_running
            .fetch_sub(1, Ordering::Relaxed);
    }
}

fn source_child_name(org: &OrgId, kind: SourceKind) -> String {
    format!("source:{org}:{}", kind.as_str())
}

async fn start_child(supervisor: &ActorRef<SupervisorMsg>, spec: ChildSpec) -> Result<(), String> {
    let name = spec.name.clone();
    match supervisor
        .call(
            |reply| SupervisorMsg::Start(spec, reply),
            Some(Duration::from_secs(10)),
        )
        .await
    {
        Ok(ractor::rpc::CallResult::Success(result)) => result.map_err(|e| format!("{name}: {e}")),
        _ => Err(format!("{name}: the supervisor did not answer")),
    }
}

/// What every organisation actor is handed besides its own state.
struct OrgExtras {
    webhooks: WebhookQueue,
    metrics: Arc<EngineMetrics>,
}

fn org_child_spec(
    directory: &Arc<OrgDirectory>,
    org: &OrgId,
    config: &Config,
    clock: &SharedClock,
    store: &Arc<dyn warroom_storage::Store>,
    extras: &OrgExtras,
) -> ChildSpec {
    let webhooks = extras.webhooks.clone();
    let metrics = Arc::clone(&extras.metrics);
    let store = Arc::clone(store);
    let directory = Arc::clone(directory);
    let org = org.clone();
    let push = config.push.clone();
    let recent_capacity = config.engine.recent_mentions_per_org;
    let clock = Arc::clone(clock);
    let name = format!("org:{org}");
    let start: StartFn = Arc::new(move |supervisor| {
        let directory = Arc::clone(&directory);
        let org = org.clone();
        let push = push.clone();
        let clock = Arc::clone(&clock);
        let store = Arc::clone(&store);
        let webhooks = webhooks.clone();
        let metrics = Arc::clone(&metrics);
        Box::pin(async move {
            let entry = directory.get(&org).ok_or("organisation vanished")?;
            // A (re)started organisation actor resumes with its stored crises.
            let crises = match store.crises(&org, false).await {
                Ok(mut crises) => {
                    crises.truncate(1000);
                    crises
                }
                Err(e) => {
                    tracing::error!(%org, error = %e, "crises could not be loaded; starting without them");
                    Vec::new()
                }
            };
            let args = OrgArgs {
                org: entry.org.clone(),
                push,
                recent_capacity,
                clock,
                pending: Arc::clone(&entry.pending),
                dashboard: Arc::clone(&entry.dashboard),
                store: Some(Arc::clone(&store)),
                crises,
                webhooks: Some(webhooks),
                metrics,
            };
            let (actor, _) = Actor::spawn_linked(None, OrgActor, args, supervisor)
                .await
                .map_err(|e| e.to_string())?;
            entry.set_actor(actor.clone());
            Ok(actor.get_cell())
        })
    });
    ChildSpec { name, start }
}

/// Forgets incoming webhook receipts older than twice the timestamp tolerance, every
/// tolerance (an older delivery is refused by its timestamp before its id matters), and
/// outgoing deliveries finished more than a day ago.
async fn prune_webhook_receipts(
    store: Arc<dyn warroom_storage::Store>,
    clock: SharedClock,
    tolerance: Duration,
) {
    let mut ticks = tokio::time::interval(tolerance);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let before = clock.now()
            - chrono::Duration::from_std(tolerance * 2)
                .unwrap_or_else(|_| chrono::Duration::days(1));
        if let Err(error) = store.webhooks().prune_receipts(before).await {
            tracing::debug!(%error, "webhook receipts not pruned");
        }
        // Finished outgoing deliveries stay a day for inspection; their attempts stay in
        // the delivery log.
        if let Err(error) = store
            .webhooks()
            .prune_outbox(clock.now() - chrono::Duration::days(1))
            .await
        {
            tracing::debug!(%error, "finished webhook deliveries not pruned");
        }
    }
}

/// Applies data-mode changes from other nodes (bus) and re-reads the persisted mode every
/// `sync_interval`, which also re-subscribes after the bus was unreachable.
async fn watch_data_mode(runtime: std::sync::Weak<Runtime>, sync_interval: Duration) {
    let bus = match runtime.upgrade() {
        Some(runtime) => Arc::clone(&runtime.cache.bus),
        None => return,
    };
    let mut subscription = bus.subscribe(DATA_MODE_CHANNEL).await.ok();
    let mut sync = tokio::time::interval(sync_interval);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sync.tick().await;
    loop {
        let message = async {
            match subscription.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = message => {
                let Some(runtime) = runtime.upgrade() else { return };
                match message {
                    Some(message) => runtime.on_data_mode_message(&message.payload).await,
                    None => subscription = None,
                }
            }
            _ = sync.tick() => {
                let Some(runtime) = runtime.upgrade() else { return };
                if subscription.is_none() {
                    subscription = bus.subscribe(DATA_MODE_CHANNEL).await.ok();
                }
                runtime.sync_data_mode().await;
            }
        }
    }
}

//! Wiring: [`Runtime::start`] builds every part in order (store, cache, dataflow,
//! organisation actors, persister, archive, webhooks, health) and connects them.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use ractor::{Actor, ActorRef};
use warroom_engine::clock::SharedClock;
use warroom_engine::{Config, OrgId, Organization};
use warroom_streams::dataflow::{Dataflow, DataflowConfig};

use super::data_mode::watch_data_mode;
use super::Runtime;
use crate::metrics::EngineMetrics;
use crate::persist::archive::ArchiveTask;
use crate::persist::kpi::{CommitObserver, KpiBuckets};
use crate::persist::store::{recover_org, StoreBatches};
use crate::persist::{PersistConfig, Persister};
use crate::push::directory::OrgDirectory;
use crate::push::org::{OrgActor, OrgArgs};
use crate::runtime::health::EventLoopLag;
use crate::runtime::supervisor::{
    ChildRegistry, ChildSpec, RestartPolicy, StartFn, Supervisor, SupervisorArgs, SupervisorMsg,
};
use crate::sources::connectors::ConnectorRegistry;
use crate::sources::ingest::Ingestor;
use crate::webhook::{WebhookDispatcher, WebhookQueue};

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
        let data_mode = super::data_mode::load_or_seed(store.as_ref(), config.data.mode).await?;
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
        let probe = tokio::spawn(crate::runtime::health::probe_event_loop(
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
        let task = tokio::spawn(crate::runtime::health::watch_health(
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
}

pub(super) async fn start_child(
    supervisor: &ActorRef<SupervisorMsg>,
    spec: ChildSpec,
) -> Result<(), String> {
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
pub(super) struct OrgExtras {
    webhooks: WebhookQueue,
    metrics: Arc<EngineMetrics>,
}

pub(super) fn org_child_spec(
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
pub(super) async fn prune_webhook_receipts(
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

//! The running engine: the dataflow, the organisation actors, the supervised sources and
//! health, started together and stopped together. The gateway holds one [`Runtime`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use ractor::ActorRef;
use tokio::task::JoinHandle;
use warroom_engine::clock::SharedClock;
use warroom_engine::{Config, DataMode, OrgId};
use warroom_streams::dataflow::{Dataflow, DataflowStats};

use warroom_storage::cache::CacheServices;

use crate::metrics::EngineMetrics;
use crate::persist::archive::ArchiveTask;
use crate::persist::kpi::KpiBuckets;
use crate::persist::Persister;
use crate::push::directory::OrgDirectory;
use crate::runtime::health::EventLoopLag;
use crate::runtime::supervisor::{ChildRegistry, SupervisorMsg};
use crate::sources::connectors::ConnectorRegistry;
use crate::sources::ingest::Ingestor;
use crate::webhook::WebhookQueue;

pub mod data_mode;
pub mod health;
mod sources;
mod start;
pub mod supervisor;

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
    /// The cache, rate limiter and bus (Redis or in process).
    pub fn cache(&self) -> &CacheServices {
        &self.cache
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

    /// The live Parquet archive task.
    pub fn archive(&self) -> &ArchiveTask {
        &self.archive
    }

    /// The system of record.
    pub fn store(&self) -> &Arc<dyn warroom_storage::Store> {
        &self.store
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

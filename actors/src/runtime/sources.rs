//! Starting and stopping the sources: the mock generators (with their history
//! backfill) in MOCK mode, the live connectors in LIVE, each a child of the supervisor.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use ractor::Actor;
use warroom_engine::{DataMode, OrgId};

use warroom_storage::cache::CacheKind;

use super::start::start_child;
use super::Runtime;
use crate::metrics::EngineMetrics;
use crate::runtime::supervisor::{ChildSpec, StartFn, SupervisorMsg};
use crate::sources::actor::{
    backfill_history, BackfillArgs, MockSource, MockSourceArgs, SourceKind,
};
use crate::sources::connectors::google_ads::GoogleAds;
use crate::sources::connectors::http::{Http, RateLimit, ResponseCache};
use crate::sources::connectors::mentionlytics::Mentionlytics;
use crate::sources::connectors::meta::Meta;
use crate::sources::connectors::{Connector, ConnectorActor, ConnectorArgs, ConnectorFactory};

impl Runtime {
    /// Starts the sources of `mode`: the mock generators (when `mock.enabled`) or the
    /// live connectors of the organisations that configure them.
    pub(super) async fn start_sources(&self, mode: DataMode) -> Result<(), String> {
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
    pub(super) async fn stop_sources(&self) {
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

    /// Starts the live connectors configured per organisation; returns how many.
    pub(super) async fn start_connectors(&self) -> Result<usize, String> {
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

    pub(super) async fn start_mock_sources(&self) -> Result<(), String> {
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
    pub(super) async fn mock_backfills(&self) -> Vec<(&warroom_engine::config::OrgConfig, bool)> {
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

    /// Sends `Crash` to a source actor (for drills and supervision tests).
    pub fn crash_source(&self, org: &OrgId, kind: SourceKind) -> bool {
        let name = source_child_name(org, kind);
        self.children
            .cell(&name)
            .map(|cell| {
                cell.send_message(crate::sources::actor::SourceMsg::Crash("drill".to_owned()))
                    .is_ok()
            })
            .unwrap_or(false)
    }
}

/// Counts a backfill in [`EngineMetrics::mock_backfills_running`] while it lives (an
/// aborted one included).
pub(super) struct BackfillRunning(Arc<EngineMetrics>);

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

pub(super) fn source_child_name(org: &OrgId, kind: SourceKind) -> String {
    format!("source:{org}:{}", kind.as_str())
}

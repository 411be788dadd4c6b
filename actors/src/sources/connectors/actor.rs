//! The connector actor: polls its vendor on a schedule behind the circuit breaker,
//! submits what it mapped as LIVE records, and moves its cursor only once the engine
//! acknowledged them. It never fails on a bad response: errors are counted, logged and
//! shown in its [`ConnectorStatus`](super::ConnectorStatus); only a panic (or a drill's
//! `Crash`) stops it, and then its supervisor restarts it with backoff.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use warroom_engine::clock::SharedClock;
use warroom_engine::{CampaignMetric, DataMode, OrgId, Platform};
use warroom_storage::Store;

use super::breaker::CircuitBreaker;
use super::error::ConnectorError;
use super::status::ConnectorRegistry;
use super::{cursor, Connector, Poll};
use crate::sources::actor::SourceMsg;
use crate::sources::ingest::{IngestRefusal, Ingestor, Origin, Records};

/// Builds the vendor client (again on every restart).
pub type ConnectorFactory = Arc<dyn Fn() -> Result<Box<dyn Connector>, String> + Send + Sync>;

/// Days a campaign report's fingerprint is remembered (longer than any re-read range).
const FINGERPRINT_DAYS: i64 = 40;

/// Where connector records come from: sources of LIVE mode.
const LIVE: Origin = Origin::Source(DataMode::Live);

/// Rejected vendor records logged per poll at most (all are counted).
const REJECTIONS_LOGGED: usize = 5;

/// Arguments of a connector actor.
#[derive(Clone)]
pub struct ConnectorArgs {
    /// Organisation.
    pub org: OrgId,
    /// Its name in the supervision tree and the status registry.
    pub name: String,
    /// Vendor name (cursor key).
    pub vendor: &'static str,
    /// Builds the client.
    pub factory: ConnectorFactory,
    /// Where records go.
    pub ingestor: Arc<Ingestor>,
    /// Where the cursor is kept.
    pub store: Arc<dyn Store>,
    /// Where the status is published.
    pub registry: Arc<ConnectorRegistry>,
    /// Clock.
    pub clock: SharedClock,
    /// Time between polls.
    pub poll_interval: Duration,
    /// Consecutive failed polls that open the breaker.
    pub breaker_failures: u32,
    /// Open-breaker cool-down.
    pub breaker_cool_down: Duration,
}

/// The connector actor.
pub struct ConnectorActor;

/// Its state.
pub struct ConnectorState {
    args: ConnectorArgs,
    connector: Box<dyn Connector>,
    breaker: CircuitBreaker,
    /// `None` until read from the store.
    cursor: Option<Option<String>>,
    /// What was last submitted per (campaign, day): an unchanged restatement is not
    /// submitted again (every report is stored, so re-sending the same numbers every
    /// poll would only grow the table).
    reported: HashMap<(Platform, String, NaiveDate), u64>,
}

fn fingerprint(m: &CampaignMetric) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &m.campaign_name,
        m.impressions,
        m.reach,
        m.clicks,
        m.spend_micros,
        m.conversions.to_bits(),
        &m.currency,
    )
        .hash(&mut h);
    h.finish()
}

impl ConnectorState {
    /// One poll; returns the delay until the next.
    async fn tick(&mut self) -> Duration {
        let name = self.args.name.clone();
        let registry = Arc::clone(&self.args.registry);
        if let Err(wait) = self.breaker.allow(Instant::now()) {
            registry.update(&name, |s| s.breaker = self.breaker.state());
            return wait;
        }
        let cursor = match &self.cursor {
            Some(cursor) => cursor.clone(),
            None => match cursor::load(self.args.store.as_ref(), &self.args.org, self.args.vendor)
                .await
            {
                Ok(stored) => {
                    self.cursor = Some(stored.clone());
                    stored
                }
                Err(error) => {
                    // Without its cursor the connector would re-read its whole lookback:
                    // wait for the database instead.
                    self.note_error(&error);
                    return self.args.poll_interval;
                }
            },
        };
        let now = self.args.clock.now();
        registry.update(&name, |s| {
            s.polls += 1;
            s.breaker = self.breaker.state();
        });
        match self.connector.poll(cursor.as_deref(), now).await {
            Err(error) => self.failed(error),
            Ok(poll) => self.deliver(poll).await,
        }
    }

    fn failed(&mut self, error: ConnectorError) -> Duration {
        self.breaker.failure(Instant::now());
        let breaker = self.breaker.state();
        let failures = self.breaker.consecutive_failures();
        tracing::warn!(org = %self.args.org, vendor = self.args.vendor, kind = error.kind(),
            %error, consecutive = failures, ?breaker, "connector poll failed");
        self.args.registry.update(&self.args.name, |s| {
            s.failures += 1;
            s.consecutive_failures = failures;
            s.breaker = breaker;
            s.last_error = Some(error.to_string());
            s.last_error_at = Some(self.args.clock.now());
            match error {
                ConnectorError::Malformed(_) => s.malformed += 1,
                ConnectorError::Throttled { .. } | ConnectorError::RateLimited(_) => {
                    s.throttled += 1
                }
                _ => {}
            }
        });
        error
            .retry_after()
            .map_or(self.args.poll_interval, |asked| {
                asked.max(self.args.poll_interval)
            })
    }

    fn note_error(&self, error: &str) {
        tracing::warn!(org = %self.args.org, vendor = self.args.vendor, %error, "connector");
        self.args.registry.update(&self.args.name, |s| {
            s.last_error = Some(error.to_owned());
            s.last_error_at = Some(self.args.clock.now());
        });
    }

    async fn deliver(&mut self, poll: Poll) -> Duration {
        let org = self.args.org.clone();
        for reason in poll.rejected.iter().take(REJECTIONS_LOGGED) {
            tracing::warn!(%org, vendor = self.args.vendor, %reason, "vendor record skipped");
        }
        let today = self.args.clock.now().date_naive();
        self.reported
            .retain(|(_, _, day), _| (today - *day).num_days() <= FINGERPRINT_DAYS);
        let metrics: Vec<CampaignMetric> = poll
            .metrics
            .into_iter()
            .filter(|m| {
                self.reported
                    .get(&(m.platform, m.campaign_id.clone(), m.date))
                    != Some(&fingerprint(m))
            })
            .collect();
        let mut accepted = 0;
        if !poll.mentions.is_empty() {
            match self
                .args
                .ingestor
                .ingest(LIVE, &org, Records::Mentions(poll.mentions))
                .await
            {
                Ok(a) => accepted += a.accepted,
                Err(refusal) => return self.refused(refusal),
            }
        }
        if !metrics.is_empty() {
            match self
                .args
                .ingestor
                .ingest(LIVE, &org, Records::Campaigns(metrics.clone()))
                .await
            {
                Ok(a) => {
                    accepted += a.accepted;
                    for m in &metrics {
                        self.reported
                            .insert((m.platform, m.campaign_id.clone(), m.date), fingerprint(m));
                    }
                }
                Err(refusal) => return self.refused(refusal),
            }
        }
        // Acknowledged: only now does the cursor move.
        if let Some(next) = &poll.cursor {
            if self.cursor.as_ref().and_then(|c| c.as_deref()) != Some(next.as_str()) {
                if let Err(error) =
                    cursor::save(self.args.store.as_ref(), &org, self.args.vendor, next).await
                {
                    // Kept in memory; after a restart the re-read is de-duplicated.
                    self.note_error(&error);
                }
                self.cursor = Some(Some(next.clone()));
            }
        }
        self.breaker.success();
        let now = self.args.clock.now();
        let rejected = poll.rejected.len() as u64;
        let cursor = self.cursor.clone().flatten();
        self.args.registry.update(&self.args.name, |s| {
            s.breaker = self.breaker.state();
            s.consecutive_failures = 0;
            s.last_success = Some(now);
            s.records += accepted as u64;
            s.rejected += rejected;
            s.vendor_usage_percent = poll.usage_percent.or(s.vendor_usage_percent);
            s.cursor = cursor;
        });
        poll.pause
            .map_or(self.args.poll_interval, |p| p.max(self.args.poll_interval))
    }

    /// The engine did not take the records: the vendor is fine (no breaker), the cursor
    /// stays, and the next poll reads them again.
    fn refused(&mut self, refusal: IngestRefusal) -> Duration {
        self.note_error(&format!("records not acknowledged: {refusal}"));
        self.args.poll_interval
    }
}

impl Actor for ConnectorActor {
    type Msg = SourceMsg;
    type State = ConnectorState;
    type Arguments = ConnectorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SourceMsg>,
        args: ConnectorArgs,
    ) -> Result<ConnectorState, ActorProcessingErr> {
        let connector = (args.factory)()?;
        let now = args.clock.now();
        args.registry.register(&args.name, |s| {
            s.org = args.org.to_string();
            s.vendor = args.vendor.to_owned();
            s.started = Some(now);
            s.breaker = Default::default();
            s.consecutive_failures = 0;
        });
        myself.send_message(SourceMsg::Tick)?;
        Ok(ConnectorState {
            breaker: CircuitBreaker::new(args.breaker_failures, args.breaker_cool_down),
            args,
            connector,
            cursor: None,
            reported: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SourceMsg>,
        message: SourceMsg,
        state: &mut ConnectorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SourceMsg::Tick => {
                let delay = state.tick().await;
                // Scheduled after the poll, so a slow vendor never piles up ticks.
                myself.send_after(delay, || SourceMsg::Tick);
            }
            SourceMsg::Crash(reason) => return Err(reason.into()),
        }
        Ok(())
    }
}

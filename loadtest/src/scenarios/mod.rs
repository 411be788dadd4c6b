//! The scenarios, and what they share: run options, posting a batch, the run harness
//! (progress line and process sampling).

pub(crate) mod clients;
pub(crate) mod envelope;
pub mod fanout;
pub mod idle;
pub mod ingest;
pub mod rest;
pub mod slow;
pub mod storm;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use warroom_engine::wire::IngestAccepted;

use crate::auth::Credentials;
use crate::live::{self, Live};
use crate::procstat::{Probe, ProcFigures, Tracker};
use crate::records::RecordFactory;
use crate::report::{latency_histogram, record, IngestFigures, LatencySummary};
use crate::target::Target;

/// Longest a run may last, whatever `--duration` says: the harness must stop by itself.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Extra time clients and requests get after the run before they are abandoned.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);
/// Longest drain honoured.
pub(crate) const MAX_DRAIN: Duration = Duration::from_secs(10);
/// Most WebSocket clients of one run.
pub const MAX_CLIENTS: usize = 50_000;

/// Options every scenario takes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The (checked) server.
    pub target: Target,
    /// Organisations to spread load over (at least one).
    pub orgs: Vec<String>,
    /// How long to measure (capped at [`MAX_DURATION`]).
    pub duration: Duration,
    /// Stop ingesting after this many mentions.
    pub max_mentions: Option<u64>,
    /// Server process to sample (`/proc/<pid>`).
    pub server_pid: Option<u32>,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// Local addresses WebSocket clients connect from, round-robin (empty: the system
    /// chooses). Each source address has its own ephemeral port range, so several
    /// (127.0.0.2, 127.0.0.3, …) allow more sockets to one server port.
    pub sources: Vec<std::net::IpAddr>,
    /// Signs the per-organisation tokens sent on every request and WebSocket upgrade.
    pub credentials: Arc<Credentials>,
}

impl RunOptions {
    fn checked_duration(&self) -> anyhow::Result<Duration> {
        anyhow::ensure!(!self.orgs.is_empty(), "at least one organisation is needed");
        anyhow::ensure!(!self.duration.is_zero(), "the duration must be positive");
        Ok(self.duration.min(MAX_DURATION))
    }

    /// What the WebSocket clients of a run share, and the sender of the run's phase.
    pub(crate) async fn ws_shared(
        &self,
        factory: &RecordFactory,
        live: &Arc<Live>,
        hard_deadline: tokio::time::Instant,
        storm: Option<watch::Receiver<Option<tokio::time::Instant>>>,
        kinds: Option<Arc<clients::SeqKinds>>,
    ) -> anyhow::Result<(clients::Shared, watch::Sender<clients::Phase>)> {
        let (phase_tx, phase_rx) = watch::channel(clients::Phase::Warmup);
        let shared = clients::Shared {
            scanner: Arc::new(envelope::Scanner::new(factory.prefix())),
            phase: phase_rx,
            live: Arc::clone(live),
            hard_deadline,
            connect_slots: Arc::new(Semaphore::new(CONNECT_PARALLELISM)),
            server: self.target.socket_addr().await?,
            storm,
            kinds,
            credentials: Arc::clone(&self.credentials),
            orgs: self.orgs.iter().map(|o| Arc::from(o.as_str())).collect(),
            latency: Arc::new(clients::LatencyBook::new()),
        };
        Ok((shared, phase_tx))
    }

    /// `n` client specs spread round-robin over the organisations and source addresses.
    pub(crate) fn ws_specs(
        &self,
        n: usize,
        pace: impl Fn(usize) -> clients::Pace,
        storm_offset: impl Fn(usize) -> Option<Duration>,
    ) -> Vec<clients::Spec> {
        let urls: Vec<String> = self.orgs.iter().map(|o| self.target.ws_url(o)).collect();
        (0..n)
            .map(|i| clients::Spec {
                org: i % urls.len(),
                url: urls[i % urls.len()].clone(),
                pace: pace(i),
                source: (!self.sources.is_empty()).then(|| self.sources[i % self.sources.len()]),
                storm_offset: storm_offset(i),
                recv_buffer: None,
            })
            .collect()
    }
}

/// Simultaneous WebSocket handshakes while connecting the clients.
const CONNECT_PARALLELISM: usize = 64;

/// How one ingest request ended.
#[derive(Debug)]
pub(crate) enum Answer {
    /// 2xx with the server's counts.
    Accepted(IngestAccepted),
    /// 503: saturated; retry after this long.
    Saturated(Duration),
    /// Any other status.
    Other(u16),
    /// No answer (connection error, timeout, unreadable body).
    Transport,
}

/// Posts one JSON array of records with `authorization` (a `Bearer` header value).
pub(crate) async fn post_batch(
    client: &reqwest::Client,
    url: &str,
    authorization: &str,
    body: Vec<u8>,
) -> (Answer, Duration) {
    let sent = Instant::now();
    let answer = match client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, authorization)
        .body(body)
        .send()
        .await
    {
        Err(_) => Answer::Transport,
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                match response.json::<IngestAccepted>().await {
                    Ok(accepted) => Answer::Accepted(accepted),
                    Err(_) => Answer::Transport,
                }
            } else if status.as_u16() == 503 {
                let retry = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                // Drain the body so the connection can be reused.
                let _ = response.bytes().await;
                Answer::Saturated(Duration::from_secs(retry))
            } else {
                let _ = response.bytes().await;
                Answer::Other(status.as_u16())
            }
        }
    };
    (answer, sent.elapsed())
}

/// An HTTP client for ingest: a keep-alive pool of `connections`, bounded timeouts.
pub(crate) fn http_client(connections: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Ingest results accumulated by one task, merged at the end.
#[derive(Debug)]
pub(crate) struct IngestTally {
    pub(crate) requests: u64,
    pub(crate) acked_requests: u64,
    pub(crate) mentions_sent: u64,
    pub(crate) mentions_accepted: u64,
    pub(crate) duplicates: u64,
    pub(crate) status_503: u64,
    pub(crate) other_non_2xx: u64,
    pub(crate) transport_errors: u64,
    pub(crate) batches_skipped: u64,
    pub(crate) other_statuses: BTreeMap<u16, u64>,
    pub(crate) latency: Histogram<u64>,
}

impl IngestTally {
    pub(crate) fn new() -> Self {
        Self {
            requests: 0,
            acked_requests: 0,
            mentions_sent: 0,
            mentions_accepted: 0,
            duplicates: 0,
            status_503: 0,
            other_non_2xx: 0,
            transport_errors: 0,
            batches_skipped: 0,
            other_statuses: BTreeMap::new(),
            latency: latency_histogram(),
        }
    }

    /// Counts one request of `sent` records.
    pub(crate) fn apply(&mut self, sent: usize, answer: &Answer, took: Duration, live: &Live) {
        self.requests += 1;
        self.mentions_sent += sent as u64;
        match answer {
            Answer::Accepted(a) => {
                self.acked_requests += 1;
                self.mentions_accepted += a.accepted as u64;
                self.duplicates += a.duplicates as u64;
                Live::inc(&live.acked_requests);
                live.acked_mentions
                    .fetch_add(a.accepted as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Answer::Saturated(_) => {
                self.status_503 += 1;
                Live::inc(&live.failed_requests);
            }
            Answer::Other(status) => {
                self.other_non_2xx += 1;
                *self.other_statuses.entry(*status).or_default() += 1;
                Live::inc(&live.failed_requests);
            }
            Answer::Transport => {
                self.transport_errors += 1;
                Live::inc(&live.failed_requests);
            }
        }
        if !matches!(answer, Answer::Transport) {
            record(
                &mut self.latency,
                i64::try_from(took.as_micros()).unwrap_or(i64::MAX),
            );
        }
    }

    pub(crate) fn merge(&mut self, other: &IngestTally) {
        self.requests += other.requests;
        self.acked_requests += other.acked_requests;
        self.mentions_sent += other.mentions_sent;
        self.mentions_accepted += other.mentions_accepted;
        self.duplicates += other.duplicates;
        self.status_503 += other.status_503;
        self.other_non_2xx += other.other_non_2xx;
        self.transport_errors += other.transport_errors;
        self.batches_skipped += other.batches_skipped;
        for (status, n) in &other.other_statuses {
            *self.other_statuses.entry(*status).or_default() += n;
        }
        // Same bounds on both sides, so adding cannot fail; saturate rather than panic.
        let _ = self.latency.add(&other.latency);
    }

    pub(crate) fn figures(&self, elapsed: Duration) -> IngestFigures {
        let secs = elapsed.as_secs_f64().max(1e-9);
        IngestFigures {
            requests: self.requests,
            acked_requests: self.acked_requests,
            mentions_sent: self.mentions_sent,
            mentions_accepted: self.mentions_accepted,
            duplicates: self.duplicates,
            status_503: self.status_503,
            other_non_2xx: self.other_non_2xx,
            transport_errors: self.transport_errors,
            batches_skipped: self.batches_skipped,
            other_statuses: self.other_statuses.clone(),
            acked_requests_per_s: self.acked_requests as f64 / secs,
            accepted_mentions_per_s: self.mentions_accepted as f64 / secs,
            request_latency: LatencySummary::of(&self.latency),
        }
    }
}

/// Progress line and process sampling around the measured part of a run.
pub(crate) struct Harness {
    pub(crate) started: Instant,
    stop: watch::Sender<bool>,
    progress: JoinHandle<Option<Tracker>>,
    me: Option<Tracker>,
}

impl Harness {
    /// Takes the start samples and starts the progress line.
    pub(crate) fn start(options: &RunOptions, live: Arc<Live>) -> anyhow::Result<Self> {
        let server = options
            .server_pid
            .map(|pid| {
                Tracker::start(Probe::pid(pid))
                    .with_context(|| format!("sampling --server-pid {pid}"))
            })
            .transpose()?;
        // Sampling ourselves is best effort: it only annotates the report.
        let me = Tracker::start(Probe::this_process()).ok();
        let started = Instant::now();
        let (stop, stopped) = watch::channel(false);
        let progress = tokio::spawn(live::progress(
            live,
            started,
            options.progress,
            server,
            stopped,
        ));
        Ok(Self {
            started,
            stop,
            progress,
            me,
        })
    }

    /// Stops the progress line and takes the end samples: (server, load tester).
    pub(crate) async fn finish(self) -> (Option<ProcFigures>, Option<ProcFigures>) {
        let _ = self.stop.send(true);
        let server = match self.progress.await {
            Ok(Some(tracker)) => match tracker.finish() {
                Ok(figures) => Some(figures),
                Err(e) => {
                    eprintln!("warning: end sample of the server failed: {e:#}");
                    None
                }
            },
            _ => None,
        };
        let me = self.me.and_then(|t| t.finish().ok());
        (server, me)
    }
}

/// An open-loop ingest load: `rate` mentions/s in requests of `batch`, at most
/// `max_in_flight` requests outstanding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenLoop {
    /// Mentions per second, all organisations together (0: none).
    pub(crate) rate: f64,
    /// Records per request.
    pub(crate) batch: usize,
    /// Requests outstanding at most; a batch due beyond that is skipped and counted.
    pub(crate) max_in_flight: usize,
}

impl OpenLoop {
    /// Refuses values that make no sense.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.rate >= 0.0 && self.rate <= 1_000_000.0,
            "--rate must be within 0..=1000000"
        );
        anyhow::ensure!(self.batch >= 1, "--batch must be at least 1");
        anyhow::ensure!(
            self.max_in_flight >= 1,
            "--max-in-flight must be at least 1"
        );
        Ok(())
    }
}

/// Sends `load.rate` mentions/s in batches, round-robin over the organisations, for
/// `duration`. Returns the tally, accepted mentions per organisation, and the time taken.
pub(crate) async fn open_loop_ingest(
    options: &RunOptions,
    load: &OpenLoop,
    factory: &RecordFactory,
    live: &Arc<Live>,
    duration: Duration,
) -> anyhow::Result<(IngestTally, Vec<u64>, Duration)> {
    let mut tally = IngestTally::new();
    let mut per_org = vec![0u64; options.orgs.len()];
    let started = tokio::time::Instant::now();
    if load.rate <= 0.0 {
        tokio::time::sleep(duration).await;
        return Ok((tally, per_org, started.elapsed()));
    }
    let client = http_client(load.max_in_flight)?;
    let urls: Vec<String> = options
        .orgs
        .iter()
        .map(|org| options.target.ingest_url(org))
        .collect();
    let deadline = started + duration;
    let period = Duration::from_secs_f64(load.batch as f64 / load.rate);
    let mut ticker = tokio::time::interval(period);
    // Catch up after a hiccup of the load tester itself, so the offered rate holds.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let in_flight = Arc::new(Semaphore::new(load.max_in_flight));
    let mut requests = tokio::task::JoinSet::new();
    let mut sent: u64 = 0;
    let mut batch_no: usize = 0;
    // The loop is bounded by the deadline (and by --max-mentions).
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        while let Some(done) = requests.try_join_next() {
            apply(&mut tally, &mut per_org, done, live);
        }
        let n = match options.max_mentions {
            Some(max) if sent >= max => break,
            Some(max) => load.batch.min((max - sent) as usize),
            None => load.batch,
        };
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            tally.batches_skipped += 1;
            continue;
        };
        let org = batch_no % urls.len();
        batch_no += 1;
        sent += n as u64;
        let body = serde_json::to_vec(&factory.batch(n)).context("encoding a batch")?;
        let (client, url) = (client.clone(), urls[org].clone());
        let authorization = options.credentials.bearer(&options.orgs[org]);
        requests.spawn(async move {
            let (answer, took) = post_batch(&client, &url, &authorization, body).await;
            drop(permit);
            (org, n, answer, took)
        });
    }
    let elapsed = started.elapsed();
    let give_up = tokio::time::Instant::now() + STOP_GRACE;
    while let Ok(Some(done)) = tokio::time::timeout_at(give_up, requests.join_next()).await {
        apply(&mut tally, &mut per_org, done, live);
    }
    // Whatever is still outstanding after the grace period is abandoned (and counted).
    tally.transport_errors += requests.len() as u64;
    requests.abort_all();
    Ok((tally, per_org, elapsed))
}

type Done = Result<(usize, usize, Answer, Duration), tokio::task::JoinError>;

fn apply(tally: &mut IngestTally, per_org: &mut [u64], done: Done, live: &Live) {
    match done {
        Ok((org, n, answer, took)) => {
            if let Answer::Accepted(a) = &answer {
                per_org[org] += a.accepted as u64;
            }
            tally.apply(n, &answer, took, live);
        }
        Err(_) => tally.transport_errors += 1,
    }
}

/// Posts `n` strongly negative mentions to `org` in one request: enough of them (more
/// than the organisation's `negative_threshold` within 15 minutes) raise a crisis.
/// Returns the mentions the server accepted (0 when the request failed).
pub(crate) async fn post_crisis_burst(
    options: &RunOptions,
    factory: &RecordFactory,
    org: &str,
    n: usize,
) -> anyhow::Result<u64> {
    let client = http_client(1)?;
    let body = serde_json::to_vec(&factory.crisis_batch(n)).context("encoding the burst")?;
    let (answer, _) = post_batch(
        &client,
        &options.target.ingest_url(org),
        &options.credentials.bearer(org),
        body,
    )
    .await;
    Ok(match answer {
        Answer::Accepted(a) => a.accepted as u64,
        _ => 0,
    })
}

/// Active crises of `org` (`GET /api/v1/alerts?status=active`), `None` if the request
/// failed: a crisis already active is escalated, not raised again, so no new
/// `crisis:detected` frame can be expected for that organisation.
pub(crate) async fn active_crises(options: &RunOptions, org: &str) -> Option<u64> {
    let client = http_client(1).ok()?;
    let response = client
        .get(options.target.alerts_url(org, "active"))
        .header(AUTHORIZATION, options.credentials.bearer(org))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let alerts: Vec<serde_json::Value> = response.json().await.ok()?;
    Some(alerts.len() as u64)
}

/// Chooses the organisation for a crisis burst: `wanted` if given, else the first of
/// the run's organisations with no active crisis (the first one if all have one).
/// Returns its index and how many crises were active there before the burst.
pub(crate) async fn crisis_org(
    options: &RunOptions,
    wanted: Option<&str>,
) -> anyhow::Result<(usize, Option<u64>)> {
    if let Some(name) = wanted {
        let index = options
            .orgs
            .iter()
            .position(|o| o == name)
            .with_context(|| format!("--crisis-org {name} is not one of --orgs"))?;
        return Ok((index, active_crises(options, name).await));
    }
    let mut first = None;
    // Bounded: at most one request per organisation of the run.
    for (index, org) in options.orgs.iter().enumerate() {
        let active = active_crises(options, org).await;
        if active == Some(0) {
            return Ok((index, active));
        }
        first.get_or_insert((index, active));
    }
    Ok(first.unwrap_or((0, None)))
}

/// Local addresses to spread client connections over, checked to be loopback unless
/// remote targets are allowed.
pub fn check_sources(sources: &[std::net::IpAddr], allow_remote: bool) -> anyhow::Result<()> {
    if let Some(bad) = sources.iter().find(|ip| !ip.is_loopback()) {
        anyhow::ensure!(
            allow_remote,
            "--source-ips {bad} is not a loopback address (pass --allow-remote to use it)"
        );
    }
    Ok(())
}

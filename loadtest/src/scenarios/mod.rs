//! The scenarios, and what they share: run options, posting a batch, the run harness
//! (progress line and process sampling).

pub mod fanout;
pub mod ingest;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use warroom_engine::wire::IngestAccepted;

use crate::live::{self, Live};
use crate::procstat::{Probe, ProcFigures, Tracker};
use crate::report::{latency_histogram, record, IngestFigures, LatencySummary};
use crate::target::Target;

/// Longest a run may last, whatever `--duration` says: the harness must stop by itself.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

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
}

impl RunOptions {
    fn checked_duration(&self) -> anyhow::Result<Duration> {
        anyhow::ensure!(!self.orgs.is_empty(), "at least one organisation is needed");
        anyhow::ensure!(!self.duration.is_zero(), "the duration must be positive");
        Ok(self.duration.min(MAX_DURATION))
    }
}

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

/// Posts one JSON array of records.
pub(crate) async fn post_batch(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> (Answer, Duration) {
    let sent = Instant::now();
    let answer = match client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
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

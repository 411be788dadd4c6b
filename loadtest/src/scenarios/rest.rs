//! Scenario `rest`: concurrent keep-alive clients hammering the dashboard and mentions
//! endpoints (closed loop: each connection sends its next request when the previous
//! answer is complete). Measures requests/s, latency per endpoint and non-2xx answers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::header::{AUTHORIZATION, HOST};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::time::Instant;

use super::{Harness, RunOptions, STOP_GRACE};
use crate::live::Live;
use crate::records::new_run_id;
use crate::report::{
    latency_histogram, record, EndpointFigures, LatencySummary, Report, RestFigures,
};
use crate::target::Target;

/// Longest a single request may take before it counts as a transport error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed request before reconnecting, so a dead server is not spun on.
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// Most concurrent connections.
pub const MAX_CONNECTIONS: usize = 4096;

/// An endpoint the scenario can request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Endpoint {
    /// `GET /api/v1/metrics/dashboard?org=…&window=…`
    Dashboard,
    /// `GET /api/v1/mentions?org=…&limit=…`
    Mentions,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Dashboard => "dashboard",
            Endpoint::Mentions => "mentions",
        }
    }
}

/// Which HTTP client issues the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpClient {
    /// hyper's HTTP/1.1 connection API directly: one connection per task, the least
    /// client overhead.
    Hyper,
    /// reqwest, one client (pool of one keep-alive connection) per task.
    Reqwest,
}

impl HttpClient {
    fn name(self) -> &'static str {
        match self {
            HttpClient::Hyper => "hyper",
            HttpClient::Reqwest => "reqwest",
        }
    }
}

/// Parameters of the rest scenario.
#[derive(Debug, Clone)]
pub struct RestParams {
    /// Concurrent keep-alive connections, one request in flight each.
    pub connections: usize,
    /// Endpoints, interleaved request by request.
    pub endpoints: Vec<Endpoint>,
    /// `window` of the dashboard request (`15m`, `1h`, `24h`, `7d`).
    pub window: String,
    /// `limit` of the mentions request.
    pub limit: u32,
    /// HTTP client.
    pub client: HttpClient,
}

/// Per-endpoint counts of one connection.
struct EndpointTally {
    requests: u64,
    ok: u64,
    non_2xx: u64,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    latency: Histogram<u64>,
}

impl EndpointTally {
    fn new() -> Self {
        Self {
            requests: 0,
            ok: 0,
            non_2xx: 0,
            statuses: BTreeMap::new(),
            transport_errors: 0,
            latency: latency_histogram(),
        }
    }

    fn merge(&mut self, other: &EndpointTally) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.non_2xx += other.non_2xx;
        self.transport_errors += other.transport_errors;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    fn figures(&self, secs: f64) -> EndpointFigures {
        EndpointFigures {
            requests: self.requests,
            ok: self.ok,
            non_2xx: self.non_2xx,
            statuses: self.statuses.clone(),
            transport_errors: self.transport_errors,
            requests_per_s: self.latency.len() as f64 / secs,
            ok_per_s: self.ok as f64 / secs,
            latency: LatencySummary::of(&self.latency),
        }
    }
}

/// One connection's counts.
struct ConnTally {
    endpoints: BTreeMap<Endpoint, EndpointTally>,
    reconnects: u64,
}

/// A keep-alive connection of either client.
enum Conn {
    Hyper(http1::SendRequest<Empty<Bytes>>),
    Reqwest(reqwest::Client),
}

impl Conn {
    async fn open(client: HttpClient, server: SocketAddr) -> anyhow::Result<Self> {
        match client {
            HttpClient::Hyper => {
                let stream = tokio::net::TcpStream::connect(server).await?;
                // Small requests and answers: Nagle would only add delay.
                stream.set_nodelay(true)?;
                let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
                // The connection task ends when the sender is dropped or the server closes.
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(Conn::Hyper(sender))
            }
            HttpClient::Reqwest => Ok(Conn::Reqwest(
                reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .tcp_nodelay(true)
                    .connect_timeout(Duration::from_secs(5))
                    .timeout(REQUEST_TIMEOUT)
                    .build()
                    .context("building the HTTP client")?,
            )),
        }
    }

    /// Sends `GET path` with `authorization` (a `Bearer` header value) and reads the
    /// whole answer. Returns the status.
    async fn get(
        &mut self,
        base: &str,
        authority: &str,
        path: &str,
        authorization: &str,
    ) -> anyhow::Result<u16> {
        match self {
            Conn::Hyper(sender) => {
                let request = hyper::Request::get(path)
                    .header(HOST, authority)
                    .header(AUTHORIZATION, authorization)
                    .body(Empty::<Bytes>::new())?;
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status().as_u16();
                // Read the body to the end: the latency is to the complete answer, and
                // the connection can only be reused afterwards.
                response.into_body().collect().await?;
                Ok(status)
            }
            Conn::Reqwest(client) => {
                let response = client
                    .get(format!("{base}{path}"))
                    .header(AUTHORIZATION, authorization)
                    .send()
                    .await?;
                let status = response.status().as_u16();
                response.bytes().await?;
                Ok(status)
            }
        }
    }
}

/// One connection's closed loop until `deadline`.
async fn connection(
    worker: usize,
    options: Arc<RunOptions>,
    params: Arc<RestParams>,
    server: SocketAddr,
    live: Arc<Live>,
    deadline: Instant,
) -> ConnTally {
    let mut tally = ConnTally {
        endpoints: params
            .endpoints
            .iter()
            .map(|e| (*e, EndpointTally::new()))
            .collect(),
        reconnects: 0,
    };
    let base = options.target.http_base();
    let authority = options.target.authority();
    let orgs = &options.orgs;
    let mut conn: Option<Conn> = None;
    let mut opened = 0u64;
    // Workers start at different points so every endpoint and organisation is hit at
    // every moment.
    let mut n = worker;
    while Instant::now() < deadline {
        let endpoint = params.endpoints[n % params.endpoints.len()];
        let org = &orgs[(n / params.endpoints.len()) % orgs.len()];
        n += 1;
        let path = match endpoint {
            Endpoint::Dashboard => Target::dashboard_path(org, &params.window),
            Endpoint::Mentions => Target::mentions_path(org, params.limit),
        };
        let Some(t) = tally.endpoints.get_mut(&endpoint) else {
            break;
        };
        if conn.is_none() {
            match tokio::time::timeout(REQUEST_TIMEOUT, Conn::open(params.client, server)).await {
                Ok(Ok(c)) => {
                    opened += 1;
                    conn = Some(c);
                }
                _ => {
                    t.requests += 1;
                    t.transport_errors += 1;
                    Live::inc(&live.failed_requests);
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        t.requests += 1;
        let sent = Instant::now();
        let authorization = options.credentials.bearer(org);
        let answer = tokio::time::timeout(
            REQUEST_TIMEOUT,
            c.get(&base, &authority, &path, &authorization),
        )
        .await;
        let took = sent.elapsed();
        match answer {
            Ok(Ok(status)) => {
                record(
                    &mut t.latency,
                    i64::try_from(took.as_micros()).unwrap_or(i64::MAX),
                );
                if (200..300).contains(&status) {
                    t.ok += 1;
                    Live::inc(&live.acked_requests);
                } else {
                    t.non_2xx += 1;
                    *t.statuses.entry(status).or_default() += 1;
                    Live::inc(&live.failed_requests);
                }
            }
            _ => {
                t.transport_errors += 1;
                Live::inc(&live.failed_requests);
                // The connection's state is unknown: start a new one.
                conn = None;
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
    tally.reconnects = opened.saturating_sub(1);
    tally
}

/// Runs the scenario and returns its report.
pub async fn run(options: &RunOptions, params: &RestParams) -> anyhow::Result<Report> {
    let duration = options.checked_duration()?;
    anyhow::ensure!(
        (1..=MAX_CONNECTIONS).contains(&params.connections),
        "--connections must be within 1..={MAX_CONNECTIONS}"
    );
    anyhow::ensure!(
        !params.endpoints.is_empty(),
        "--endpoints needs at least one endpoint"
    );
    anyhow::ensure!(
        ["15m", "1h", "24h", "7d"].contains(&params.window.as_str()),
        "--window must be one of 15m, 1h, 24h, 7d"
    );
    anyhow::ensure!(
        (1..=500).contains(&params.limit),
        "--limit must be within 1..=500"
    );
    let server = options.target.socket_addr().await?;
    let live = Arc::new(Live::default());
    let shared_options = Arc::new(options.clone());
    let shared_params = Arc::new(params.clone());
    let harness = Harness::start(options, Arc::clone(&live))?;
    let deadline = Instant::from_std(harness.started) + duration;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..params.connections {
        workers.spawn(connection(
            worker,
            Arc::clone(&shared_options),
            Arc::clone(&shared_params),
            server,
            Arc::clone(&live),
            deadline,
        ));
    }
    let mut endpoints: BTreeMap<Endpoint, EndpointTally> = params
        .endpoints
        .iter()
        .map(|e| (*e, EndpointTally::new()))
        .collect();
    let mut reconnects = 0;
    // Each worker stops issuing at the deadline; one request may still be in flight.
    let give_up = deadline + REQUEST_TIMEOUT + STOP_GRACE;
    while let Ok(Some(done)) = tokio::time::timeout_at(give_up, workers.join_next()).await {
        let tally = done.context("a REST worker panicked")?;
        reconnects += tally.reconnects;
        for (endpoint, t) in &tally.endpoints {
            if let Some(total) = endpoints.get_mut(endpoint) {
                total.merge(t);
            }
        }
    }
    workers.abort_all();
    let elapsed = harness.started.elapsed();
    let (server_figures, loadtest) = harness.finish().await;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut rest = RestFigures {
        client: params.client.name().to_owned(),
        connections: params.connections as u64,
        reconnects,
        ..RestFigures::default()
    };
    for (endpoint, t) in &endpoints {
        rest.requests += t.latency.len();
        rest.non_2xx += t.non_2xx;
        rest.transport_errors += t.transport_errors;
        rest.endpoints
            .insert(endpoint.name().to_owned(), t.figures(secs));
    }
    rest.requests_per_s = rest.requests as f64 / secs;
    Ok(Report {
        scenario: "rest".to_owned(),
        run_id: new_run_id(),
        target: options.target.http_base(),
        orgs: options.orgs.clone(),
        params: json!({
            "duration_s": duration.as_secs_f64(),
            "connections": params.connections,
            "endpoints": params.endpoints.iter().map(|e| e.name()).collect::<Vec<_>>(),
            "window": params.window,
            "limit": params.limit,
            "client": params.client.name(),
        }),
        elapsed_s: elapsed.as_secs_f64(),
        rest: Some(rest),
        ..Report::empty(server_figures, loadtest)
    })
}

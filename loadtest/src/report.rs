//! Results: latency histograms, the report structure (`--json`) and the human table.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::procstat::ProcFigures;

/// Highest latency the histograms track, µs (one minute); larger values are clamped.
const MAX_TRACKED_US: u64 = 60_000_000;

/// A new latency histogram in µs with 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy hdrhistogram's rules (low ≥ 1, high ≥ 2·low,
    // sigfig ≤ 5), so construction cannot fail.
    Histogram::new_with_bounds(1, MAX_TRACKED_US, 3).expect("valid constant histogram bounds")
}

/// Records `value_us`, clamping to the tracked range (negative clock differences as 0).
pub fn record(histogram: &mut Histogram<u64>, value_us: i64) {
    let value = u64::try_from(value_us).unwrap_or(0);
    histogram.saturating_record(value.clamp(1, MAX_TRACKED_US));
}

/// Percentiles of a latency histogram, µs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest value.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

impl LatencySummary {
    /// Summarises `histogram` (all zero when empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        Self {
            count: histogram.len(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
            mean_us: histogram.mean(),
        }
    }
}

/// What the ingest side did (both scenarios).
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestFigures {
    /// Requests sent.
    pub requests: u64,
    /// Requests answered 2xx.
    pub acked_requests: u64,
    /// Mentions sent in all requests.
    pub mentions_sent: u64,
    /// Mentions the server reported accepted (202 `accepted`).
    pub mentions_accepted: u64,
    /// Mentions the server reported as duplicates (should be 0: ids are unique per run).
    pub duplicates: u64,
    /// Answers 503 (saturated; the load tester then honours Retry-After, at most 1 s).
    pub status_503: u64,
    /// Other non-2xx answers.
    pub other_non_2xx: u64,
    /// The other non-2xx statuses and how often.
    pub other_statuses: std::collections::BTreeMap<u16, u64>,
    /// Requests that failed without an answer (connection errors, timeouts).
    pub transport_errors: u64,
    /// Batches not sent (fanout) because `--max-in-flight` requests were outstanding:
    /// the server was not keeping up with the offered rate.
    pub batches_skipped: u64,
    /// Acknowledged requests per second over the run.
    pub acked_requests_per_s: f64,
    /// Accepted mentions per second over the run.
    pub accepted_mentions_per_s: f64,
    /// Request latency (send to full answer), all answered requests.
    pub request_latency: LatencySummary,
}

/// Sequence-number accounting over all clients (see `docs/protocol.md`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SequenceFigures {
    /// `gap` control frames received (the server dropped frames for a slow socket).
    pub gap_frames: u64,
    /// Frames the `gap` frames said were dropped.
    pub gap_dropped_frames: u64,
    /// Sequence jumps not announced by a `gap` frame. The protocol leaves conflated
    /// KPI/campaign snapshots unannounced, so a small number can be legitimate.
    pub unannounced_skips: u64,
    /// Sequence numbers missing in those jumps.
    pub unannounced_missing: u64,
    /// Stream frames whose `seq` was not above the previous one (after the initial
    /// snapshots, which legitimately carry older numbers).
    pub out_of_order: u64,
    /// `gap_frames + unannounced_skips`: the headline "gaps" figure.
    pub gaps_total: u64,
}

/// WebSocket client figures (fanout).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientFigures {
    /// Clients requested.
    pub requested: u64,
    /// Clients subscribed before the measurement started.
    pub subscribed_at_start: u64,
    /// Connections lost before the end of the run (each is retried with resume).
    pub disconnects: u64,
    /// Reconnections that succeeded.
    pub reconnects: u64,
    /// Resumes the server could not honour (`subscribed.recovered == false`).
    pub resume_failures: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Close codes received from the server and how often.
    pub close_codes: std::collections::BTreeMap<u16, u64>,
}

/// Delivery figures of the fanout scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryFigures {
    /// `dashboard:mention-stream` frames delivered to all clients while measuring.
    pub mention_frames: u64,
    /// Mention-stream frames per second (all clients together).
    pub mention_frames_per_s: f64,
    /// Mentions inside those frames (mock and load-test ones).
    pub mentions: u64,
    /// Mentions per second delivered (all clients together).
    pub mentions_per_s: f64,
    /// Mention-stream frames carrying at least one mention this run ingested.
    pub own_frames: u64,
    /// This run's mentions delivered, summed over clients.
    pub own_mentions: u64,
    /// `own_mentions` / (accepted mentions × subscribers of their organisation): 1.0 when
    /// every subscriber saw every mention; slightly below when the run stops with frames
    /// still in flight.
    pub own_delivery_ratio: f64,
    /// Other stream frames (KPI, campaign, crisis, system).
    pub other_frames: u64,
    /// Frames received before the measurement started (not in any figure above).
    pub warmup_frames: u64,
    /// Mention-stream frames parsed whole to check the payload scan (one in 64 per
    /// client, its first included; warm-up too).
    pub checked_frames: u64,
    /// Frames that were not a valid server envelope, or whose whole parse disagreed
    /// with the scan (should be 0).
    pub malformed_frames: u64,
}

/// The fanout scenario's own figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FanoutFigures {
    /// Ingest-to-client latency of every mention-stream frame (mock ones too):
    /// client clock at receipt minus the frame's `ingested_at_us`.
    pub latency_all_frames: LatencySummary,
    /// The same, only frames carrying mentions this run ingested.
    pub latency_own_frames: LatencySummary,
    /// Frames and mentions delivered.
    pub delivery: DeliveryFigures,
    /// Sequence accounting.
    pub sequence: SequenceFigures,
    /// Connections.
    pub clients: ClientFigures,
}

/// One REST endpoint's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointFigures {
    /// Requests sent (answered or not).
    pub requests: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered with another status.
    pub non_2xx: u64,
    /// Those statuses and how often.
    pub statuses: std::collections::BTreeMap<u16, u64>,
    /// No (complete) answer: connection errors, timeouts.
    pub transport_errors: u64,
    /// Answered requests (any status) per second.
    pub requests_per_s: f64,
    /// 2xx answers per second.
    pub ok_per_s: f64,
    /// Request latency, send to complete body, of the answered requests.
    pub latency: LatencySummary,
}

/// The `rest` scenario's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestFigures {
    /// HTTP client: `hyper` (one HTTP/1.1 connection per task) or `reqwest`.
    pub client: String,
    /// Concurrent keep-alive connections (closed loop: one request in flight each).
    pub connections: u64,
    /// Requests answered, all endpoints.
    pub requests: u64,
    /// Answered requests per second, all endpoints.
    pub requests_per_s: f64,
    /// Non-2xx answers, all endpoints.
    pub non_2xx: u64,
    /// Transport errors, all endpoints.
    pub transport_errors: u64,
    /// Connections (re-)established after the first (a server closing keep-alive
    /// connections shows here).
    pub reconnects: u64,
    /// Per endpoint (`dashboard`, `mentions`).
    pub endpoints: std::collections::BTreeMap<String, EndpointFigures>,
}

/// Stream frames a client missed after its resume, by what the frame was (looked up in
/// what the other clients of the organisation received).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MissedFrames {
    /// `dashboard:mention-stream` frames.
    pub mention_stream: u64,
    /// `crisis:*` frames.
    pub crisis: u64,
    /// `system:*` frames.
    pub system: u64,
    /// KPI/campaign snapshots: the resume ring keeps only the newest of each, so these
    /// are skipped by design (conflation), not lost.
    pub conflated_snapshots: u64,
    /// Numbers no client of the organisation received, so their kind is unknown: in
    /// practice KPI snapshots superseded while every client of the organisation was
    /// disconnected (mention-stream and crisis frames are replayed, so someone has them).
    pub unknown: u64,
    /// `mention_stream + crisis + system`: frames really missed.
    pub total: u64,
}

/// Whether the clients of the crisis organisation all received `crisis:detected`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrisisCheck {
    /// Organisation the burst went to.
    pub org: String,
    /// Strongly negative mentions posted.
    pub burst: u64,
    /// Of those, accepted by the server (0: the request failed).
    pub accepted: u64,
    /// Crises already active in the organisation before the burst (`null`: unknown). An
    /// active crisis is escalated, not raised again: then no `crisis:detected` comes.
    pub active_before: Option<u64>,
    /// When the burst was posted, ms after the measurement started.
    pub posted_at_ms: f64,
    /// Clients of the organisation (subscribed at least once).
    pub subscribers: u64,
    /// Of those, received `crisis:detected` (live or replayed).
    pub received: u64,
    /// Of those, did not.
    pub missing: u64,
    /// From posting the burst to the first client's receipt of `crisis:detected`, ms.
    pub first_received_after_ms: Option<f64>,
    /// ... to the last client's receipt, ms.
    pub last_received_after_ms: Option<f64>,
}

/// The `reconnect-storm` scenario's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StormFigures {
    /// Clients subscribed when the storm started.
    pub subscribed_before_storm: u64,
    /// Clients whose connection the storm dropped.
    pub dropped: u64,
    /// Of those, subscribed again before the end.
    pub resubscribed: u64,
    /// Of those dropped, never back.
    pub not_back: u64,
    /// From the storm's start until the last dropped client was subscribed again, ms
    /// (`null` when some never came back).
    pub all_back_after_ms: Option<f64>,
    /// Per client: from its scheduled reconnect (storm start + its random offset) to its
    /// `subscribed` frame, µs; includes retries.
    pub reconnect_time: LatencySummary,
    /// Per client: from the storm's start to its `subscribed` frame, µs.
    pub back_after: LatencySummary,
    /// Resumes answered `recovered: true` (replayed from the ring).
    pub recovered: u64,
    /// Resumes answered `recovered: false` (history lost; refetch over REST).
    pub not_recovered: u64,
    /// Frames replayed on resume, all clients.
    pub replayed_frames: u64,
    /// Sequence numbers jumped over by `recovered: false` resumes.
    pub lost_on_failed_resume: u64,
    /// Connection attempts beyond the first per returning client (failed handshakes).
    pub retries: u64,
    /// Frames missing after resume (sequence skips no `gap` frame announced).
    pub missed_after_resume: MissedFrames,
    /// `gap` frames after resume, and the frames they announce.
    pub gap_frames_after_resume: u64,
    /// Frames those `gap` frames said were dropped.
    pub gap_dropped_after_resume: u64,
    /// The injected crisis.
    pub crisis: CrisisCheck,
    /// Whole-run sequence accounting (before and after the storm).
    pub sequence: SequenceFigures,
    /// Frames delivered over the run.
    pub delivery: DeliveryFigures,
    /// Connections over the run.
    pub clients: ClientFigures,
}

/// Figures of one class of client (fast or slow) in `slow-consumers`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassFigures {
    /// Clients in the class.
    pub clients: u64,
    /// Ingest→client latency of the mention-stream frames they received.
    pub latency: LatencySummary,
    /// The same, frames carrying this run's mentions.
    pub latency_own: LatencySummary,
    /// Mention-stream frames received.
    pub mention_frames: u64,
    /// This run's mentions received / (accepted × subscribers in the class).
    pub own_delivery_ratio: f64,
    /// Gaps: announced by `gap` frames vs unannounced.
    pub sequence: SequenceFigures,
    /// Clients closed with 4008 (slow consumer) at least once.
    pub closed_4008: u64,
    /// Clients that received `crisis:detected` (when a crisis burst was posted).
    pub crisis_received: u64,
    /// Connections: subscribed at least once (`subscribed_at_start`), disconnects,
    /// reconnects, close codes.
    pub connections: ClientFigures,
}

/// The `slow-consumers` scenario's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SlowFigures {
    /// `delay` (sleep after every frame) or `stall` (stop reading).
    pub mode: String,
    /// Sleep per frame in `delay` mode, ms.
    pub delay_ms: f64,
    /// Clients subscribed when measuring started.
    pub subscribed_at_start: u64,
    /// The clients that keep up.
    pub fast: ClassFigures,
    /// The slow ones.
    pub slow: ClassFigures,
    /// The crisis burst, when one was posted (`--crisis-burst`).
    pub crisis: Option<CrisisCheck>,
}

/// The `idle` scenario's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IdleFigures {
    /// Sockets requested.
    pub requested: u64,
    /// Sockets subscribed once connecting ended.
    pub subscribed: u64,
    /// Still subscribed at the end of the hold.
    pub subscribed_at_end: u64,
    /// Time to connect and subscribe them all, s.
    pub connect_s: f64,
    /// Server RSS before connecting, KiB (`null` without `--server-pid`).
    pub server_rss_before_kib: Option<u64>,
    /// Server RSS right after all subscribed, KiB.
    pub server_rss_connected_kib: Option<u64>,
    /// Server RSS at the end of the hold (`--duration`), KiB.
    pub server_rss_settled_kib: Option<u64>,
    /// (settled − before) / subscribed, KiB: server memory per idle socket.
    pub server_kib_per_socket: Option<f64>,
    /// The load tester's own RSS growth per socket, KiB (client side, for comparison).
    pub loadtest_kib_per_socket: Option<f64>,
    /// Stream frames the idle sockets received during the hold (KPI ticks, system).
    pub frames_received: u64,
    /// Connections.
    pub clients: ClientFigures,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario: `fanout`, `ingest`, `rest`, `reconnect-storm`, `slow-consumers`,
    /// `idle`.
    pub scenario: String,
    /// Run id (prefix of every external id this run sent).
    pub run_id: String,
    /// Server base URL.
    pub target: String,
    /// Organisations used.
    pub orgs: Vec<String>,
    /// Parameters as given.
    pub params: serde_json::Value,
    /// Measured wall time, seconds.
    pub elapsed_s: f64,
    /// Ingest figures.
    pub ingest: IngestFigures,
    /// Fanout figures (fanout only).
    pub fanout: Option<FanoutFigures>,
    /// REST figures (`rest` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rest: Option<RestFigures>,
    /// Reconnect-storm figures (`reconnect-storm` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storm: Option<StormFigures>,
    /// Slow-consumer figures (`slow-consumers` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow: Option<SlowFigures>,
    /// Idle-socket figures (`idle` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<IdleFigures>,
    /// Server process (only with `--server-pid`).
    pub server: Option<ProcFigures>,
    /// The load tester itself (it shares the CPU with the server on one machine).
    pub loadtest: Option<ProcFigures>,
}

impl Report {
    /// A report with every scenario-specific part empty, to fill in with `..`.
    pub fn empty(server: Option<ProcFigures>, loadtest: Option<ProcFigures>) -> Self {
        Self {
            scenario: String::new(),
            run_id: String::new(),
            target: String::new(),
            orgs: Vec::new(),
            params: serde_json::Value::Null,
            elapsed_s: 0.0,
            ingest: IngestFigures::default(),
            fanout: None,
            rest: None,
            storm: None,
            slow: None,
            idle: None,
            server,
            loadtest,
        }
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn latency_row(out: &mut String, name: &str, l: &LatencySummary) {
    let _ = writeln!(
        out,
        "  {name:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        ms(l.p50_us),
        ms(l.p90_us),
        ms(l.p99_us),
        ms(l.p999_us),
        ms(l.max_us),
        l.count
    );
}

fn proc_row(out: &mut String, name: &str, p: &ProcFigures) {
    let _ = writeln!(
        out,
        "  {name:<28} RSS {:.1} → {:.1} MiB (peak {:.1}), CPU {:.0}% of one core",
        p.rss_start_mib, p.rss_end_mib, p.rss_peak_mib, p.cpu_percent
    );
}

fn opt_ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"))
}

fn ingest_line(out: &mut String, i: &IngestFigures) {
    let _ = writeln!(
        out,
        "  ingest: {} requests, {} acked ({:.1}/s); mentions sent {}, accepted {} ({:.0}/s), \
         duplicates {}; 503s {}, other non-2xx {} {:?}, transport errors {}, batches skipped {}",
        i.requests,
        i.acked_requests,
        i.acked_requests_per_s,
        i.mentions_sent,
        i.mentions_accepted,
        i.accepted_mentions_per_s,
        i.duplicates,
        i.status_503,
        i.other_non_2xx,
        i.other_statuses,
        i.transport_errors,
        i.batches_skipped
    );
}

fn sequence_line(out: &mut String, name: &str, s: &SequenceFigures) {
    let _ = writeln!(
        out,
        "  {name}: gaps {} (gap frames {} announcing {} dropped; unannounced skips {} \
         missing {}); out of order {}",
        s.gaps_total,
        s.gap_frames,
        s.gap_dropped_frames,
        s.unannounced_skips,
        s.unannounced_missing,
        s.out_of_order
    );
}

fn clients_line(out: &mut String, name: &str, c: &ClientFigures) {
    let _ = writeln!(
        out,
        "  {name}: {}/{} subscribed at start; disconnects {}, reconnects {}, resume \
         failures {}, connect failures {}, close codes {:?}",
        c.subscribed_at_start,
        c.requested,
        c.disconnects,
        c.reconnects,
        c.resume_failures,
        c.connect_failures,
        c.close_codes
    );
}

fn delivery_line(out: &mut String, d: &DeliveryFigures) {
    let _ = writeln!(
        out,
        "  delivery: {} mention-stream frames ({:.0}/s), {} mentions ({:.0}/s); own: {} frames, \
         {} mentions, delivery ratio {:.4}; other stream frames {}; warm-up frames {}; \
         parsed whole {} (malformed {})",
        d.mention_frames,
        d.mention_frames_per_s,
        d.mentions,
        d.mentions_per_s,
        d.own_frames,
        d.own_mentions,
        d.own_delivery_ratio,
        d.other_frames,
        d.warmup_frames,
        d.checked_frames,
        d.malformed_frames
    );
}

fn crisis_line(out: &mut String, c: &CrisisCheck) {
    let _ = writeln!(
        out,
        "  crisis: {} strongly negative mentions to {} at {:.0} ms ({} accepted; active \
         before: {}); crisis:detected received by {}/{} clients of the org, missing {}; \
         first after {}, last after {}",
        c.burst,
        c.org,
        c.posted_at_ms,
        c.accepted,
        c.active_before
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        c.received,
        c.subscribers,
        c.missing,
        opt_ms(c.first_received_after_ms),
        opt_ms(c.last_received_after_ms)
    );
}

fn class_lines(out: &mut String, name: &str, c: &ClassFigures) {
    let _ = writeln!(
        out,
        "  {name} clients ({}): {} mention-stream frames, own delivery ratio {:.4}, closed \
         with 4008: {}, crisis:detected received: {}",
        c.clients, c.mention_frames, c.own_delivery_ratio, c.closed_4008, c.crisis_received
    );
    sequence_line(out, &format!("  {name} sequence"), &c.sequence);
    clients_line(out, &format!("  {name} connections"), &c.connections);
}

fn kib(value: Option<u64>) -> String {
    value.map_or_else(
        || "-".to_owned(),
        |v| format!("{:.1} MiB", v as f64 / 1024.0),
    )
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {} against {} for {:.1}s (run {}; orgs {})",
            self.scenario,
            self.target,
            self.elapsed_s,
            self.run_id,
            abbreviate(&self.orgs)
        );
        let _ = writeln!(out, "  params {}", self.params);
        if self.idle.is_none() {
            let _ = writeln!(
                out,
                "\n  {:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "latency (ms)", "p50", "p90", "p99", "p99.9", "max", "count"
            );
        }
        if let Some(f) = &self.fanout {
            latency_row(&mut out, "ingest→client, all frames", &f.latency_all_frames);
            latency_row(&mut out, "ingest→client, own frames", &f.latency_own_frames);
        }
        if let Some(r) = &self.rest {
            for (name, e) in &r.endpoints {
                latency_row(&mut out, &format!("GET {name}"), &e.latency);
            }
        }
        if let Some(s) = &self.storm {
            latency_row(&mut out, "reconnect (offset→subscribed)", &s.reconnect_time);
            latency_row(&mut out, "storm start→subscribed", &s.back_after);
        }
        if let Some(s) = &self.slow {
            latency_row(&mut out, "ingest→client, fast clients", &s.fast.latency);
            latency_row(&mut out, "ingest→client, slow clients", &s.slow.latency);
        }
        if self.ingest.requests > 0 {
            latency_row(&mut out, "ingest request", &self.ingest.request_latency);
        }
        out.push('\n');
        if self.ingest.requests > 0 || self.scenario != "rest" && self.scenario != "idle" {
            ingest_line(&mut out, &self.ingest);
        }
        if let Some(f) = &self.fanout {
            delivery_line(&mut out, &f.delivery);
            sequence_line(&mut out, "sequence", &f.sequence);
            clients_line(&mut out, "clients", &f.clients);
        }
        if let Some(r) = &self.rest {
            let _ = writeln!(
                out,
                "  rest ({} client, {} connections): {} requests ({:.0}/s), non-2xx {}, \
                 transport errors {}, reconnects {}",
                r.client,
                r.connections,
                r.requests,
                r.requests_per_s,
                r.non_2xx,
                r.transport_errors,
                r.reconnects
            );
            for (name, e) in &r.endpoints {
                let _ = writeln!(
                    out,
                    "    {name}: {} requests ({:.0}/s), 2xx {} ({:.0}/s), non-2xx {} {:?}, \
                     transport errors {}",
                    e.requests,
                    e.requests_per_s,
                    e.ok,
                    e.ok_per_s,
                    e.non_2xx,
                    e.statuses,
                    e.transport_errors
                );
            }
        }
        if let Some(s) = &self.storm {
            let m = &s.missed_after_resume;
            let _ = writeln!(
                out,
                "  storm: {} subscribed before, {} dropped, {} back, {} not back; all back after \
                 {}; resumes recovered {} / not recovered {}; replayed {} frames; lost on failed \
                 resumes {}; retries {}",
                s.subscribed_before_storm,
                s.dropped,
                s.resubscribed,
                s.not_back,
                opt_ms(s.all_back_after_ms),
                s.recovered,
                s.not_recovered,
                s.replayed_frames,
                s.lost_on_failed_resume,
                s.retries
            );
            let _ = writeln!(
                out,
                "  missed after resume: {} frames (mention-stream {}, crisis {}, system {}, \
                 unknown {}); conflated snapshots {} (by design); gap frames {} announcing {}",
                m.total,
                m.mention_stream,
                m.crisis,
                m.system,
                m.unknown,
                m.conflated_snapshots,
                s.gap_frames_after_resume,
                s.gap_dropped_after_resume
            );
            crisis_line(&mut out, &s.crisis);
            delivery_line(&mut out, &s.delivery);
            sequence_line(&mut out, "sequence (whole run)", &s.sequence);
            clients_line(&mut out, "clients", &s.clients);
        }
        if let Some(s) = &self.slow {
            let _ = writeln!(
                out,
                "  slow mode {} (delay {:.0} ms); {} subscribed at start",
                s.mode, s.delay_ms, s.subscribed_at_start
            );
            class_lines(&mut out, "fast", &s.fast);
            class_lines(&mut out, "slow", &s.slow);
            if let Some(c) = &s.crisis {
                crisis_line(&mut out, c);
            }
        }
        if let Some(i) = &self.idle {
            let _ = writeln!(
                out,
                "  idle: {}/{} sockets subscribed in {:.1}s, {} at the end; server RSS {} → {} \
                 (connected) → {} (settled): {} KiB per socket; load tester {} KiB per socket; \
                 frames received {}",
                i.subscribed,
                i.requested,
                i.connect_s,
                i.subscribed_at_end,
                kib(i.server_rss_before_kib),
                kib(i.server_rss_connected_kib),
                kib(i.server_rss_settled_kib),
                i.server_kib_per_socket
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
                i.loadtest_kib_per_socket
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
                i.frames_received
            );
            clients_line(&mut out, "clients", &i.clients);
        }
        if let Some(p) = &self.server {
            proc_row(&mut out, &format!("server pid {}", p.pid.unwrap_or(0)), p);
        }
        if let Some(p) = &self.loadtest {
            proc_row(&mut out, "load tester", p);
        }
        out
    }
}

/// `a,b,c`, or `a,b,…,z (50)` for long lists.
fn abbreviate(orgs: &[String]) -> String {
    if orgs.len() <= 6 {
        return orgs.join(",");
    }
    format!(
        "{},{},…,{} ({})",
        orgs[0],
        orgs[1],
        orgs[orgs.len() - 1],
        orgs.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let mut h = latency_histogram();
        for v in 1..=1000 {
            record(&mut h, v);
        }
        record(&mut h, -5);
        record(&mut h, i64::MAX);
        let s = LatencySummary::of(&h);
        assert_eq!(s.count, 1002);
        assert!((499..=502).contains(&s.p50_us), "{s:?}");
        assert!(s.max_us >= MAX_TRACKED_US, "{s:?}");
        assert_eq!(LatencySummary::of(&latency_histogram()).count, 0);
    }
}

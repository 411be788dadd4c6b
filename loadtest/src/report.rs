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

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `fanout` or `ingest`.
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
    /// Server process (only with `--server-pid`).
    pub server: Option<ProcFigures>,
    /// The load tester itself (it shares the CPU with the server on one machine).
    pub loadtest: Option<ProcFigures>,
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
            self.orgs.join(",")
        );
        let _ = writeln!(out, "  params {}", self.params);
        let _ = writeln!(
            out,
            "\n  {:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "p50", "p90", "p99", "p99.9", "max", "count"
        );
        if let Some(f) = &self.fanout {
            latency_row(&mut out, "ingest→client, all frames", &f.latency_all_frames);
            latency_row(&mut out, "ingest→client, own frames", &f.latency_own_frames);
        }
        latency_row(&mut out, "ingest request", &self.ingest.request_latency);
        let i = &self.ingest;
        let _ = writeln!(
            out,
            "\n  ingest: {} requests, {} acked ({:.1}/s); mentions sent {}, accepted {} ({:.0}/s), \
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
        if let Some(f) = &self.fanout {
            let d = &f.delivery;
            let s = &f.sequence;
            let c = &f.clients;
            let _ = writeln!(
                out,
                "  delivery: {} mention-stream frames ({:.0}/s), {} mentions ({:.0}/s); own: {} frames, \
                 {} mentions, delivery ratio {:.4}; other stream frames {}; warm-up frames {}",
                d.mention_frames,
                d.mention_frames_per_s,
                d.mentions,
                d.mentions_per_s,
                d.own_frames,
                d.own_mentions,
                d.own_delivery_ratio,
                d.other_frames,
                d.warmup_frames
            );
            let _ = writeln!(
                out,
                "  sequence: gaps {} (gap frames {} announcing {} dropped; unannounced skips {} \
                 missing {}); out of order {}",
                s.gaps_total,
                s.gap_frames,
                s.gap_dropped_frames,
                s.unannounced_skips,
                s.unannounced_missing,
                s.out_of_order
            );
            let _ = writeln!(
                out,
                "  clients: {}/{} subscribed at start; disconnects {}, reconnects {}, resume \
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
        if let Some(p) = &self.server {
            proc_row(&mut out, &format!("server pid {}", p.pid.unwrap_or(0)), p);
        }
        if let Some(p) = &self.loadtest {
            proc_row(&mut out, "load tester", p);
        }
        out
    }
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

//! Scenario `fanout`: WebSocket clients spread over organisations, all channels, while
//! mentions are ingested at a fixed rate (open loop). Measures ingest-to-client latency
//! per mention-stream frame, delivery, sequence gaps and disconnects.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::clients::{self, ClientTally, Pace, Phase};
use super::{open_loop_ingest, Harness, OpenLoop, RunOptions, MAX_CLIENTS, MAX_DRAIN, STOP_GRACE};
use crate::live::Live;
use crate::records::{new_run_id, RecordFactory};
use crate::report::{DeliveryFigures, FanoutFigures, LatencySummary, Report};

/// Parameters of the fanout scenario.
#[derive(Debug, Clone)]
pub struct FanoutParams {
    /// WebSocket clients, spread round-robin over the organisations.
    pub clients: usize,
    /// Mentions per second ingested (all organisations together).
    pub rate: f64,
    /// Records per ingest request.
    pub batch: usize,
    /// Ingest requests outstanding at most; a batch due while this many are outstanding
    /// is skipped and counted.
    pub max_in_flight: usize,
    /// How long to wait for every client to subscribe before measuring.
    pub connect_timeout: Duration,
    /// How long clients keep measuring after the last batch was sent, so that mentions
    /// still in the pipeline are delivered.
    pub drain: Duration,
}

impl FanoutParams {
    fn load(&self) -> OpenLoop {
        OpenLoop {
            rate: self.rate,
            batch: self.batch,
            max_in_flight: self.max_in_flight,
        }
    }
}

/// Runs the scenario and returns its report.
pub async fn run(options: &RunOptions, params: &FanoutParams) -> anyhow::Result<Report> {
    let duration = options.checked_duration()?;
    anyhow::ensure!(
        (1..=MAX_CLIENTS).contains(&params.clients),
        "--clients must be within 1..={MAX_CLIENTS}"
    );
    params.load().check()?;
    let run_id = new_run_id();
    let factory = RecordFactory::new(&run_id);
    let live = Arc::new(Live::default());
    let drain = params.drain.min(MAX_DRAIN);
    let hard_deadline =
        tokio::time::Instant::now() + params.connect_timeout + duration + drain + STOP_GRACE;
    let (shared, phase) = options
        .ws_shared(&factory, &live, hard_deadline, None, None)
        .await?;
    let specs = options.ws_specs(params.clients, |_| Pace::Fast, |_| None);

    // Connect every client, then wait (bounded) until all have subscribed.
    let (running, subscribed_at_start) =
        clients::start_all(&shared, specs, params.connect_timeout).await;
    if options.progress {
        eprintln!(
            "{subscribed_at_start}/{} clients subscribed; measuring for {:.1}s",
            params.clients,
            duration.as_secs_f64()
        );
    }

    let harness = Harness::start(options, Arc::clone(&live))?;
    // Receiving frames from now on counts.
    let _ = phase.send(Phase::Measure);
    let (tally, per_org_accepted, ingest_elapsed) =
        open_loop_ingest(options, &params.load(), &factory, &live, duration).await?;
    tokio::time::sleep(drain).await;
    let measured = harness.started.elapsed();
    let _ = phase.send(Phase::Stop);

    let all = clients::join_all(running).await?;
    let (server, loadtest) = harness.finish().await;
    let fanout = combine(
        &all,
        &shared.latency.merged(),
        subscribed_at_start,
        &per_org_accepted,
        options.orgs.len(),
        measured,
    );
    Ok(Report {
        scenario: "fanout".to_owned(),
        run_id,
        target: options.target.http_base(),
        orgs: options.orgs.clone(),
        params: json!({
            "duration_s": duration.as_secs_f64(),
            "clients": params.clients,
            "rate": params.rate,
            "batch": params.batch,
            "max_in_flight": params.max_in_flight,
            "drain_s": drain.as_secs_f64(),
            "max_mentions": options.max_mentions,
            "source_ips": options.sources,
        }),
        elapsed_s: measured.as_secs_f64(),
        ingest: tally.figures(ingest_elapsed),
        fanout: Some(fanout),
        ..Report::empty(server, loadtest)
    })
}

/// Delivery figures of a set of tallies; `per_org_accepted` × subscribers is what
/// full delivery of this run's mentions would be.
pub(crate) fn delivery_of(
    all: &[&ClientTally],
    per_org_accepted: &[u64],
    orgs: usize,
    measured: Duration,
) -> DeliveryFigures {
    let mut delivery = DeliveryFigures::default();
    let mut subscribers = vec![0u64; orgs];
    for t in all {
        if t.subscribed_once {
            subscribers[t.org] += 1;
        }
        let d = &t.delivery;
        delivery.mention_frames += d.mention_frames;
        delivery.mentions += d.mentions;
        delivery.own_frames += d.own_frames;
        delivery.own_mentions += d.own_mentions;
        delivery.other_frames += d.other_frames;
        delivery.warmup_frames += d.warmup_frames;
        delivery.checked_frames += d.checked_frames;
        delivery.malformed_frames += d.malformed_frames;
    }
    let secs = measured.as_secs_f64().max(1e-9);
    delivery.mention_frames_per_s = delivery.mention_frames as f64 / secs;
    delivery.mentions_per_s = delivery.mentions as f64 / secs;
    let expected: u64 = per_org_accepted
        .iter()
        .zip(&subscribers)
        .map(|(accepted, subs)| accepted * subs)
        .sum();
    delivery.own_delivery_ratio = if expected > 0 {
        delivery.own_mentions as f64 / expected as f64
    } else {
        0.0
    };
    delivery
}

/// Merges the clients' tallies into the report figures.
fn combine(
    all: &[ClientTally],
    latency: &clients::LatencyPair,
    subscribed_at_start: u64,
    per_org_accepted: &[u64],
    orgs: usize,
    measured: Duration,
) -> FanoutFigures {
    let refs: Vec<&ClientTally> = all.iter().collect();
    let mut clients = clients::client_figures(all);
    clients.subscribed_at_start = subscribed_at_start;
    FanoutFigures {
        latency_all_frames: LatencySummary::of(&latency.all),
        latency_own_frames: LatencySummary::of(&latency.own),
        delivery: delivery_of(&refs, per_org_accepted, orgs, measured),
        sequence: clients::sequence_figures(all),
        clients,
    }
}

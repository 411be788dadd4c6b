//! Scenario `slow-consumers`: WebSocket clients of which a fraction read slowly (a delay
//! after every frame) or not at all (stall), while mentions are ingested at a fixed
//! rate. Reports the fast clients' latency and gaps separately from the slow ones', so
//! one can see that fast clients are unaffected and that the server's slow-consumer
//! policy (conflate snapshots, drop mention frames with a `gap` frame, close with 4008
//! when a crisis frame cannot be queued) holds.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::clients::{self, ClientTally, Pace, Phase};
use super::fanout::delivery_of;
use super::storm::crisis_check;
use super::{
    crisis_org, open_loop_ingest, post_crisis_burst, Harness, OpenLoop, RunOptions, MAX_CLIENTS,
    MAX_DRAIN, STOP_GRACE,
};
use crate::live::Live;
use crate::records::{new_run_id, RecordFactory};
use crate::report::{ClassFigures, ClientFigures, LatencySummary, Report, SlowFigures};

/// Close code of a socket the server gave up on (docs/protocol.md).
const SLOW_CONSUMER_CLOSE: u16 = 4008;

/// How the slow clients read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SlowMode {
    /// Sleep `--slow-delay` after every frame.
    Delay,
    /// Stop reading once measuring starts (read what piled up at the end).
    Stall,
}

/// Parameters of the slow-consumers scenario.
#[derive(Debug, Clone)]
pub struct SlowParams {
    /// WebSocket clients, spread round-robin over the organisations.
    pub clients: usize,
    /// Share of them that read slowly (spread evenly over the clients).
    pub slow_fraction: f64,
    /// How the slow ones read.
    pub mode: SlowMode,
    /// Sleep per frame in `delay` mode.
    pub slow_delay: Duration,
    /// SO_RCVBUF of the slow clients' sockets, bytes (0: the kernel's autotuned
    /// default, which on loopback can absorb tens of MiB before the server notices).
    pub slow_recv_buffer: u32,
    /// Mentions per second ingested, all organisations together.
    pub rate: f64,
    /// Records per ingest request.
    pub batch: usize,
    /// Ingest requests outstanding at most.
    pub max_in_flight: usize,
    /// How long to wait for every client to subscribe before measuring.
    pub connect_timeout: Duration,
    /// How long clients keep measuring after the ingest ended.
    pub drain: Duration,
    /// Strongly negative mentions posted half-way (0: none). A crisis frame must reach
    /// every socket: one whose queue is full is closed with 4008.
    pub crisis_burst: usize,
    /// Organisation for the burst (default: the first one with no active crisis).
    pub crisis_org: Option<String>,
}

impl SlowParams {
    fn load(&self) -> OpenLoop {
        OpenLoop {
            rate: self.rate,
            batch: self.batch,
            max_in_flight: self.max_in_flight,
        }
    }
}

/// Whether the `i`th of a sequence is slow: evenly spread (every 10th at 0.1).
fn is_slow(i: usize, fraction: f64) -> bool {
    ((i + 1) as f64 * fraction).floor() > (i as f64 * fraction).floor()
}

/// Whether client `i` of `n` over `orgs` organisations (round-robin) is slow. Counting
/// the clients organisation by organisation spreads the slow ones over the
/// organisations; counting them in client order would put every 10th client, all of
/// one organisation when there are 10, into the slow set.
fn client_is_slow(i: usize, n: usize, orgs: usize, fraction: f64) -> bool {
    let orgs = orgs.max(1);
    let per_org = n.div_ceil(orgs);
    is_slow((i % orgs) * per_org + i / orgs, fraction)
}

/// Runs the scenario and returns its report.
pub async fn run(options: &RunOptions, params: &SlowParams) -> anyhow::Result<Report> {
    let duration = options.checked_duration()?;
    anyhow::ensure!(
        (1..=MAX_CLIENTS).contains(&params.clients),
        "--clients must be within 1..={MAX_CLIENTS}"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&params.slow_fraction),
        "--slow-fraction must be within 0..=1"
    );
    anyhow::ensure!(
        params.slow_delay <= Duration::from_secs(10),
        "--slow-delay must be at most 10s"
    );
    anyhow::ensure!(
        params.crisis_burst <= 10_000,
        "--crisis-burst must be at most 10000"
    );
    params.load().check()?;
    let run_id = new_run_id();
    let factory = RecordFactory::new(&run_id);
    let live = Arc::new(Live::default());
    let drain = params.drain.min(MAX_DRAIN);
    let (crisis_index, active_before) = if params.crisis_burst > 0 {
        crisis_org(options, params.crisis_org.as_deref()).await?
    } else {
        (0, None)
    };
    let hard_deadline = Instant::now() + params.connect_timeout + duration + drain + STOP_GRACE;
    let (shared, phase) = options
        .ws_shared(&factory, &live, hard_deadline, None, None)
        .await?;
    let slow_pace = match params.mode {
        SlowMode::Delay => Pace::Delay(params.slow_delay),
        SlowMode::Stall => Pace::Stall,
    };
    let mut specs = options.ws_specs(
        params.clients,
        |i| {
            if client_is_slow(i, params.clients, options.orgs.len(), params.slow_fraction) {
                slow_pace
            } else {
                Pace::Fast
            }
        },
        |_| None,
    );
    if params.slow_recv_buffer > 0 {
        for spec in specs.iter_mut().filter(|s| s.pace != Pace::Fast) {
            spec.recv_buffer = Some(params.slow_recv_buffer);
        }
    }
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
    let measure_start = Instant::from_std(harness.started);
    let _ = phase.send(Phase::Measure);
    let burst = async {
        if params.crisis_burst == 0 {
            return anyhow::Ok(None);
        }
        // Half-way, when the slow sockets' queues have had time to fill.
        tokio::time::sleep_until(measure_start + duration / 2).await;
        let posted_at_us = clients::now_us();
        let posted_after = measure_start.elapsed();
        let accepted = post_crisis_burst(
            options,
            &factory,
            &options.orgs[crisis_index],
            params.crisis_burst,
        )
        .await?;
        Ok(Some((posted_at_us, posted_after, accepted)))
    };
    let load = params.load();
    let ingest = open_loop_ingest(options, &load, &factory, &live, duration);
    let (burst, ingest) = tokio::join!(burst, ingest);
    let posted = burst?;
    let (tally, mut per_org_accepted, ingest_elapsed) = ingest?;
    // The burst's mentions carry this run's prefix too: count them in the delivery ratio.
    if let Some((_, _, accepted)) = posted {
        per_org_accepted[crisis_index] += accepted;
    }
    tokio::time::sleep(drain).await;
    let measured = harness.started.elapsed();
    let _ = phase.send(Phase::Stop);
    let all = clients::join_all(running).await?;
    let (server, loadtest) = harness.finish().await;

    let class = |slow: bool| {
        let members: Vec<&ClientTally> = all
            .iter()
            .filter(|t| (t.pace != Pace::Fast) == slow)
            .collect();
        let latency = shared.latency.class(slow);
        let delivery = delivery_of(&members, &per_org_accepted, options.orgs.len(), measured);
        ClassFigures {
            clients: members.len() as u64,
            latency: LatencySummary::of(&latency.all),
            latency_own: LatencySummary::of(&latency.own),
            mention_frames: delivery.mention_frames,
            own_delivery_ratio: delivery.own_delivery_ratio,
            sequence: clients::sequence_figures(members.iter().copied()),
            closed_4008: members
                .iter()
                .filter(|t| t.clients.close_codes.contains_key(&SLOW_CONSUMER_CLOSE))
                .count() as u64,
            crisis_received: members
                .iter()
                .filter(|t| t.crisis_detected_us.is_some())
                .count() as u64,
            connections: ClientFigures {
                subscribed_at_start: members.iter().filter(|t| t.subscribed_once).count() as u64,
                ..clients::client_figures(members.iter().copied())
            },
        }
    };
    let crisis = posted.map(|(posted_at_us, posted_after, accepted)| {
        crisis_check(
            &all,
            crisis_index,
            &options.orgs[crisis_index],
            params.crisis_burst as u64,
            accepted,
            active_before,
            posted_at_us,
            posted_after,
        )
    });
    let slow = SlowFigures {
        mode: match params.mode {
            SlowMode::Delay => "delay",
            SlowMode::Stall => "stall",
        }
        .to_owned(),
        delay_ms: params.slow_delay.as_secs_f64() * 1000.0,
        subscribed_at_start,
        fast: class(false),
        slow: class(true),
        crisis,
    };
    Ok(Report {
        scenario: "slow-consumers".to_owned(),
        run_id,
        target: options.target.http_base(),
        orgs: options.orgs.clone(),
        params: json!({
            "duration_s": duration.as_secs_f64(),
            "clients": params.clients,
            "slow_fraction": params.slow_fraction,
            "slow_mode": slow.mode,
            "slow_delay_ms": slow.delay_ms,
            "slow_recv_buffer": params.slow_recv_buffer,
            "rate": params.rate,
            "batch": params.batch,
            "max_in_flight": params.max_in_flight,
            "crisis_burst": params.crisis_burst,
            "drain_s": drain.as_secs_f64(),
            "max_mentions": options.max_mentions,
            "source_ips": options.sources,
        }),
        elapsed_s: measured.as_secs_f64(),
        ingest: tally.figures(ingest_elapsed),
        slow: Some(slow),
        ..Report::empty(server, loadtest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_clients_are_spread_evenly() {
        let slow: Vec<usize> = (0..30).filter(|&i| is_slow(i, 0.1)).collect();
        assert_eq!(slow, [9, 19, 29]);
        assert_eq!((0..100).filter(|&i| is_slow(i, 0.25)).count(), 25);
        assert_eq!((0..10).filter(|&i| is_slow(i, 0.0)).count(), 0);
        assert_eq!((0..10).filter(|&i| is_slow(i, 1.0)).count(), 10);
        // 100 clients over 10 organisations: one slow client in each.
        let slow_orgs: std::collections::BTreeSet<usize> = (0..100)
            .filter(|&i| client_is_slow(i, 100, 10, 0.1))
            .map(|i| i % 10)
            .collect();
        assert_eq!(slow_orgs.len(), 10);
        assert_eq!(
            (0..100).filter(|&i| client_is_slow(i, 100, 3, 0.1)).count(),
            10
        );
    }
}

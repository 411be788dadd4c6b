//! Scenario `reconnect-storm`: clients subscribe, mentions are ingested at a fixed rate,
//! and at `--storm-at` every client's connection drops at once; each reconnects at a
//! random offset within `--storm-window`, resuming with its `last_seq` and `epoch`.
//! During the storm a burst of strongly negative mentions raises a crisis in one
//! organisation, and every client of that organisation must get `crisis:detected`
//! (live or replayed). Measures how long until all are back, reconnect times, resume
//! outcomes and frames missed after resume.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::clients::{self, ClientTally, Kind, Pace, Phase, SeqKinds};
use super::fanout::delivery_of;
use super::{
    crisis_org, open_loop_ingest, post_crisis_burst, Harness, OpenLoop, RunOptions, MAX_CLIENTS,
    MAX_DRAIN, STOP_GRACE,
};
use crate::live::Live;
use crate::records::{new_run_id, RecordFactory};
use crate::report::{
    latency_histogram, record, CrisisCheck, LatencySummary, MissedFrames, Report, StormFigures,
};

/// Most sequence numbers looked up per skipped range (bounds the classification work).
const MAX_CLASSIFIED_PER_RANGE: u64 = 100_000;

/// Parameters of the reconnect-storm scenario.
#[derive(Debug, Clone)]
pub struct StormParams {
    /// WebSocket clients, spread round-robin over the organisations.
    pub clients: usize,
    /// Ingest load over the whole run (mentions/s, all organisations together).
    pub rate: f64,
    /// Records per ingest request.
    pub batch: usize,
    /// Ingest requests outstanding at most.
    pub max_in_flight: usize,
    /// How long to wait for every client to subscribe before measuring.
    pub connect_timeout: Duration,
    /// When the storm starts, after the measurement started.
    pub storm_at: Duration,
    /// Clients reconnect at random offsets within this long after the storm's start.
    pub storm_window: Duration,
    /// Strongly negative mentions posted in the middle of the storm (0: none).
    pub crisis_burst: usize,
    /// Organisation for the burst (default: the first one with no active crisis).
    pub crisis_org: Option<String>,
    /// How long clients keep measuring after the ingest ended.
    pub drain: Duration,
}

impl StormParams {
    fn load(&self) -> OpenLoop {
        OpenLoop {
            rate: self.rate,
            batch: self.batch,
            max_in_flight: self.max_in_flight,
        }
    }
}

/// Runs the scenario and returns its report.
pub async fn run(options: &RunOptions, params: &StormParams) -> anyhow::Result<Report> {
    let duration = options.checked_duration()?;
    anyhow::ensure!(
        (1..=MAX_CLIENTS).contains(&params.clients),
        "--clients must be within 1..={MAX_CLIENTS}"
    );
    params.load().check()?;
    anyhow::ensure!(
        params.storm_at + params.storm_window < duration,
        "--storm-at + --storm-window must end before --duration"
    );
    anyhow::ensure!(
        params.crisis_burst <= 10_000,
        "--crisis-burst must be at most 10000"
    );
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
    let (storm_tx, storm_rx) = watch::channel(None);
    let kinds = Arc::new(SeqKinds::new(options.orgs.len()));
    let (shared, phase) = options
        .ws_shared(
            &factory,
            &live,
            hard_deadline,
            Some(storm_rx),
            Some(Arc::clone(&kinds)),
        )
        .await?;
    // Offsets uniform in [0, window), different every run.
    let seed = u64::from_str_radix(&run_id, 16).unwrap_or(0);
    let window = params.storm_window;
    let specs = options.ws_specs(
        params.clients,
        |_| Pace::Fast,
        |i| {
            let unit = clients::mix(seed ^ i as u64) as f64 / u64::MAX as f64;
            Some(window.mul_f64(unit))
        },
    );
    let (running, subscribed_at_start) =
        clients::start_all(&shared, specs, params.connect_timeout).await;
    if options.progress {
        eprintln!(
            "{subscribed_at_start}/{} clients subscribed; measuring for {:.1}s, storm at {:.1}s",
            params.clients,
            duration.as_secs_f64(),
            params.storm_at.as_secs_f64()
        );
    }

    let harness = Harness::start(options, Arc::clone(&live))?;
    let measure_start = Instant::from_std(harness.started);
    let _ = phase.send(Phase::Measure);
    let storm = async {
        tokio::time::sleep_until(measure_start + params.storm_at).await;
        let before = live.connected.load(std::sync::atomic::Ordering::Relaxed);
        let start = Instant::now();
        let _ = storm_tx.send(Some(start));
        if options.progress {
            eprintln!("storm: {before} clients dropping, reconnecting within {window:?}");
        }
        let mut posted = None;
        if params.crisis_burst > 0 {
            tokio::time::sleep_until(start + window / 2).await;
            let posted_at_us = clients::now_us();
            let posted_after = measure_start.elapsed();
            let accepted = post_crisis_burst(
                options,
                &factory,
                &options.orgs[crisis_index],
                params.crisis_burst,
            )
            .await?;
            posted = Some((posted_at_us, posted_after, accepted));
        }
        anyhow::Ok((before, posted))
    };
    let load = params.load();
    let ingest = open_loop_ingest(options, &load, &factory, &live, duration);
    let (storm, ingest) = tokio::join!(storm, ingest);
    let (subscribed_before_storm, posted) = storm?;
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

    let refs: Vec<&ClientTally> = all.iter().collect();
    let mut figures = combine(&all, &kinds);
    figures.subscribed_before_storm = subscribed_before_storm;
    figures.delivery = delivery_of(&refs, &per_org_accepted, options.orgs.len(), measured);
    figures.clients.subscribed_at_start = subscribed_at_start;
    if let Some((posted_at_us, posted_after, accepted)) = posted {
        figures.crisis = crisis_check(
            &all,
            crisis_index,
            &options.orgs[crisis_index],
            params.crisis_burst as u64,
            accepted,
            active_before,
            posted_at_us,
            posted_after,
        );
    }
    Ok(Report {
        scenario: "reconnect-storm".to_owned(),
        run_id,
        target: options.target.http_base(),
        orgs: options.orgs.clone(),
        params: json!({
            "duration_s": duration.as_secs_f64(),
            "clients": params.clients,
            "rate": params.rate,
            "batch": params.batch,
            "max_in_flight": params.max_in_flight,
            "storm_at_s": params.storm_at.as_secs_f64(),
            "storm_window_s": params.storm_window.as_secs_f64(),
            "crisis_burst": params.crisis_burst,
            "drain_s": drain.as_secs_f64(),
            "max_mentions": options.max_mentions,
            "source_ips": options.sources,
        }),
        elapsed_s: measured.as_secs_f64(),
        ingest: tally.figures(ingest_elapsed),
        storm: Some(figures),
        ..Report::empty(server, loadtest)
    })
}

/// Whether every client of the crisis organisation got `crisis:detected`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn crisis_check(
    all: &[ClientTally],
    org_index: usize,
    org: &str,
    burst: u64,
    accepted: u64,
    active_before: Option<u64>,
    posted_at_us: i64,
    posted_after: Duration,
) -> CrisisCheck {
    let mut check = CrisisCheck {
        org: org.to_owned(),
        burst,
        accepted,
        active_before,
        posted_at_ms: posted_after.as_secs_f64() * 1000.0,
        ..CrisisCheck::default()
    };
    let mut first: Option<i64> = None;
    let mut last: Option<i64> = None;
    for t in all
        .iter()
        .filter(|t| t.org == org_index && t.subscribed_once)
    {
        check.subscribers += 1;
        match t.crisis_detected_us {
            Some(at) => {
                check.received += 1;
                first = Some(first.map_or(at, |f| f.min(at)));
                last = Some(last.map_or(at, |l| l.max(at)));
            }
            None => check.missing += 1,
        }
    }
    let after = |at: i64| (at - posted_at_us) as f64 / 1000.0;
    check.first_received_after_ms = first.map(after);
    check.last_received_after_ms = last.map(after);
    check
}

/// The storm figures of all clients (crisis, delivery and start counts are filled in by
/// the caller).
fn combine(all: &[ClientTally], kinds: &SeqKinds) -> StormFigures {
    let mut reconnect = latency_histogram();
    let mut back = latency_histogram();
    let mut f = StormFigures {
        sequence: clients::sequence_figures(all),
        clients: clients::client_figures(all),
        ..StormFigures::default()
    };
    let mut all_back_us: u64 = 0;
    for t in all.iter().filter(|t| t.storm.dropped) {
        let s = &t.storm;
        f.dropped += 1;
        match s.back_after_us {
            Some(us) => {
                f.resubscribed += 1;
                all_back_us = all_back_us.max(us);
                record(&mut back, i64::try_from(us).unwrap_or(i64::MAX));
            }
            None => f.not_back += 1,
        }
        if let Some(us) = s.reconnect_us {
            record(&mut reconnect, i64::try_from(us).unwrap_or(i64::MAX));
        }
        match s.recovered {
            Some(true) => f.recovered += 1,
            Some(false) => f.not_recovered += 1,
            None => {}
        }
        f.replayed_frames += s.replayed;
        f.lost_on_failed_resume += s.lost_on_failed_resume;
        f.retries += u64::from(s.attempts.saturating_sub(1));
        f.gap_frames_after_resume += t.seq.figures.gap_frames - s.gaps_at_drop.0;
        f.gap_dropped_after_resume += t.seq.figures.gap_dropped_frames - s.gaps_at_drop.1;
        let after = s.seq_at_drop.unwrap_or(0);
        for &(from, to) in t.seq.skipped.iter().filter(|(from, _)| *from > after) {
            let to = to.min(from + MAX_CLASSIFIED_PER_RANGE - 1);
            for seq in from..=to {
                let m = &mut f.missed_after_resume;
                match kinds.kind(t.org, seq) {
                    Some(Kind::Mentions) => m.mention_stream += 1,
                    Some(Kind::Crisis) => m.crisis += 1,
                    Some(Kind::System) => m.system += 1,
                    Some(Kind::Snapshot) => m.conflated_snapshots += 1,
                    None => m.unknown += 1,
                }
            }
        }
    }
    let m: &mut MissedFrames = &mut f.missed_after_resume;
    m.total = m.mention_stream + m.crisis + m.system;
    if f.dropped > 0 && f.not_back == 0 {
        f.all_back_after_ms = Some(all_back_us as f64 / 1000.0);
    }
    f.reconnect_time = LatencySummary::of(&reconnect);
    f.back_after = LatencySummary::of(&back);
    f
}

//! Scenario `idle`: many subscribed WebSocket clients and no ingest (beyond whatever
//! mock sources the organisations have): the server's memory per idle socket, from its
//! RSS before connecting and after all are connected and settled.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::time::Instant;

use super::clients::{self, Pace, Phase};
use super::{Harness, RunOptions, MAX_CLIENTS, STOP_GRACE};
use crate::live::Live;
use crate::procstat::Probe;
use crate::records::{new_run_id, RecordFactory};
use crate::report::{IdleFigures, Report};

/// Parameters of the idle scenario.
#[derive(Debug, Clone)]
pub struct IdleParams {
    /// WebSocket clients, spread round-robin over the organisations.
    pub clients: usize,
    /// How long to wait for every client to subscribe.
    pub connect_timeout: Duration,
}

/// Runs the scenario: connect, hold for `--duration` (the settling time), sample, close.
pub async fn run(options: &RunOptions, params: &IdleParams) -> anyhow::Result<Report> {
    let hold = options.checked_duration()?;
    anyhow::ensure!(
        (1..=MAX_CLIENTS).contains(&params.clients),
        "--clients must be within 1..={MAX_CLIENTS}"
    );
    let run_id = new_run_id();
    // No mentions are sent; the factory only provides the (unused) own-frame marker.
    let factory = RecordFactory::new(&run_id);
    let live = Arc::new(Live::default());
    let server_probe = options.server_pid.map(Probe::pid);
    let me = Probe::this_process();
    let rss = |probe: &Probe| probe.sample().map(|s| s.rss_kib);
    let server_before = server_probe
        .as_ref()
        .map(|p| rss(p).context("sampling --server-pid before connecting"))
        .transpose()?;
    let me_before = rss(&me).ok();

    let hard_deadline = Instant::now() + params.connect_timeout + hold + STOP_GRACE;
    let (shared, phase) = options
        .ws_shared(&factory, &live, hard_deadline, None, None)
        .await?;
    // The progress line shows the sockets connecting.
    let harness = Harness::start(options, Arc::clone(&live))?;
    let connect_started = Instant::now();
    let specs = options.ws_specs(params.clients, |_| Pace::Fast, |_| None);
    let (running, subscribed) = clients::start_all(&shared, specs, params.connect_timeout).await;
    let connect_s = connect_started.elapsed().as_secs_f64();
    let server_connected = server_probe.as_ref().and_then(|p| rss(p).ok());
    if options.progress {
        eprintln!(
            "{subscribed}/{} sockets subscribed in {connect_s:.1}s; holding for {:.1}s",
            params.clients,
            hold.as_secs_f64()
        );
    }
    let _ = phase.send(Phase::Measure);
    tokio::time::sleep(hold).await;
    let server_settled = server_probe.as_ref().and_then(|p| rss(p).ok());
    let me_settled = rss(&me).ok();
    let subscribed_at_end = live.connected.load(Ordering::Relaxed);
    let _ = phase.send(Phase::Stop);
    let all = clients::join_all(running).await?;
    let elapsed = harness.started.elapsed();
    let (server, loadtest) = harness.finish().await;

    let per_socket = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) if subscribed > 0 => Some((a as f64 - b as f64) / subscribed as f64),
        _ => None,
    };
    let mut clients = clients::client_figures(&all);
    clients.subscribed_at_start = subscribed;
    let idle = IdleFigures {
        requested: params.clients as u64,
        subscribed,
        subscribed_at_end,
        connect_s,
        server_rss_before_kib: server_before,
        server_rss_connected_kib: server_connected,
        server_rss_settled_kib: server_settled,
        server_kib_per_socket: per_socket(server_before, server_settled),
        loadtest_kib_per_socket: per_socket(me_before, me_settled),
        frames_received: all
            .iter()
            .map(|t| t.delivery.mention_frames + t.delivery.other_frames)
            .sum(),
        clients,
    };
    Ok(Report {
        scenario: "idle".to_owned(),
        run_id,
        target: options.target.http_base(),
        orgs: options.orgs.clone(),
        params: json!({
            "hold_s": hold.as_secs_f64(),
            "clients": params.clients,
            "connect_timeout_s": params.connect_timeout.as_secs_f64(),
            "source_ips": options.sources,
        }),
        elapsed_s: elapsed.as_secs_f64(),
        idle: Some(idle),
        ..Report::empty(server, loadtest)
    })
}

//! Scenario `fanout`: WebSocket clients spread over organisations, all channels, while
//! mentions are ingested at a fixed rate (open loop). Measures ingest-to-client latency
//! per mention-stream frame, delivery, sequence gaps and disconnects.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use warroom_engine::wire::{events, Frame, GapData, SubscribedData};

use super::{http_client, post_batch, Answer, Harness, IngestTally, RunOptions};
use crate::live::Live;
use crate::records::{new_run_id, RecordFactory};
use crate::report::{
    latency_histogram, record, ClientFigures, DeliveryFigures, FanoutFigures, LatencySummary,
    Report, SequenceFigures,
};

/// Most reconnection attempts per client in one run (keeps the loop bounded).
const MAX_ATTEMPTS: u32 = 1000;
/// Simultaneous WebSocket handshakes while connecting the clients.
const CONNECT_PARALLELISM: usize = 64;
/// Extra time clients and requests get after the run before they are abandoned.
const STOP_GRACE: Duration = Duration::from_secs(10);

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

/// Phase of the run, broadcast to the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Connecting: frames are read and sequence-checked but not measured.
    Warmup,
    /// Measuring.
    Measure,
    /// Close and report.
    Stop,
}

/// A frame's payload reduced to its number of array elements (mentions in a
/// mention-stream frame): one pass over the JSON without building values.
struct Items(u64);

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemsVisitor)
    }
}

struct ItemsVisitor;

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = Items;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Items(n))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Items, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Items(0))
    }

    fn visit_str<E>(self, _: &str) -> Result<Items, E> {
        Ok(Items(0))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Items, E> {
        Ok(Items(0))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Items, E> {
        Ok(Items(0))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Items, E> {
        Ok(Items(0))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Items, E> {
        Ok(Items(0))
    }

    fn visit_unit<E>(self) -> Result<Items, E> {
        Ok(Items(0))
    }
}

/// Sequence-number bookkeeping of one client across its connections.
#[derive(Debug, Default)]
struct SeqCheck {
    /// Last stream `seq` processed.
    last: Option<u64>,
    /// `seq` of the latest `subscribed` frame: the initial snapshots that follow carry
    /// numbers up to it.
    floor: u64,
    /// Highest sequence number announced as dropped by a `gap` frame.
    announced_upto: u64,
    figures: SequenceFigures,
}

impl SeqCheck {
    fn subscribed(&mut self, data: &SubscribedData, resumed: bool) {
        // A successful resume continues the old numbering (replayed frames follow);
        // otherwise the stream restarts at the announced number.
        if !(resumed && data.recovered) {
            self.last = Some(data.seq);
        }
        self.floor = data.seq;
    }

    fn gap(&mut self, gap: &GapData) {
        self.figures.gap_frames += 1;
        self.figures.gap_dropped_frames += gap.dropped;
        self.announced_upto = self.announced_upto.max(gap.to_seq);
    }

    /// Returns whether this frame revealed an unannounced skip.
    fn stream(&mut self, seq: u64) -> bool {
        let Some(last) = self.last else {
            self.last = Some(seq);
            return false;
        };
        if seq == last + 1 {
            self.last = Some(seq);
            false
        } else if seq > last + 1 {
            self.last = Some(seq);
            if self.announced_upto >= seq - 1 {
                false
            } else {
                self.figures.unannounced_skips += 1;
                self.figures.unannounced_missing += seq - last - 1;
                true
            }
        } else {
            // The snapshots sent right after `subscribed` carry older numbers.
            if !(seq <= self.floor && last == self.floor) {
                self.figures.out_of_order += 1;
            }
            false
        }
    }
}

/// What one client saw.
struct ClientTally {
    org: usize,
    latency_all: Histogram<u64>,
    latency_own: Histogram<u64>,
    delivery: DeliveryFigures,
    seq: SeqCheck,
    clients: ClientFigures,
    subscribed_once: bool,
}

impl ClientTally {
    fn new(org: usize) -> Self {
        Self {
            org,
            latency_all: latency_histogram(),
            latency_own: latency_histogram(),
            delivery: DeliveryFigures::default(),
            seq: SeqCheck::default(),
            clients: ClientFigures::default(),
            subscribed_once: false,
        }
    }
}

/// How a connection ended.
enum End {
    /// The run is over.
    Stopped,
    /// The server closed it (close code if any) or it broke.
    Lost(Option<u16>),
}

/// Everything a client task needs.
#[derive(Clone)]
struct ClientCtx {
    url: String,
    /// `"lt<run>-`: a frame whose text contains it carries this run's mentions.
    needle: Arc<str>,
    phase: watch::Receiver<Phase>,
    live: Arc<Live>,
    hard_deadline: Instant,
    connect_slots: Arc<Semaphore>,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// One client: connect, read until the run stops, reconnect (with resume) when lost.
async fn client(mut ctx: ClientCtx, org: usize) -> ClientTally {
    let mut tally = ClientTally::new(org);
    let mut resume: Option<(u64, String)> = None;
    let mut backoff = Duration::from_millis(100);
    for attempt in 0..MAX_ATTEMPTS {
        if *ctx.phase.borrow() == Phase::Stop || Instant::now() >= ctx.hard_deadline {
            break;
        }
        let url = match &resume {
            Some((seq, epoch)) => format!("{}&last_seq={seq}&epoch={epoch}", ctx.url),
            None => ctx.url.clone(),
        };
        let connected = {
            // Bounded parallel handshakes; a closed semaphore cannot happen (never closed).
            let _slot = ctx.connect_slots.acquire().await;
            tokio::time::timeout(
                Duration::from_secs(5),
                tokio_tungstenite::connect_async(url),
            )
            .await
        };
        let mut socket = match connected {
            Ok(Ok((socket, _))) => socket,
            _ => {
                tally.clients.connect_failures += 1;
                pause(&mut ctx, &mut backoff).await;
                continue;
            }
        };
        if attempt > 0 {
            tally.clients.reconnects += 1;
        }
        let (end, epoch) = session(&mut socket, &mut ctx, &mut tally, resume.is_some()).await;
        match end {
            End::Stopped => {
                // Polite close, bounded: the report does not wait on a slow server.
                let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
                break;
            }
            End::Lost(code) => {
                tally.clients.disconnects += 1;
                Live::inc(&ctx.live.disconnects);
                if let Some(code) = code {
                    *tally.clients.close_codes.entry(code).or_default() += 1;
                }
                if let (Some(last), Some(epoch)) = (tally.seq.last, epoch) {
                    resume = Some((last, epoch));
                }
                pause(&mut ctx, &mut backoff).await;
            }
        }
    }
    tally
}

/// Sleeps `backoff` (doubling up to 2 s) unless the run stops first.
async fn pause(ctx: &mut ClientCtx, backoff: &mut Duration) {
    tokio::select! {
        _ = tokio::time::sleep(*backoff) => {}
        _ = ctx.phase.wait_for(|p| *p == Phase::Stop) => {}
        _ = tokio::time::sleep_until(ctx.hard_deadline) => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(2));
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads one connection until the run stops or the connection is lost. Returns how it
/// ended and the stream epoch (for resuming).
async fn session(
    socket: &mut Socket,
    ctx: &mut ClientCtx,
    tally: &mut ClientTally,
    resumed: bool,
) -> (End, Option<String>) {
    let mut measuring = *ctx.phase.borrow() == Phase::Measure;
    let mut epoch = None;
    let mut counted_connected = false;
    let end = loop {
        // No `biased`: a busy socket must not starve the stop signal.
        let message = tokio::select! {
            message = socket.next() => message,
            changed = ctx.phase.changed() => {
                let phase = *ctx.phase.borrow();
                if changed.is_err() || phase == Phase::Stop {
                    break End::Stopped;
                }
                measuring = phase == Phase::Measure;
                continue;
            }
            _ = tokio::time::sleep_until(ctx.hard_deadline) => break End::Stopped,
        };
        let received_us = now_us();
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => break End::Lost(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break End::Lost(None),
        };
        let Ok(frame) = serde_json::from_str::<Frame<Items>>(text.as_str()) else {
            continue;
        };
        match frame.event.as_str() {
            events::MENTION_STREAM => {
                if tally.seq.stream(frame.seq) {
                    Live::inc(&ctx.live.gaps);
                }
                if !measuring {
                    tally.delivery.warmup_frames += 1;
                    continue;
                }
                let d = &mut tally.delivery;
                d.mention_frames += 1;
                d.mentions += frame.data.0;
                Live::inc(&ctx.live.frames);
                let own = text.as_str().matches(&*ctx.needle).count() as u64;
                if let Some(ingested) = frame.ingested_at_us {
                    let latency = received_us - ingested;
                    record(&mut tally.latency_all, latency);
                    if own > 0 {
                        record(&mut tally.latency_own, latency);
                    }
                    ctx.live
                        .interval_max_latency_us
                        .fetch_max(u64::try_from(latency).unwrap_or(0), Ordering::Relaxed);
                }
                if own > 0 {
                    d.own_frames += 1;
                    d.own_mentions += own;
                }
            }
            events::SUBSCRIBED => {
                if let Ok(full) = serde_json::from_str::<Frame<SubscribedData>>(text.as_str()) {
                    if resumed && !full.data.recovered {
                        tally.clients.resume_failures += 1;
                    }
                    tally.seq.subscribed(&full.data, resumed);
                    epoch = Some(full.data.epoch);
                    if !counted_connected {
                        counted_connected = true;
                        tally.subscribed_once = true;
                        ctx.live.connected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            events::GAP => {
                if let Ok(full) = serde_json::from_str::<Frame<GapData>>(text.as_str()) {
                    tally.seq.gap(&full.data);
                    Live::inc(&ctx.live.gaps);
                }
            }
            _ if frame.seq > 0 => {
                if tally.seq.stream(frame.seq) {
                    Live::inc(&ctx.live.gaps);
                }
                if measuring {
                    tally.delivery.other_frames += 1;
                } else {
                    tally.delivery.warmup_frames += 1;
                }
            }
            // Other control frames (`error`, `pong`) are not part of the stream.
            _ => {}
        }
    };
    if counted_connected {
        ctx.live.connected.fetch_sub(1, Ordering::Relaxed);
    }
    (end, epoch)
}

/// Runs the scenario and returns its report.
pub async fn run(options: &RunOptions, params: &FanoutParams) -> anyhow::Result<Report> {
    let duration = options.checked_duration()?;
    anyhow::ensure!(
        (1..=10_000).contains(&params.clients),
        "--clients must be within 1..=10000"
    );
    anyhow::ensure!(
        params.rate >= 0.0 && params.rate <= 1_000_000.0,
        "--rate must be within 0..=1000000"
    );
    anyhow::ensure!(params.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(
        params.max_in_flight >= 1,
        "--max-in-flight must be at least 1"
    );
    let run_id = new_run_id();
    let factory = RecordFactory::new(&run_id);
    let live = Arc::new(Live::default());
    let (phase_tx, phase_rx) = watch::channel(Phase::Warmup);
    let hard_deadline = Instant::now()
        + params.connect_timeout
        + duration
        + params.drain.min(MAX_DRAIN)
        + STOP_GRACE;

    // Connect every client, then wait (bounded) until all have subscribed.
    let connect_slots = Arc::new(Semaphore::new(CONNECT_PARALLELISM));
    let needle: Arc<str> = Arc::from(format!("\"{}", factory.prefix()));
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..params.clients {
        let org = i % options.orgs.len();
        let ctx = ClientCtx {
            url: options.target.ws_url(&options.orgs[org]),
            needle: Arc::clone(&needle),
            phase: phase_rx.clone(),
            live: Arc::clone(&live),
            hard_deadline,
            connect_slots: Arc::clone(&connect_slots),
        };
        clients.spawn(client(ctx, org));
    }
    let connect_deadline = Instant::now() + params.connect_timeout;
    while (live.connected.load(Ordering::Relaxed) as usize) < params.clients
        && Instant::now() < connect_deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let subscribed_at_start = live.connected.load(Ordering::Relaxed);
    if options.progress {
        eprintln!(
            "{subscribed_at_start}/{} clients subscribed; measuring for {:.1}s",
            params.clients,
            duration.as_secs_f64()
        );
    }

    let harness = Harness::start(options, Arc::clone(&live))?;
    // Receiving frames from now on counts.
    let _ = phase_tx.send(Phase::Measure);
    let (tally, per_org_accepted, ingest_elapsed) =
        ingest_load(options, params, &factory, &live, duration).await?;
    tokio::time::sleep(params.drain.min(MAX_DRAIN)).await;
    let measured = harness.started.elapsed();
    let _ = phase_tx.send(Phase::Stop);

    let mut all = Vec::with_capacity(params.clients);
    while let Some(done) = clients.join_next().await {
        all.push(done.context("a WebSocket client panicked")?);
    }
    let (server, loadtest) = harness.finish().await;
    let fanout = combine(
        &all,
        params.clients,
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
            "drain_s": params.drain.min(MAX_DRAIN).as_secs_f64(),
            "max_mentions": options.max_mentions,
        }),
        elapsed_s: measured.as_secs_f64(),
        ingest: tally.figures(ingest_elapsed),
        fanout: Some(fanout),
        server,
        loadtest,
    })
}

/// Longest drain honoured.
const MAX_DRAIN: Duration = Duration::from_secs(10);

/// Sends `rate` mentions/s in batches, round-robin over the organisations, for
/// `duration`. Returns the tally, accepted mentions per organisation, and the time taken.
async fn ingest_load(
    options: &RunOptions,
    params: &FanoutParams,
    factory: &RecordFactory,
    live: &Arc<Live>,
    duration: Duration,
) -> anyhow::Result<(IngestTally, Vec<u64>, Duration)> {
    let mut tally = IngestTally::new();
    let mut per_org = vec![0u64; options.orgs.len()];
    let started = Instant::now();
    if params.rate <= 0.0 {
        tokio::time::sleep(duration).await;
        return Ok((tally, per_org, started.elapsed()));
    }
    let client = http_client(params.max_in_flight)?;
    let urls: Vec<String> = options
        .orgs
        .iter()
        .map(|org| options.target.ingest_url(org))
        .collect();
    let deadline = started + duration;
    let period = Duration::from_secs_f64(params.batch as f64 / params.rate);
    let mut ticker = tokio::time::interval(period);
    // Catch up after a hiccup of the load tester itself, so the offered rate holds.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let in_flight = Arc::new(Semaphore::new(params.max_in_flight));
    let mut requests = tokio::task::JoinSet::new();
    let mut sent: u64 = 0;
    let mut batch_no: usize = 0;
    // The loop is bounded by the deadline (and by --max-mentions).
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
        if Instant::now() >= deadline {
            break;
        }
        while let Some(done) = requests.try_join_next() {
            apply(&mut tally, &mut per_org, done, live);
        }
        let n = match options.max_mentions {
            Some(max) if sent >= max => break,
            Some(max) => params.batch.min((max - sent) as usize),
            None => params.batch,
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
        requests.spawn(async move {
            let (answer, took) = post_batch(&client, &url, body).await;
            drop(permit);
            (org, n, answer, took)
        });
    }
    let elapsed = started.elapsed();
    let give_up = Instant::now() + STOP_GRACE;
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

/// Merges the clients' tallies into the report figures.
fn combine(
    all: &[ClientTally],
    requested: usize,
    subscribed_at_start: u64,
    per_org_accepted: &[u64],
    orgs: usize,
    measured: Duration,
) -> FanoutFigures {
    let mut latency_all = latency_histogram();
    let mut latency_own = latency_histogram();
    let mut delivery = DeliveryFigures::default();
    let mut sequence = SequenceFigures::default();
    let mut clients = ClientFigures {
        requested: requested as u64,
        subscribed_at_start,
        close_codes: BTreeMap::new(),
        ..ClientFigures::default()
    };
    let mut subscribers = vec![0u64; orgs];
    for t in all {
        // Same bounds everywhere, so adding cannot fail.
        let _ = latency_all.add(&t.latency_all);
        let _ = latency_own.add(&t.latency_own);
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
        let s = &t.seq.figures;
        sequence.gap_frames += s.gap_frames;
        sequence.gap_dropped_frames += s.gap_dropped_frames;
        sequence.unannounced_skips += s.unannounced_skips;
        sequence.unannounced_missing += s.unannounced_missing;
        sequence.out_of_order += s.out_of_order;
        let c = &t.clients;
        clients.disconnects += c.disconnects;
        clients.reconnects += c.reconnects;
        clients.resume_failures += c.resume_failures;
        clients.connect_failures += c.connect_failures;
        for (code, n) in &c.close_codes {
            *clients.close_codes.entry(*code).or_default() += n;
        }
    }
    sequence.gaps_total = sequence.gap_frames + sequence.unannounced_skips;
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
    FanoutFigures {
        latency_all_frames: LatencySummary::of(&latency_all),
        latency_own_frames: LatencySummary::of(&latency_own),
        delivery,
        sequence,
        clients,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribed(seq: u64, recovered: bool) -> SubscribedData {
        SubscribedData {
            epoch: "e".to_owned(),
            seq,
            recovered,
            replayed: 0,
            channels: Vec::new(),
        }
    }

    #[test]
    fn consecutive_frames_after_snapshots_are_clean() {
        let mut s = SeqCheck::default();
        s.subscribed(&subscribed(10, true), false);
        for seq in [7, 9, 11, 12, 13] {
            assert!(!s.stream(seq));
        }
        assert_eq!(s.figures.unannounced_skips, 0);
        assert_eq!(s.figures.out_of_order, 0);
    }

    #[test]
    fn announced_and_unannounced_gaps_are_told_apart() {
        let mut s = SeqCheck::default();
        s.subscribed(&subscribed(0, true), false);
        assert!(!s.stream(1));
        s.gap(&GapData {
            from_seq: 2,
            to_seq: 4,
            dropped: 3,
        });
        assert!(!s.stream(5));
        assert!(s.stream(8));
        assert!(!s.stream(6));
        assert_eq!(s.figures.gap_frames, 1);
        assert_eq!(s.figures.gap_dropped_frames, 3);
        assert_eq!(s.figures.unannounced_skips, 1);
        assert_eq!(s.figures.unannounced_missing, 2);
        assert_eq!(s.figures.out_of_order, 1);
    }

    #[test]
    fn a_failed_resume_restarts_the_numbering() {
        let mut s = SeqCheck::default();
        s.subscribed(&subscribed(5, true), false);
        assert!(!s.stream(6));
        s.subscribed(&subscribed(100, false), true);
        assert!(!s.stream(101));
        s.subscribed(&subscribed(120, true), true);
        assert!(!s.stream(102));
        assert_eq!(s.figures.unannounced_skips, 0);
    }

    #[test]
    fn items_counts_array_payloads() {
        let frame: Frame<Items> = serde_json::from_str(
            r#"{"event":"dashboard:mention-stream","org":"o","seq":3,
                "server_time":"2026-01-01T00:00:00Z","ingested_at_us":5,"data":[{"a":1},{"b":[2]}]}"#,
        )
        .unwrap();
        assert_eq!(frame.data.0, 2);
        let frame: Frame<Items> = serde_json::from_str(
            r#"{"event":"x","org":"o","seq":0,"server_time":"2026-01-01T00:00:00Z","data":{"k":null}}"#,
        )
        .unwrap();
        assert_eq!(frame.data.0, 0);
    }
}

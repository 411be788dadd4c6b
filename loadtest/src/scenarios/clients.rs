//! The WebSocket client every push scenario runs (fanout, reconnect-storm,
//! slow-consumers, idle): connect, subscribe through the URL, read and check frames,
//! reconnect with resume when lost. What differs between scenarios is a client's
//! [`Pace`], whether it takes part in a reconnect storm, and which figures are read
//! from its [`ClientTally`] afterwards.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use warroom_engine::wire::{events, Frame, GapData, SubscribedData};

use super::envelope::{self, Scanner, VERIFY_EVERY};
use crate::auth::Credentials;
use crate::live::Live;
use crate::report::{latency_histogram, record, ClientFigures, DeliveryFigures, SequenceFigures};

/// Most connection attempts per client in one run (keeps the loop bounded).
const MAX_ATTEMPTS: u32 = 1000;
/// Longest a WebSocket handshake may take before it counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// tungstenite's read buffer per client. Its default (128 KiB) is zero-filled on every
/// read, which cost 8 % of the load tester's CPU in a fanout run, and holds 640 MiB
/// across 5,000 clients; frames are a few KiB to a few tens of KiB.
const READ_BUFFER: usize = 16 * 1024;
/// Sequence ranges remembered per client for classifying misses (bounded memory).
const MAX_RANGES: usize = 1000;
/// How long a stalled client reads what piled up once the run stops (to see `gap`
/// frames and a 4008 close that arrived while it was not reading).
const STALL_DRAIN: Duration = Duration::from_secs(2);

/// Phase of the run, broadcast to the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connecting: frames are read and sequence-checked but not measured.
    Warmup,
    /// Measuring.
    Measure,
    /// Close and report.
    Stop,
}

/// How fast a client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// As fast as frames arrive.
    Fast,
    /// Sleeps this long after every frame.
    Delay(Duration),
    /// Stops reading once measuring starts; reads what piled up when the run stops.
    Stall,
}

/// Kind of a stream frame, for classifying sequence numbers a client missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `dashboard:mention-stream`.
    Mentions,
    /// KPI or campaign snapshot (conflated by design).
    Snapshot,
    /// `crisis:*`.
    Crisis,
    /// `system:*` or anything else.
    System,
}

impl Kind {
    fn of(event: &str) -> Kind {
        match event {
            events::MENTION_STREAM => Kind::Mentions,
            events::KPI_UPDATE | events::CAMPAIGN_UPDATE => Kind::Snapshot,
            e if e.starts_with("crisis:") => Kind::Crisis,
            _ => Kind::System,
        }
    }
}

/// The kind of every stream frame seen per organisation (any client), so that the
/// numbers one client missed can be looked up in what the others received.
#[derive(Debug, Default)]
pub(crate) struct SeqKinds {
    orgs: Vec<Mutex<HashMap<u64, Kind>>>,
}

impl SeqKinds {
    /// A map for `orgs` organisations.
    pub(crate) fn new(orgs: usize) -> Self {
        Self {
            orgs: (0..orgs).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn note(&self, org: usize, seq: u64, kind: Kind) {
        if let Some(map) = self.orgs.get(org) {
            // A poisoned lock only means another client panicked; the map is still valid.
            let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(seq).or_insert(kind);
        }
    }

    /// The kind of `seq` in `org`, if any client received it.
    pub(crate) fn kind(&self, org: usize, seq: u64) -> Option<Kind> {
        let map = self.orgs.get(org)?;
        let map = map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&seq).copied()
    }
}

/// A frame's payload reduced to its number of array elements (mentions in a
/// mention-stream frame): one pass over the JSON without building values.
pub(crate) struct Items(pub(crate) u64);

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
pub(crate) struct SeqCheck {
    /// Last stream `seq` processed.
    pub(crate) last: Option<u64>,
    /// `seq` of the latest `subscribed` frame: the initial snapshots that follow carry
    /// numbers up to it.
    floor: u64,
    /// Highest sequence number announced as dropped by a `gap` frame.
    announced_upto: u64,
    /// Unannounced missing ranges (inclusive), at most [`MAX_RANGES`].
    pub(crate) skipped: Vec<(u64, u64)>,
    /// The counts.
    pub(crate) figures: SequenceFigures,
}

impl SeqCheck {
    pub(crate) fn subscribed(&mut self, data: &SubscribedData, resumed: bool) {
        // A successful resume continues the old numbering (replayed frames follow);
        // otherwise the stream restarts at the announced number.
        if !(resumed && data.recovered) {
            self.last = Some(data.seq);
        }
        self.floor = data.seq;
    }

    pub(crate) fn gap(&mut self, gap: &GapData) {
        self.figures.gap_frames += 1;
        self.figures.gap_dropped_frames += gap.dropped;
        self.announced_upto = self.announced_upto.max(gap.to_seq);
    }

    /// Returns whether this frame revealed an unannounced skip.
    pub(crate) fn stream(&mut self, seq: u64) -> bool {
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
                if self.skipped.len() < MAX_RANGES {
                    // Numbers up to an earlier announcement were accounted for by it.
                    let from = (last + 1).max(self.announced_upto + 1);
                    self.skipped.push((from, seq - 1));
                }
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

/// What one client went through in a reconnect storm.
#[derive(Debug, Default, Clone)]
pub(crate) struct StormTally {
    /// Its connection was dropped by the storm.
    pub(crate) dropped: bool,
    /// Last `seq` it had processed when it dropped.
    pub(crate) seq_at_drop: Option<u64>,
    /// From its scheduled reconnect to `subscribed`, µs.
    pub(crate) reconnect_us: Option<u64>,
    /// From the storm's start to `subscribed`, µs.
    pub(crate) back_after_us: Option<u64>,
    /// `subscribed.recovered` of the resume.
    pub(crate) recovered: Option<bool>,
    /// Frames the server replayed on resume.
    pub(crate) replayed: u64,
    /// Sequence numbers jumped over by a resume that could not recover.
    pub(crate) lost_on_failed_resume: u64,
    /// Connection attempts the resume took.
    pub(crate) attempts: u32,
    /// `gap` frames received before the drop, and the frames they announced.
    pub(crate) gaps_at_drop: (u64, u64),
}

/// Ingest→client latency of every client, one pair of histograms per reading class
/// (fast readers, slow readers) shared by the clients of that class.
///
/// One pair per client cost 430 KiB each: at 5,000 clients, 2 GiB zero-filled in the
/// first second of measuring (every client's first frame allocated its pair), which
/// stalled the load tester for about half a second and showed up as the run's tail
/// latency. A lock per frame costs nothing in comparison.
pub(crate) struct LatencyBook {
    fast: Mutex<LatencyPair>,
    slow: Mutex<LatencyPair>,
}

/// The latency of all mention-stream frames, and of the frames carrying this run's own
/// mentions.
#[derive(Clone)]
pub(crate) struct LatencyPair {
    /// All mention-stream frames.
    pub(crate) all: Histogram<u64>,
    /// Frames carrying at least one of this run's mentions.
    pub(crate) own: Histogram<u64>,
}

impl LatencyPair {
    fn new() -> Self {
        Self {
            all: latency_histogram(),
            own: latency_histogram(),
        }
    }
}

impl LatencyBook {
    /// Empty histograms for both classes.
    pub(crate) fn new() -> Self {
        Self {
            fast: Mutex::new(LatencyPair::new()),
            slow: Mutex::new(LatencyPair::new()),
        }
    }

    fn record(&self, pace: Pace, latency_us: i64, own: bool) {
        let class = if pace == Pace::Fast {
            &self.fast
        } else {
            &self.slow
        };
        let mut pair = class
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        record(&mut pair.all, latency_us);
        if own {
            record(&mut pair.own, latency_us);
        }
    }

    /// What the fast readers (`slow == false`) or the slow ones saw.
    pub(crate) fn class(&self, slow: bool) -> LatencyPair {
        let class = if slow { &self.slow } else { &self.fast };
        class
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// What every client saw.
    pub(crate) fn merged(&self) -> LatencyPair {
        let mut merged = self.class(false);
        let slow = self.class(true);
        // Same bounds everywhere, so adding cannot fail.
        let _ = merged.all.add(&slow.all);
        let _ = merged.own.add(&slow.own);
        merged
    }
}

/// What one client saw.
pub(crate) struct ClientTally {
    /// Index into the run's organisations.
    pub(crate) org: usize,
    /// How it read.
    pub(crate) pace: Pace,
    /// Frames and mentions.
    pub(crate) delivery: DeliveryFigures,
    /// Sequence checks.
    pub(crate) seq: SeqCheck,
    /// Connections.
    pub(crate) clients: ClientFigures,
    /// Whether it ever received `subscribed`.
    pub(crate) subscribed_once: bool,
    /// Wall clock (µs since the epoch) of the first `crisis:detected` while measuring.
    pub(crate) crisis_detected_us: Option<i64>,
    /// Reconnect storm.
    pub(crate) storm: StormTally,
    /// Mention frames until the next one is parsed whole to check the scan.
    verify_countdown: u32,
}

impl ClientTally {
    fn new(org: usize, pace: Pace) -> Self {
        Self {
            org,
            pace,
            delivery: DeliveryFigures::default(),
            seq: SeqCheck::default(),
            clients: ClientFigures::default(),
            subscribed_once: false,
            crisis_detected_us: None,
            storm: StormTally::default(),
            verify_countdown: 0,
        }
    }
}

/// How a connection ended.
enum End {
    /// The run is over.
    Stopped,
    /// The server closed it (close code if any) or it broke.
    Lost(Option<u16>),
    /// The reconnect storm started at this instant: the client drops the connection.
    Storm(Instant),
}

/// What every client of a run shares.
#[derive(Clone)]
pub(crate) struct Shared {
    /// Reads frame heads and counts mentions (this run's by their `"lt<run>-` ids).
    pub(crate) scanner: Arc<Scanner>,
    /// The run's phase.
    pub(crate) phase: watch::Receiver<Phase>,
    /// Progress counters.
    pub(crate) live: Arc<Live>,
    /// Clients give up (and report) by then whatever happens.
    pub(crate) hard_deadline: Instant,
    /// Bounds simultaneous handshakes.
    pub(crate) connect_slots: Arc<Semaphore>,
    /// The server's address.
    pub(crate) server: SocketAddr,
    /// Start of the reconnect storm, if the scenario has one.
    pub(crate) storm: Option<watch::Receiver<Option<Instant>>>,
    /// Per-organisation kinds of the frames seen (reconnect storm only).
    pub(crate) kinds: Option<Arc<SeqKinds>>,
    /// Signs the token each upgrade carries (minted again when one runs short).
    pub(crate) credentials: Arc<Credentials>,
    /// The run's organisations, by [`Spec::org`].
    pub(crate) orgs: Arc<[Arc<str>]>,
    /// Every client's ingest→client latency.
    pub(crate) latency: Arc<LatencyBook>,
}

/// One client's own settings.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// Index into the run's organisations.
    pub(crate) org: usize,
    /// WebSocket URL (organisation in the query).
    pub(crate) url: String,
    /// How fast it reads.
    pub(crate) pace: Pace,
    /// Local address to connect from (several spread the ephemeral ports).
    pub(crate) source: Option<IpAddr>,
    /// In a storm: how long after the storm's start it reconnects.
    pub(crate) storm_offset: Option<Duration>,
    /// SO_RCVBUF of its socket (`None`: the kernel's autotuned default, up to
    /// `net.ipv4.tcp_rmem`'s maximum — tens of MiB that hide a slow reader from the
    /// server for a long time).
    pub(crate) recv_buffer: Option<u32>,
}

/// Wall clock in µs since the Unix epoch (the server stamps frames with the same clock).
pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A client's WebSocket.
pub(crate) type Socket = WebSocketStream<TcpStream>;

/// Opens a TCP connection from `source` (if given) and performs the WebSocket handshake,
/// authenticated by `authorization` (a `Bearer` header value) on the upgrade.
async fn connect(
    url: &str,
    authorization: &str,
    server: SocketAddr,
    spec: &Spec,
) -> anyhow::Result<Socket> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(bytes) = spec.recv_buffer {
        // Before connecting, so the window offered in the handshake already reflects it.
        socket.set_recv_buffer_size(bytes)?;
    }
    if let Some(ip) = spec.source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(server).await?;
    // Client commands are rare; no reason to let Nagle hold them.
    stream.set_nodelay(true)?;
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert(AUTHORIZATION, HeaderValue::from_str(authorization)?);
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    Ok(ws)
}

/// Resolves when the storm starts (never without a storm).
async fn storm_start(storm: &mut Option<watch::Receiver<Option<Instant>>>) -> Instant {
    if let Some(rx) = storm {
        if let Ok(start) = rx.wait_for(Option::is_some).await {
            if let Some(at) = *start {
                return at;
            }
        }
    }
    std::future::pending().await
}

/// One client: connect, read until the run stops, reconnect (with resume) when lost or
/// when the storm drops it.
pub(crate) async fn client(mut ctx: Shared, spec: Spec) -> ClientTally {
    let mut tally = ClientTally::new(spec.org, spec.pace);
    let mut resume: Option<(u64, String)> = None;
    let mut backoff = Duration::from_millis(100);
    // Set while reconnecting after the storm: (storm start, scheduled reconnect).
    let mut storm_return: Option<(Instant, Instant)> = None;
    // A client that took part in the storm ignores the signal from then on.
    let mut storm_rx = if spec.storm_offset.is_some() {
        ctx.storm.take()
    } else {
        None
    };
    let mut ever_connected = false;
    let mut attempt = 0;
    while attempt < MAX_ATTEMPTS {
        attempt += 1;
        if *ctx.phase.borrow() == Phase::Stop || Instant::now() >= ctx.hard_deadline {
            break;
        }
        let url = match &resume {
            Some((seq, epoch)) => format!("{}&last_seq={seq}&epoch={epoch}", spec.url),
            None => spec.url.clone(),
        };
        if storm_return.is_some() {
            tally.storm.attempts += 1;
        }
        let connected = {
            // Bounded parallel handshakes while connecting (the semaphore is never
            // closed) — except the storm's reconnects: the herd is what is measured, and
            // queueing them here would time the load tester instead of the server.
            let _slot = if storm_return.is_none() {
                Some(ctx.connect_slots.acquire().await)
            } else {
                None
            };
            let authorization = ctx.credentials.bearer(&ctx.orgs[spec.org]);
            tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                connect(&url, &authorization, ctx.server, &spec),
            )
            .await
        };
        let mut socket = match connected {
            Ok(Ok(socket)) => socket,
            _ => {
                tally.clients.connect_failures += 1;
                pause(&mut ctx, &mut backoff).await;
                continue;
            }
        };
        if ever_connected {
            tally.clients.reconnects += 1;
        }
        ever_connected = true;
        let mut session = Session {
            ctx: &mut ctx,
            tally: &mut tally,
            resumed: resume.is_some(),
            storm_return: storm_return.take(),
            storm_rx: &mut storm_rx,
        };
        let (end, epoch) = session.run(&mut socket).await;
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
            End::Storm(start) => {
                // Drop without a close handshake, like a connection lost to the network
                // or a proxy restart: the server only sees the TCP connection end.
                drop(socket);
                tally.storm.dropped = true;
                tally.storm.seq_at_drop = tally.seq.last;
                let f = &tally.seq.figures;
                tally.storm.gaps_at_drop = (f.gap_frames, f.gap_dropped_frames);
                if let (Some(last), Some(epoch)) = (tally.seq.last, epoch) {
                    resume = Some((last, epoch));
                }
                let at = start + spec.storm_offset.unwrap_or_default();
                storm_return = Some((start, at));
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = ctx.phase.wait_for(|p| *p == Phase::Stop) => {}
                    _ = tokio::time::sleep_until(ctx.hard_deadline) => {}
                }
                backoff = Duration::from_millis(100);
                // The storm's reconnect is not a retry: it does not use up an attempt.
                attempt = attempt.saturating_sub(1);
            }
        }
    }
    tally
}

/// Sleeps `backoff` (doubling up to 2 s) unless the run stops first.
async fn pause(ctx: &mut Shared, backoff: &mut Duration) {
    tokio::select! {
        _ = tokio::time::sleep(*backoff) => {}
        _ = ctx.phase.wait_for(|p| *p == Phase::Stop) => {}
        _ = tokio::time::sleep_until(ctx.hard_deadline) => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(2));
}

/// One connection of a client.
struct Session<'a> {
    ctx: &'a mut Shared,
    tally: &'a mut ClientTally,
    /// Connected with `last_seq`/`epoch`.
    resumed: bool,
    /// Reconnecting after the storm: (storm start, scheduled reconnect).
    storm_return: Option<(Instant, Instant)>,
    storm_rx: &'a mut Option<watch::Receiver<Option<Instant>>>,
}

impl Session<'_> {
    /// Reads until the run stops, the storm starts, or the connection is lost. Returns
    /// how it ended and the stream epoch (for resuming).
    async fn run(&mut self, socket: &mut Socket) -> (End, Option<String>) {
        let mut measuring = *self.ctx.phase.borrow() == Phase::Measure;
        let mut epoch = None;
        let mut counted_connected = false;
        let mut draining_until: Option<Instant> = None;
        let end = loop {
            if self.tally.pace == Pace::Stall && measuring && draining_until.is_none() {
                // Stop reading: the server's queue for this socket fills up.
                tokio::select! {
                    _ = self.ctx.phase.wait_for(|p| *p == Phase::Stop) => {}
                    _ = tokio::time::sleep_until(self.ctx.hard_deadline) => break End::Stopped,
                }
                draining_until = Some(Instant::now() + STALL_DRAIN);
            }
            let message = if let Some(until) = draining_until {
                match tokio::time::timeout_at(until, socket.next()).await {
                    Ok(message) => message,
                    Err(_) => break End::Stopped,
                }
            } else {
                // No `biased`: a busy socket must not starve the stop signal.
                tokio::select! {
                    message = socket.next() => message,
                    changed = self.ctx.phase.changed() => {
                        let phase = *self.ctx.phase.borrow();
                        if changed.is_err() || phase == Phase::Stop {
                            break End::Stopped;
                        }
                        measuring = phase == Phase::Measure;
                        continue;
                    }
                    start = storm_start(self.storm_rx) => {
                        *self.storm_rx = None;
                        break End::Storm(start);
                    }
                    _ = tokio::time::sleep_until(self.ctx.hard_deadline) => break End::Stopped,
                }
            };
            let received_us = now_us();
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    break End::Lost(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break End::Lost(None),
            };
            if let Some(subscribed) = self.frame(text.as_str(), received_us, measuring) {
                epoch = Some(subscribed);
                if !counted_connected {
                    counted_connected = true;
                    self.tally.subscribed_once = true;
                    self.ctx.live.connected.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Pace::Delay(delay) = self.tally.pace {
                if measuring && draining_until.is_none() {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.ctx.phase.wait_for(|p| *p == Phase::Stop) => break End::Stopped,
                    }
                }
            }
        };
        if counted_connected {
            self.ctx.live.connected.fetch_sub(1, Ordering::Relaxed);
        }
        (end, epoch)
    }

    /// Accounts for one text frame. Returns the epoch when it was `subscribed`.
    fn frame(&mut self, text: &str, received_us: i64, measuring: bool) -> Option<String> {
        let (ctx, tally) = (&*self.ctx, &mut *self.tally);
        let Some((frame, data)) = ctx.scanner.split(text) else {
            tally.delivery.malformed_frames += 1;
            return None;
        };
        match frame.event.as_str() {
            events::MENTION_STREAM => {
                if tally.seq.stream(frame.seq) {
                    Live::inc(&ctx.live.gaps);
                }
                let mentions = ctx.scanner.mentions(data);
                if tally.verify_countdown == 0 {
                    tally.verify_countdown = VERIFY_EVERY;
                    tally.delivery.checked_frames += 1;
                    if !envelope::verify(text, &frame, mentions) {
                        tally.delivery.malformed_frames += 1;
                    }
                }
                tally.verify_countdown -= 1;
                if !measuring {
                    tally.delivery.warmup_frames += 1;
                    return None;
                }
                if let Some(kinds) = &ctx.kinds {
                    kinds.note(tally.org, frame.seq, Kind::Mentions);
                }
                let d = &mut tally.delivery;
                d.mention_frames += 1;
                d.mentions += mentions;
                Live::inc(&ctx.live.frames);
                let own = ctx.scanner.own_mentions(data);
                if let Some(ingested) = frame.ingested_at_us {
                    let latency = received_us - ingested;
                    ctx.latency.record(tally.pace, latency, own > 0);
                    ctx.live
                        .interval_max_latency_us
                        .fetch_max(u64::try_from(latency).unwrap_or(0), Ordering::Relaxed);
                }
                if own > 0 {
                    d.own_frames += 1;
                    d.own_mentions += own;
                }
                None
            }
            events::SUBSCRIBED => {
                let full = serde_json::from_str::<Frame<SubscribedData>>(text).ok()?;
                let data = &full.data;
                if self.resumed && !data.recovered {
                    tally.clients.resume_failures += 1;
                }
                if let Some((start, at)) = self.storm_return.take() {
                    let now = Instant::now();
                    let storm = &mut tally.storm;
                    storm.reconnect_us = Some(now.duration_since(at).as_micros() as u64);
                    storm.back_after_us = Some(now.duration_since(start).as_micros() as u64);
                    storm.recovered = Some(self.resumed && data.recovered);
                    storm.replayed = data.replayed;
                    if !(self.resumed && data.recovered) {
                        storm.lost_on_failed_resume += tally
                            .seq
                            .last
                            .map_or(0, |last| data.seq.saturating_sub(last));
                    }
                }
                tally.seq.subscribed(data, self.resumed);
                Some(full.data.epoch)
            }
            events::GAP => {
                if let Ok(full) = serde_json::from_str::<Frame<GapData>>(text) {
                    tally.seq.gap(&full.data);
                    Live::inc(&ctx.live.gaps);
                }
                None
            }
            event if frame.seq > 0 => {
                if tally.seq.stream(frame.seq) {
                    Live::inc(&ctx.live.gaps);
                }
                if measuring {
                    tally.delivery.other_frames += 1;
                    let kind = Kind::of(event);
                    if let Some(kinds) = &ctx.kinds {
                        kinds.note(tally.org, frame.seq, kind);
                    }
                    if event == events::CRISIS_DETECTED && tally.crisis_detected_us.is_none() {
                        tally.crisis_detected_us = Some(received_us);
                    }
                } else {
                    tally.delivery.warmup_frames += 1;
                }
                None
            }
            // Other control frames (`error`, `pong`) are not part of the stream.
            _ => None,
        }
    }
}

/// Starts `specs` clients and waits (bounded by `timeout`) until all have subscribed.
/// Returns the running clients and how many were subscribed when waiting ended.
pub(crate) async fn start_all(
    shared: &Shared,
    specs: Vec<Spec>,
    timeout: Duration,
) -> (tokio::task::JoinSet<ClientTally>, u64) {
    let n = specs.len();
    let mut clients = tokio::task::JoinSet::new();
    for spec in specs {
        clients.spawn(client(shared.clone(), spec));
    }
    let deadline = Instant::now() + timeout;
    while (shared.live.connected.load(Ordering::Relaxed) as usize) < n && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (clients, shared.live.connected.load(Ordering::Relaxed))
}

/// Waits for every client task (they stop on [`Phase::Stop`] or the hard deadline).
pub(crate) async fn join_all(
    mut clients: tokio::task::JoinSet<ClientTally>,
) -> anyhow::Result<Vec<ClientTally>> {
    let mut all = Vec::with_capacity(clients.len());
    while let Some(done) = clients.join_next().await {
        all.push(done.map_err(|e| anyhow::anyhow!("a WebSocket client panicked: {e}"))?);
    }
    Ok(all)
}

/// Client figures of a set of tallies.
pub(crate) fn client_figures<'a>(
    tallies: impl IntoIterator<Item = &'a ClientTally>,
) -> ClientFigures {
    let mut clients = ClientFigures {
        close_codes: BTreeMap::new(),
        ..ClientFigures::default()
    };
    for t in tallies {
        let c = &t.clients;
        clients.requested += 1;
        clients.disconnects += c.disconnects;
        clients.reconnects += c.reconnects;
        clients.resume_failures += c.resume_failures;
        clients.connect_failures += c.connect_failures;
        for (code, n) in &c.close_codes {
            *clients.close_codes.entry(*code).or_default() += n;
        }
    }
    clients
}

/// Sequence figures of a set of tallies.
pub(crate) fn sequence_figures<'a>(
    tallies: impl IntoIterator<Item = &'a ClientTally>,
) -> SequenceFigures {
    let mut sequence = SequenceFigures::default();
    for t in tallies {
        let s = &t.seq.figures;
        sequence.gap_frames += s.gap_frames;
        sequence.gap_dropped_frames += s.gap_dropped_frames;
        sequence.unannounced_skips += s.unannounced_skips;
        sequence.unannounced_missing += s.unannounced_missing;
        sequence.out_of_order += s.out_of_order;
    }
    sequence.gaps_total = sequence.gap_frames + sequence.unannounced_skips;
    sequence
}

/// A 64-bit mix (splitmix64): deterministic per-client "random" offsets without a
/// random-number dependency.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
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
        assert_eq!(s.skipped, [(6, 7)]);
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

    #[test]
    fn kinds_and_mix() {
        assert_eq!(Kind::of(events::MENTION_STREAM), Kind::Mentions);
        assert_eq!(Kind::of(events::KPI_UPDATE), Kind::Snapshot);
        assert_eq!(Kind::of(events::CRISIS_DETECTED), Kind::Crisis);
        assert_eq!(Kind::of(events::HEALTH_CHANGE), Kind::System);
        let kinds = SeqKinds::new(2);
        kinds.note(1, 7, Kind::Crisis);
        kinds.note(1, 7, Kind::Mentions);
        assert_eq!(kinds.kind(1, 7), Some(Kind::Crisis));
        assert_eq!(kinds.kind(0, 7), None);
        assert_ne!(mix(1), mix(2));
    }
}

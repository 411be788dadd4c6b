//! What one WebSocket is sent: server frames, encoded once per organisation and shared
//! by every socket, and the socket's bounded outgoing queue with the slow-consumer policy.
//!
//! A frame is JSON (see `docs/protocol.md`) wrapped in a complete WebSocket text frame
//! (header included), so a session writes the same `Bytes` to its socket with no further
//! work: encode once, send many (LESSONS: Phoenix fastlane, Centrifugo PreparedMessage).
//! Its [`FrameClass`] says how the queue treats it.
//!
//! The organisation actor pushes shared frames in; the socket's writer task takes them
//! out in batches and writes them with one vectored write (coalescing is what makes high
//! fan-out cheap on loopback: LESSONS "Loopback limit"). When the queue is over its frame
//! or byte limit:
//!
//! 1. a queued snapshot (KPI, campaigns) is replaced by a newer one of the same key
//!    (conflation: latest wins; this happens even under the limits, since a stale
//!    snapshot is worth nothing);
//! 2. the oldest mention-stream frames are dropped, and a `gap` frame telling the client
//!    which sequence numbers it lost is delivered before the next frame;
//! 3. if only frames that must never be dropped (crisis, system) remain, the socket is
//!    closed with code 4008 "slow consumer"; the client reconnects and resumes by
//!    sequence number (Centrifugo closes slow clients the same way, code 3008).

use std::collections::VecDeque;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use fastwebsockets::{Frame as WsFrame, Payload};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;
use warroom_engine::wire::{events, Channel, Frame, GapData};
use warroom_engine::OrgId;

/// How the per-socket queue treats a frame when the socket falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
    /// A snapshot: a newer frame of the same key replaces an older queued one.
    Conflate(ConflationKey),
    /// Part of a stream that may lose its oldest frames, announced by a `gap` frame.
    DropOldest,
    /// Never dropped: if it cannot be queued the socket is closed (slow consumer).
    Critical,
}

/// Which snapshots replace each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflationKey {
    /// `dashboard:kpi-update`.
    Kpi,
    /// `dashboard:campaign-update`.
    Campaigns,
}

/// A frame ready to be written to any socket of its organisation.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// Per-organisation sequence number (0 for control frames outside the stream).
    pub seq: u64,
    /// The channel it belongs to (None for control frames, which every socket gets).
    pub channel: Option<Channel>,
    /// Queueing policy.
    pub class: FrameClass,
    /// The complete WebSocket frame: header and JSON payload.
    pub bytes: Bytes,
}

/// Encodes `payload` as a server→client WebSocket text frame (unmasked, final).
pub fn ws_text_frame(payload: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(payload.len() + 14);
    let len = WsFrame::text(Payload::Borrowed(payload))
        .write(&mut buf)
        .len();
    buf.truncate(len);
    Bytes::from(buf)
}

/// Encodes a WebSocket close frame with a code and a reason.
pub fn ws_close_frame(code: u16, reason: &str) -> Bytes {
    let mut buf = Vec::with_capacity(reason.len() + 16);
    let len = WsFrame::close(code, reason.as_bytes())
        .write(&mut buf)
        .len();
    buf.truncate(len);
    Bytes::from(buf)
}

/// Encodes a WebSocket pong frame echoing a client's ping payload (at most 125 bytes).
pub fn ws_pong_frame(payload: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(payload.len() + 2);
    let frame = WsFrame::pong(Payload::Borrowed(payload));
    let len = { frame }.write(&mut buf).len();
    buf.truncate(len);
    Bytes::from(buf)
}

/// Encodes a WebSocket ping frame.
pub fn ws_ping_frame() -> Bytes {
    let mut buf = Vec::with_capacity(16);
    let frame = WsFrame::new(
        true,
        fastwebsockets::OpCode::Ping,
        None,
        Payload::Borrowed(b"hb"),
    );
    let len = { frame }.write(&mut buf).len();
    buf.truncate(len);
    Bytes::from(buf)
}

/// Serialises an envelope and wraps it in a WebSocket frame.
pub fn encode<T: Serialize>(
    event: &str,
    org: &OrgId,
    seq: u64,
    server_time: DateTime<Utc>,
    ingested_at_us: Option<i64>,
    data: &T,
) -> Bytes {
    let envelope = Frame {
        event: event.to_owned(),
        org: org.as_str().to_owned(),
        seq,
        server_time,
        ingested_at_us,
        data,
    };
    // Serialising our own types into a Vec cannot fail (no maps with non-string keys).
    let json = serde_json::to_vec(&envelope).unwrap_or_else(|e| {
        tracing::error!(error = %e, event, "frame did not serialise");
        Vec::new()
    });
    ws_text_frame(&json)
}

/// Encodes the `gap` control frame a socket receives after frames were dropped for it.
pub fn encode_gap(org: &OrgId, gap: &GapData, now: DateTime<Utc>) -> Bytes {
    encode(events::GAP, org, 0, now, None, gap)
}

/// The queueing class of an event.
pub fn class_of(event: &str) -> FrameClass {
    match event {
        events::KPI_UPDATE => FrameClass::Conflate(ConflationKey::Kpi),
        events::CAMPAIGN_UPDATE => FrameClass::Conflate(ConflationKey::Campaigns),
        events::MENTION_STREAM => FrameClass::DropOldest,
        _ => FrameClass::Critical,
    }
}

/// WebSocket close code for a client that cannot keep up.
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;

/// Limits of one socket's queue.
#[derive(Debug, Clone, Copy)]
pub struct OutboxLimits {
    /// Frames queued at most.
    pub max_frames: usize,
    /// Bytes queued at most.
    pub max_bytes: usize,
}

/// What happened to a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued as is.
    Queued,
    /// Queued, replacing an older snapshot of the same key.
    Conflated,
    /// Queued after dropping older mention frames (a gap will be announced).
    QueuedWithDrops,
    /// A mention frame that could not be queued was dropped itself (gap announced).
    Dropped,
    /// The socket is (now) closed as a slow consumer; nothing more will be queued.
    Closed,
}

/// Why the writer must close the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// WebSocket close code.
    pub code: u16,
    /// Short reason text.
    pub reason: String,
}

/// What the writer takes out in one go.
#[derive(Debug, Default)]
pub struct Batch {
    /// Frames lost since the last batch, to announce first.
    pub gap: Option<GapData>,
    /// Frames to write, in order.
    pub frames: Vec<Bytes>,
    /// Close after writing these.
    pub close: Option<CloseReason>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<EncodedFrame>,
    bytes: usize,
    gap: Option<GapData>,
    close: Option<CloseReason>,
    dropped_total: u64,
    conflated_total: u64,
}

impl State {
    fn record_drop(&mut self, seq: u64) {
        self.dropped_total += 1;
        match &mut self.gap {
            Some(gap) => {
                gap.from_seq = gap.from_seq.min(seq);
                gap.to_seq = gap.to_seq.max(seq);
                gap.dropped += 1;
            }
            None => {
                self.gap = Some(GapData {
                    from_seq: seq,
                    to_seq: seq,
                    dropped: 1,
                })
            }
        }
    }

    fn over(&self, limits: &OutboxLimits) -> bool {
        self.queue.len() > limits.max_frames || self.bytes > limits.max_bytes
    }

    fn remove(&mut self, index: usize) -> Option<EncodedFrame> {
        let frame = self.queue.remove(index)?;
        self.bytes -= frame.bytes.len();
        Some(frame)
    }
}

/// One socket's outgoing queue; shared between the organisation actor and the writer.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    limits: OutboxLimits,
}

impl Outbox {
    /// An empty queue with these limits.
    pub fn new(limits: OutboxLimits) -> Self {
        Self {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            limits,
        }
    }

    /// Queues a frame under the slow-consumer policy and wakes the writer.
    pub fn push(&self, frame: EncodedFrame) -> PushOutcome {
        let outcome = self.push_locked(frame, true);
        if outcome != PushOutcome::Closed {
            self.notify.notify_one();
        }
        outcome
    }

    /// Queues replayed frames after a resume without applying the limits: they are
    /// bounded by the ring buffer already, and dropping them would defeat the resume.
    pub fn push_replay(&self, frames: impl IntoIterator<Item = EncodedFrame>) {
        let mut state = self.state.lock();
        if state.close.is_some() {
            return;
        }
        for frame in frames {
            state.bytes += frame.bytes.len();
            state.queue.push_back(frame);
        }
        drop(state);
        self.notify.notify_one();
    }

    fn push_locked(&self, frame: EncodedFrame, enforce: bool) -> PushOutcome {
        let mut state = self.state.lock();
        if state.close.is_some() {
            return PushOutcome::Closed;
        }
        let mut outcome = PushOutcome::Queued;
        if let FrameClass::Conflate(key) = frame.class {
            if let Some(index) = state
                .queue
                .iter()
                .position(|f| f.class == FrameClass::Conflate(key))
            {
                state.remove(index);
                state.conflated_total += 1;
                outcome = PushOutcome::Conflated;
            }
        }
        let seq = frame.seq;
        let droppable = frame.class == FrameClass::DropOldest;
        state.bytes += frame.bytes.len();
        state.queue.push_back(frame);
        if !enforce {
            return outcome;
        }
        // A frame alone in the queue is always accepted, however large: the limits are
        // about a socket falling behind, not about one big frame.
        while state.over(&self.limits) && state.queue.len() > 1 {
            // Oldest mention frame first, then the oldest snapshot (a newer one of another
            // key will follow), and only then give up on the socket.
            let victim = state
                .queue
                .iter()
                .position(|f| f.class == FrameClass::DropOldest)
                .or_else(|| {
                    state
                        .queue
                        .iter()
                        .position(|f| matches!(f.class, FrameClass::Conflate(_)))
                });
            match victim {
                Some(index) => {
                    if let Some(dropped) = state.remove(index) {
                        if dropped.seq == seq && droppable {
                            outcome = PushOutcome::Dropped;
                        } else if outcome == PushOutcome::Queued {
                            outcome = PushOutcome::QueuedWithDrops;
                        }
                        state.record_drop(dropped.seq);
                    }
                }
                None => {
                    state.close = Some(CloseReason {
                        code: CLOSE_SLOW_CONSUMER,
                        reason: "slow consumer".to_owned(),
                    });
                    state.queue.clear();
                    state.bytes = 0;
                    drop(state);
                    self.notify.notify_one();
                    return PushOutcome::Closed;
                }
            }
        }
        outcome
    }

    /// Takes up to `max_bytes` of frames (at least one frame if any is queued).
    pub fn take(&self, max_bytes: usize) -> Batch {
        let mut state = self.state.lock();
        let mut batch = Batch {
            gap: state.gap.take(),
            ..Batch::default()
        };
        let mut taken = 0;
        while let Some(front) = state.queue.front() {
            if taken > 0 && taken + front.bytes.len() > max_bytes {
                break;
            }
            if let Some(frame) = state.queue.pop_front() {
                taken += frame.bytes.len();
                state.bytes -= frame.bytes.len();
                batch.frames.push(frame.bytes);
            }
        }
        if state.queue.is_empty() {
            batch.close = state.close.clone();
        }
        batch
    }

    /// Asks the writer to close the socket after what is queued.
    pub fn close(&self, code: u16, reason: &str) {
        let mut state = self.state.lock();
        if state.close.is_none() {
            state.close = Some(CloseReason {
                code,
                reason: reason.to_owned(),
            });
        }
        drop(state);
        self.notify.notify_one();
    }

    /// Whether the queue has been closed.
    pub fn is_closed(&self) -> bool {
        self.state.lock().close.is_some()
    }

    /// Waits until something was pushed (or the queue was closed) since the last take.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Frames currently queued.
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frames dropped and snapshots conflated for this socket so far.
    pub fn loss_counters(&self) -> (u64, u64) {
        let state = self.state.lock();
        (state.dropped_total, state.conflated_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(seq: u64, class: FrameClass) -> EncodedFrame {
        EncodedFrame {
            seq,
            channel: None,
            class,
            bytes: Bytes::from(vec![0u8; 10]),
        }
    }

    const KPI: FrameClass = FrameClass::Conflate(ConflationKey::Kpi);
    const LIMITS: OutboxLimits = OutboxLimits {
        max_frames: 4,
        max_bytes: 1 << 20,
    };

    #[test]
    fn snapshots_conflate_latest_wins() {
        let outbox = Outbox::new(LIMITS);
        assert_eq!(outbox.push(frame(1, KPI)), PushOutcome::Queued);
        assert_eq!(
            outbox.push(frame(2, FrameClass::DropOldest)),
            PushOutcome::Queued
        );
        assert_eq!(outbox.push(frame(3, KPI)), PushOutcome::Conflated);
        let batch = outbox.take(usize::MAX);
        assert_eq!(batch.frames.len(), 2);
        assert!(batch.gap.is_none());
    }

    #[test]
    fn mention_frames_drop_oldest_and_announce_a_gap() {
        let outbox = Outbox::new(LIMITS);
        for seq in 1..=4 {
            outbox.push(frame(seq, FrameClass::DropOldest));
        }
        assert_eq!(
            outbox.push(frame(5, FrameClass::Critical)),
            PushOutcome::QueuedWithDrops
        );
        assert_eq!(
            outbox.push(frame(6, FrameClass::DropOldest)),
            PushOutcome::QueuedWithDrops
        );
        let batch = outbox.take(usize::MAX);
        assert_eq!(
            batch.gap,
            Some(GapData {
                from_seq: 1,
                to_seq: 2,
                dropped: 2
            })
        );
        assert_eq!(batch.frames.len(), 4);
        assert!(batch.close.is_none());
    }

    #[test]
    fn a_socket_that_cannot_take_critical_frames_is_closed() {
        let outbox = Outbox::new(LIMITS);
        for seq in 1..=4 {
            assert_ne!(
                outbox.push(frame(seq, FrameClass::Critical)),
                PushOutcome::Closed
            );
        }
        assert_eq!(
            outbox.push(frame(5, FrameClass::Critical)),
            PushOutcome::Closed
        );
        let batch = outbox.take(usize::MAX);
        assert_eq!(batch.close.map(|c| c.code), Some(CLOSE_SLOW_CONSUMER));
        assert_eq!(
            outbox.push(frame(6, FrameClass::DropOldest)),
            PushOutcome::Closed
        );
    }

    #[test]
    fn take_respects_the_byte_budget_but_always_makes_progress() {
        let outbox = Outbox::new(OutboxLimits {
            max_frames: 100,
            max_bytes: 1 << 20,
        });
        for seq in 1..=10 {
            outbox.push(frame(seq, FrameClass::DropOldest));
        }
        assert_eq!(outbox.take(25).frames.len(), 2);
        assert_eq!(outbox.take(1).frames.len(), 1);
        assert_eq!(outbox.take(usize::MAX).frames.len(), 7);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u8),
        Take(u8),
    }

    fn class_of(kind: u8) -> FrameClass {
        match kind % 4 {
            0 => FrameClass::Critical,
            1 => KPI,
            2 => FrameClass::Conflate(ConflationKey::Campaigns),
            _ => FrameClass::DropOldest,
        }
    }

    fn tagged(seq: u64, class: FrameClass) -> EncodedFrame {
        let mut bytes = seq.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0]);
        EncodedFrame {
            seq,
            channel: None,
            class,
            bytes: Bytes::from(bytes),
        }
    }

    fn seq_of(bytes: &Bytes) -> u64 {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&bytes[..8]);
        u64::from_le_bytes(raw)
    }

    proptest! {
        /// Against a model: limits hold; frames come out in increasing seq order; every
        /// frame pushed is delivered, conflated away, or counted in an announced gap; and
        /// critical frames are never lost unless the socket was closed.
        #[test]
        fn outbox_matches_its_policy(ops in proptest::collection::vec(
            prop_oneof![any::<u8>().prop_map(Op::Push), (1u8..6).prop_map(Op::Take)], 1..200)) {
            let outbox = Outbox::new(LIMITS);
            let mut seq = 0;
            let mut pushed = Vec::new();
            let mut delivered = Vec::new();
            let mut announced = 0;
            let mut closed = false;
            let drain = |outbox: &Outbox, budget: usize, delivered: &mut Vec<u64>, announced: &mut u64| {
                let batch = outbox.take(budget);
                *announced += batch.gap.map_or(0, |g| g.dropped);
                delivered.extend(batch.frames.iter().map(seq_of));
                batch.close.is_some()
            };
            for op in ops {
                match op {
                    Op::Push(kind) => {
                        seq += 1;
                        pushed.push((seq, class_of(kind)));
                        if outbox.push(tagged(seq, class_of(kind))) == PushOutcome::Closed {
                            closed = true;
                        }
                        prop_assert!(outbox.len() <= LIMITS.max_frames);
                    }
                    Op::Take(n) => {
                        closed |= drain(&outbox, usize::from(n) * 10, &mut delivered, &mut announced);
                    }
                }
            }
            closed |= drain(&outbox, usize::MAX, &mut delivered, &mut announced);
            prop_assert!(delivered.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", delivered);
            let (dropped, conflated) = outbox.loss_counters();
            prop_assert_eq!(dropped, announced);
            if !closed {
                prop_assert_eq!(delivered.len() as u64 + dropped + conflated, pushed.len() as u64);
                for (seq, class) in &pushed {
                    if *class == FrameClass::Critical {
                        prop_assert!(delivered.contains(seq), "critical frame {} lost", seq);
                    }
                }
            }
        }
    }

    #[test]
    fn text_frames_have_a_correct_header() {
        let small = ws_text_frame(b"hello");
        assert_eq!(&small[..2], &[0x81, 5]);
        assert_eq!(&small[2..], b"hello");
        let medium = ws_text_frame(&[b'a'; 300]);
        assert_eq!(&medium[..4], &[0x81, 126, 1, 44]);
        assert_eq!(medium.len(), 304);
        let large = ws_text_frame(&vec![b'a'; 70_000]);
        assert_eq!(large[1], 127);
        assert_eq!(large.len(), 70_000 + 10);
    }

    #[test]
    fn envelopes_carry_event_org_seq_and_time() {
        let org = OrgId::new("acme");
        let bytes = encode(
            "crisis:detected",
            &org,
            7,
            Utc::now(),
            Some(5),
            &serde_json::json!({"x":1}),
        );
        // 0x81, then a 2-byte length (126 + u16) for payloads of 126..65535 bytes.
        assert_eq!(bytes[0], 0x81);
        let header = if bytes[1] < 126 { 2 } else { 4 };
        let json: serde_json::Value = serde_json::from_slice(&bytes[header..]).unwrap();
        assert_eq!(json["event"], "crisis:detected");
        assert_eq!(json["org"], "acme");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["ingested_at_us"], 5);
        assert!(json["server_time"].is_string());
    }
}

//! Server frames, encoded once per organisation and shared by every socket.
//!
//! A frame is JSON (see `docs/protocol.md`) wrapped in a complete WebSocket text frame
//! (header included), so a session writes the same `Bytes` to its socket with no further
//! work: encode once, send many (LESSONS: Phoenix fastlane, Centrifugo PreparedMessage).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use fastwebsockets::{Frame as WsFrame, Payload};
use serde::Serialize;
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

#[cfg(test)]
mod tests {
    use super::*;

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

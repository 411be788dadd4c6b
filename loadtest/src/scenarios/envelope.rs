//! Reading a server frame's envelope without parsing its payload.
//!
//! A fanout run delivers over a million mention copies per second, and the load tester
//! shares the machine with the server: parsing every payload cost the load tester about
//! 40 % of its CPU (profile in `docs/benchmarks.md`), CPU the server then lacked. The
//! server writes the envelope's fields in a fixed order with `data` last
//! (`warroom_engine::wire::Frame`), so the head (`event`, `seq`, `ingested_at_us`) is
//! parsed on its own and the payload is only scanned: mentions are counted by their
//! `"sentiment":{` key, which occurs once per mention object and cannot occur inside a
//! JSON string (the quotes would be escaped). Every [`VERIFY_EVERY`]-th mention frame
//! of each client (its first included) is also parsed whole and compared with the
//! scan, so a frame that is not valid JSON, or a scan that miscounts, shows up in the
//! report as a malformed frame instead of going unnoticed.

use memchr::memmem::Finder;
use serde::Deserialize;
use warroom_engine::wire::Frame;

use super::clients::Items;

/// One mention frame in this many is parsed whole to check the scan (per client).
pub(crate) const VERIFY_EVERY: u32 = 64;

/// The envelope fields the load tester needs (the others are skipped).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Head {
    /// Event name.
    pub(crate) event: String,
    /// Per-organisation sequence number.
    pub(crate) seq: u64,
    /// Earliest ingest time of the frame's records (µs since the epoch).
    #[serde(default)]
    pub(crate) ingested_at_us: Option<i64>,
}

/// Splits frames into head and payload and counts what payloads hold.
pub(crate) struct Scanner {
    data_key: Finder<'static>,
    mention_key: Finder<'static>,
    own: Finder<'static>,
}

impl Scanner {
    /// A scanner counting this run's mentions: those whose `external_id` starts with
    /// `own_prefix` (`lt<run>-`). The key is part of the needle, so the prefix quoted
    /// inside some mention's text (where its quote is escaped) does not count.
    pub(crate) fn new(own_prefix: &str) -> Self {
        let own = format!("\"external_id\":\"{own_prefix}");
        Self {
            data_key: Finder::new(b",\"data\":").into_owned(),
            mention_key: Finder::new(b"\"sentiment\":{").into_owned(),
            own: Finder::new(own.as_bytes()).into_owned(),
        }
    }

    /// The frame's head and the raw JSON of its payload; `None` when the text is not a
    /// server envelope.
    pub(crate) fn split<'t>(&self, text: &'t str) -> Option<(Head, &'t str)> {
        let at = self.data_key.find(text.as_bytes())?;
        let mut head = String::with_capacity(at + 1);
        head.push_str(&text[..at]);
        head.push('}');
        let head = serde_json::from_str(&head).ok()?;
        // `,"data":` is ASCII, so `at + 8` is a character boundary.
        Some((head, &text[at + 8..]))
    }

    /// Mention objects in a mention-stream payload.
    pub(crate) fn mentions(&self, data: &str) -> u64 {
        self.mention_key.find_iter(data.as_bytes()).count() as u64
    }

    /// This run's mentions in a payload.
    pub(crate) fn own_mentions(&self, data: &str) -> u64 {
        self.own.find_iter(data.as_bytes()).count() as u64
    }
}

/// Parses `text` whole and checks it agrees with what the scan found: valid JSON, the
/// same head, and `mentions` elements in `data`.
pub(crate) fn verify(text: &str, head: &Head, mentions: u64) -> bool {
    match serde_json::from_str::<Frame<Items>>(text) {
        Ok(frame) => {
            frame.event == head.event
                && frame.seq == head.seq
                && frame.ingested_at_us == head.ingested_at_us
                && frame.data.0 == mentions
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_engine::model::{Author, Mention, SentimentScores, Source};
    use warroom_engine::{OrgId, ScoredMention};

    fn mention(id: &str, content: &str) -> ScoredMention {
        ScoredMention {
            org: OrgId::new("org-00"),
            mention: Mention {
                external_id: id.to_owned(),
                source: Source::Twitter,
                content: content.to_owned(),
                author: Author::default(),
                country: None,
                region: None,
                language: None,
                hashtags: vec![],
                url: None,
                event_time: "2026-01-01T00:00:00Z".parse().unwrap(),
                source_sentiment: None,
            },
            sentiment: SentimentScores {
                compound: -0.5,
                pos: 0.0,
                neu: 0.5,
                neg: 0.5,
            },
            ingested_at_us: 7,
        }
    }

    /// A frame exactly as the server encodes it.
    fn server_frame(mentions: &[ScoredMention]) -> String {
        let bytes = warroom_actors::push::outbox::encode(
            "dashboard:mention-stream",
            &OrgId::new("org-00"),
            42,
            "2026-01-01T00:00:01Z".parse().unwrap(),
            Some(7),
            &mentions,
        );
        let header = if bytes[1] < 126 { 2 } else { 4 };
        String::from_utf8(bytes[header..].to_vec()).unwrap()
    }

    #[test]
    fn the_scan_agrees_with_a_full_parse_of_a_server_frame() {
        // Content that looks like the keys the scan looks for must not fool it.
        let tricky = r#"he said "sentiment":{ and ,"data": and "lt1-x in one post"#;
        let batch = vec![
            mention("lt1-a", "fine"),
            mention("other", tricky),
            mention("lt1-b", "ok"),
        ];
        let text = server_frame(&batch);
        let scanner = Scanner::new("lt1-");
        let (head, data) = scanner.split(&text).expect("an envelope");
        assert_eq!(
            head,
            Head {
                event: "dashboard:mention-stream".into(),
                seq: 42,
                ingested_at_us: Some(7),
            }
        );
        assert_eq!(scanner.mentions(data), 3);
        assert_eq!(scanner.own_mentions(data), 2);
        assert!(verify(&text, &head, 3));
    }

    #[test]
    fn malformed_frames_are_caught_by_the_check() {
        let text = server_frame(&[mention("a", "x"), mention("b", "y")]);
        let scanner = Scanner::new("lt1-");
        let (head, data) = scanner.split(&text).unwrap();
        assert_eq!(scanner.mentions(data), 2);
        // Truncated: the scan still counts, the check does not agree.
        let truncated = &text[..text.len() - 5];
        let (head_t, data_t) = scanner.split(truncated).unwrap();
        assert_eq!(head_t, head);
        assert!(!verify(truncated, &head_t, scanner.mentions(data_t)));
        // A miscount is caught too.
        assert!(!verify(&text, &head, 3));
        // Not an envelope at all.
        assert!(scanner.split(r#"{"event":"x"}"#).is_none());
        assert!(scanner.split("not json,\"data\":1}").is_none());
    }
}

//! The wire contract shared by the gateway, the load tester and clients: ingest records,
//! WebSocket frames and client commands. See `docs/protocol.md`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{Author, Platform, Source};

/// WebSocket event names (seed section 4.1).
pub mod events {
    /// A crisis was detected.
    pub const CRISIS_DETECTED: &str = "crisis:detected";
    /// A crisis was resolved.
    pub const CRISIS_RESOLVED: &str = "crisis:resolved";
    /// A crisis changed otherwise (acknowledged, escalated).
    pub const CRISIS_UPDATED: &str = "crisis:updated";
    /// Fresh dashboard KPIs.
    pub const KPI_UPDATE: &str = "dashboard:kpi-update";
    /// New mentions.
    pub const MENTION_STREAM: &str = "dashboard:mention-stream";
    /// Campaign aggregates changed.
    pub const CAMPAIGN_UPDATE: &str = "dashboard:campaign-update";
    /// Overall health changed.
    pub const HEALTH_CHANGE: &str = "system:health-change";
    /// Data mode changed.
    pub const DATA_MODE_CHANGE: &str = "system:data-mode-change";
    /// A user of the organisation logged in.
    pub const USER_LOGIN: &str = "user:login";
    /// A user of the organisation logged out.
    pub const USER_LOGOUT: &str = "user:logout";
    /// Control: the socket is authenticated (answer to an `auth` command).
    pub const AUTHENTICATED: &str = "authenticated";
    /// Control: the subscription is live (carries resume outcome).
    pub const SUBSCRIBED: &str = "subscribed";
    /// Control: frames were dropped for this socket under backpressure.
    pub const GAP: &str = "gap";
    /// Control: a command was rejected.
    pub const ERROR: &str = "error";
    /// Control: answer to a client `ping` command.
    pub const PONG: &str = "pong";
}

/// Channels a client can subscribe to within its organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// `dashboard:kpi-update`, `dashboard:campaign-update`.
    Dashboard,
    /// `dashboard:mention-stream`.
    Mentions,
    /// `crisis:*`.
    Crisis,
    /// `system:*`.
    System,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 4] = [
        Channel::Dashboard,
        Channel::Mentions,
        Channel::Crisis,
        Channel::System,
    ];

    /// A bit for channel sets.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The channel an event belongs to.
    pub fn of_event(event: &str) -> Option<Channel> {
        match event {
            events::KPI_UPDATE | events::CAMPAIGN_UPDATE => Some(Channel::Dashboard),
            events::MENTION_STREAM => Some(Channel::Mentions),
            events::CRISIS_DETECTED | events::CRISIS_RESOLVED | events::CRISIS_UPDATED => {
                Some(Channel::Crisis)
            }
            events::HEALTH_CHANGE
            | events::DATA_MODE_CHANGE
            | events::USER_LOGIN
            | events::USER_LOGOUT => Some(Channel::System),
            _ => None,
        }
    }
}

/// A command a WebSocket client sends (JSON text frame).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientCommand {
    /// Authenticate the socket (browsers cannot set headers on the upgrade): an access
    /// token or an API key. Must come before `subscribe` when the upgrade carried no
    /// credential.
    Auth {
        /// A JWT access token or an API key.
        token: String,
    },
    /// Subscribe to an organisation's channels, optionally resuming after `last_seq`.
    Subscribe {
        /// Organisation id; absent: the credential's own organisation.
        #[serde(default)]
        org: Option<String>,
        /// Channels; all when absent.
        #[serde(default)]
        channels: Option<Vec<Channel>>,
        /// Last sequence number the client processed, to resume from.
        #[serde(default)]
        last_seq: Option<u64>,
        /// The stream epoch `last_seq` belongs to (from an earlier `subscribed` frame).
        #[serde(default)]
        epoch: Option<String>,
    },
    /// Application-level ping; answered with a `pong` frame.
    Ping,
}

/// The envelope of every server frame. `data` depends on `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame<T> {
    /// Event name (see [`events`]).
    pub event: String,
    /// Organisation.
    pub org: String,
    /// Per-organisation sequence number; 0 on control frames that are not part of the stream.
    pub seq: u64,
    /// Server time when the frame was encoded, RFC 3339.
    pub server_time: DateTime<Utc>,
    /// Earliest ingest time (µs since epoch) of the records behind this frame, if any:
    /// the client's clock minus this is ingest-to-screen latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingested_at_us: Option<i64>,
    /// Payload.
    pub data: T,
}

/// Payload of the `subscribed` control frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscribedData {
    /// Stream epoch: changes whenever history is lost (e.g. a restart).
    pub epoch: String,
    /// The newest sequence number at subscription time.
    pub seq: u64,
    /// Whether the requested resume succeeded (`true` when none was requested).
    pub recovered: bool,
    /// Frames replayed after this one.
    pub replayed: u64,
    /// Channels subscribed.
    pub channels: Vec<Channel>,
}

/// Payload of the `gap` control frame: frames the server dropped for this socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapData {
    /// First dropped sequence number.
    pub from_seq: u64,
    /// Last dropped sequence number.
    pub to_seq: u64,
    /// How many frames were dropped in that range.
    pub dropped: u64,
}

/// Payload of the `error` control frame (and of REST errors' `error` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorData {
    /// Machine-readable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// Compact KPI figures of one window, as pushed in `dashboard:kpi-update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowFigures {
    /// Mentions in the window.
    pub mention_count: u64,
    /// Average compound sentiment.
    pub avg_sentiment: Option<f64>,
    /// Negative share.
    pub negative_share: f64,
    /// Positive share.
    pub positive_share: f64,
    /// Strongly negative mentions.
    pub strongly_negative: u64,
}

/// Payload of `dashboard:kpi-update`: the seed's dashboard query plus the live figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiUpdateData {
    /// End of the windows.
    pub as_of: DateTime<Utc>,
    /// Mentions in the last 24 hours (seed name).
    pub mentions_24h: u64,
    /// Average compound sentiment over the last 7 days (the seed query's scope).
    pub avg_sentiment: Option<f64>,
    /// Crises not yet resolved (seed name).
    pub active_crises: u64,
    /// Scalar figures per window, keyed `15m`, `1h`, `24h`, `7d`.
    pub windows: std::collections::BTreeMap<String, WindowFigures>,
    /// Mentions per minute over the last hour, oldest first (60 values).
    pub volume_1h: Vec<u64>,
    /// Negative mentions of each minute of `volume_1h`.
    #[serde(default)]
    pub volume_1h_negative: Vec<u64>,
    /// Positive mentions of each minute of `volume_1h` (the rest is neutral).
    #[serde(default)]
    pub volume_1h_positive: Vec<u64>,
    /// Mentions by source in the last 15 minutes.
    pub by_source_15m: Vec<crate::model::SourceShare>,
    /// Trending hashtags in the last hour.
    pub trending_1h: Vec<crate::model::TrendingTerm>,
    /// Data counters.
    pub counters: crate::model::StreamCounters,
}

/// A mention as posted to `POST /api/v1/ingest/mentions` (one JSON object or NDJSON line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MentionRecord {
    /// Source id, unique per (organisation, source): 1-256 bytes, no control characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub external_id: String,
    /// Channel.
    pub source: Source,
    /// Text: at most 16 KiB of UTF-8, not only white space, no NUL.
    #[schema(min_length = 1, max_length = 16384, pattern = r"^[^\u0000]*$")]
    pub content: String,
    /// Author.
    #[serde(default)]
    pub author: Author,
    /// An assigned ISO 3166-1 alpha-2 code (any case), or empty.
    #[serde(default)]
    #[schema(max_length = 2)]
    pub country: Option<String>,
    /// Region.
    #[serde(default)]
    pub region: Option<String>,
    /// Language.
    #[serde(default)]
    pub language: Option<String>,
    /// Hashtags (at most 32, each 1-100 bytes without its `#`); extracted from the
    /// text when absent.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub hashtags: Option<Vec<String>>,
    /// Link: an absolute http(s) URL of at most 2,048 bytes, or empty.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// Publication time, RFC 3339: at most `engine.max_future_skew` ahead and
    /// `engine.max_event_age` back (422 otherwise).
    pub event_time: DateTime<Utc>,
    /// Source-provided sentiment (-1..1).
    #[serde(default)]
    #[schema(minimum = -1.0, maximum = 1.0)]
    pub source_sentiment: Option<f64>,
}

/// A money amount on the wire: a JSON number or a decimal string (`"12.34"`, as Meta sends),
/// non-negative, below 10^12, with at most 6 decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    /// A number.
    Number(f64),
    /// A decimal string, converted exactly.
    Text(String),
}

impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0.0))
                    .exclusive_maximum(Some(1e12)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^[0-9]{1,12}(\.[0-9]{0,6})?$")),
            )
            .description(Some(
                "A non-negative amount below 10^12: a number, or a decimal string with at most 6 decimals",
            ))
            .into()
    }
}

impl ToSchema for Amount {}

/// A campaign report as posted to `POST /api/v1/ingest/campaign-metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignMetricRecord {
    /// `meta` or `google_ads`.
    pub platform: Platform,
    /// Platform campaign id: 1-256 bytes, no control characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub campaign_id: String,
    /// Name (default: the id); no NUL.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$")]
    pub campaign_name: Option<String>,
    /// Day covered, `YYYY-MM-DD`: from `engine.max_event_age` back to tomorrow (422
    /// otherwise).
    pub date: NaiveDate,
    /// Impressions.
    #[serde(deserialize_with = "crate::whole_number::deserialize")]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub impressions: u64,
    /// Reach.
    #[serde(default, deserialize_with = "crate::whole_number::option")]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub reach: Option<u64>,
    /// Clicks.
    #[serde(deserialize_with = "crate::whole_number::deserialize")]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub clicks: u64,
    /// Spend in currency units.
    pub spend: Amount,
    /// Conversions.
    #[serde(default)]
    #[schema(minimum = 0.0)]
    pub conversions: Option<f64>,
    /// Daily budget in currency units.
    #[serde(default)]
    pub daily_budget: Option<Amount>,
    /// ISO 4217 currency code (default USD).
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// When the platform produced the numbers (default: now). Part of the idempotency key.
    #[serde(default)]
    pub reported_at: Option<DateTime<Utc>>,
}

/// The answer to an accepted ingest request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IngestAccepted {
    /// Records in the request.
    pub received: usize,
    /// Records applied.
    pub accepted: usize,
    /// Records ignored as duplicates of earlier ones.
    pub duplicates: usize,
}

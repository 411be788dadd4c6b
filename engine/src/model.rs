//! The domain model: organisations, mentions, campaign metrics, sentiment, KPIs and crises.
//!
//! Field and event names follow the seed documents (`shared/seeds/`): `mentions_24h`,
//! `avg_sentiment`, `active_crises`, `crisis_events.status` and so on.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An organisation (tenant) identifier: a short slug such as `harbor-campaign`.
///
/// Cheap to clone (shared string). Every row, key, channel and actor is scoped by one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgId(Arc<str>);

impl OrgId {
    /// Wraps a slug without checking it; use [`OrgId::parse`] for untrusted input.
    pub fn new(slug: impl AsRef<str>) -> Self {
        Self(Arc::from(slug.as_ref()))
    }

    /// Parses an untrusted slug: 1–64 characters of `a-z`, `0-9`, `-` or `_`.
    pub fn parse(slug: &str) -> Result<Self, String> {
        let ok = !slug.is_empty()
            && slug.len() <= 64
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self::new(slug))
        } else {
            Err("organisation ids are 1-64 characters of a-z, 0-9, '-' or '_'".to_owned())
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash that is stable across processes, used to route records to timely workers.
    pub fn route_hash(&self) -> u64 {
        // FNV-1a: tiny, stable across builds and processes (std's hasher is not).
        self.0.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }
}

impl utoipa::PartialSchema for OrgId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An organisation's slug"))
            .pattern(Some("^[a-z0-9_-]{1,64}$"))
            .into()
    }
}

impl ToSchema for OrgId {}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({})", self.0)
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organisation: one campaign team's tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    /// Its identifier.
    pub id: OrgId,
    /// Display name.
    pub name: String,
}

/// The social channel a mention was published on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// X / Twitter.
    Twitter,
    /// Facebook.
    Facebook,
    /// Instagram.
    Instagram,
    /// Online news.
    News,
    /// Reddit.
    Reddit,
    /// TikTok.
    Tiktok,
    /// YouTube.
    Youtube,
    /// Blogs.
    Blog,
    /// Forums, review sites and anything else.
    Other,
}

impl Source {
    /// Every source, in index order.
    pub const ALL: [Source; 9] = [
        Source::Twitter,
        Source::Facebook,
        Source::Instagram,
        Source::News,
        Source::Reddit,
        Source::Tiktok,
        Source::Youtube,
        Source::Blog,
        Source::Other,
    ];
    /// How many sources there are.
    pub const COUNT: usize = Self::ALL.len();

    /// A dense index, for per-source arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The wire name (`twitter`, `facebook`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Twitter => "twitter",
            Source::Facebook => "facebook",
            Source::Instagram => "instagram",
            Source::News => "news",
            Source::Reddit => "reddit",
            Source::Tiktok => "tiktok",
            Source::Youtube => "youtube",
            Source::Blog => "blog",
            Source::Other => "other",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Who published a mention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
pub struct Author {
    /// Handle or account name, e.g. `@jane_doe` (at most 256 bytes, no NUL).
    #[schema(max_length = 256, pattern = r"^[^\u0000]*$")]
    pub handle: String,
    /// Display name, when the source gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Followers / subscribers.
    #[serde(default, deserialize_with = "crate::whole_number::deserialize")]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub followers: u64,
    /// Estimated reach of this mention (people who could see it).
    #[serde(default, deserialize_with = "crate::whole_number::deserialize")]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub reach: u64,
}

/// A social mention as a source delivered it (before scoring).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Mention {
    /// The source's own id; `(org, source, external_id)` is unique.
    pub external_id: String,
    /// The channel it was published on.
    pub source: Source,
    /// The text.
    pub content: String,
    /// The author.
    pub author: Author,
    /// ISO 3166-1 alpha-2 country code, upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Region / state within the country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ISO 639-1 language code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Hashtags without the `#`, lower case.
    #[serde(default)]
    pub hashtags: Vec<String>,
    /// Link to the original post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When it was published (event time).
    pub event_time: DateTime<Utc>,
    /// A sentiment score the source computed itself (-1..1); kept beside ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sentiment: Option<f64>,
}

/// VADER sentiment scores, as `vaderSentiment.polarity_scores` returns them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default, ToSchema)]
pub struct SentimentScores {
    /// Share of negative intensity (0..1).
    pub neg: f64,
    /// Share of neutral intensity (0..1).
    pub neu: f64,
    /// Share of positive intensity (0..1).
    pub pos: f64,
    /// Normalised sum of valences (-1..1).
    pub compound: f64,
}

/// Sentiment class thresholds on the compound score, as VADER's authors recommend.
pub mod sentiment_class {
    /// `compound >= POSITIVE` is positive.
    pub const POSITIVE: f64 = 0.05;
    /// `compound <= NEGATIVE` is negative.
    pub const NEGATIVE: f64 = -0.05;
    /// `compound < STRONGLY_NEGATIVE` counts toward the seed's crisis rule.
    pub const STRONGLY_NEGATIVE: f64 = -0.8;
}

/// A sentiment class derived from the compound score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SentimentClass {
    /// compound ≥ 0.05
    Positive,
    /// between
    Neutral,
    /// compound ≤ -0.05
    Negative,
}

impl SentimentClass {
    /// Classifies a compound score.
    pub fn of(compound: f64) -> Self {
        if compound >= sentiment_class::POSITIVE {
            Self::Positive
        } else if compound <= sentiment_class::NEGATIVE {
            Self::Negative
        } else {
            Self::Neutral
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "positive" => Some(Self::Positive),
            "neutral" => Some(Self::Neutral),
            "negative" => Some(Self::Negative),
            _ => None,
        }
    }
}

/// A mention after the sentiment operator: what windows, actors and clients see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScoredMention {
    /// The organisation it belongs to.
    pub org: OrgId,
    /// The mention itself.
    #[serde(flatten)]
    pub mention: Mention,
    /// Our VADER scores.
    pub sentiment: SentimentScores,
    /// When the engine accepted it (µs since epoch); used for ingest-to-screen latency.
    pub ingested_at_us: i64,
}

/// An ad platform.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Meta (Facebook / Instagram) Marketing API.
    Meta,
    /// Google Ads API.
    GoogleAds,
}

impl Platform {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Meta => "meta",
            Platform::GoogleAds => "google_ads",
        }
    }
}

/// One campaign's metrics for one day, as the platforms report them (`time_increment=1`,
/// `segments.date`). A later report for the same `(platform, campaign_id, date)` replaces
/// the earlier one: platforms restate the running day until it closes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignMetric {
    /// Platform.
    pub platform: Platform,
    /// The platform's campaign id.
    pub campaign_id: String,
    /// Campaign name.
    pub campaign_name: String,
    /// The day the numbers cover (platform account time zone; UTC here).
    pub date: NaiveDate,
    /// Impressions that day.
    pub impressions: u64,
    /// Unique reach that day, when the platform reports it (Meta does, Google does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<u64>,
    /// Clicks that day.
    pub clicks: u64,
    /// Spend that day, in micro-units of the account currency (exact).
    pub spend_micros: i64,
    /// Conversions that day (fractional with data-driven attribution).
    pub conversions: f64,
    /// The campaign's daily budget in micro-units, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget_micros: Option<i64>,
    /// ISO 4217 currency code.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// When the platform produced this report.
    pub reported_at: DateTime<Utc>,
}

fn default_currency() -> String {
    "USD".to_owned()
}

impl CampaignMetric {
    /// The idempotency key of this report: one per `(platform, campaign, date, reported_at)`.
    pub fn external_id(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.platform.as_str(),
            self.campaign_id,
            self.date,
            self.reported_at.timestamp_micros()
        )
    }
}

/// What enters the dataflow: a record as the ingestor accepted it. A mention is scored
/// once, where it is accepted, and carries its score to the operators and the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A social mention with its sentiment.
    Mention(ScoredMention),
    /// A campaign metrics report.
    Campaign {
        /// Owner.
        org: OrgId,
        /// The report.
        metric: CampaignMetric,
        /// Ingest time (µs since epoch).
        ingested_at_us: i64,
    },
}

impl Event {
    /// The organisation the event belongs to.
    pub fn org(&self) -> &OrgId {
        match self {
            Event::Mention(scored) => &scored.org,
            Event::Campaign { org, .. } => org,
        }
    }
}

/// A sliding window the KPIs are kept over.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Window {
    /// The last 15 minutes.
    #[serde(rename = "15m")]
    M15,
    /// The last hour.
    #[serde(rename = "1h")]
    H1,
    /// The last 24 hours.
    #[serde(rename = "24h")]
    H24,
    /// The last 7 days.
    #[serde(rename = "7d")]
    D7,
}

impl Window {
    /// Every window, shortest first.
    pub const ALL: [Window; 4] = [Window::M15, Window::H1, Window::H24, Window::D7];

    /// Length in minutes.
    pub fn minutes(self) -> i64 {
        match self {
            Window::M15 => 15,
            Window::H1 => 60,
            Window::H24 => 24 * 60,
            Window::D7 => 7 * 24 * 60,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::M15 => "15m",
            Window::H1 => "1h",
            Window::H24 => "24h",
            Window::D7 => "7d",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == name)
    }

    /// Dense index, for per-window arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Mentions in one time slot of a volume series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VolumePoint {
    /// Start of the slot.
    pub at: DateTime<Utc>,
    /// Mentions in it.
    pub count: u64,
    /// Average compound sentiment in it, if any mention.
    pub avg_sentiment: Option<f64>,
    /// Negative mentions in it (compound ≤ -0.05): with `positive`, the sentiment split.
    #[serde(default)]
    pub negative: u64,
    /// Positive mentions in it (compound ≥ 0.05); the rest of `count` is neutral.
    #[serde(default)]
    pub positive: u64,
    /// Strongly negative mentions in it (compound < -0.8).
    #[serde(default)]
    pub strongly_negative: u64,
}

/// One source's part of a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceShare {
    /// The source.
    pub source: Source,
    /// Mentions from it.
    pub count: u64,
    /// Its share of all mentions in the window (0..1).
    pub share: f64,
    /// Its average compound sentiment.
    pub avg_sentiment: Option<f64>,
}

/// A country's part of a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CountryCount {
    /// ISO country code.
    pub country: String,
    /// Mentions from it (approximate beyond the sketch capacity; see docs).
    pub count: u64,
}

/// An author ranked by reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Influencer {
    /// Handle.
    pub handle: String,
    /// Where they posted.
    pub source: Source,
    /// Largest reach of one of their mentions in the window.
    pub reach: u64,
    /// Followers.
    pub followers: u64,
    /// Compound sentiment of that mention.
    pub sentiment: f64,
}

/// A trending hashtag or term (heavy hitter) in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrendingTerm {
    /// The hashtag (without `#`) or term.
    pub term: String,
    /// Occurrences (approximate beyond the sketch capacity; see docs).
    pub count: u64,
}

/// The KPIs of one organisation over one sliding window, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KpiSnapshot {
    /// The window.
    pub window: Window,
    /// The end of the window (processing time).
    pub as_of: DateTime<Utc>,
    /// Mentions in the window.
    pub mention_count: u64,
    /// Average compound sentiment; `None` with no mention.
    pub avg_sentiment: Option<f64>,
    /// Share of mentions with compound ≤ -0.05.
    pub negative_share: f64,
    /// Share of mentions with compound ≥ 0.05.
    pub positive_share: f64,
    /// Share of neutral mentions.
    pub neutral_share: f64,
    /// Mentions with compound < -0.8 (the seed's crisis signal).
    pub strongly_negative: u64,
    /// Mentions per minute (15m, 1h windows) or per hour (24h, 7d windows), oldest first.
    pub volume: Vec<VolumePoint>,
    /// Slot length of `volume`, in seconds.
    pub volume_resolution_secs: u32,
    /// Mentions by source, largest first.
    pub by_source: Vec<SourceShare>,
    /// Top countries, largest first.
    pub top_countries: Vec<CountryCount>,
    /// Top authors by reach.
    pub top_influencers: Vec<Influencer>,
    /// Trending hashtags.
    pub trending: Vec<TrendingTerm>,
}

/// Per-organisation counters about the data itself (late or rejected events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
pub struct StreamCounters {
    /// Mentions applied to the windows.
    pub mentions_applied: u64,
    /// Mentions that arrived after their minute had closed but within retention, and updated it.
    pub late_applied: u64,
    /// Mentions older than the retention (7 days): counted, not applied.
    pub too_late: u64,
    /// Campaign reports applied.
    pub campaign_reports: u64,
}

/// Aggregates for one campaign across the days reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CampaignAggregate {
    /// Platform.
    pub platform: Platform,
    /// Platform campaign id.
    pub campaign_id: String,
    /// Name.
    pub campaign_name: String,
    /// Currency.
    pub currency: String,
    /// Total impressions.
    pub impressions: u64,
    /// Sum of daily reach (an upper bound of unique reach), when reported.
    pub reach: Option<u64>,
    /// Total clicks.
    pub clicks: u64,
    /// Total spend in currency units.
    pub spend: f64,
    /// Total conversions.
    pub conversions: f64,
    /// Click-through rate: clicks / impressions.
    pub ctr: Option<f64>,
    /// Cost per click.
    pub cpc: Option<f64>,
    /// Cost per thousand impressions.
    pub cpm: Option<f64>,
    /// Cost per acquisition (conversion).
    pub cpa: Option<f64>,
    /// Daily budget in currency units, when known.
    pub daily_budget: Option<f64>,
    /// Today's spend divided by the budget share of the day elapsed; 1.0 is on pace.
    pub budget_pacing: Option<f64>,
    /// First and last day reported.
    pub first_date: NaiveDate,
    /// Last day reported.
    pub last_date: NaiveDate,
    /// Per-day figures, oldest first.
    pub daily: Vec<CampaignDay>,
}

/// One day of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CampaignDay {
    /// Day.
    pub date: NaiveDate,
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Spend in currency units.
    pub spend: f64,
    /// Conversions.
    pub conversions: f64,
}

/// What triggered a crisis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CrisisKind {
    /// The seed's rule: too many strongly negative mentions (compound < -0.8) in 15 minutes.
    NegativeSurge,
    /// Mention volume far above its rolling baseline.
    VolumeSpike,
}

impl CrisisKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CrisisKind::NegativeSurge => "negative_surge",
            CrisisKind::VolumeSpike => "volume_spike",
        }
    }
}

/// Crisis status, as the seed's `crisis_events.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CrisisStatus {
    /// Detected and not yet handled.
    Active,
    /// Someone is on it.
    Acknowledged,
    /// Over.
    Resolved,
}

/// What the detector saw when it raised (or last updated) a crisis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
pub struct CrisisEvidence {
    /// Strongly negative mentions in the last 15 minutes.
    pub strongly_negative_15m: u64,
    /// The organisation's threshold for that count.
    pub threshold: u64,
    /// Mentions in the last 15 minutes.
    pub mentions_15m: u64,
    /// Expected mentions per minute (EWMA baseline).
    pub baseline_per_minute: f64,
    /// Observed mentions per minute over the detection span.
    pub observed_per_minute: f64,
    /// Standard score of the observed rate against the baseline.
    pub z_score: f64,
    /// Average compound sentiment in the last 15 minutes.
    pub avg_sentiment_15m: Option<f64>,
    /// Sources contributing most, largest first.
    pub top_sources: Vec<Source>,
    /// Hashtags trending in the last 15 minutes.
    pub top_terms: Vec<String>,
    /// A few of the mentions that triggered it.
    pub sample_external_ids: Vec<String>,
}

/// A crisis, as the seed's `crisis_events` row plus what the engine knows of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CrisisEvent {
    /// Identifier.
    pub id: Uuid,
    /// Owner.
    pub org: OrgId,
    /// What triggered it.
    pub kind: CrisisKind,
    /// 1–10, from the magnitude; the highest seen while active.
    pub severity: u8,
    /// Current status.
    pub status: CrisisStatus,
    /// When it was detected.
    pub detected_at: DateTime<Utc>,
    /// When someone acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// `auto` when the signal cleared, `manual` when a user resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Evidence (the seed's `metadata` JSONB).
    pub metadata: CrisisEvidence,
}

/// What the crisis detector tells the organisation actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CrisisSignal {
    /// A new incident began.
    Raised {
        /// Which detector.
        kind: CrisisKind,
        /// 1–10.
        severity: u8,
        /// Evidence.
        evidence: CrisisEvidence,
        /// Detection time.
        at: DateTime<Utc>,
    },
    /// An ongoing incident got worse.
    Escalated {
        /// Which detector.
        kind: CrisisKind,
        /// New severity.
        severity: u8,
        /// Evidence.
        evidence: CrisisEvidence,
    },
    /// The incident's signal fell below the clearing level for the cool-down period.
    Cleared {
        /// Which detector.
        kind: CrisisKind,
        /// When.
        at: DateTime<Utc>,
    },
}

/// The global data mode (seed section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, ToSchema)]
pub enum DataMode {
    /// Generated demo data.
    #[default]
    #[serde(rename = "MOCK")]
    Mock,
    /// Real connectors.
    #[serde(rename = "LIVE")]
    Live,
}

impl DataMode {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DataMode::Mock => "MOCK",
            DataMode::Live => "LIVE",
        }
    }

    /// Parses a wire name (`MOCK` or `LIVE`, any case).
    pub fn parse(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("MOCK") {
            Some(DataMode::Mock)
        } else if name.eq_ignore_ascii_case("LIVE") {
            Some(DataMode::Live)
        } else {
            None
        }
    }
}

/// Overall health, as the health endpoint and `system:health-change` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything works.
    Ok,
    /// Working, with a part impaired.
    Degraded,
    /// Not working.
    Down,
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HealthStatus::Ok => "ok",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Down => "down",
        })
    }
}

/// What the dataflow sends to an organisation actor.
#[derive(Debug, Clone, PartialEq)]
pub enum OrgUpdate {
    /// Mentions just scored, in arrival order.
    Mentions(Vec<ScoredMention>),
    /// Fresh KPI snapshots for all windows plus counters.
    Kpis {
        /// One snapshot per [`Window`], in [`Window::ALL`] order.
        windows: Vec<KpiSnapshot>,
        /// Data counters.
        counters: StreamCounters,
    },
    /// Campaign aggregates changed.
    Campaigns(Vec<CampaignAggregate>),
    /// A crisis detector changed state.
    Crisis(CrisisSignal),
    /// The organisation's windows, detectors and campaign book were reset for a new data
    /// mode (a new dataflow generation): every update before this one belongs to the
    /// previous mode, every update after it to `data_mode`.
    Reset {
        /// The mode of the new generation, when the dataflow knows it.
        data_mode: Option<DataMode>,
    },
}

/// Where the dataflow delivers what it computes. Implemented by the actor layer.
pub trait UpdateSink: Send + Sync + 'static {
    /// Delivers one update for one organisation. Must not block.
    fn publish(&self, org: &OrgId, update: OrgUpdate);
}

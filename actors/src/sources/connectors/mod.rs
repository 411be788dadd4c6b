//! Live connectors (issue 6): one supervised actor per (organisation, vendor) that polls
//! the vendor on a schedule and submits what it maps through the shared
//! [`Ingestor`](crate::sources::ingest::Ingestor), like every other source.
//!
//! One module per concern: [`http`] (timeouts, rate limit, retries with backoff and
//! jitter honouring `Retry-After`, body cap), [`breaker`] (circuit breaker), [`token`]
//! (refresh-token flows), [`lenient`] (drifting vendor JSON), [`cursor`] (where a poll
//! resumes, persisted in `system_settings`), [`status`] (what health shows), the three
//! vendors, and [`actor`] (the polling loop tying them together).

pub mod actor;
pub mod backoff;
pub mod breaker;
pub mod cursor;
pub mod error;
pub mod google_ads;
pub mod http;
pub mod lenient;
pub mod mentionlytics;
pub mod meta;
pub mod status;
pub mod token;

use std::time::Duration;

use chrono::{DateTime, Utc};
use warroom_engine::{CampaignMetric, Mention};

pub use actor::{ConnectorActor, ConnectorArgs, ConnectorFactory};
pub use error::ConnectorError;
pub use status::{ConnectorRegistry, ConnectorStatus};

/// What one poll brought back.
#[derive(Debug, Default)]
pub struct Poll {
    /// Mentions, mapped and validated.
    pub mentions: Vec<Mention>,
    /// Campaign reports, mapped and validated.
    pub metrics: Vec<CampaignMetric>,
    /// Where the next poll resumes, once these records are acknowledged.
    pub cursor: Option<String>,
    /// Vendor records that could not be mapped, with why (counted and logged).
    pub rejected: Vec<String>,
    /// The vendor's usage report (percent of its quota), when it sends one.
    pub usage_percent: Option<u32>,
    /// The vendor asks for a pause before the next poll (usage near its limit).
    pub pause: Option<Duration>,
}

/// A vendor client: reads everything new since `cursor`.
#[async_trait::async_trait]
pub trait Connector: Send {
    /// Vendor name (`mentionlytics`, `meta`, `google_ads`).
    fn vendor(&self) -> &'static str;

    /// One poll. `cursor` is where the previous acknowledged poll ended (`None` on the
    /// very first). Records already seen may come again: ingest de-duplicates them.
    async fn poll(
        &mut self,
        cursor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Poll, ConnectorError>;
}

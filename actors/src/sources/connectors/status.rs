//! What each connector reports about itself, shared with `Runtime::health()`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::breaker::BreakerState;

/// One connector's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectorStatus {
    /// Organisation.
    pub org: String,
    /// Vendor (`mentionlytics`, `meta`, `google_ads`).
    pub vendor: String,
    /// Circuit breaker.
    pub breaker: BreakerState,
    /// End of the last successful poll.
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure, in words (never a credential).
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failed polls in a row.
    pub consecutive_failures: u32,
    /// Seconds since the last successful poll (since start when there was none):
    /// how stale this source's data may be.
    pub lag_secs: u64,
    /// Polls so far.
    pub polls: u64,
    /// Failed polls so far.
    pub failures: u64,
    /// Responses that did not have the documented shape.
    pub malformed: u64,
    /// Times the vendor throttled us.
    pub throttled: u64,
    /// Records acknowledged by the engine.
    pub records: u64,
    /// Vendor records that could not be mapped (missing id, text, date…), skipped.
    pub rejected: u64,
    /// The highest usage the vendor reported (percent of its quota), when it does.
    pub vendor_usage_percent: Option<u32>,
    /// Where the next poll resumes.
    pub cursor: Option<String>,
    /// When the connector (re)started.
    pub started: Option<DateTime<Utc>>,
}

impl ConnectorStatus {
    /// Whether health should call it troubled.
    pub fn troubled(&self) -> bool {
        self.breaker != BreakerState::Closed || self.consecutive_failures > 0
    }
}

/// Every connector's status, by child name (`source:{org}:{kind}`).
#[derive(Debug, Default)]
pub struct ConnectorRegistry {
    statuses: RwLock<BTreeMap<String, ConnectorStatus>>,
}

impl ConnectorRegistry {
    /// Creates (or resets) a connector's status when its actor starts.
    pub fn register(&self, name: &str, change: impl FnOnce(&mut ConnectorStatus)) {
        let mut statuses = self.statuses.write();
        change(statuses.entry(name.to_owned()).or_default());
    }

    /// Changes a registered connector's status; a connector removed meanwhile (stopped
    /// by a switch to MOCK while finishing a poll) stays removed.
    pub fn update(&self, name: &str, change: impl FnOnce(&mut ConnectorStatus)) {
        if let Some(status) = self.statuses.write().get_mut(name) {
            change(status);
        }
    }

    /// Forgets a connector (stopped on purpose, e.g. a switch to MOCK).
    pub fn remove(&self, name: &str) {
        self.statuses.write().remove(name);
    }

    /// One connector's status, with `lag_secs` computed at `now`.
    pub fn get(&self, name: &str, now: DateTime<Utc>) -> Option<ConnectorStatus> {
        self.statuses.read().get(name).map(|s| with_lag(s, now))
    }

    /// Every status, with `lag_secs` computed at `now`.
    pub fn snapshot(&self, now: DateTime<Utc>) -> BTreeMap<String, ConnectorStatus> {
        self.statuses
            .read()
            .iter()
            .map(|(name, s)| (name.clone(), with_lag(s, now)))
            .collect()
    }
}

fn with_lag(status: &ConnectorStatus, now: DateTime<Utc>) -> ConnectorStatus {
    let mut status = status.clone();
    let since = status.last_success.or(status.started);
    status.lag_secs = since
        .map(|t| (now - t).num_seconds().max(0) as u64)
        .unwrap_or(0);
    status
}

//! What the engine's parts report about themselves, read by the runtime's health and by
//! `GET /api/v1/health`. A leaf: it imports no room, so every part (archive, sources,
//! push) can report into these types without importing the runtime that reads them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warroom_engine::{DataMode, HealthStatus};

use crate::sources::connectors::status::ConnectorStatus;

/// Health of one part of the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartHealth {
    /// Status.
    pub status: HealthStatus,
    /// What it means, in words.
    pub detail: String,
}

/// The body of `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthReport {
    /// Overall status: the worst of the parts.
    pub status: HealthStatus,
    /// Current data mode.
    pub data_mode: DataMode,
    /// Server time.
    pub timestamp: DateTime<Utc>,
    /// Engine version.
    pub version: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Per-part status.
    pub services: BTreeMap<String, PartHealth>,
    /// Every running live connector's state, by child name (`source:{org}:{kind}`).
    /// Not serialised: `/api/v1/health` is public and this report is pushed to every
    /// organisation, so per-organisation states are served to each organisation's
    /// admins by `/api/v1/admin/connectors` instead.
    #[serde(skip)]
    pub connectors: BTreeMap<String, ConnectorStatus>,
    /// Why the status is not `ok`: `"<part>: <detail>"` for each part that is not.
    pub reasons: Vec<String>,
}

impl HealthReport {
    /// The report without the parts' details (file paths, the Redis host, counts): what
    /// the public `/api/v1/health` shows to callers who are not administrators, and what
    /// is pushed to every organisation's sockets. `reasons` keeps each troubled part's
    /// name and status.
    pub fn public(mut self) -> Self {
        for part in self.services.values_mut() {
            part.detail.clear();
        }
        self.reasons = self
            .services
            .iter()
            .filter(|(_, part)| part.status != HealthStatus::Ok)
            .map(|(name, part)| format!("{name}: {}", part.status))
            .collect();
        self
    }
}

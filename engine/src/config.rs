//! Layered configuration: embedded defaults → optional TOML file → `WARROOM__SECTION__KEY`
//! environment variables. Unknown keys are errors, so a typo never silently does nothing.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::model::{DataMode, OrgId};

/// The embedded defaults, also the reference for every key.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listener and request limits.
    pub server: ServerConfig,
    /// Stream operators.
    pub engine: EngineConfig,
    /// The system of record.
    pub database: DatabaseConfig,
    /// Redis (or the in-process stand-ins): cache, rate limits, bus, shared data mode.
    pub redis: RedisConfig,
    /// Crisis detectors.
    pub crisis: CrisisConfig,
    /// WebSocket push.
    pub push: PushConfig,
    /// Data mode.
    pub data: DataConfig,
    /// Mock generators.
    pub mock: MockConfig,
    /// Logging.
    pub log: LogConfig,
    /// Accounts, tokens, API keys and login throttling.
    pub auth: AuthConfig,
    /// HTTP hardening: CORS and security headers.
    pub http: HttpConfig,
    /// Exports (`warroom export`, `/api/v1/reports/export/*`).
    pub export: ExportConfig,
    /// The live Parquet archive.
    pub archive: ArchiveConfig,
    /// Live connectors: endpoints, schedules, rate limits, retries (accounts are per org).
    pub connectors: crate::connectors::ConnectorsConfig,
    /// Incoming and outgoing webhooks.
    pub webhooks: WebhooksConfig,
    /// The health monitor.
    pub health: HealthConfig,
    /// The Prometheus endpoint `GET /metrics`.
    pub metrics: MetricsConfig,
    /// Organisations served.
    #[serde(default)]
    pub orgs: Vec<OrgConfig>,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// Largest request body (bytes).
    pub max_body_bytes: usize,
    /// Most records per ingest request.
    pub max_records_per_request: usize,
    /// Distinct UTC days the records of one ingest request may fall on.
    pub max_days_per_request: usize,
    /// Per-request timeout.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Timeout of a REST read asking an organisation actor.
    #[serde(with = "humantime_serde")]
    pub actor_call_timeout: Duration,
    /// Grace period on shutdown.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Client networks no per-address cap applies to (connections, sockets).
    pub ip_limits_exempt: Vec<ipnet::IpNet>,
    /// Time a connection has to send a request's headers once the server waits for them;
    /// also the longest an idle keep-alive connection stays open.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Connections open at once from one client address (WebSockets count until they
    /// upgrade, then under `push.max_sockets_per_ip`).
    pub max_connections_per_ip: usize,
}

/// `[engine]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Timely worker threads.
    pub workers: usize,
    /// Epoch tick.
    #[serde(with = "humantime_serde")]
    pub epoch_tick: Duration,
    /// KPI snapshot interval.
    #[serde(with = "humantime_serde")]
    pub kpi_interval: Duration,
    /// Accepted records not yet taken by the operators, at most.
    pub max_in_flight: usize,
    /// De-duplication memory per organisation (ids).
    pub dedup_capacity_per_org: usize,
    /// Mentions kept per organisation for listing.
    pub recent_mentions_per_org: usize,
    /// Largest accepted clock skew for event times in the future.
    #[serde(with = "humantime_serde")]
    pub max_future_skew: Duration,
    /// Oldest accepted event time, back from now: older records are refused (422), so one
    /// request cannot scatter rows over years of archive partitions.
    #[serde(with = "humantime_serde")]
    pub max_event_age: Duration,
    /// Top-k sketch capacity per bucket.
    pub sketch_capacity: usize,
    /// Length of top lists.
    pub top_k: usize,
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// A `postgres://` URL or a SQLite location (`sqlite://path` or a path).
    pub url: String,
    /// Records queued for commit, at most.
    pub max_queued: usize,
    /// Records per group commit.
    pub max_batch: usize,
    /// Group-commit window.
    #[serde(with = "humantime_serde")]
    pub commit_window: Duration,
    /// How long an ingest request waits for its commit.
    #[serde(with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// How long one batch write may take before it is retried as failed.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// How often KPI minute buckets of closed minutes are written.
    #[serde(with = "humantime_serde")]
    pub kpi_flush_interval: Duration,
    /// How far back windows are rebuilt on start.
    #[serde(with = "humantime_serde")]
    pub recovery_window: Duration,
}

impl DatabaseConfig {
    /// The URL with any password replaced by `***`, for logs and `warroom config`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// A URL with the password of its `user:password@` part replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `[redis]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`; empty runs everything in process.
    pub url: String,
    /// First segment of every key and channel, so several deployments share a server.
    pub key_prefix: String,
    /// Time allowed to open a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed for one command before it fails (and the caller does without Redis).
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// First reconnection delay.
    #[serde(with = "humantime_serde")]
    pub reconnect_min_delay: Duration,
    /// Largest reconnection delay (exponential backoff in between).
    #[serde(with = "humantime_serde")]
    pub reconnect_max_delay: Duration,
    /// How often the connection is checked with PING for health.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// How often the persisted data mode is re-read, catching a change whose bus
    /// message was missed (an outage, or a change made with `warroom data-mode`).
    #[serde(with = "humantime_serde")]
    pub mode_sync_interval: Duration,
    /// Entries of the in-process cache, at most (the soonest to expire is evicted).
    pub memory_max_entries: usize,
    /// Keys of the in-process rate limiter, at most (expired windows are evicted first).
    pub memory_max_rate_keys: usize,
    /// Messages buffered per bus subscriber; a subscriber further behind loses the oldest.
    pub bus_capacity: usize,
    /// Cache lifetimes per kind of entry (the seed's section 3.2).
    pub ttl: CacheTtlConfig,
}

impl RedisConfig {
    /// The URL with any password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// `[redis.ttl]`: the seed's Redis caching strategy, one lifetime per kind of entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheTtlConfig {
    /// Mentionlytics API responses.
    #[serde(with = "humantime_serde")]
    pub mentionlytics: Duration,
    /// Meta insights API responses.
    #[serde(with = "humantime_serde")]
    pub meta_insights: Duration,
    /// Google Ads API responses.
    #[serde(with = "humantime_serde")]
    pub google_ads: Duration,
    /// User sessions (JWT refresh window).
    #[serde(with = "humantime_serde")]
    pub user_sessions: Duration,
    /// Refresh tokens.
    #[serde(with = "humantime_serde")]
    pub refresh_tokens: Duration,
    /// Dashboard KPIs.
    #[serde(with = "humantime_serde")]
    pub dashboard_kpis: Duration,
    /// Crisis alert lists.
    #[serde(with = "humantime_serde")]
    pub crisis_alerts: Duration,
    /// System health.
    #[serde(with = "humantime_serde")]
    pub system_health: Duration,
}

/// `[auth]`
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 signing secret of access tokens, at least 32 bytes; empty makes `serve`
    /// generate a random one per process (tokens then do not survive a restart).
    pub jwt_secret: String,
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Lifetime of an access token.
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token (rotated on every use).
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// Clock skew tolerated when checking `exp`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Mark cookies `Secure` (browsers then send them over HTTPS only).
    pub cookie_secure: bool,
    /// Failed logins per account per `login_window` from clients without the account's
    /// device cookie; beyond it only such a client may still try.
    pub login_failures_per_account: u64,
    /// Failed logins per account and client (device cookie, else IP) before backoff.
    pub login_failures_per_client: u64,
    /// The first wait once a client is past its free failures; it doubles with each
    /// further failure, up to `login_window`.
    #[serde(with = "humantime_serde")]
    pub login_backoff: Duration,
    /// Login attempts per client IP per `login_window`.
    pub login_attempts_per_ip: u64,
    /// Window of the login throttles.
    #[serde(with = "humantime_serde")]
    pub login_window: Duration,
    /// Default requests per hour of a new API key.
    pub api_key_rate_limit_per_hour: u32,
    /// How long a user's active flag and role are cached per node (deactivation and role
    /// changes take effect on other nodes within this).
    #[serde(with = "humantime_serde")]
    pub user_cache_ttl: Duration,
    /// Users (cached role and active flag) and revoked access tokens held in a node's
    /// memory at most, each (bounded memory). Rate-limit counters are `[redis]`'s.
    pub memory_capacity: usize,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &"***")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .finish_non_exhaustive()
    }
}

/// The smallest accepted `auth.jwt_secret` (HS256 wants at least the hash's size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// `[http]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Origins allowed to call the API from a browser (exact, e.g.
    /// `https://warroom.example.org`); empty allows none.
    pub cors_allowed_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (only behind TLS).
    pub hsts: bool,
    /// `Content-Security-Policy` of every response.
    pub content_security_policy: String,
}

/// `[export]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// Longest time range one export request may cover.
    #[serde(with = "humantime_serde")]
    pub max_range: Duration,
    /// Rows read from the store per page while exporting.
    pub page_rows: u32,
}

/// `[archive]`: the live Parquet archive that `warroom serve` keeps appending to
/// (docs/archive.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Run the archive task.
    pub enabled: bool,
    /// The archive directory. Empty: `archive/` beside the SQLite database file; with
    /// Postgres there is no default and the archive stays off until one is set.
    pub root: String,
    /// How often the store is read for newly committed rows.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Rows read from the store per page.
    pub page_size: u32,
    /// How often open files are published with the watermarks (a checkpoint): the most
    /// the published archive trails the database, and what a crash makes it redo.
    #[serde(with = "humantime_serde")]
    pub max_open: Duration,
    /// A file closes once it holds this many rows.
    pub max_file_rows: u64,
    /// A file closes once it reaches this many encoded bytes.
    pub max_file_bytes: u64,
    /// Most files open at once (each buffers up to a row group).
    pub max_open_files: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// zstd level, 1 to 22.
    pub zstd_level: i32,
}

impl ArchiveConfig {
    /// The archive directory for a database location: `root` when set, otherwise
    /// `archive/` beside a SQLite file; `None` for Postgres without `root`.
    pub fn resolved_root(&self, database_url: &str) -> Option<std::path::PathBuf> {
        if !self.root.trim().is_empty() {
            return Some(std::path::PathBuf::from(&self.root));
        }
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            return None;
        }
        let location = database_url
            .strip_prefix("sqlite://")
            .or_else(|| database_url.strip_prefix("sqlite:"))
            .unwrap_or(database_url);
        let location = location.split('?').next().unwrap_or(location);
        let path = Path::new(location);
        let dir = if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new(""))
        };
        Some(dir.join("archive"))
    }
}

/// `[crisis]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisConfig {
    /// Strongly negative mentions in 15 minutes that raise a crisis.
    pub negative_threshold: u64,
    /// Standard score that raises a volume spike.
    pub spike_z: f64,
    /// Minimum mentions in the spike span.
    pub spike_min_mentions: u64,
    /// EWMA smoothing factor.
    pub baseline_alpha: f64,
    /// Clearing level as a fraction of the trigger.
    pub clear_ratio: f64,
    /// How long the signal must stay clear.
    #[serde(with = "humantime_serde")]
    pub clear_after: Duration,
}

/// `[push]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// Frames kept per organisation for resume.
    pub ring_capacity: usize,
    /// Bytes of frames kept per organisation for resume.
    pub ring_max_bytes: usize,
    /// Frames queued per socket.
    pub socket_queue_frames: usize,
    /// Bytes queued per socket.
    pub socket_queue_bytes: usize,
    /// Ping interval.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Idle timeout.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Time allowed before the first subscribe.
    #[serde(with = "humantime_serde")]
    pub subscribe_timeout: Duration,
    /// Sockets open at once on one user account or API key (per node); more are refused.
    pub max_sockets_per_credential: usize,
    /// Sockets open at once from one client IP address (per node); more are refused.
    pub max_sockets_per_ip: usize,
}

/// `[data]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Initial data mode.
    pub mode: DataMode,
}

/// `[mock]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    /// Whether mock sources run (in MOCK mode).
    pub enabled: bool,
    /// Generator seed.
    pub seed: u64,
    /// Batch interval.
    #[serde(with = "humantime_serde")]
    pub tick: Duration,
    /// Share of late mentions.
    pub late_fraction: f64,
    /// Campaign restatement interval.
    #[serde(with = "humantime_serde")]
    pub campaign_interval: Duration,
    /// History generated at an organisation's first start in MOCK mode (zero disables).
    #[serde(with = "humantime_serde")]
    pub backfill: Duration,
    /// The most recent part of that history generated at the organisation's live rate.
    #[serde(with = "humantime_serde")]
    pub backfill_full_rate: Duration,
    /// Mentions backfilled per organisation, at most (zero disables).
    pub backfill_max_mentions: u64,
}

/// The longest `mock.backfill`: the windows' retention (an older mention is not applied).
pub const MAX_MOCK_BACKFILL: Duration = Duration::from_secs(7 * 86_400);

/// The largest `mock.backfill_max_mentions` (about 6 GB of SQLite at ~600 bytes a mention).
pub const MAX_MOCK_BACKFILL_MENTIONS: u64 = 10_000_000;

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` or `json`.
    pub format: String,
    /// tracing filter directive.
    pub filter: String,
}

/// One `[[orgs]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// Slug.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Mock mention rate (per second); 0 disables the mock mention source.
    #[serde(default)]
    pub mentions_per_second: f64,
    /// Overrides `[crisis].negative_threshold` for this organisation.
    #[serde(default)]
    pub negative_threshold: Option<u64>,
    /// Scheduled crisis bursts for demos and tests.
    #[serde(default)]
    pub crises: Vec<CrisisScenario>,
    /// Live sources of this organisation (run in LIVE mode); none by default.
    #[serde(default)]
    pub connectors: crate::connectors::OrgConnectors,
}

/// A scheduled burst of strongly negative mentions in the mock source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisScenario {
    /// Start, relative to server start.
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// Length of the burst.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Extra strongly negative mentions per second during the burst.
    pub mentions_per_second: f64,
}

/// `[webhooks]`
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Services accepted by `POST /api/v1/webhooks/{service}` (others answer 404).
    pub services: Vec<String>,
    /// Per-organisation HMAC-SHA256 secrets of incoming webhooks, by organisation id, at
    /// least 16 bytes each. An organisation without one accepts no incoming webhook.
    /// Secrets: never logged nor returned.
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, String>,
    /// How far an incoming delivery's timestamp may be from the server's clock.
    #[serde(with = "humantime_serde")]
    pub timestamp_tolerance: Duration,
    /// Largest incoming webhook body.
    pub max_body_bytes: usize,
    /// Events waiting for outgoing delivery at most; more are dropped and counted.
    pub queue_capacity: usize,
    /// Attempts per outgoing delivery (the first included).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each attempt, with jitter.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest delay between retries.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Longest delay a receiver's `Retry-After` can ask for (it is a floor on the next
    /// delay up to this).
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Duration,
    /// Timeout of one outgoing request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Deliveries in flight at once, across endpoints.
    pub concurrency: usize,
    /// Outgoing endpoints per organisation at most.
    pub max_per_org: usize,
    /// Allow endpoints on loopback, private and link-local addresses (tests, on-premise
    /// receivers). Off by default: an admin could otherwise probe the internal network.
    pub allow_private_targets: bool,
}

impl std::fmt::Debug for WebhooksConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhooksConfig")
            .field("services", &self.services)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("timestamp_tolerance", &self.timestamp_tolerance)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Shortest accepted incoming webhook secret.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

/// `[health]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// How often the monitor re-derives health (and pushes `system:health-change`).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How often the event-loop probe measures its own wake-up delay.
    #[serde(with = "humantime_serde")]
    pub lag_probe_interval: Duration,
    /// Event-loop lag above which health is `degraded`.
    #[serde(with = "humantime_serde")]
    pub lag_degraded: Duration,
    /// Event-loop lag above which health is `down`.
    #[serde(with = "humantime_serde")]
    pub lag_down: Duration,
}

/// `[metrics]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `GET /metrics` (Prometheus text format, no authentication).
    pub enabled: bool,
    /// Answer only clients connecting from a loopback address (403 otherwise): scrape
    /// through a local agent or a proxy. Off exposes the metrics to anyone who can reach
    /// the port.
    pub loopback_only: bool,
}

impl Config {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, Env::prefixed("WARROOM__").split("__"))
    }

    /// The embedded defaults alone (tests start here and adjust fields).
    pub fn defaults() -> Self {
        Self::from_figment(Figment::from(Toml::string(DEFAULT_TOML)))
            .expect("embedded default.toml is valid (checked by a unit test)")
    }

    fn load_with_env(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid {
                    field: "--config".into(),
                    reason: format!("{} does not exist", path.display()),
                });
            }
            // A file that lists [[orgs]] replaces the demo organisations instead of
            // appending to them: figment merges arrays by replacement with `merge`.
            figment = figment.merge(Toml::file(path));
        }
        Self::from_figment(figment.merge(env))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        config.check()?;
        Ok(config)
    }

    /// Checks what the types alone cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| {
            Err(ConfigError::Invalid {
                field: field.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.engine.workers == 0 || self.engine.workers > 64 {
            return invalid("engine.workers", "must be between 1 and 64");
        }
        if self.engine.max_event_age < Duration::from_secs(7 * 86_400) {
            return invalid(
                "engine.max_event_age",
                "must be at least 7d (the windows' retention)",
            );
        }
        if self.engine.epoch_tick.is_zero() || self.engine.kpi_interval.is_zero() {
            return invalid("engine.epoch_tick/kpi_interval", "must be positive");
        }
        if self.database.url.trim().is_empty() {
            return invalid(
                "database.url",
                "must name a postgres:// URL or a SQLite file",
            );
        }
        if self.database.max_queued == 0 || self.database.max_batch == 0 {
            return invalid("database.max_queued/max_batch", "must be positive");
        }
        if self.redis.command_timeout.is_zero() || self.redis.connect_timeout.is_zero() {
            return invalid("redis.command_timeout/connect_timeout", "must be positive");
        }
        if self.redis.reconnect_min_delay.is_zero()
            || self.redis.reconnect_min_delay > self.redis.reconnect_max_delay
        {
            return invalid(
                "redis.reconnect_min_delay",
                "must be positive and at most redis.reconnect_max_delay",
            );
        }
        if self.redis.probe_interval.is_zero() || self.redis.mode_sync_interval.is_zero() {
            return invalid(
                "redis.probe_interval/mode_sync_interval",
                "must be positive",
            );
        }
        if self.redis.key_prefix.is_empty()
            || !self
                .redis
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return invalid(
                "redis.key_prefix",
                "must be 1 or more characters of a-z, A-Z, 0-9, '-', '_' or '.'",
            );
        }
        if self.redis.memory_max_entries == 0
            || self.redis.memory_max_rate_keys == 0
            || self.redis.bus_capacity == 0
        {
            return invalid(
                "redis.memory_max_entries/memory_max_rate_keys/bus_capacity",
                "must be positive",
            );
        }
        if !(self.redis.url.is_empty() || self.redis.url.starts_with("redis://")) {
            return invalid("redis.url", "must be empty or a redis:// URL");
        }
        if self.database.write_timeout.is_zero() || self.database.kpi_flush_interval.is_zero() {
            return invalid(
                "database.write_timeout/kpi_flush_interval",
                "must be positive",
            );
        }
        if self.export.max_range.is_zero() || self.export.page_rows == 0 {
            return invalid("export.max_range/page_rows", "must be positive");
        }
        let archive = &self.archive;
        if archive.poll_interval.is_zero() || !(1..=10_000).contains(&archive.page_size) {
            return invalid(
                "archive.poll_interval/page_size",
                "poll_interval must be positive and page_size between 1 and 10000",
            );
        }
        if archive.max_file_rows == 0
            || archive.max_file_bytes == 0
            || archive.max_open_files == 0
            || archive.row_group_rows == 0
        {
            return invalid(
                "archive.max_file_rows/max_file_bytes/max_open_files/row_group_rows",
                "must be positive",
            );
        }
        if !(1..=22).contains(&archive.zstd_level) {
            return invalid("archive.zstd_level", "must be between 1 and 22");
        }
        if self.engine.max_in_flight == 0 {
            return invalid("engine.max_in_flight", "must be positive");
        }
        if self.engine.sketch_capacity < self.engine.top_k || self.engine.top_k == 0 {
            return invalid(
                "engine.sketch_capacity",
                "must be at least engine.top_k (> 0)",
            );
        }
        if !(0.0..1.0).contains(&self.crisis.baseline_alpha) || self.crisis.baseline_alpha == 0.0 {
            return invalid("crisis.baseline_alpha", "must be in (0, 1)");
        }
        if !(0.0..1.0).contains(&self.crisis.clear_ratio) {
            return invalid("crisis.clear_ratio", "must be in [0, 1)");
        }
        if self.server.max_days_per_request == 0 {
            return invalid("server.max_days_per_request", "must be positive");
        }
        if self.server.header_read_timeout.is_zero() || self.server.max_connections_per_ip == 0 {
            return invalid(
                "server.header_read_timeout/max_connections_per_ip",
                "must be positive",
            );
        }
        if self.push.max_sockets_per_credential == 0 || self.push.max_sockets_per_ip == 0 {
            return invalid(
                "push.max_sockets_per_credential/max_sockets_per_ip",
                "must be positive",
            );
        }
        if self.push.ring_capacity == 0 || self.push.socket_queue_frames < 4 {
            return invalid(
                "push",
                "ring_capacity > 0 and socket_queue_frames >= 4 required",
            );
        }
        if !(0.0..=1.0).contains(&self.mock.late_fraction) {
            return invalid("mock.late_fraction", "must be in [0, 1]");
        }
        if self.mock.backfill > MAX_MOCK_BACKFILL {
            return invalid(
                "mock.backfill",
                "must be at most 7d (the windows' retention)",
            );
        }
        if self.mock.backfill_max_mentions > MAX_MOCK_BACKFILL_MENTIONS {
            return invalid("mock.backfill_max_mentions", "must be at most 10000000");
        }
        if self.log.format != "pretty" && self.log.format != "json" {
            return invalid("log.format", "must be \"pretty\" or \"json\"");
        }
        if !self.auth.jwt_secret.is_empty() && self.auth.jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return invalid(
                "auth.jwt_secret",
                "must be at least 32 bytes (or empty for a random per-process secret)",
            );
        }
        if self.auth.access_token_ttl.is_zero() || self.auth.refresh_token_ttl.is_zero() {
            return invalid(
                "auth.access_token_ttl/refresh_token_ttl",
                "must be positive",
            );
        }
        if self.auth.login_failures_per_account == 0
            || self.auth.login_failures_per_client == 0
            || self.auth.login_backoff.is_zero()
            || self.auth.login_attempts_per_ip == 0
            || self.auth.login_window.is_zero()
        {
            return invalid("auth.login_*", "attempts and window must be positive");
        }
        if self.auth.api_key_rate_limit_per_hour == 0 || self.auth.memory_capacity == 0 {
            return invalid(
                "auth.api_key_rate_limit_per_hour/memory_capacity",
                "must be positive",
            );
        }
        if self.auth.api_key_rate_limit_per_hour > i32::MAX as u32 {
            return invalid("auth.api_key_rate_limit_per_hour", "is too large");
        }
        for origin in &self.http.cors_allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return invalid(
                    "http.cors_allowed_origins",
                    "origins are scheme://host[:port] without a trailing slash",
                );
            }
        }
        if let Err((field, reason)) = self.connectors.check() {
            return invalid(&field, &reason);
        }
        self.check_operations()?;
        let mut seen = std::collections::HashSet::new();
        for org in &self.orgs {
            if let Err((field, reason)) = org.connectors.check() {
                return invalid(&field, &reason);
            }
            if let Err(reason) = OrgId::parse(&org.id) {
                return invalid("orgs.id", &reason);
            }
            if !seen.insert(org.id.as_str()) {
                return invalid("orgs.id", &format!("{} is listed twice", org.id));
            }
            if !(0.0..=100_000.0).contains(&org.mentions_per_second) {
                return invalid("orgs.mentions_per_second", "must be in [0, 100000]");
            }
        }
        Ok(())
    }

    /// Checks `[webhooks]`, `[health]` and `[metrics]`.
    fn check_operations(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| {
            Err(ConfigError::Invalid {
                field: field.to_owned(),
                reason: reason.to_owned(),
            })
        };
        let hooks = &self.webhooks;
        for service in &hooks.services {
            if service.is_empty()
                || service.len() > 64
                || !service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                return invalid("webhooks.services", "names are 1-64 of a-z, 0-9, '-', '_'");
            }
        }
        for (org, secret) in &hooks.secrets {
            if !self.orgs.iter().any(|o| &o.id == org) {
                return invalid("webhooks.secrets", &format!("no organisation {org}"));
            }
            if secret.len() < MIN_WEBHOOK_SECRET_BYTES {
                return invalid("webhooks.secrets", "secrets are at least 16 bytes");
            }
        }
        if hooks.timestamp_tolerance.is_zero()
            || hooks.max_body_bytes == 0
            || hooks.queue_capacity == 0
            || hooks.max_attempts == 0
            || hooks.concurrency == 0
            || hooks.max_per_org == 0
            || hooks.request_timeout.is_zero()
        {
            return invalid("webhooks", "limits, timeouts and attempts must be positive");
        }
        if hooks.initial_backoff.is_zero() || hooks.initial_backoff > hooks.max_backoff {
            return invalid(
                "webhooks.initial_backoff",
                "must be positive and at most webhooks.max_backoff",
            );
        }
        let health = &self.health;
        if health.interval.is_zero()
            || health.lag_probe_interval.is_zero()
            || health.lag_degraded >= health.lag_down
        {
            return invalid(
                "health",
                "intervals must be positive and lag_degraded below lag_down",
            );
        }
        Ok(())
    }

    /// Renders the effective configuration as JSON, with secrets redacted.
    pub fn to_json(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = self.database.redacted_url();
        shown.redis.url = self.redis.redacted_url();
        if !shown.auth.jwt_secret.is_empty() {
            shown.auth.jwt_secret = "***".into();
        }
        for secret in shown.webhooks.secrets.values_mut() {
            *secret = "***".into();
        }
        serde_json::to_string_pretty(&shown).unwrap_or_default()
    }
}

#[cfg(test)]
// figment's Jail API returns its large error type by value; nothing to box here.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy as _;

    proptest::proptest! {
        /// Fuzz: a configuration file of any text, or known keys set to values of any
        /// type, loads or fails with an error naming the problem; never a panic.
        #[test]
        fn any_configuration_text_loads_or_fails_cleanly(
            text in ".{0,300}",
            settings in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "server.bind", "server.max_body_bytes", "server.request_timeout",
                        "server.max_days_per_request", "server.header_read_timeout",
                        "server.ip_limits_exempt", "engine.workers", "engine.max_event_age",
                        "engine.epoch_tick", "push.heartbeat", "push.max_sockets_per_ip",
                        "auth.jwt_secret", "auth.login_backoff", "auth.leeway",
                        "redis.url", "database.url", "data.mode", "crisis.spike_z",
                    ]),
                    proptest::prop_oneof![
                        proptest::prelude::any::<i64>().prop_map(|n| n.to_string()),
                        "[-0-9a-z .:/]{0,20}".prop_map(|t| format!("{t:?}")),
                        proptest::prelude::Just("\"0s\"".to_owned()),
                        proptest::prelude::Just("\"99999999999999d\"".to_owned()),
                        proptest::prelude::Just("[\"300.1.2.3/8\"]".to_owned()),
                        proptest::prelude::Just("true".to_owned()),
                        proptest::prelude::Just("1e400".to_owned()),
                    ],
                ),
                0..6,
            ),
        ) {
            let mut file = String::new();
            for (key, value) in &settings {
                let (table, field) = key.split_once('.').unwrap();
                file.push_str(&format!("[{table}]\n{field} = {value}\n"));
            }
            for candidate in [text.clone(), file] {
                let candidate: String = candidate;
                let figment = Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(&candidate));
                if let Err(e) = Config::from_figment(figment) {
                    proptest::prop_assert!(!e.to_string().is_empty());
                }
            }
        }
    }

    #[test]
    fn embedded_defaults_parse_and_check() {
        let config = Config::defaults();
        assert_eq!(config.server.bind.port(), 8080);
        assert_eq!(config.data.mode, DataMode::Mock);
        assert!(config.orgs.len() >= 3, "demo organisations ship by default");
    }

    #[test]
    fn archive_root_defaults_beside_the_sqlite_file() {
        let mut archive = Config::defaults().archive;
        assert!(archive.enabled);
        assert_eq!(
            archive.resolved_root("sqlite://data/warroom.db"),
            Some(std::path::PathBuf::from("data/archive"))
        );
        assert_eq!(
            archive.resolved_root("sqlite:///var/lib/warroom/db.sqlite3?mode=rwc"),
            Some(std::path::PathBuf::from("/var/lib/warroom/archive"))
        );
        assert_eq!(
            archive.resolved_root("warroom.db"),
            Some(std::path::PathBuf::from("archive"))
        );
        assert_eq!(archive.resolved_root("postgres://u@h/db"), None);
        archive.root = "/srv/archive".into();
        assert_eq!(
            archive.resolved_root("postgres://u@h/db"),
            Some(std::path::PathBuf::from("/srv/archive"))
        );
    }

    #[test]
    fn environment_overrides_nested_keys() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WARROOM__SERVER__BIND", "127.0.0.1:0");
            jail.set_env("WARROOM__ENGINE__WORKERS", "1");
            jail.set_env("WARROOM__PUSH__HEARTBEAT", "5s");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.server.bind.port(), 0);
            assert_eq!(config.engine.workers, 1);
            assert_eq!(config.push.heartbeat, Duration::from_secs(5));
            Ok(())
        });
    }

    #[test]
    fn file_overrides_defaults_and_unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("a.toml", "[engine]\nworkers = 3\n")?;
            let config = Config::load(Some(Path::new("a.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.engine.workers, 3);
            jail.create_file("b.toml", "[engine]\nwrokers = 3\n")?;
            let err = Config::load(Some(Path::new("b.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("wrokers"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn inconsistent_values_are_rejected_with_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WARROOM__ENGINE__WORKERS", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("engine.workers"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_oldest_event_time_is_bounded_but_not_below_the_windows_retention() {
        assert_eq!(
            Config::defaults().engine.max_event_age,
            Duration::from_secs(30 * 86_400)
        );
        figment::Jail::expect_with(|jail| {
            jail.set_env("WARROOM__ENGINE__MAX_EVENT_AGE", "400d");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                config.engine.max_event_age,
                Duration::from_secs(400 * 86_400)
            );
            jail.set_env("WARROOM__ENGINE__MAX_EVENT_AGE", "6d");
            let error = Config::load(None).expect_err("below 7d");
            assert!(
                error.to_string().contains("engine.max_event_age"),
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    fn mock_backfill_is_bounded() {
        let mock = Config::defaults().mock;
        assert_eq!(mock.backfill, Duration::from_secs(7 * 86_400));
        assert!(mock.backfill_full_rate > Duration::ZERO);
        assert!(mock.backfill_max_mentions > 0);
        figment::Jail::expect_with(|jail| {
            jail.set_env("WARROOM__MOCK__BACKFILL", "0s");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.mock.backfill, Duration::ZERO);
            jail.set_env("WARROOM__MOCK__BACKFILL", "36h");
            jail.set_env("WARROOM__MOCK__BACKFILL_FULL_RATE", "10m");
            jail.set_env("WARROOM__MOCK__BACKFILL_MAX_MENTIONS", "5000");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.mock.backfill, Duration::from_secs(36 * 3600));
            assert_eq!(config.mock.backfill_full_rate, Duration::from_secs(600));
            assert_eq!(config.mock.backfill_max_mentions, 5000);
            jail.set_env("WARROOM__MOCK__BACKFILL", "8d");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("mock.backfill"), "{err}");
            jail.set_env("WARROOM__MOCK__BACKFILL", "7d");
            jail.set_env("WARROOM__MOCK__BACKFILL_MAX_MENTIONS", "20000000");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("mock.backfill_max_mentions"), "{err}");
            jail.create_file("c.toml", "[mock]\nbackfill_days = 3\n")?;
            let err = Config::load(Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("backfill_days"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn database_passwords_are_never_shown() {
        let mut config = Config::defaults();
        config.database.url = "postgres://app:s3cret@127.0.0.1:5432/warroom".into();
        let shown = config.to_json();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:***@127.0.0.1:5432/warroom"));
    }

    #[test]
    fn redis_passwords_are_never_shown() {
        let mut config = Config::defaults();
        config.redis.url = "redis://default:hunter2@127.0.0.1:6379/0".into();
        let shown = config.to_json();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://default:***@127.0.0.1:6379/0"));
        config.redis.url = "redis://:hunter2@127.0.0.1:6379".into();
        assert_eq!(config.redis.redacted_url(), "redis://:***@127.0.0.1:6379");
    }

    #[test]
    fn redis_defaults_are_in_process_with_the_seed_ttls() {
        let config = Config::defaults();
        assert!(config.redis.url.is_empty());
        let ttl = &config.redis.ttl;
        assert_eq!(ttl.mentionlytics, Duration::from_secs(300));
        assert_eq!(ttl.meta_insights, Duration::from_secs(3600));
        assert_eq!(ttl.google_ads, Duration::from_secs(900));
        assert_eq!(ttl.user_sessions, Duration::from_secs(900));
        assert_eq!(ttl.refresh_tokens, Duration::from_secs(7 * 86_400));
        assert_eq!(ttl.dashboard_kpis, Duration::from_secs(60));
        assert_eq!(ttl.crisis_alerts, Duration::from_secs(30));
        assert_eq!(ttl.system_health, Duration::from_secs(30));
    }

    #[test]
    fn redis_settings_are_checked() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WARROOM__REDIS__URL", "http://127.0.0.1:6379");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("redis.url"), "{err}");
            jail.set_env("WARROOM__REDIS__URL", "redis://127.0.0.1:6379");
            jail.set_env("WARROOM__REDIS__KEY_PREFIX", "a:b");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("redis.key_prefix"), "{err}");
            jail.set_env("WARROOM__REDIS__KEY_PREFIX", "staging");
            jail.set_env("WARROOM__REDIS__TTL__CRISIS_ALERTS", "5s");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.redis.ttl.crisis_alerts, Duration::from_secs(5));
            assert_eq!(config.redis.key_prefix, "staging");
            Ok(())
        });
    }

    #[test]
    fn jwt_secrets_are_never_shown_and_short_ones_are_refused() {
        let mut config = Config::defaults();
        config.auth.jwt_secret = "0123456789abcdef0123456789abcdef-secret".into();
        assert!(config.check().is_ok());
        let shown = config.to_json();
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(!format!("{:?}", config.auth).contains("0123456789abcdef"));
        config.auth.jwt_secret = "short".into();
        let err = config.check().unwrap_err().to_string();
        assert!(err.contains("auth.jwt_secret"), "{err}");
    }

    #[test]
    fn connector_credentials_are_never_shown() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WARROOM_TEST_META_TOKEN", "meta-s3cret");
            jail.create_file(
                "c.toml",
                r#"
[[orgs]]
id = "acme"
name = "Acme"
[orgs.connectors.meta]
ad_account_id = "act_42"
access_token = "env:WARROOM_TEST_META_TOKEN"
[orgs.connectors.mentionlytics]
refresh_token = "ml-s3cret"
"#,
            )?;
            let config = Config::load(Some(Path::new("c.toml"))).map_err(|e| e.to_string())?;
            let meta = config.orgs[0].connectors.meta.as_ref().unwrap();
            assert_eq!(meta.access_token.expose(), "meta-s3cret");
            for shown in [config.to_json(), format!("{config:?}")] {
                assert!(!shown.contains("s3cret"), "{shown}");
            }
            jail.create_file(
                "d.toml",
                "[[orgs]]\nid = \"acme\"\nname = \"Acme\"\n[orgs.connectors.meta]\nad_account_id = \"42\"\naccess_token = \"x\"\n",
            )?;
            let err = Config::load(Some(Path::new("d.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("ad_account_id"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn webhook_secrets_are_never_shown_and_are_checked() {
        let mut config = Config::defaults();
        assert_eq!(
            config.webhooks.timestamp_tolerance,
            Duration::from_secs(300)
        );
        assert!(config.metrics.loopback_only);
        config
            .webhooks
            .secrets
            .insert("harbor-city".into(), "whsec-0123456789abcdef".into());
        assert!(config.check().is_ok());
        assert!(!config.to_json().contains("whsec-0123456789abcdef"));
        assert!(!format!("{:?}", config.webhooks).contains("whsec-0123456789abcdef"));
        config
            .webhooks
            .secrets
            .insert("harbor-city".into(), "short".into());
        assert!(config
            .check()
            .unwrap_err()
            .to_string()
            .contains("webhooks.secrets"));
        config.webhooks.secrets.clear();
        config
            .webhooks
            .secrets
            .insert("nobody".into(), "whsec-0123456789abcdef".into());
        assert!(config
            .check()
            .unwrap_err()
            .to_string()
            .contains("no organisation"));
        config.webhooks.secrets.clear();
        config.webhooks.services.push("Bad Name".into());
        assert!(config
            .check()
            .unwrap_err()
            .to_string()
            .contains("webhooks.services"));
        config.webhooks.services.pop();
        config.health.lag_degraded = config.health.lag_down;
        assert!(config.check().unwrap_err().to_string().contains("health"));
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/warroom.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }
}

//! The command line.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::scenarios::fanout::FanoutParams;
use crate::scenarios::idle::IdleParams;
use crate::scenarios::ingest::IngestParams;
use crate::scenarios::rest::{Endpoint, HttpClient, RestParams};
use crate::scenarios::slow::{SlowMode, SlowParams};
use crate::scenarios::storm::StormParams;

/// War Room load tester: WebSocket fanout latency, ingest throughput, REST throughput,
/// reconnect storms, slow consumers and idle-socket memory against a running server
/// (loopback only unless --allow-remote).
#[derive(Debug, Parser)]
#[command(name = "warroom-loadtest", version, about)]
pub struct Cli {
    /// The scenario.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// WebSocket clients over several organisations while mentions are ingested at a
    /// fixed rate: ingest-to-client latency, frames/s, gaps, disconnects.
    Fanout(FanoutArgs),
    /// Highest sustained acknowledged ingest rate at a batch size and concurrency.
    Ingest(IngestArgs),
    /// Concurrent keep-alive clients on the dashboard and mentions endpoints:
    /// requests/s, latency per endpoint, non-2xx answers.
    Rest(RestArgs),
    /// All clients drop at once and resume within a window while a crisis is raised:
    /// time until all are back, resume outcomes, missed frames, missed crisis frames.
    #[command(name = "reconnect-storm")]
    ReconnectStorm(StormArgs),
    /// A fraction of the clients read slowly or not at all: fast vs slow latency, gaps,
    /// 4008 closes.
    #[command(name = "slow-consumers")]
    SlowConsumers(SlowArgs),
    /// Many idle subscribed sockets: server memory per socket.
    Idle(IdleArgs),
}

/// Options of every scenario.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Server root URL.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "WARROOM_LOADTEST_TARGET"
    )]
    pub target: String,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// How long to measure, e.g. 10s, 500ms, 2m (at most 1h).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Organisations to spread the load over: comma-separated names, ranges
    /// (`org-00..org-49`), or `@FILE` (a server config .toml: its [[orgs]] ids; any other
    /// file: one name per line).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "harbor-city,green-valley,state-senate-7"
    )]
    pub orgs: Vec<String>,
    /// Local addresses WebSocket clients connect from, round-robin (e.g.
    /// 127.0.0.2,127.0.0.3): each has its own ephemeral port range.
    #[arg(long, value_delimiter = ',')]
    pub source_ips: Vec<IpAddr>,
    /// Stop ingesting after this many mentions.
    #[arg(long)]
    pub max_mentions: Option<u64>,
    /// Sample this server process's RSS and CPU (/proc/<pid>) at start and end.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print the report as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file (the table still goes to stdout).
    #[arg(long)]
    pub json_file: Option<std::path::PathBuf>,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
    /// The server's `auth.jwt_secret` (at least 32 bytes): the load tester mints its own
    /// short-lived `manager` token per organisation with it. Prefer the environment
    /// variable: a command line is visible to every user of the machine.
    #[arg(long, env = "WARROOM__AUTH__JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// `iss` of the minted tokens: the server's `auth.issuer`.
    #[arg(long, default_value = "warroom", env = "WARROOM__AUTH__ISSUER")]
    pub jwt_issuer: String,
    /// `aud` of the minted tokens: the server's `auth.audience`.
    #[arg(long, default_value = "warroom-api", env = "WARROOM__AUTH__AUDIENCE")]
    pub jwt_audience: String,
}

impl CommonArgs {
    /// The credentials for `--jwt-secret`; an error that says what to do without one.
    pub fn credentials(&self) -> anyhow::Result<crate::auth::Credentials> {
        let Some(secret) = self.jwt_secret.as_deref().filter(|s| !s.is_empty()) else {
            bail!(
                "the server refuses unauthenticated requests: pass its auth.jwt_secret with \
                 --jwt-secret or {}",
                crate::auth::SECRET_ENV
            );
        };
        crate::auth::Credentials::new(secret, &self.jwt_issuer, &self.jwt_audience)
    }
}

/// `fanout` options.
#[derive(Debug, Args)]
pub struct FanoutArgs {
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// WebSocket clients (spread round-robin over the organisations).
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Mentions per second ingested, all organisations together (0: only mock traffic).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Mentions per ingest request.
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Ingest requests outstanding at most; a batch due beyond that is skipped and counted.
    #[arg(long, default_value_t = 64)]
    pub max_in_flight: usize,
    /// How long to wait for all clients to subscribe before measuring.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// How long clients keep measuring after the last batch (mentions still in flight).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub drain: Duration,
}

impl FanoutArgs {
    /// The scenario parameters.
    pub fn params(&self) -> FanoutParams {
        FanoutParams {
            clients: self.clients,
            rate: self.rate,
            batch: self.batch,
            max_in_flight: self.max_in_flight,
            connect_timeout: self.connect_timeout,
            drain: self.drain,
        }
    }
}

/// `ingest` options.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Mentions per request.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

impl IngestArgs {
    /// The scenario parameters.
    pub fn params(&self) -> IngestParams {
        IngestParams {
            batch: self.batch,
            concurrency: self.concurrency,
        }
    }
}

/// `rest` options.
#[derive(Debug, Args)]
pub struct RestArgs {
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Concurrent keep-alive connections, one request in flight each.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Endpoints, interleaved request by request.
    #[arg(long, value_delimiter = ',', default_value = "dashboard,mentions")]
    pub endpoints: Vec<Endpoint>,
    /// `window` of the dashboard request: 15m, 1h, 24h (the server's default) or 7d.
    #[arg(long, default_value = "24h")]
    pub window: String,
    /// `limit` of the mentions request.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// HTTP client: hyper (one HTTP/1.1 connection per task) or reqwest.
    #[arg(long, value_enum, default_value = "hyper")]
    pub client: HttpClient,
}

impl RestArgs {
    /// The scenario parameters.
    pub fn params(&self) -> RestParams {
        RestParams {
            connections: self.connections,
            endpoints: self.endpoints.clone(),
            window: self.window.clone(),
            limit: self.limit,
            client: self.client,
        }
    }
}

/// `reconnect-storm` options.
#[derive(Debug, Args)]
pub struct StormArgs {
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// WebSocket clients (spread round-robin over the organisations).
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Mentions per second ingested over the whole run, all organisations together.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Mentions per ingest request.
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Ingest requests outstanding at most.
    #[arg(long, default_value_t = 64)]
    pub max_in_flight: usize,
    /// How long to wait for all clients to subscribe before measuring.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// When the storm starts, after the measurement started.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub storm_at: Duration,
    /// Every client reconnects at a random offset within this window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub storm_window: Duration,
    /// Strongly negative mentions posted half-way through the window (more than the
    /// organisation's crisis.negative_threshold, 25 by default; 0: no crisis).
    #[arg(long, default_value_t = 40)]
    pub crisis_burst: usize,
    /// Organisation for the crisis (default: the first with no active crisis).
    #[arg(long)]
    pub crisis_org: Option<String>,
    /// How long clients keep measuring after the ingest ended.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub drain: Duration,
}

impl StormArgs {
    /// The scenario parameters.
    pub fn params(&self) -> StormParams {
        StormParams {
            clients: self.clients,
            rate: self.rate,
            batch: self.batch,
            max_in_flight: self.max_in_flight,
            connect_timeout: self.connect_timeout,
            storm_at: self.storm_at,
            storm_window: self.storm_window,
            crisis_burst: self.crisis_burst,
            crisis_org: self.crisis_org.clone(),
            drain: self.drain,
        }
    }
}

/// `slow-consumers` options.
#[derive(Debug, Args)]
pub struct SlowArgs {
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// WebSocket clients (spread round-robin over the organisations).
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Share of the clients that read slowly (spread evenly).
    #[arg(long, default_value_t = 0.1)]
    pub slow_fraction: f64,
    /// delay: sleep --slow-delay after every frame; stall: stop reading entirely.
    #[arg(long, value_enum, default_value = "delay")]
    pub slow_mode: SlowMode,
    /// Sleep per frame of a slow client in delay mode.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    pub slow_delay: Duration,
    /// SO_RCVBUF of the slow clients' sockets in bytes (0: the kernel's autotuned
    /// default, which on loopback absorbs tens of MiB before the server notices).
    #[arg(long, default_value_t = 65536)]
    pub slow_rcvbuf: u32,
    /// Mentions per second ingested, all organisations together.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Mentions per ingest request.
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Ingest requests outstanding at most.
    #[arg(long, default_value_t = 64)]
    pub max_in_flight: usize,
    /// How long to wait for all clients to subscribe before measuring.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// How long clients keep measuring after the ingest ended.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub drain: Duration,
    /// Strongly negative mentions posted half-way (0: none): a crisis frame that cannot
    /// be queued for a slow socket closes it with 4008.
    #[arg(long, default_value_t = 0)]
    pub crisis_burst: usize,
    /// Organisation for the crisis (default: the first with no active crisis).
    #[arg(long)]
    pub crisis_org: Option<String>,
}

impl SlowArgs {
    /// The scenario parameters.
    pub fn params(&self) -> SlowParams {
        SlowParams {
            clients: self.clients,
            slow_fraction: self.slow_fraction,
            mode: self.slow_mode,
            slow_delay: self.slow_delay,
            slow_recv_buffer: self.slow_rcvbuf,
            rate: self.rate,
            batch: self.batch,
            max_in_flight: self.max_in_flight,
            connect_timeout: self.connect_timeout,
            drain: self.drain,
            crisis_burst: self.crisis_burst,
            crisis_org: self.crisis_org.clone(),
        }
    }
}

/// `idle` options (`--duration` is how long the sockets are held before the sample).
#[derive(Debug, Args)]
pub struct IdleArgs {
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Idle WebSocket clients (spread round-robin over the organisations).
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// How long to wait for all clients to subscribe.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
}

impl IdleArgs {
    /// The scenario parameters.
    pub fn params(&self) -> IdleParams {
        IdleParams {
            clients: self.clients,
            connect_timeout: self.connect_timeout,
        }
    }
}

/// Most organisations `--orgs` may expand to.
const MAX_ORGS: usize = 10_000;

/// Expands `--orgs` items: plain names, ranges `org-00..org-49` (or `org-00..49`; the
/// width of the first number is kept), and `@FILE`.
pub fn expand_orgs(items: &[String]) -> anyhow::Result<Vec<String>> {
    let mut orgs = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        if let Some(path) = item.strip_prefix('@') {
            orgs.extend(orgs_from_file(Path::new(path))?);
        } else if let Some((from, to)) = item.split_once("..") {
            orgs.extend(expand_range(from, to).with_context(|| format!("--orgs {item}"))?);
        } else {
            orgs.push(item.to_owned());
        }
        if orgs.len() > MAX_ORGS {
            bail!("--orgs names more than {MAX_ORGS} organisations");
        }
    }
    if orgs.is_empty() {
        bail!("--orgs names no organisation");
    }
    Ok(orgs)
}

/// `org-00`, `org-49` (or `49`) → `org-00` … `org-49`.
fn expand_range(from: &str, to: &str) -> anyhow::Result<Vec<String>> {
    let (prefix, first) = split_number(from);
    let (to_prefix, last) = split_number(to);
    if first.is_empty() || last.is_empty() {
        bail!("a range needs a number at the end of both sides, e.g. org-00..org-49");
    }
    if !to_prefix.is_empty() && to_prefix != prefix {
        bail!("both sides of a range need the same prefix");
    }
    let width = first.len();
    let (first, last): (u64, u64) = (first.parse()?, last.parse()?);
    if last < first || last - first >= MAX_ORGS as u64 {
        bail!("a range must go upwards and name at most {MAX_ORGS} organisations");
    }
    Ok((first..=last)
        .map(|n| format!("{prefix}{n:0width$}"))
        .collect())
}

/// `org-07` → (`org-`, `07`).
fn split_number(s: &str) -> (&str, &str) {
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    s.split_at(s.len() - digits)
}

/// Organisation ids from a server config (`.toml`, its `[[orgs]]`, read exactly as the
/// server reads it) or from a list with one name per line (`#` comments).
fn orgs_from_file(path: &Path) -> anyhow::Result<Vec<String>> {
    if path.extension().is_some_and(|e| e == "toml") {
        let config = warroom_engine::Config::load(Some(path))
            .with_context(|| format!("loading {} as a server config", path.display()))?;
        return Ok(config.orgs.into_iter().map(|o| o.id).collect());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Parses `10s`, `500ms`, `2m`, `1h`, or a plain number of seconds (`2.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}; use e.g. 10s, 500ms, 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?}; use ms, s, m or h"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn defaults_match_the_documentation() {
        let cli = Cli::try_parse_from(["warroom-loadtest", "fanout"]).unwrap();
        let Scenario::Fanout(f) = cli.scenario else {
            panic!("fanout expected")
        };
        assert_eq!(f.clients, 100);
        assert_eq!(f.rate, 1000.0);
        assert_eq!(f.batch, 50);
        assert_eq!(f.common.duration, Duration::from_secs(10));
        assert_eq!(
            f.common.orgs,
            ["harbor-city", "green-valley", "state-senate-7"]
        );
        let cli = Cli::try_parse_from(["warroom-loadtest", "ingest", "--orgs", "a,b"]).unwrap();
        let Scenario::Ingest(i) = cli.scenario else {
            panic!("ingest expected")
        };
        assert_eq!((i.batch, i.concurrency), (100, 4));
        assert_eq!(i.common.orgs, ["a", "b"]);

        let cli = Cli::try_parse_from(["warroom-loadtest", "rest"]).unwrap();
        let Scenario::Rest(r) = cli.scenario else {
            panic!("rest expected")
        };
        assert_eq!(r.connections, 64);
        assert_eq!(r.endpoints, [Endpoint::Dashboard, Endpoint::Mentions]);
        assert_eq!((r.window.as_str(), r.limit), ("24h", 50));
        let cli = Cli::try_parse_from(["warroom-loadtest", "reconnect-storm"]).unwrap();
        let Scenario::ReconnectStorm(s) = cli.scenario else {
            panic!("reconnect-storm expected")
        };
        assert_eq!(s.clients, 1000);
        assert_eq!(s.storm_window, Duration::from_secs(1));
        assert_eq!(s.crisis_burst, 40);
        let cli = Cli::try_parse_from(["warroom-loadtest", "slow-consumers"]).unwrap();
        let Scenario::SlowConsumers(s) = cli.scenario else {
            panic!("slow-consumers expected")
        };
        assert_eq!(s.slow_fraction, 0.1);
        assert_eq!(s.slow_mode, SlowMode::Delay);
        assert_eq!(s.slow_delay, Duration::from_millis(50));
        let cli = Cli::try_parse_from([
            "warroom-loadtest",
            "idle",
            "--clients",
            "10",
            "--source-ips",
            "127.0.0.2,127.0.0.3",
        ])
        .unwrap();
        let Scenario::Idle(i) = cli.scenario else {
            panic!("idle expected")
        };
        assert_eq!(i.clients, 10);
        assert_eq!(i.common.source_ips.len(), 2);
    }

    #[test]
    fn a_secret_is_needed_and_must_be_long_enough() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let Scenario::Ingest(i) = cli.scenario else {
                panic!("ingest expected")
            };
            i.common
        };
        // Unset explicitly: the test must not depend on the caller's environment.
        let none = CommonArgs {
            jwt_secret: None,
            ..parse(&["warroom-loadtest", "ingest"])
        };
        let err = none.credentials().unwrap_err().to_string();
        assert!(err.contains("--jwt-secret"), "{err}");
        let short = parse(&["warroom-loadtest", "ingest", "--jwt-secret", "short"]);
        assert!(short.credentials().is_err());
        let good = parse(&[
            "warroom-loadtest",
            "ingest",
            "--jwt-secret",
            "0123456789abcdef0123456789abcdef",
        ]);
        assert!(good
            .credentials()
            .unwrap()
            .bearer("o")
            .starts_with("Bearer "));
        assert_eq!(
            (good.jwt_issuer.as_str(), good.jwt_audience.as_str()),
            ("warroom", "warroom-api")
        );
    }

    #[test]
    fn org_ranges_and_files_expand() {
        let items = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let orgs = expand_orgs(&items(&["org-00..org-49"])).unwrap();
        assert_eq!(orgs.len(), 50);
        assert_eq!((orgs[0].as_str(), orgs[49].as_str()), ("org-00", "org-49"));
        assert_eq!(
            expand_orgs(&items(&["a", "o8..10", "z"])).unwrap(),
            ["a", "o8", "o9", "o10", "z"]
        );
        assert!(expand_orgs(&items(&["org-9..org-1"])).is_err());
        assert!(expand_orgs(&items(&["a..b"])).is_err());
        assert!(expand_orgs(&items(&["x1..y2"])).is_err());
        assert!(expand_orgs(&items(&[""])).is_err());

        let dir = std::env::temp_dir().join(format!("lt-orgs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let list = dir.join("orgs.txt");
        std::fs::write(&list, "# demo\nharbor-city\n\ngreen-valley  # levy\n").unwrap();
        let spec = format!("@{}", list.display());
        assert_eq!(
            expand_orgs(&items(&[&spec])).unwrap(),
            ["harbor-city", "green-valley"]
        );
        // The shipped 50-organisation server config.
        let config = concat!(env!("CARGO_MANIFEST_DIR"), "/orgs-50.toml");
        let orgs = expand_orgs(&items(&[&format!("@{config}")])).unwrap();
        assert_eq!(orgs, expand_orgs(&items(&["org-00..org-49"])).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

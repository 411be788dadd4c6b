//! The command line.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::scenarios::fanout::FanoutParams;
use crate::scenarios::ingest::IngestParams;

/// War Room load tester: WebSocket fanout latency and ingest throughput against a running
/// server (loopback only unless --allow-remote).
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
    /// Organisations to spread the load over (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "harbor-city,green-valley,state-senate-7"
    )]
    pub orgs: Vec<String>,
    /// Stop ingesting after this many mentions.
    #[arg(long)]
    pub max_mentions: Option<u64>,
    /// Sample this server process's RSS and CPU (/proc/<pid>) at start and end.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print the report as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
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
    }
}

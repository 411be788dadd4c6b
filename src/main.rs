//! `warroom`: the command line. It only parses arguments and wires parts together.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use warroom::App;
use warroom_engine::Config;

/// War Room: a real-time streaming engine for campaign war rooms.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (layered over the embedded defaults; WARROOM__SECTION__KEY
    /// environment variables override both).
    #[arg(long, short, global = true, env = "WARROOM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API and WebSocket push (MOCK data by default).
    Serve,
    /// Apply the database migrations (`serve` also applies them on start).
    Migrate,
    /// Score lines of text from stdin with VADER; one JSON object per line.
    Sentiment,
    /// Print the effective configuration as JSON.
    Config,
    /// Print the global data mode, or set it (MOCK or LIVE) for every node: in the
    /// database, and in Redis with a message to running nodes when Redis is configured.
    DataMode {
        /// The new mode; without it the current one is printed.
        mode: Option<String>,
    },
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn sentiment() -> anyhow::Result<()> {
    let analyzer = warroom_streams::sentiment::analyzer();
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line.context("reading stdin")?;
        let scores = analyzer.polarity_scores(&line);
        serde_json::to_writer(&mut out, &scores)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// `warroom data-mode [MODE]`: works on the database (and Redis) directly, so it needs
/// no running server; running nodes apply a change from the bus at once, or from the
/// database within `redis.mode_sync_interval`.
async fn data_mode(config: &Config, mode: Option<warroom_engine::DataMode>) -> anyhow::Result<()> {
    use warroom_actors::data_mode;
    let shown = config.database.redacted_url();
    let store = warroom_storage::open_store(&config.database.url)
        .await
        .with_context(|| format!("opening the database {shown}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("migrating {shown}"))?;
    let result = async {
        let current = data_mode::read(store.as_ref())
            .await
            .map_err(anyhow::Error::msg)?;
        let Some(mode) = mode else {
            match current {
                Some(current) => println!("{}", current.as_str()),
                None => println!(
                    "{} (not set yet: data.mode seeds it)",
                    config.data.mode.as_str()
                ),
            }
            return Ok(());
        };
        data_mode::persist(store.as_ref(), mode)
            .await
            .map_err(anyhow::Error::msg)?;
        if !config.redis.url.is_empty() {
            let cache = warroom_storage::cache::connect(&config.redis)
                .await
                .with_context(|| format!("redis {}", config.redis.redacted_url()))?;
            data_mode::share(&cache, mode, "warroom data-mode").await;
            cache.close().await;
        }
        let was = current.unwrap_or(config.data.mode);
        println!("{} (was {})", mode.as_str(), was.as_str());
        Ok(())
    }
    .await;
    store.close().await;
    result
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Sentiment => sentiment(),
        Command::Migrate => {
            init_logging(&config);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let shown = config.database.redacted_url();
                let store = warroom_storage::open_store(&config.database.url)
                    .await
                    .with_context(|| format!("opening the database {shown}"))?;
                store
                    .migrate()
                    .await
                    .with_context(|| format!("migrating {shown}"))?;
                store.close().await;
                eprintln!("{shown}: migrations applied");
                Ok(())
            })
        }
        Command::DataMode { mode } => {
            init_logging(&config);
            let mode = mode
                .map(|m| {
                    warroom_engine::DataMode::parse(&m)
                        .with_context(|| format!("{m:?} is not a data mode (MOCK or LIVE)"))
                })
                .transpose()?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(data_mode(&config, mode))
        }
        Command::Config => {
            println!("{}", config.to_json());
            Ok(())
        }
        Command::Serve => {
            init_logging(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("warroom-io")
                .build()?;
            runtime.block_on(async {
                let app = App::start(config).await?;
                eprintln!("War Room listening on http://{}", app.addr());
                shutdown_signal().await;
                app.shutdown().await
            })
        }
    }
}

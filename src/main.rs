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
    /// Export one organisation's rows of one table for a time range from the database
    /// into a single file (progress on stderr).
    Export {
        /// Organisation id.
        #[arg(long)]
        org: String,
        /// Start of the range, inclusive (RFC 3339, e.g. 2024-05-01T00:00:00Z).
        #[arg(long)]
        from: String,
        /// End of the range, exclusive (RFC 3339).
        #[arg(long)]
        to: String,
        /// mentions, campaign_data or kpi_buckets.
        #[arg(long)]
        table: String,
        /// Destination file (written whole: temporary name, then rename).
        #[arg(long)]
        out: PathBuf,
        /// parquet, csv, json (one array) or ndjson; defaults from the extension of --out.
        #[arg(long)]
        format: Option<String>,
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
        Command::Export {
            org,
            from,
            to,
            table,
            out,
            format,
        } => {
            init_logging(&config);
            let args = warroom::export::ExportArgs {
                org,
                from,
                to,
                table,
                out,
                format,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let stats = runtime.block_on(warroom::export::run(&config, &args))?;
            eprintln!(
                "{}: {} rows, {} bytes",
                args.out.display(),
                stats.rows,
                stats.bytes
            );
            Ok(())
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

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
    /// Print the global data mode, or set it (MOCK or LIVE) for every node: in the
    /// database, and in Redis with a message to running nodes when Redis is configured.
    DataMode {
        /// The new mode; without it the current one is printed.
        mode: Option<String>,
    },
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from stdin (one line) or, on a terminal,
    /// prompted for; nothing ships with a default password.
    Create {
        /// Login address.
        #[arg(long)]
        email: String,
        /// Organisation id (one of the configured organisations).
        #[arg(long, required_unless_present = "platform_admin")]
        org: Option<String>,
        /// Role within the organisation: admin, manager, user or readonly.
        #[arg(long, required_unless_present = "platform_admin")]
        role: Option<String>,
        /// Create the platform administrator (no organisation) instead.
        #[arg(long, conflicts_with_all = ["org", "role"])]
        platform_admin: bool,
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

/// Opens the configured database and applies the migrations (for the offline commands).
async fn open_migrated_store(
    config: &Config,
) -> anyhow::Result<std::sync::Arc<dyn warroom_storage::Store>> {
    let shown = config.database.redacted_url();
    let store = warroom_storage::open_store(&config.database.url)
        .await
        .with_context(|| format!("opening the database {shown}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("migrating {shown}"))?;
    Ok(store)
}

/// `warroom data-mode [MODE]`: works on the database (and Redis) directly, so it needs
/// no running server; running nodes apply a change from the bus at once, or from the
/// database within `redis.mode_sync_interval`.
async fn data_mode(config: &Config, mode: Option<warroom_engine::DataMode>) -> anyhow::Result<()> {
    use warroom_actors::runtime::data_mode;
    let store = open_migrated_store(config).await?;
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

fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // No echo control without another dependency: say so, once.
        eprint!("Password for the new user (input is visible; or pipe it on stdin): ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    warroom_gateway::auth::password::check_new_password(&password)
        .map_err(|reason| anyhow::anyhow!(reason))?;
    Ok(password)
}

async fn create_user(
    config: &Config,
    email: String,
    org: Option<String>,
    role: Option<String>,
    platform_admin: bool,
) -> anyhow::Result<()> {
    use warroom_engine::{OrgId, Organization, Role};
    let (org, role) = if platform_admin {
        (None, Role::PlatformAdmin)
    } else {
        let org = org.unwrap_or_default();
        let configured = config
            .orgs
            .iter()
            .find(|o| o.id == org)
            .ok_or_else(|| anyhow::anyhow!("no organisation {org:?} in the configuration"))?;
        let role = role.unwrap_or_default();
        let role = Role::parse(&role)
            .filter(|r| r.is_org_role())
            .ok_or_else(|| anyhow::anyhow!("role must be admin, manager, user or readonly"))?;
        (
            Some(Organization {
                id: OrgId::new(&configured.id),
                name: configured.name.clone(),
            }),
            role,
        )
    };
    let email = warroom_engine::account::normalise_email(&email)
        .map_err(|reason| anyhow::anyhow!("{email:?}: {reason}"))?;
    let password = read_password()?;
    let hash = warroom_gateway::auth::password::hash(password)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let store = open_migrated_store(config).await?;
    if let Some(org) = &org {
        store.upsert_organization(org).await?;
    }
    let created = store
        .accounts()
        .create_user(
            &warroom_storage::accounts::NewUser {
                org: org.map(|o| o.id),
                email: email.clone(),
                password_hash: hash,
                role,
            },
            chrono::Utc::now(),
        )
        .await?;
    store.close().await;
    match created {
        Some(user) => {
            eprintln!("created {} ({}) with id {}", user.email, user.role, user.id);
            println!("{}", user.id);
            Ok(())
        }
        None => anyhow::bail!("an account with email {email} already exists"),
    }
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
                let store = open_migrated_store(&config).await?;
                store.close().await;
                eprintln!("{}: migrations applied", config.database.redacted_url());
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
        Command::User(UserCommand::Create {
            email,
            org,
            role,
            platform_admin,
        }) => {
            init_logging(&config);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(create_user(&config, email, org, role, platform_admin))
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

//! `warroom-loadtest`: parses the command line, runs a scenario, prints the report.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use warroom_loadtest::cli::{expand_orgs, Cli, CommonArgs, Scenario};
use warroom_loadtest::report::Report;
use warroom_loadtest::scenarios::{
    check_sources, fanout, idle, ingest, rest, slow, storm, RunOptions,
};
use warroom_loadtest::target::Target;

async fn options(common: &CommonArgs) -> anyhow::Result<RunOptions> {
    let target = Target::check(&common.target, common.allow_remote)
        .await
        .context("checking --target")?;
    check_sources(&common.source_ips, common.allow_remote)?;
    Ok(RunOptions {
        target,
        orgs: expand_orgs(&common.orgs)?,
        duration: common.duration,
        max_mentions: common.max_mentions,
        server_pid: common.server_pid,
        progress: !common.quiet,
        sources: common.source_ips.clone(),
        credentials: std::sync::Arc::new(common.credentials()?),
    })
}

/// Raises the soft open-files limit to the hard one: every WebSocket client is a file
/// descriptor, and the usual soft limit (1024) is far below a 10,000-socket run.
fn raise_nofile_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < 4096 => eprintln!(
            "warning: only {limit} open files allowed (hard limit); runs with more clients \
             fail to connect: raise it with `ulimit -Hn`"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: could not raise the open-files limit: {e}"),
    }
}

fn print(report: &Report, common: &CommonArgs) -> anyhow::Result<()> {
    if let Some(path) = &common.json_file {
        let text = serde_json::to_string_pretty(report).context("encoding the report")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if common.json {
        let text = serde_json::to_string_pretty(report).context("encoding the report")?;
        println!("{text}");
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_nofile_limit();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain on one line, without a backtrace dump.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.scenario {
        Scenario::Fanout(args) => {
            let options = options(&args.common).await?;
            let report = fanout::run(&options, &args.params())
                .await
                .context("fanout scenario")?;
            print(&report, &args.common)
        }
        Scenario::Ingest(args) => {
            let options = options(&args.common).await?;
            let report = ingest::run(&options, &args.params())
                .await
                .context("ingest scenario")?;
            print(&report, &args.common)
        }
        Scenario::Rest(args) => {
            let options = options(&args.common).await?;
            let report = rest::run(&options, &args.params())
                .await
                .context("rest scenario")?;
            print(&report, &args.common)
        }
        Scenario::ReconnectStorm(args) => {
            let options = options(&args.common).await?;
            let report = storm::run(&options, &args.params())
                .await
                .context("reconnect-storm scenario")?;
            print(&report, &args.common)
        }
        Scenario::SlowConsumers(args) => {
            let options = options(&args.common).await?;
            let report = slow::run(&options, &args.params())
                .await
                .context("slow-consumers scenario")?;
            print(&report, &args.common)
        }
        Scenario::Idle(args) => {
            let options = options(&args.common).await?;
            let report = idle::run(&options, &args.params())
                .await
                .context("idle scenario")?;
            print(&report, &args.common)
        }
    }
}

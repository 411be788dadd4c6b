//! `warroom-loadtest`: parses the command line, runs a scenario, prints the report.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use warroom_loadtest::cli::{Cli, CommonArgs, Scenario};
use warroom_loadtest::report::Report;
use warroom_loadtest::scenarios::{fanout, ingest, RunOptions};
use warroom_loadtest::target::Target;

async fn options(common: &CommonArgs) -> anyhow::Result<RunOptions> {
    let target = Target::check(&common.target, common.allow_remote)
        .await
        .context("checking --target")?;
    Ok(RunOptions {
        target,
        orgs: common.orgs.clone(),
        duration: common.duration,
        max_mentions: common.max_mentions,
        server_pid: common.server_pid,
        progress: !common.quiet,
    })
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
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
            print(&report, args.common.json)
        }
        Scenario::Ingest(args) => {
            let options = options(&args.common).await?;
            let report = ingest::run(&options, &args.params())
                .await
                .context("ingest scenario")?;
            print(&report, args.common.json)
        }
    }
}

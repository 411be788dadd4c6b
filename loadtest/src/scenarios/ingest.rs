//! Scenario `ingest`: the highest sustained acknowledged ingest rate at a batch size and a
//! number of requests in flight (closed loop: each worker sends its next batch when the
//! previous one is answered).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use super::{http_client, post_batch, Answer, Harness, IngestTally, RunOptions};
use crate::live::Live;
use crate::records::{new_run_id, RecordFactory};
use crate::report::Report;

/// Longest pause after a 503: the server's Retry-After (1 s) is honoured up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Parameters of the ingest scenario.
#[derive(Debug, Clone)]
pub struct IngestParams {
    /// Records per request.
    pub batch: usize,
    /// Requests in flight (one worker each).
    pub concurrency: usize,
}

/// Runs the scenario and returns its report.
pub async fn run(options: &RunOptions, params: &IngestParams) -> anyhow::Result<Report> {
    let duration = options.checked_duration()?;
    anyhow::ensure!(params.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(
        (1..=1024).contains(&params.concurrency),
        "--concurrency must be within 1..=1024"
    );
    let run_id = new_run_id();
    let factory = Arc::new(RecordFactory::new(&run_id));
    let client = http_client(params.concurrency)?;
    let live = Arc::new(Live::default());
    // Mentions reserved by workers, to honour --max-mentions across them.
    let reserved = Arc::new(AtomicU64::new(0));
    let harness = Harness::start(options, Arc::clone(&live))?;
    let deadline = tokio::time::Instant::from_std(harness.started) + duration;

    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..params.concurrency {
        let urls: Vec<(String, String)> = options
            .orgs
            .iter()
            .map(|org| (options.target.ingest_url(org), org.clone()))
            .collect();
        let credentials = Arc::clone(&options.credentials);
        let (client, factory, live, reserved) = (
            client.clone(),
            Arc::clone(&factory),
            Arc::clone(&live),
            Arc::clone(&reserved),
        );
        let (batch, max) = (params.batch, options.max_mentions);
        workers.spawn(async move {
            let mut tally = IngestTally::new();
            // Workers start on different organisations and rotate.
            let mut next_org = worker;
            while tokio::time::Instant::now() < deadline {
                let taken = reserved.fetch_add(batch as u64, Ordering::Relaxed);
                if max.is_some_and(|m| taken >= m) {
                    break;
                }
                let n = max.map_or(batch, |m| batch.min((m - taken) as usize));
                let body = match serde_json::to_vec(&factory.batch(n)) {
                    Ok(body) => body,
                    Err(_) => break,
                };
                let (url, org) = &urls[next_org % urls.len()];
                next_org += 1;
                let authorization = credentials.bearer(org);
                let (answer, took) = match tokio::time::timeout_at(
                    deadline + Duration::from_secs(30),
                    post_batch(&client, url, &authorization, body),
                )
                .await
                {
                    Ok(result) => result,
                    Err(_) => (Answer::Transport, Duration::ZERO),
                };
                tally.apply(n, &answer, took, &live);
                if let Answer::Saturated(retry) = answer {
                    let pause = retry.min(MAX_BACKOFF);
                    tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + pause))
                        .await;
                }
            }
            tally
        });
    }
    let mut tally = IngestTally::new();
    while let Some(done) = workers.join_next().await {
        tally.merge(&done.context("an ingest worker panicked")?);
    }
    let elapsed = harness.started.elapsed();
    let (server, loadtest) = harness.finish().await;
    Ok(Report {
        scenario: "ingest".to_owned(),
        run_id,
        target: options.target.http_base(),
        orgs: options.orgs.clone(),
        params: json!({
            "duration_s": duration.as_secs_f64(),
            "batch": params.batch,
            "concurrency": params.concurrency,
            "max_mentions": options.max_mentions,
        }),
        elapsed_s: elapsed.as_secs_f64(),
        ingest: tally.figures(elapsed),
        ..Report::empty(server, loadtest)
    })
}

//! The web app's weight and speed in a real browser (Debian's Chromium, headless), against
//! the real server with the demo organisations on MOCK data:
//!
//! * bytes transferred for `/` (the page, its scripts, styles, vendored libraries and the
//!   map; compressed, from the browser's resource timing), cold cache;
//! * time to the first KPI: from navigation start to the mentions tile showing a number,
//!   with a cold cache and with a warm one (the page's `performance.now()`);
//! * the page's main-thread CPU while it follows the demo rate (Chrome's
//!   `Performance.getMetrics` task time over a measured interval).
//!
//! `cargo bench --bench page` (`-- --runs N --cpu-secs S` to change the defaults, `--rate R`
//! for a feed of R mentions/s instead of the demo's). A benchmark, not a test: it reports,
//! it does not assert timings.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::webdriver::{cdp, Driver};
use fantoccini::{Client, Locator};
use serde_json::json;
use warroom::App;
use warroom_engine::{Config, Role};

const EMAIL: &str = "bench@harbor.example";

/// Resolves with `performance.now()` once the mentions tile shows a number.
const FIRST_KPI: &str = r#"
const done = arguments[arguments.length - 1];
const check = () => {
  const v = document.querySelector('#kpi-mentions .value');
  if (v && /\d/.test(v.textContent)) done(performance.now()); else requestAnimationFrame(check);
};
check();
"#;

/// Bytes of the navigation and of every `/assets/` file, as transferred.
const WEIGHT: &str = r#"
const nav = performance.getEntriesByType('navigation')[0];
const files = performance.getEntriesByType('resource')
  .filter((r) => new URL(r.name).pathname.startsWith('/assets/'))
  .map((r) => [new URL(r.name).pathname, r.transferSize, r.decodedBodySize]);
return { page: [nav.transferSize, nav.decodedBodySize], files };
"#;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn metric(client: &Client, name: &str) -> f64 {
    let metrics = cdp(client, "Performance.getMetrics", json!({})).await;
    metrics["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == name)
        .and_then(|m| m["value"].as_f64())
        .unwrap_or(0.0)
}

async fn first_kpi_ms(client: &Client, base: &str) -> f64 {
    client.goto(&format!("{base}/")).await.unwrap();
    client
        .execute_async(FIRST_KPI, vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` and `cargo test --benches` ask for a list: nothing to run.
        return;
    }
    let runs = arg("--runs", 10) as usize;
    let cpu_secs = arg("--cpu-secs", 30);
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.auth.jwt_secret = "page-bench-signing-secret-0123456789abcdef".into();
    config.database.url = format!("sqlite://{}", dir.path().join("warroom.db").display());
    // `--rate R`: every organisation's mock feed at R mentions/s (a busy stream), with no
    // history and a threshold it cannot reach, instead of the demo's pace.
    let rate = arg("--rate", 0);
    if rate > 0 {
        config.mock.backfill = Duration::ZERO;
        for org in &mut config.orgs {
            org.mentions_per_second = rate as f64;
            org.negative_threshold = Some(u64::MAX / 2);
        }
    }
    let app = App::start(config).await.expect("server starts");
    let base = format!("http://{}", app.addr());
    let org = app
        .runtime()
        .directory()
        .iter()
        .next()
        .expect("a demo organisation")
        .org
        .id
        .clone();
    common::create_user(&app, Some(org.as_str()), EMAIL, Role::Admin).await;
    // Let the first-start history land, as a user opening the page a little later sees it.
    let metrics = std::sync::Arc::clone(app.runtime().metrics());
    let backfilling = std::time::Instant::now();
    let running = || {
        metrics
            .mock_backfills_running
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
            || metrics
                .mock_backfill_mentions
                .load(std::sync::atomic::Ordering::Relaxed)
                == 0
    };
    while rate == 0 && running() {
        assert!(
            backfilling.elapsed() < Duration::from_secs(300),
            "the first-start history did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let driver = Driver::start();
    let client = driver.browser().await;
    common::webdriver::sign_in(&client, &base, EMAIL, common::PASSWORD).await;
    client
        .wait()
        .for_element(Locator::Css("#kpi-mentions"))
        .await
        .unwrap();

    cdp(&client, "Network.enable", json!({})).await;
    cdp(
        &client,
        "Network.setCacheDisabled",
        json!({ "cacheDisabled": true }),
    )
    .await;
    let mut cold = Vec::new();
    for _ in 0..runs {
        cold.push(first_kpi_ms(&client, &base).await);
    }
    let weight = client.execute(WEIGHT, vec![]).await.unwrap();
    cdp(
        &client,
        "Network.setCacheDisabled",
        json!({ "cacheDisabled": false }),
    )
    .await;
    first_kpi_ms(&client, &base).await;
    let mut warm = Vec::new();
    for _ in 0..runs {
        warm.push(first_kpi_ms(&client, &base).await);
    }

    cdp(&client, "Performance.enable", json!({})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (task0, script0) = (
        metric(&client, "TaskDuration").await,
        metric(&client, "ScriptDuration").await,
    );
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(cpu_secs)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let (task1, script1) = (
        metric(&client, "TaskDuration").await,
        metric(&client, "ScriptDuration").await,
    );
    let heap = metric(&client, "JSHeapUsedSize").await;
    let nodes = metric(&client, "Nodes").await;

    let page = weight["page"][0].as_f64().unwrap_or(0.0);
    let files = weight["files"].as_array().cloned().unwrap_or_default();
    let assets: f64 = files.iter().map(|f| f[1].as_f64().unwrap_or(0.0)).sum();
    let decoded: f64 = files
        .iter()
        .map(|f| f[2].as_f64().unwrap_or(0.0))
        .sum::<f64>()
        + weight["page"][1].as_f64().unwrap_or(0.0);
    cold.sort_by(f64::total_cmp);
    warm.sort_by(f64::total_cmp);
    println!(
        "War Room web app, {} (demo organisations, MOCK data), Chromium headless",
        base
    );
    println!(
        "page weight, cold cache: {:.1} KB transferred ({:.1} KB uncompressed) in {} files",
        (page + assets) / 1024.0,
        decoded / 1024.0,
        files.len() + 1
    );
    for f in &files {
        println!(
            "  {:>8.1} KB  {}",
            f[1].as_f64().unwrap_or(0.0) / 1024.0,
            f[0].as_str().unwrap_or("")
        );
    }
    for (name, samples) in [("cold cache", &cold), ("warm cache", &warm)] {
        println!(
            "time to first KPI, {name}: median {:.0} ms, p90 {:.0} ms, min {:.0} ms ({} loads)",
            percentile(samples, 0.5),
            percentile(samples, 0.9),
            samples[0],
            samples.len()
        );
    }
    println!(
        "page CPU following {} for {elapsed:.0} s: main-thread tasks {:.1} % of a core (script {:.1} %), JS heap {:.1} MB, {nodes:.0} DOM nodes",
        if rate > 0 {
            format!("{rate} mentions/s")
        } else {
            "the demo's pace".to_owned()
        },
        100.0 * (task1 - task0) / elapsed,
        100.0 * (script1 - script0) / elapsed,
        heap / 1_048_576.0
    );
    client.close().await.unwrap();
    app.shutdown().await.unwrap();
}

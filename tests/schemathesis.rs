//! The OpenAPI contract, tested from outside: Schemathesis (pinned by
//! `scripts/schemathesis.sh`) reads the server's own `/api/v1/openapi.json` and sends
//! every operation requests generated from it, with every check (no 5xx, responses that
//! match their schemas, schema-valid requests accepted and schema-invalid ones refused,
//! stateful sequences through the links it infers). A single failure fails the test.
//!
//! Three credentials cover every operation: an organisation admin (everything but
//! logging out and changing a password), a user of another organisation (those two, so
//! the first run's admin can neither see nor deactivate it), and the platform
//! administrator (the platform overview and the organisation list). Where the server
//! refuses a schema-valid request for a reason a JSON Schema cannot state (a time range
//! upside down, event times out of bounds, a webhook target that resolves to a private
//! address), `tests/schemathesis/schemathesis.toml` widens the accepted statuses of that
//! operation alone and says why.
//!
//! The `st` command is `$WARROOM_SCHEMATHESIS` (set by `scripts/test`), else the one
//! `scripts/schemathesis.sh` installs; the test fails, never skips, without it.
//!
//! A test binary of its own, not a module of `tests/api`: an external tool sends requests
//! to the server for minutes, which would slow the timing-sensitive suites there, and it
//! runs alone with `cargo test --test schemathesis`.

use std::path::{Path, PathBuf};
use std::process::Command;

use warroom_engine::Role;

mod common;
use common::{access_token, create_user, quiet_org, spawn_app, TestApp};

/// Examples per operation and phase: about 4,000 requests in all, a few minutes.
const MAX_EXAMPLES: &str = "30";
/// Fixed, so a failure in CI reproduces locally with the same command.
const SEED: &str = "1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_keeps_its_openapi_contract() {
    let st = schemathesis();
    let TestApp { app, root, .. } = spawn_app(|config| {
        config.orgs = vec![quiet_org("alpha"), quiet_org("beta")];
        // Schemathesis opens connections faster than a browser would; the per-address
        // caps are tested in tests/api/connections.rs.
        config.server.ip_limits_exempt = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    create_user(&app, Some("alpha"), "admin@alpha.org", Role::Admin).await;
    create_user(&app, Some("beta"), "staff@beta.org", Role::User).await;
    create_user(&app, None, "platform@warroom.org", Role::PlatformAdmin).await;
    // Every login first: the runs below send bad logins too, and the per-client login
    // throttle would then refuse these.
    let admin = access_token(&root, "admin@alpha.org").await;
    let staff = access_token(&root, "staff@beta.org").await;
    let platform = access_token(&root, "platform@warroom.org").await;

    let runs = [
        (
            "organisation admin",
            admin,
            "--exclude-path-regex",
            "/auth/(logout|password)$",
        ),
        (
            "user of another organisation",
            staff,
            "--include-path-regex",
            "/auth/(logout|password)$",
        ),
        (
            "platform administrator",
            platform,
            "--include-path-regex",
            "^/api/v1/(orgs|admin/overview)$",
        ),
    ];
    let mut failures = Vec::new();
    let mut summaries = Vec::new();
    for (who, token, filter, paths) in runs {
        let st = st.clone();
        let schema = format!("{root}/api/v1/openapi.json");
        // `st` blocks for minutes: off the runtime's threads, which serve its requests.
        let (passed, output) =
            tokio::task::spawn_blocking(move || run(&st, &schema, &token, filter, paths))
                .await
                .unwrap();
        summaries.push(format!("schemathesis as {who}: {}", summary(&output)));
        if !passed {
            failures.push(format!("--- as {who} ---\n{output}"));
        }
    }
    app.shutdown().await.expect("the server shuts down");
    // The test harness keeps a passing test's output to itself; CI prints this file.
    let summary_file = std::env::temp_dir().join("warroom-schemathesis-summary.txt");
    std::fs::write(&summary_file, summaries.join("\n") + "\n").unwrap();
    eprintln!("{}", summaries.join("\n"));
    assert!(
        failures.is_empty(),
        "Schemathesis found contract failures:\n{}",
        failures.join("\n")
    );
}

/// Runs `st` once; whether it passed, and what it printed.
fn run(st: &Path, schema: &str, token: &str, filter: &str, paths: &str) -> (bool, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let output = Command::new(st)
        .current_dir(&dir)
        // `hooks.py` in `dir`: the NDJSON serialiser of the ingest bodies.
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("NO_COLOR", "1")
        .args([
            "--config-file",
            "schemathesis.toml",
            "--no-color",
            "run",
            schema,
        ])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "all",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            SEED,
        ])
        .args([filter, paths])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", st.display()));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// The run's "Test cases" and closing lines, for the log.
fn summary(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let cases = lines
        .iter()
        .position(|l| l.trim() == "Test cases:")
        .and_then(|i| lines.get(i + 1))
        .map_or("", |l| l.trim());
    let last = lines
        .iter()
        .rev()
        .find(|l| l.starts_with('='))
        .map_or("", |l| l.trim_matches(|c| c == '=' || c == ' '));
    format!("{cases}; {last}")
}

/// The `st` command: `$WARROOM_SCHEMATHESIS`, else where `scripts/schemathesis.sh`
/// installs it.
fn schemathesis() -> PathBuf {
    let st = std::env::var_os("WARROOM_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .expect("HOME or XDG_CACHE_HOME is set");
            cache.join("warroom/schemathesis-4.32.5/bin/st")
        });
    assert!(
        st.is_file(),
        "Schemathesis is not installed at {}: run `bash scripts/schemathesis.sh` \
         (scripts/test does) or set WARROOM_SCHEMATHESIS to its `st`",
        st.display()
    );
    st
}

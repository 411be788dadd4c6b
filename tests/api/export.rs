//! Exports read from the database (embedded SQLite here; `tests/api/postgres.rs` covers
//! PostgreSQL): `POST /api/v1/reports/export/*` streams a file and refuses bad requests
//! with JSON errors before the first byte; `warroom export` writes a single file whole.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{mention, spawn_app, TestApp};
use serde_json::{json, Value};
use warroom_engine::Config;

/// Organisations `quiet` and `other` (no mock feed), exports of up to two days.
fn two_orgs(config: &mut Config) {
    config.orgs = ["quiet", "other"].map(common::quiet_org).to_vec();
    config.export.max_range = Duration::from_secs(2 * 86_400);
}

fn range() -> (String, String) {
    let now = chrono::Utc::now();
    (
        (now - chrono::Duration::hours(1)).to_rfc3339(),
        (now + chrono::Duration::hours(1)).to_rfc3339(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_stream_one_orgs_rows_and_refuse_bad_requests_with_json() {
    let TestApp {
        app,
        root: base,
        config,
        ..
    } = spawn_app(two_orgs).await;
    let http = common::client_for("quiet");
    for (org, n) in [("quiet", 30), ("other", 7)] {
        let body: Vec<Value> = (0..n)
            .map(|i| match i {
                // Text a spreadsheet would run: CSV writes it as text.
                0 => mention(
                    &format!("{org}-{i}"),
                    "=HYPERLINK(\"http://x.example\",\"What a great, wonderful rally\")",
                ),
                _ => mention(&format!("{org}-{i}"), "What a great, wonderful rally"),
            })
            .collect();
        let response = common::client_for(org)
            .post(format!("{base}/api/v1/ingest/mentions?org={org}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let (from, to) = range();
    let url = |format: &str| format!("{base}/api/v1/reports/export/{format}?org=quiet");

    // NDJSON: one line per mention of this organisation only.
    let response = http
        .post(url("ndjson"))
        .json(&json!({"table": "mentions", "from": from, "to": to}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"quiet-mentions-"),
        "{disposition}"
    );
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let text = response.text().await.unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 30);
    assert!(rows.iter().all(|r| r["org_id"] == "quiet"));
    assert!(rows
        .iter()
        .all(|r| r["sentiment_compound"].as_f64().unwrap() > 0.5));

    // Parquet: a whole file (magic at both ends).
    let bytes = http
        .post(url("parquet"))
        .json(&json!({"table": "mentions", "from": from, "to": to}))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));

    // A range with nothing in it is a valid empty file.
    let empty: Value = http
        .post(url("json"))
        .json(&json!({"table": "mentions", "from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(empty, json!([]));

    // Bad requests: JSON errors, never a file.
    let cases = [
        (
            url("csv"),
            json!({"table": "users", "from": from, "to": to}),
            400,
            "invalid_table",
        ),
        (
            url("csv"),
            json!({"table": "mentions", "from": to, "to": from}),
            400,
            "invalid_range",
        ),
        (
            url("csv"),
            json!({"table": "mentions", "from": "yesterday", "to": to}),
            400,
            "invalid_time",
        ),
        (
            url("csv"),
            json!({"table": "mentions", "from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"}),
            400,
            "range_too_long",
        ),
        (
            url("csv"),
            json!({"table": "mentions"}),
            400,
            "invalid_json",
        ),
        (
            url("xlsx"),
            json!({"table": "mentions", "from": from, "to": to}),
            404,
            "unknown_format",
        ),
        (
            format!("{base}/api/v1/reports/export/csv?org=nobody"),
            json!({"table": "mentions", "from": from, "to": to}),
            404,
            "org_not_found",
        ),
    ];
    // Without a credential nothing is exported; naming another organisation than the
    // credential's answers 404 (the case above).
    let anonymous = reqwest::Client::new()
        .post(format!("{base}/api/v1/reports/export/csv"))
        .json(&json!({"table": "mentions", "from": from, "to": to}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Every export that started was audited, with its table, format and range.
    let audit = app
        .runtime()
        .store()
        .accounts()
        .audit_page(
            &warroom_engine::OrgId::new("quiet"),
            &warroom_storage::accounts::AuditFilter {
                action: Some("report.export".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!audit.entries.is_empty());
    let first = &audit.entries.last().unwrap().entry;
    assert_eq!(first.resource_type, "export");
    assert_eq!(first.resource_id.as_deref(), Some("mentions"));
    assert!(first.details["format"].is_string(), "{:?}", first.details);
    for (url, body, status, code) in cases {
        let response = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), status, "{url} {body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{error}");
    }
    app.shutdown().await.unwrap();

    // The command line reads the same database.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("quiet.csv");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_warroom"))
            .arg("export")
            .args(args)
            .env("WARROOM__DATABASE__URL", &config.database.url)
            .env("WARROOM__LOG__FILTER", "warn")
            .output()
            .expect("warroom export runs")
    };
    let output = run(&[
        "--org",
        "quiet",
        "--from",
        &from,
        "--to",
        &to,
        "--table",
        "mentions",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), 31, "header and 30 rows");
    assert!(
        csv.contains("'=HYPERLINK"),
        "a formula left runnable: {csv}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("30 rows"));

    let parquet = dir.path().join("quiet.parquet");
    let output = run(&[
        "--org",
        "quiet",
        "--from",
        &from,
        "--to",
        &to,
        "--table",
        "kpi_buckets",
        "--out",
        parquet.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&parquet).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));

    // KPI minute buckets were written behind (at the latest on shutdown): they add up to
    // the organisation's mentions.
    let kpi = dir.path().join("kpi.out");
    let output = run(&[
        "--org",
        "quiet",
        "--from",
        &from,
        "--to",
        &to,
        "--table",
        "kpi_buckets",
        "--out",
        kpi.to_str().unwrap(),
        "--format",
        "ndjson",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let total: u64 = std::fs::read_to_string(&kpi)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["mention_count"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 30);

    // Clear errors, and no file left behind.
    let missing = dir.path().join("nobody.csv");
    let output = run(&[
        "--org",
        "nobody",
        "--from",
        &from,
        "--to",
        &to,
        "--table",
        "mentions",
        "--out",
        missing.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no organisation nobody"));
    assert!(!missing.exists());
    let output = run(&[
        "--org",
        "quiet",
        "--from",
        &to,
        "--to",
        &from,
        "--table",
        "mentions",
        "--out",
        missing.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("must be before"));
}

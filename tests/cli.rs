//! The `warroom` binary itself: `sentiment`, `config`, and `serve` with graceful shutdown.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn warroom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warroom"))
}

#[test]
fn sentiment_scores_each_line_of_stdin() {
    let mut child = warroom()
        .arg("sentiment")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("warroom runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all("VADER is smart, handsome, and funny.\nThe plan is terrible!!!\n\n".as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(
        lines.len(),
        3,
        "one object per input line, empty lines included"
    );
    assert_eq!(lines[0]["compound"], 0.8316);
    assert!(lines[1]["compound"].as_f64().unwrap() < -0.5);
    assert_eq!(lines[2]["compound"], 0.0);
    for key in ["neg", "neu", "pos", "compound"] {
        assert!(lines[0][key].is_number(), "{key}");
    }
}

#[test]
fn a_bad_config_is_a_clear_error() {
    let output = warroom()
        .arg("config")
        .env("WARROOM__ENGINE__WORKERS", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("engine.workers"), "{stderr}");
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let database = tempfile::tempdir().unwrap();
    let mut child = warroom()
        .arg("serve")
        .env("WARROOM__SERVER__BIND", "127.0.0.1:0")
        .env(
            "WARROOM__DATABASE__URL",
            format!("sqlite://{}", database.path().join("warroom.db").display()),
        )
        .env("WARROOM__LOG__FILTER", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("warroom serve runs");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("server prints its address").unwrap();
        if let Some(rest) = line.strip_prefix("War Room listening on http://") {
            break rest.trim().to_owned();
        }
    };
    // It serves.
    let mut stream = std::net::TcpStream::connect(&addr).expect("listening");
    stream
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");
}

#[test]
fn migrate_applies_the_schema_and_is_repeatable() {
    let database = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", database.path().join("warroom.db").display());
    for _ in 0..2 {
        let output = warroom()
            .arg("migrate")
            .env("WARROOM__DATABASE__URL", &url)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stderr).contains("migrations applied"));
    }
    assert!(database.path().join("warroom.db").exists());
}

#[test]
fn data_mode_prints_and_persists_the_mode() {
    let database = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", database.path().join("w.db").display());
    let run = |args: &[&str]| {
        let output = warroom()
            .args(args)
            .env("WARROOM__DATABASE__URL", &url)
            .env("WARROOM__REDIS__URL", "")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, _) = run(&["data-mode"]);
    assert!(ok);
    assert!(out.starts_with("MOCK"), "{out}");
    let (ok, out, _) = run(&["data-mode", "live"]);
    assert!(ok);
    assert_eq!(out, "LIVE (was MOCK)");
    let (ok, out, _) = run(&["data-mode"]);
    assert!(ok);
    assert_eq!(out, "LIVE");
    let (ok, _, err) = run(&["data-mode", "REAL"]);
    assert!(!ok);
    assert!(err.contains("not a data mode"), "{err}");
}

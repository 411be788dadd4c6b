//! The `warroom` binary itself: `sentiment`, `config`, `serve` with graceful shutdown,
//! `migrate`, `data-mode` and `user create`.

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
    let addr = crate::common::listen_address(&mut child);
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

/// Runs `warroom user create ARGS` on the database `url` with `password` piped on stdin;
/// returns (success, stdout, stderr).
fn create_user(url: &str, args: &[&str], password: &str) -> (bool, String, String) {
    let mut child = warroom()
        .args(["user", "create"])
        .args(args)
        .env("WARROOM__DATABASE__URL", url)
        .env("WARROOM__LOG__FILTER", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("warroom user create runs");
    // A refused command may exit before reading stdin: the broken pipe is not the test's
    // subject, the exit status and message are.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes());
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Kills the server when the test ends, whatever happens.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_create_reads_the_password_from_stdin_and_the_user_can_log_in() {
    const PASSWORD: &str = "correct horse battery staple";
    let database = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", database.path().join("w.db").display());
    let admin = [
        "--email",
        "Chief@Harbor.example",
        "--org",
        "harbor-city",
        "--role",
        "admin",
    ];

    let (ok, out, err) = create_user(&url, &admin, PASSWORD);
    assert!(ok, "{err}");
    let id = uuid::Uuid::parse_str(&out).expect("the new user's id on stdout");
    assert!(err.contains("chief@harbor.example"), "{err}");
    assert!(
        !err.contains(PASSWORD) && !out.contains(PASSWORD),
        "the password is never printed"
    );

    // Refusals: a duplicate address (any case), a bad role, an unknown organisation, a weak
    // password, and the platform administrator with an organisation.
    let (ok, _, err) = create_user(&url, &admin, PASSWORD);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = create_user(
        &url,
        &[
            "--email",
            "x@harbor.example",
            "--org",
            "harbor-city",
            "--role",
            "superuser",
        ],
        PASSWORD,
    );
    assert!(!ok);
    assert!(err.contains("role must be"), "{err}");
    let (ok, _, err) = create_user(
        &url,
        &[
            "--email",
            "x@harbor.example",
            "--org",
            "platform_admin",
            "--role",
            "platform_admin",
        ],
        PASSWORD,
    );
    assert!(!ok, "platform_admin is not an organisation role: {err}");
    let (ok, _, err) = create_user(
        &url,
        &[
            "--email",
            "x@nowhere.example",
            "--org",
            "nowhere",
            "--role",
            "user",
        ],
        PASSWORD,
    );
    assert!(!ok);
    assert!(err.contains("no organisation"), "{err}");
    let (ok, _, err) = create_user(
        &url,
        &[
            "--email",
            "x@harbor.example",
            "--org",
            "harbor-city",
            "--role",
            "user",
        ],
        "short",
    );
    assert!(!ok);
    assert!(
        err.contains("12"),
        "says how long a password must be: {err}"
    );
    let (ok, _, _) = create_user(
        &url,
        &[
            "--email",
            "root@platform.example",
            "--platform-admin",
            "--org",
            "harbor-city",
        ],
        PASSWORD,
    );
    assert!(!ok, "--platform-admin takes no organisation");

    // The created user logs in against the real server on the same database.
    let child = warroom()
        .arg("serve")
        .env("WARROOM__SERVER__BIND", "127.0.0.1:0")
        .env("WARROOM__DATABASE__URL", &url)
        .env("WARROOM__MOCK__ENABLED", "false")
        .env("WARROOM__LOG__FILTER", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("warroom serve runs");
    let mut server = Server(child);
    let stderr = server.0.stderr.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        loop {
            let line = lines.next().expect("server prints its address").unwrap();
            if let Some(rest) = line.strip_prefix("War Room listening on http://") {
                // Keep draining so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                break rest.trim().to_owned();
            }
        }
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let login = |password: &'static str| {
        client
            .post(format!("http://{addr}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "chief@harbor.example", "password": password}))
            .send()
    };
    assert_eq!(
        login("not the password at all").await.unwrap().status(),
        401
    );
    let response = login(PASSWORD).await.unwrap();
    assert_eq!(response.status(), 200);
    let session: serde_json::Value = response.json().await.unwrap();
    let me: serde_json::Value = client
        .get(format!("http://{addr}/api/v1/auth/me"))
        .bearer_auth(session["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["kind"], "user", "{me}");
    assert_eq!(me["user"]["id"], id.to_string(), "{me}");
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["user"]["org"], "harbor-city");
    drop(server);
}

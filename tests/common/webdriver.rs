//! A real browser for the tests and the page benchmark: Debian's Chromium through its
//! chromedriver (WebDriver, `fantoccini`), headless, each window with its own profile.

// The tests and the benchmark each use their own subset.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver, at the browser's own version.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A chromedriver process on a free loopback port, killed on drop.
pub struct Driver {
    child: Child,
    url: String,
    profiles: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver; panics with what to install when the browser is missing.
    pub fn start() -> Self {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: install Debian's chromium and chromium-driver \
                 (scripts/test does when it can)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + START_DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url,
            profiles: tempfile::tempdir().unwrap(),
        }
    }

    /// A new browser window with its own profile (cookies are not shared).
    pub async fn browser(&self) -> Client {
        let profile = tempfile::tempdir_in(self.profiles.path()).unwrap().keep();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1440,1200",
                    "--hide-scrollbars", format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session starts")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chromedriver extension command: a POST of `body` to `session/<id>/<path>`.
#[derive(Debug)]
pub struct SessionPost {
    /// The path under the session, e.g. `se/log`.
    pub path: &'static str,
    /// The JSON body.
    pub body: Value,
}

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(self.body.to_string()))
    }
}

/// Console errors and failed requests the page caused since the last read (chromedriver's
/// browser log), except those containing one of the `allowed` substrings.
pub async fn console_errors(client: &Client, allowed: &[&str]) -> Vec<String> {
    let log = client
        .issue_cmd(SessionPost {
            path: "se/log",
            body: json!({ "type": "browser" }),
        })
        .await
        .expect("browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE")
        .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
        .filter(|message| !allowed.iter().any(|a| message.contains(a)))
        .collect()
}

/// A Chrome DevTools Protocol command through chromedriver (e.g. `Performance.getMetrics`).
pub async fn cdp(client: &Client, cmd: &str, params: Value) -> Value {
    client
        .issue_cmd(SessionPost {
            path: "goog/cdp/execute",
            body: json!({ "cmd": cmd, "params": params }),
        })
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// Types `value` into the element matching `css` (after clearing it).
pub async fn fill(client: &Client, css: &str, value: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks the element matching `css`.
pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Fills the login form, once it shows, with `email` and `password`, and submits it.
pub async fn sign_in(client: &Client, base: &str, email: &str, password: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    let form = client
        .wait()
        .at_most(START_DEADLINE)
        .for_element(Locator::Css("#login-form"))
        .await
        .expect("the login page");
    let deadline = Instant::now() + START_DEADLINE;
    while !form.is_displayed().await.unwrap_or(false) {
        assert!(Instant::now() < deadline, "the login form did not show");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fill(client, "#login-email", email).await;
    fill(client, "#login-password", password).await;
    click(client, "#login-submit").await;
}

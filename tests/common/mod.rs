//! The one helper folder of the root integration tests (`tests/api`, one binary of most
//! suites, and the suites that need a binary of their own). [`spawn_app`] starts a server
//! for a test and gives a [`TestApp`] (its addresses, an administrator's client, sockets,
//! a restart); [`wait_for`] polls a condition with a deadline. The servers use [`SECRET`],
//! so a test can mint short-lived service tokens (role `manager`) for any organisation, as
//! the load tester does; accounts, logins and sockets have their helpers here too. [`postgres`] gives the PostgreSQL suites a fresh
//! database and a proxy they can cut; [`webdriver`] drives Chromium for the browser tests
//! and the page benchmark. Accounts, roles and tenancy are tested in `tests/api/auth.rs`.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

pub mod postgres;
pub mod webdriver;

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The password of every account the tests create with [`create_user`].
pub const PASSWORD: &str = "a long enough passphrase";

/// Creates an account through the store (as `warroom user create` does) with [`PASSWORD`].
pub async fn create_user(
    app: &warroom::App,
    org: Option<&str>,
    email: &str,
    role: warroom_engine::Role,
) -> uuid::Uuid {
    let hash = warroom_gateway::auth::password::hash(PASSWORD.into())
        .await
        .unwrap();
    app.runtime()
        .store()
        .accounts()
        .create_user(
            &warroom_storage::accounts::NewUser {
                org: org.map(warroom_engine::OrgId::new),
                email: email.into(),
                password_hash: hash,
                role,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .expect("a new account")
        .id
}

/// Logs `email` in with [`PASSWORD`] at the server `base` (`http://host:port`) and
/// returns the access token.
pub async fn access_token(base: &str, email: &str) -> String {
    login(base, email).await["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// The signing secret of the tests' servers (`auth.jwt_secret`).
pub const SECRET: &str = "integration-test-signing-secret-0123456789abcdef";

/// A service token for `org` with role `manager`, valid for an hour.
pub fn token(org: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": "warroom", "aud": "warroom-api", "sub": "integration-test", "org": org,
        "role": "manager", "iat": now, "exp": now + 3600,
        "jti": uuid::Uuid::new_v4().to_string(), "typ": "service",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// An HTTP client whose every request carries a token for `org`.
pub fn client_for(org: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", token(org)).parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A WebSocket upgrade request to `url` carrying a token for `org`.
pub fn ws_request_for(
    url: &str,
    org: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", token(org)).parse().unwrap(),
    );
    request
}

/// A server on port 0 with a fresh SQLite file (kept for the process's life), no mock
/// feed, the tests' signing secret, and one quiet organisation `alpha`.
pub fn quiet_config() -> warroom_engine::Config {
    let mut config = warroom_engine::Config::defaults();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.mock.enabled = false;
    config.auth.jwt_secret = SECRET.into();
    config.orgs = vec![quiet_org("alpha")];
    let dir = tempfile::tempdir().unwrap().keep();
    config.database.url = format!("sqlite://{}", dir.join("warroom.db").display());
    config
}

/// A server started for one test: [`quiet_config`] as `configure` changed it.
pub struct TestApp {
    /// The running server (`shutdown` it at the end to stop its tasks cleanly).
    pub app: warroom::App,
    /// `http://127.0.0.1:<port>`.
    pub root: String,
    /// `127.0.0.1:<port>`, for sockets.
    pub addr: String,
    /// The configuration it was started with ([`TestApp::restart`] starts it again).
    pub config: warroom_engine::Config,
}

/// Starts a server on port 0 with its own SQLite file: [`quiet_config`] (organisation
/// `alpha`, no mock feed, [`SECRET`]) changed by `configure`.
pub async fn spawn_app(configure: impl FnOnce(&mut warroom_engine::Config)) -> TestApp {
    let mut config = quiet_config();
    configure(&mut config);
    start_app(config).await
}

/// Starts a server with exactly `config` (a second node or a restart on the same
/// database: the configuration of another [`TestApp`]).
pub async fn start_app(config: warroom_engine::Config) -> TestApp {
    let app = warroom::App::start(config.clone())
        .await
        .expect("server starts");
    let addr = app.addr().to_string();
    let root = format!("http://{addr}");
    TestApp {
        app,
        root,
        addr,
        config,
    }
}

impl TestApp {
    /// `http://127.0.0.1:<port>/api/v1`.
    pub fn api(&self) -> String {
        format!("{}/api/v1", self.root)
    }

    /// Stops the server gracefully.
    pub async fn shutdown(self) {
        self.app.shutdown().await.expect("clean shutdown");
    }

    /// Stops the server gracefully and starts it again on the same configuration (the
    /// same database; a new port when it was port 0).
    pub async fn restart(self) -> TestApp {
        let config = self.config.clone();
        self.shutdown().await;
        start_app(config).await
    }

    /// A new administrator of `org`, logged in: its access token.
    pub async fn admin_token(&self, org: &str) -> String {
        let email = format!("admin-{}@{org}.test", uuid::Uuid::new_v4().simple());
        create_user(&self.app, Some(org), &email, warroom_engine::Role::Admin).await;
        access_token(&self.root, &email).await
    }

    /// An HTTP client acting as a new administrator of `org`.
    pub async fn admin_client(&self, org: &str) -> reqwest::Client {
        bearer(&self.admin_token(org).await)
    }

    /// A socket to `/api/v1/ws{query}` carrying a service token of the organisation the
    /// query names (`org=`), else of the first configured one; not yet subscribed.
    pub async fn ws_connect(&self, query: &str) -> Socket {
        let (socket, _) = tokio_tungstenite::connect_async(self.ws_request(query))
            .await
            .expect("websocket connects");
        socket
    }

    /// The upgrade request [`TestApp::ws_connect`] sends.
    pub fn ws_request(
        &self,
        query: &str,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        let org = query
            .trim_start_matches('?')
            .split('&')
            .find_map(|p| p.strip_prefix("org="))
            .map_or_else(|| self.config.orgs[0].id.clone(), str::to_owned);
        ws_request_for(&format!("ws://{}/api/v1/ws{query}", self.addr), &org)
    }

    /// A socket authenticated with `credential`, subscribed to its own organisation.
    pub async fn subscribe(&self, credential: &str) -> Socket {
        subscribed_socket(&self.addr, credential).await
    }
}

/// What a [`wait_for`] condition returns: `true` or `Some(value)` once it holds.
pub trait Ready {
    /// What [`wait_for`] returns.
    type Value;
    /// `Some` once the condition holds.
    fn ready(self) -> Option<Self::Value>;
}

impl Ready for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Polls `condition` (every 20 ms) until it holds (`true`, or `Some(value)`: returned);
/// panics with `what` when `timeout` passes first. No test sleeps to wait for a result.
pub async fn wait_for<R: Ready>(
    what: &str,
    timeout: std::time::Duration,
    mut condition: impl AsyncFnMut() -> R,
) -> R::Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = condition().await.ready() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// GETs `url` until `ready` holds for the JSON answer (returned); panics with the last
/// answer when `timeout` passes first.
pub async fn poll_json(
    client: &reqwest::Client,
    url: &str,
    timeout: std::time::Duration,
    mut ready: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let value: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
        if ready(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready before the deadline: {value}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A `warroom serve` child process, killed (SIGKILL) when dropped, also when its test
/// fails.
pub struct Server(pub std::process::Child);

impl Server {
    /// `warroom serve` on port 0 with `database_url`, no mock feed, [`SECRET`], quiet
    /// logs and `env` on top; returns it with its `host:port` once it listens.
    pub fn spawn(database_url: &str, env: &[(&str, &str)]) -> (Server, String) {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
            .arg("serve")
            .env("WARROOM__SERVER__BIND", "127.0.0.1:0")
            .env("WARROOM__DATABASE__URL", database_url)
            .env("WARROOM__MOCK__ENABLED", "false")
            .env("WARROOM__LOG__FILTER", "warn")
            .env("WARROOM__AUTH__JWT_SECRET", SECRET)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("warroom serve runs");
        let addr = listen_address(&mut child);
        (Server(child), addr)
    }

    /// SIGKILL: no shutdown, no flush; returns once the process is gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An organisation with no mock feed and the default crisis rule.
pub fn quiet_org(id: &str) -> warroom_engine::config::OrgConfig {
    warroom_engine::config::OrgConfig {
        id: id.into(),
        name: format!("{id} campaign"),
        mentions_per_second: 0.0,
        negative_threshold: None,
        crises: Vec::new(),
        connectors: Default::default(),
    }
}

/// Reads a `warroom serve` child's stderr until it prints where it listens, returns that
/// `host:port`, and keeps draining stderr on a thread so the server never blocks on a
/// full pipe.
pub fn listen_address(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("server prints its address").unwrap();
        if let Some(rest) = line.strip_prefix("War Room listening on http://") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    addr
}

/// The Prometheus text of the server at `base` (`http://host:port`).
pub async fn metrics_text(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200, "GET /metrics");
    response.text().await.unwrap()
}

/// A client WebSocket of the tests.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for a frame or a close.
const SOCKET_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// The next text frame matching `pred` (others are skipped); panics after 20 s.
pub async fn next_frame<S: FrameStream>(
    socket: &mut S,
    pred: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    next_frame_within(socket, SOCKET_DEADLINE, pred).await
}

/// What [`next_frame`] reads: a client WebSocket over any transport.
pub trait FrameStream:
    futures_util::Stream<
        Item = Result<
            tokio_tungstenite::tungstenite::Message,
            tokio_tungstenite::tungstenite::Error,
        >,
    > + Unpin
{
}

impl<S> FrameStream for S where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin
{
}

/// The next text frame matching `pred` (others are skipped); panics after `timeout`.
pub async fn next_frame_within<S: FrameStream>(
    socket: &mut S,
    timeout: std::time::Duration,
    mut pred: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("frame before the deadline")
            .expect("open")
            .expect("valid");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
            if pred(&frame) {
                return frame;
            }
        }
    }
}

/// Reads until the close frame; returns its code and the last error frame.
pub async fn close_code(socket: &mut Socket) -> (u16, Option<serde_json::Value>) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + SOCKET_DEADLINE;
    let mut error = None;
    loop {
        match tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("close in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => return (u16::from(frame.code), error),
            Some(Ok(Message::Text(text))) => {
                let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
                if frame["event"] == "error" {
                    error = Some(frame);
                }
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Logs `email` in with [`PASSWORD`] at `base` (`http://host:port`): the whole answer.
pub async fn login(base: &str, email: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "login of {email}");
    response.json().await.unwrap()
}

/// An HTTP client whose every request carries `credential` as a Bearer token.
pub fn bearer(credential: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {credential}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A socket to `host:port` authenticated on the upgrade with `credential`, subscribed to
/// its own organisation (waits for `subscribed`).
pub async fn subscribed_socket(addr: &str, credential: &str) -> Socket {
    let mut request = format!("ws://{addr}/api/v1/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {credential}").parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    send_json(&mut socket, json!({"type": "subscribe"})).await;
    next_frame(&mut socket, |f| f["event"] == "subscribed").await;
    socket
}

/// Sends one JSON text frame.
pub async fn send_json(socket: &mut Socket, value: serde_json::Value) {
    use futures_util::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            value.to_string(),
        ))
        .await
        .expect("send");
}

/// Whether the socket still answers: an application `ping` gets its `pong`.
pub async fn answers(socket: &mut Socket) {
    send_json(socket, json!({"type": "ping"})).await;
    next_frame(socket, |f| f["event"] == "pong").await;
}

/// A mention record as the ingest API takes it.
pub fn mention(id: &str, text: &str) -> serde_json::Value {
    serde_json::json!({
        "external_id": id,
        "source": "twitter",
        "content": text,
        "author": {"handle": "@tester", "followers": 1200, "reach": 3000},
        "country": "US",
        "event_time": chrono::Utc::now().to_rfc3339(),
    })
}

/// A JSON array of mentions (one per id, the same upbeat text), as an ingest body.
pub fn mentions_body(ids: &[&str]) -> Vec<u8> {
    let records: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| mention(id, "Great turnout at the rally today"))
        .collect();
    serde_json::to_vec(&records).expect("JSON")
}

/// Forty mentions `{prefix}-0…39` of four sentiments, three hashtags, three countries and
/// growing reach: enough variety for every dashboard figure to be non-trivial.
pub fn varied_mentions(prefix: &str) -> Vec<serde_json::Value> {
    let texts = [
        "Great plan, love it!",
        "Terrible, awful decision",
        "The debate is tonight",
        "Disgusting lies!!!",
    ];
    (0..40)
        .map(|i| {
            let mut m = mention(
                &format!("{prefix}-{i}"),
                &format!("{} #topic{}", texts[i % 4], i % 3),
            );
            m["country"] = serde_json::json!(["US", "CA", "GB"][i % 3]);
            m["author"]["reach"] = serde_json::json!(1000 * (i + 1));
            m
        })
        .collect()
}

/// The dashboard figures that must survive a restart (times and counters excluded).
pub fn durable_view(dashboard: &serde_json::Value) -> serde_json::Value {
    let k = &dashboard["kpis"];
    serde_json::json!({
        "mentions_24h": dashboard["mentions_24h"],
        "avg_sentiment": dashboard["avg_sentiment"],
        "mention_count": k["mention_count"],
        "kpi_avg_sentiment": k["avg_sentiment"],
        "negative_share": k["negative_share"],
        "positive_share": k["positive_share"],
        "strongly_negative": k["strongly_negative"],
        "by_source": k["by_source"],
        "top_countries": k["top_countries"],
        "top_influencers": k["top_influencers"],
        "trending": k["trending"],
        "campaigns": dashboard["campaigns"],
    })
}

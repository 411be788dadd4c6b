//! The one helper folder of the root integration tests. [`spawn_app`] starts a server
//! for a test; the servers use [`SECRET`], so a test can mint short-lived service tokens
//! (role `manager`) for any organisation, as the load tester does; accounts, logins and
//! sockets have their helpers here too. [`postgres`] gives the PostgreSQL suites a fresh
//! database and a proxy they can cut; [`webdriver`] drives Chromium for the browser tests
//! and the page benchmark. Accounts, roles and tenancy are tested in `tests/auth.rs`.

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
}

/// Starts a server on port 0 with its own SQLite file: [`quiet_config`] (organisation
/// `alpha`, no mock feed, [`SECRET`]) changed by `configure`.
pub async fn spawn_app(configure: impl FnOnce(&mut warroom_engine::Config)) -> TestApp {
    let mut config = quiet_config();
    configure(&mut config);
    let app = warroom::App::start(config).await.expect("server starts");
    let addr = app.addr().to_string();
    let root = format!("http://{addr}");
    TestApp { app, root, addr }
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
pub async fn next_frame(
    socket: &mut Socket,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + SOCKET_DEADLINE;
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

/// An HTTP client acting as a new administrator of the server's first organisation: it
/// sees `/api/v1/health` with each part's details.
pub async fn admin_client(app: &warroom::App) -> reqwest::Client {
    let org = app.runtime().config().orgs[0].id.clone();
    let email = format!("ops-{}@{org}.test", uuid::Uuid::new_v4().simple());
    create_user(app, Some(&org), &email, warroom_engine::Role::Admin).await;
    bearer(&access_token(&format!("http://{}", app.addr()), &email).await)
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

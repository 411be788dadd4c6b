//! Credentials shared by the integration tests: the servers they start use [`SECRET`],
//! so a test can mint short-lived service tokens (role `manager`) for any organisation,
//! as the load tester does. Accounts, logins, roles and tenancy are tested in
//! `tests/auth.rs` with real users.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

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
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "login of {email}");
    let login: serde_json::Value = response.json().await.unwrap();
    login["access_token"]
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

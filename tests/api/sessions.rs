//! Sessions and sockets end with their credential (issue 15, items 3, 4 and 8): a socket
//! closes when its access token expires unless a fresh one came in an `auth` frame, and
//! at once when its session is logged out, its user deactivated or its API key revoked;
//! logout and a password change revoke the session's access tokens, not only its refresh
//! tokens; sockets are capped per credential and per address. The real server on port 0.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use warroom_engine::Role;

use crate::common;
use common::{
    answers, bearer, close_code, create_user, login, next_frame, send_json, spawn_app,
    subscribed_socket, wait_for, TestApp,
};

fn token_of(login: &Value) -> String {
    login["access_token"].as_str().unwrap().to_owned()
}

async fn status(client: &reqwest::Client, url: String) -> u16 {
    client.get(url).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_when_its_token_expires_unless_a_fresh_one_comes_in_band() {
    let TestApp {
        app,
        root: base,
        addr,
        ..
    } = spawn_app(|config| {
        config.auth.access_token_ttl = Duration::from_secs(4);
        config.auth.leeway = Duration::ZERO;
    })
    .await;
    create_user(&app, Some("alpha"), "ann@alpha.org", Role::User).await;
    create_user(&app, Some("alpha"), "bob@alpha.org", Role::User).await;
    let first = token_of(&login(&base, "ann@alpha.org").await);
    let mut kept = subscribed_socket(&addr, &first).await;
    let mut left = subscribed_socket(&addr, &first).await;
    // Half-way through the first token's life, a fresh token of the same user arrives on
    // one socket only.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fresh = token_of(&login(&base, "ann@alpha.org").await);
    send_json(&mut kept, json!({"type": "auth", "token": fresh})).await;
    let authenticated = next_frame(&mut kept, |f| f["event"] == "authenticated").await;
    assert_eq!(authenticated["data"]["org"], "alpha");
    assert!(authenticated["data"]["expiresAt"].is_string());
    // The other socket closes when the first token expires, saying why.
    let (code, error) = close_code(&mut left).await;
    assert_eq!(code, 4005);
    assert_eq!(error.unwrap()["data"]["code"], "token_expired");
    // The refreshed socket goes on past that moment, and can subscribe again.
    answers(&mut kept).await;
    send_json(&mut kept, json!({"type": "subscribe"})).await;
    next_frame(&mut kept, |f| f["event"] == "subscribed").await;
    // A token of another user does not take over a socket.
    let other = token_of(&login(&base, "bob@alpha.org").await);
    send_json(&mut kept, json!({"type": "auth", "token": other})).await;
    let (code, error) = close_code(&mut kept).await;
    assert_eq!(code, 4001);
    assert_eq!(error.unwrap()["data"]["code"], "unauthenticated");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_its_session_tokens_and_sockets_and_no_other() {
    let TestApp {
        app,
        root: base,
        addr,
        ..
    } = spawn_app(|_| {}).await;
    create_user(&app, Some("alpha"), "ann@alpha.org", Role::User).await;
    let ended = token_of(&login(&base, "ann@alpha.org").await);
    let other = token_of(&login(&base, "ann@alpha.org").await);
    let mut ended_socket = subscribed_socket(&addr, &ended).await;
    let mut other_socket = subscribed_socket(&addr, &other).await;
    let alerts = format!("{base}/api/v1/alerts");
    assert_eq!(status(&bearer(&ended), alerts.clone()).await, 200);
    let response = bearer(&ended)
        .post(format!("{base}/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (code, _) = close_code(&mut ended_socket).await;
    assert_eq!(code, 4001, "the session's socket closes at once");
    assert_eq!(status(&bearer(&ended), alerts.clone()).await, 401);
    // The same user's other login is another session: untouched.
    assert_eq!(status(&bearer(&other), alerts).await, 200);
    answers(&mut other_socket).await;
    // A socket cannot be opened on the ended session either.
    let mut request = format!("ws://{addr}/api/v1/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {ended}").parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_every_other_session_at_once() {
    let TestApp {
        app,
        root: base,
        addr,
        ..
    } = spawn_app(|_| {}).await;
    create_user(&app, Some("alpha"), "ann@alpha.org", Role::User).await;
    let here = login(&base, "ann@alpha.org").await;
    let elsewhere = login(&base, "ann@alpha.org").await;
    let (here_token, elsewhere_token) = (token_of(&here), token_of(&elsewhere));
    let mut here_socket = subscribed_socket(&addr, &here_token).await;
    let mut elsewhere_socket = subscribed_socket(&addr, &elsewhere_token).await;
    let response = bearer(&here_token)
        .post(format!("{base}/api/v1/auth/password"))
        .json(&json!({
            "current_password": common::PASSWORD,
            "new_password": "another long passphrase",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (code, _) = close_code(&mut elsewhere_socket).await;
    assert_eq!(code, 4001);
    let alerts = format!("{base}/api/v1/alerts");
    assert_eq!(status(&bearer(&elsewhere_token), alerts.clone()).await, 401);
    assert_eq!(status(&bearer(&here_token), alerts).await, 200);
    answers(&mut here_socket).await;
    // The other session's refresh token is dead too; this one's still rotates.
    let refresh = |token: &Value| {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": token["refresh_token"]}))
            .send()
    };
    assert_eq!(refresh(&elsewhere).await.unwrap().status(), 401);
    assert_eq!(refresh(&here).await.unwrap().status(), 200);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_and_key_revocation_close_sockets_and_a_resubscribe_rechecks() {
    let TestApp {
        app,
        root: base,
        addr,
        ..
    } = spawn_app(|_| {}).await;
    create_user(&app, Some("alpha"), "admin@alpha.org", Role::Admin).await;
    let user = create_user(&app, Some("alpha"), "ann@alpha.org", Role::User).await;
    let admin = bearer(&token_of(&login(&base, "admin@alpha.org").await));
    let user_token = token_of(&login(&base, "ann@alpha.org").await);
    let mut user_socket = subscribed_socket(&addr, &user_token).await;
    let created: Value = admin
        .post(format!("{base}/api/v1/admin/api-keys"))
        .json(&json!({"name": "wall screen", "role": "readonly"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let mut key_socket = subscribed_socket(&addr, &key).await;

    let response = admin
        .patch(format!("{base}/api/v1/admin/users/{user}"))
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(close_code(&mut user_socket).await.0, 4001);
    answers(&mut key_socket).await;

    // The key is revoked in the store behind the server's back (as another node would
    // do it without a bus): the open socket learns it when it subscribes again.
    let key_id = created["id"].as_str().unwrap().parse().unwrap();
    app.runtime()
        .store()
        .accounts()
        .revoke_api_key(
            &warroom_engine::OrgId::new("alpha"),
            key_id,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    send_json(&mut key_socket, json!({"type": "subscribe"})).await;
    let (code, error) = close_code(&mut key_socket).await;
    assert_eq!(code, 4001);
    assert_eq!(error.unwrap()["data"]["code"], "unauthenticated");

    // Revoked over the API, every socket of the key closes at once.
    let other: Value = admin
        .post(format!("{base}/api/v1/admin/api-keys"))
        .json(&json!({"name": "kiosk", "role": "readonly"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut kiosk = subscribed_socket(&addr, other["key"].as_str().unwrap()).await;
    let response = admin
        .delete(format!(
            "{base}/api/v1/admin/api-keys/{}",
            other["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(close_code(&mut kiosk).await.0, 4001);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_capped_per_credential_and_per_address() {
    let TestApp {
        app,
        root: base,
        addr,
        ..
    } = spawn_app(|config| {
        config.push.max_sockets_per_credential = 2;
        config.push.max_sockets_per_ip = 3;
        config.server.ip_limits_exempt = Vec::new();
    })
    .await;
    create_user(&app, Some("alpha"), "ann@alpha.org", Role::User).await;
    create_user(&app, Some("alpha"), "bob@alpha.org", Role::User).await;
    let ann = token_of(&login(&base, "ann@alpha.org").await);
    let bob = token_of(&login(&base, "bob@alpha.org").await);
    let upgrade = |token: &str| {
        let mut request = format!("ws://{addr}/api/v1/ws")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let refused = |result: Result<_, tokio_tungstenite::tungstenite::Error>| match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().contains_key("retry-after"));
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "too_many_sockets");
            body["error"]["message"].as_str().unwrap().to_owned()
        }
        other => panic!("expected a 429, got {:?}", other.map(|_| ())),
    };
    let first = upgrade(&ann).await.unwrap();
    let _second = upgrade(&ann).await.unwrap();
    let message = refused(upgrade(&ann).await);
    assert!(message.contains("max_sockets_per_credential"), "{message}");
    // Another credential from the same address: one more, then the address is full.
    let _third = upgrade(&bob).await.unwrap();
    let message = refused(upgrade(&bob).await);
    assert!(message.contains("max_sockets_per_ip"), "{message}");
    // A socket without a credential counts for its address, and an `auth` frame over the
    // credential's cap closes it with 4029.
    drop(_third);
    let mut anonymous = eventually_connects(&addr).await;
    send_json(&mut anonymous, json!({"type": "auth", "token": ann})).await;
    let (code, error) = close_code(&mut anonymous).await;
    assert_eq!(code, 4029);
    assert_eq!(error.unwrap()["data"]["code"], "too_many_sockets");
    // Closing a socket frees its place.
    drop(first);
    wait_for(
        "a closed socket's place to be freed",
        PLACE_FREED,
        async || upgrade(&ann).await.ok(),
    )
    .await;
    app.shutdown().await.unwrap();
}

/// How long a closed socket's place may take to be released (100 tries 50 ms apart, as
/// the suite had).
const PLACE_FREED: Duration = Duration::from_secs(5);

/// An unauthenticated socket, retried while the server releases a closed one's place.
async fn eventually_connects(addr: &str) -> common::Socket {
    wait_for("a place freed for a new socket", PLACE_FREED, async || {
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws"))
            .await
            .ok()
            .map(|(socket, _)| socket)
    })
    .await
}

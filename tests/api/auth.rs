//! Accounts, tokens, roles and tenancy, end to end: the real server on port 0.
//!
//! Organisations `alpha` and `beta`; users are created through the store (as
//! `warroom user create` does) and log in over HTTP.

use std::time::Duration;

use base64::Engine;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use warroom::App;
use warroom_engine::{Config, Role};

use crate::common;
use common::{
    bearer, close_code, create_user, login, next_frame, quiet_org, spawn_app, wait_for, TestApp,
    PASSWORD, SECRET,
};

const DEADLINE: Duration = Duration::from_secs(20);

/// The suite's organisations: `alpha` and `beta`.
fn two_orgs(config: &mut Config) {
    config.orgs = vec![quiet_org("alpha"), quiet_org("beta")];
}

/// A server with [`two_orgs`]: `(app, http://host:port, http://host:port/api/v1)`.
async fn start(configure: impl FnOnce(&mut Config)) -> (App, String, String) {
    let TestApp { app, root, .. } = spawn_app(|config| {
        two_orgs(config);
        configure(config);
    })
    .await;
    let base = format!("{root}/api/v1");
    (app, root, base)
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn status(client: &reqwest::Client, method: &str, url: String, body: Option<Value>) -> u16 {
    let request = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "PATCH" => client.patch(url),
        "DELETE" => client.delete(url),
        _ => unreachable!(),
    };
    let request = match body {
        Some(b) => request.json(&b),
        None => request,
    };
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protected_route_needs_a_credential_and_health_does_not() {
    let (app, _, base) = start(|_| {}).await;
    let anonymous = reqwest::Client::new();
    assert_eq!(
        status(&anonymous, "GET", format!("{base}/health"), None).await,
        200
    );
    for (method, path) in [
        ("GET", "/orgs"),
        ("GET", "/metrics/dashboard"),
        ("GET", "/mentions"),
        ("GET", "/mentions/sentiment"),
        ("GET", "/mentions/geo"),
        ("GET", "/mentions/influencers"),
        ("GET", "/mentions/trending"),
        ("GET", "/campaigns"),
        ("GET", "/campaigns/x/performance"),
        ("GET", "/alerts"),
        (
            "POST",
            "/alerts/00000000-0000-0000-0000-000000000000/acknowledge",
        ),
        (
            "POST",
            "/alerts/00000000-0000-0000-0000-000000000000/resolve",
        ),
        ("POST", "/ingest/mentions"),
        ("POST", "/ingest/campaign-metrics"),
        ("GET", "/auth/me"),
        ("POST", "/auth/logout"),
        ("POST", "/auth/password"),
        ("GET", "/admin/users"),
        ("GET", "/admin/api-keys"),
        ("GET", "/admin/data-mode"),
        ("PUT", "/admin/data-mode"),
        ("GET", "/audit"),
    ] {
        let response = anonymous
            .request(method.parse().unwrap(), format!("{base}{path}?org=alpha"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
        assert!(response.headers().contains_key("www-authenticate"));
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_revoked_tokens_are_refused() {
    let (app, site, base) = start(|_| {}).await;
    let id = create_user(&app, Some("alpha"), "ann@alpha.org", Role::Admin).await;
    let session = login(&site, "ann@alpha.org").await;
    let access = session["access_token"].as_str().unwrap().to_owned();
    let url = format!("{base}/auth/me");
    assert_eq!(
        status(&bearer(&access), "GET", url.clone(), None).await,
        200
    );

    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, exp: i64| {
        json!({"iss": "warroom", "aud": aud, "sub": id.to_string(), "org": "alpha",
               "role": "admin", "iat": now - 10, "exp": exp, "jti": "j"})
    };
    let expired = sign(&claims("warroom-api", now - 3600), SECRET);
    let wrong_audience = sign(&claims("someone-else", now + 600), SECRET);
    let wrong_key = sign(
        &claims("warroom-api", now + 600),
        "another-secret-0123456789abcdef0123",
    );
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("warroom-api", now + 600))
    );
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    // Tampering: the same signature over claims that say beta.
    let mut payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&parts[1])
            .unwrap(),
    )
    .unwrap();
    payload["org"] = json!("beta");
    parts[1] = b64(&payload);
    let tampered = parts.join(".");
    for (name, token) in [
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("wrong key", wrong_key),
        ("alg none", alg_none),
        ("tampered", tampered),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        assert_eq!(
            status(&bearer(&token), "GET", url.clone(), None).await,
            401,
            "{name}"
        );
    }

    // Logout revokes the access token used and the refresh token's family.
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let out = bearer(&access)
        .post(format!("{base}/auth/logout"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(
        status(&bearer(&access), "GET", url.clone(), None).await,
        401,
        "revoked"
    );
    let again = reqwest::Client::new()
        .post(format!("{base}/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let (app, site, base) = start(|_| {}).await;
    create_user(&app, Some("alpha"), "rita@alpha.org", Role::User).await;
    let session = login(&site, "rita@alpha.org").await;
    let first = session["refresh_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let refresh = |token: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            client
                .post(format!("{base}/auth/refresh"))
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap()
        }
    };
    let rotated = refresh(first.clone()).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let new_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        status(&bearer(&new_access), "GET", format!("{base}/alerts"), None).await,
        200
    );
    // Replaying the first token: 401, and the family (the second token too) is revoked.
    let reused = refresh(first).await;
    assert_eq!(reused.status(), 401);
    let body: Value = reused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "refresh_token_reused");
    assert_eq!(refresh(second).await.status(), 401);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_follow_the_permission_table() {
    let (app, site, base) = start(|_| {}).await;
    let mut tokens = Vec::new();
    for role in [Role::Readonly, Role::User, Role::Manager, Role::Admin] {
        let email = format!("{role}@alpha.org");
        create_user(&app, Some("alpha"), &email, role).await;
        tokens.push((
            role,
            login(&site, &email).await["access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    create_user(&app, None, "root@platform.org", Role::PlatformAdmin).await;
    let root = login(&site, "root@platform.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mention = json!([{"external_id": "r-1", "source": "twitter", "content": "hello",
        "event_time": chrono::Utc::now().to_rfc3339()}]);
    let missing = "00000000-0000-0000-0000-000000000000";
    for (role, token) in &tokens {
        let c = bearer(token);
        let read = status(&c, "GET", format!("{base}/alerts"), None).await;
        assert_eq!(read, 200, "{role} reads");
        let ack = status(
            &c,
            "POST",
            format!("{base}/alerts/{missing}/acknowledge"),
            None,
        )
        .await;
        assert_eq!(
            ack,
            if *role == Role::Readonly { 403 } else { 404 },
            "{role} acknowledges"
        );
        let ingest = status(
            &c,
            "POST",
            format!("{base}/ingest/mentions"),
            Some(mention.clone()),
        )
        .await;
        let may_ingest = matches!(role, Role::Manager | Role::Admin);
        assert_eq!(ingest, if may_ingest { 202 } else { 403 }, "{role} ingests");
        // Exports are reads: every organisation role may pull them.
        let now = chrono::Utc::now();
        let export = status(
            &c,
            "POST",
            format!("{base}/reports/export/csv"),
            Some(json!({
                "table": "mentions",
                "from": (now - chrono::Duration::hours(1)).to_rfc3339(),
                "to": now.to_rfc3339(),
            })),
        )
        .await;
        assert_eq!(export, 200, "{role} exports");
        let admin = status(&c, "GET", format!("{base}/admin/users"), None).await;
        assert_eq!(
            admin,
            if *role == Role::Admin { 200 } else { 403 },
            "{role} administers"
        );
        let audit = status(&c, "GET", format!("{base}/audit"), None).await;
        assert_eq!(
            audit,
            if *role == Role::Admin { 200 } else { 403 },
            "{role} audit"
        );
        assert_eq!(
            status(&c, "GET", format!("{base}/orgs"), None).await,
            403,
            "{role} orgs"
        );
    }
    let root = bearer(&root);
    let orgs: Value = root
        .get(format!("{base}/orgs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(orgs.as_array().unwrap().len(), 2);
    assert_eq!(
        status(&root, "GET", format!("{base}/alerts"), None).await,
        403
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_never_reaches_another() {
    let (app, site, base) = start(|_| {}).await;
    create_user(&app, Some("alpha"), "a@alpha.org", Role::Admin).await;
    let bob = create_user(&app, Some("beta"), "b@beta.org", Role::Admin).await;
    let a = bearer(
        login(&site, "a@alpha.org").await["access_token"]
            .as_str()
            .unwrap(),
    );
    let b = bearer(
        login(&site, "b@beta.org").await["access_token"]
            .as_str()
            .unwrap(),
    );
    let key: Value = b
        .post(format!("{base}/admin/api-keys"))
        .json(&json!({"name": "beta ingest", "role": "manager"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_id = key["id"].as_str().unwrap();
    // Naming beta from alpha's credential is a 404 on every organisation route.
    for path in [
        "/metrics/dashboard",
        "/mentions",
        "/mentions/sentiment",
        "/mentions/geo",
        "/mentions/influencers",
        "/mentions/trending",
        "/campaigns",
        "/alerts",
        "/admin/users",
        "/admin/api-keys",
        "/audit",
    ] {
        assert_eq!(
            status(&a, "GET", format!("{base}{path}?org=beta"), None).await,
            404,
            "{path}"
        );
        let with_header = a
            .get(format!("{base}{path}"))
            .header("x-warroom-org", "beta")
            .send()
            .await
            .unwrap();
        assert_eq!(with_header.status(), 404, "{path} by header");
    }
    assert_eq!(
        status(
            &a,
            "POST",
            format!("{base}/ingest/mentions?org=beta"),
            Some(json!([]))
        )
        .await,
        404
    );
    // Beta's user and key ids are not found from alpha.
    assert_eq!(
        status(
            &a,
            "PATCH",
            format!("{base}/admin/users/{bob}"),
            Some(json!({"active": false}))
        )
        .await,
        404
    );
    assert_eq!(
        status(
            &a,
            "DELETE",
            format!("{base}/admin/api-keys/{key_id}"),
            None
        )
        .await,
        404
    );
    let users: Value = a
        .get(format!("{base}/admin/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "alpha lists only alpha: {users}"
    );
    // Beta's key acts for beta only.
    let beta_key = bearer(key["key"].as_str().unwrap());
    assert_eq!(
        status(&beta_key, "GET", format!("{base}/alerts"), None).await,
        200
    );
    assert_eq!(
        status(&beta_key, "GET", format!("{base}/alerts?org=alpha"), None).await,
        404
    );

    // WebSocket: alpha's credential cannot subscribe to beta.
    let token = login(&site, "a@alpha.org").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", app.addr()))
            .await
            .unwrap();
    socket
        .send(Message::text(
            json!({"type": "subscribe", "org": "alpha"}).to_string(),
        ))
        .await
        .unwrap();
    let (code, error) = close_code(&mut socket).await;
    assert_eq!(code, 4001, "subscribing before authenticating: {error:?}");
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", app.addr()))
            .await
            .unwrap();
    socket
        .send(Message::text(
            json!({"type": "auth", "token": token}).to_string(),
        ))
        .await
        .unwrap();
    socket
        .send(Message::text(
            json!({"type": "subscribe", "org": "beta"}).to_string(),
        ))
        .await
        .unwrap();
    let (code, error) = close_code(&mut socket).await;
    assert_eq!(code, 4004);
    assert_eq!(error.unwrap()["data"]["code"], "org_not_found");
    // With the header on the upgrade, alpha subscribes to alpha.
    let mut request = format!("ws://{}/api/v1/ws?org=alpha", app.addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let subscribed = next_frame(&mut socket, |f| f["event"] == "subscribed").await;
    assert_eq!(subscribed["org"], "alpha");
    // And a bad credential on the upgrade is refused before upgrading.
    let mut request = format!("ws://{}/api/v1/ws?org=alpha", app.addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_api_keys_are_rate_limited() {
    let (app, _, base) = start(|config| {
        config.auth.login_failures_per_client = 2;
        config.auth.login_failures_per_account = 4;
        config.auth.login_backoff = Duration::from_secs(2);
    })
    .await;
    create_user(&app, Some("alpha"), "lim@alpha.org", Role::Admin).await;
    // Clients on distinct loopback addresses are distinct clients to the server.
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let (manager, stranger, newcomer) = (from("127.0.0.1"), from("127.0.0.2"), from("127.0.0.3"));
    let attempt = |client: &reqwest::Client, password: &str, device: Option<&str>| {
        let mut request = client
            .post(format!("{base}/auth/login"))
            .json(&json!({"email": "lim@alpha.org", "password": password}));
        if let Some(device) = device {
            request = request.header("cookie", format!("warroom_device={device}"));
        }
        async move { request.send().await.unwrap() }
    };
    // The campaign manager's browser logs in and gets the account's device cookie;
    // successful logins count nothing.
    let ok = attempt(&manager, PASSWORD, None).await;
    assert_eq!(ok.status(), 200);
    let device = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("warroom_device="))
        .and_then(|v| v.split(';').next())
        .expect("a device cookie")
        .to_owned();
    let token = ok.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        assert_eq!(
            attempt(&manager, PASSWORD, Some(&device)).await.status(),
            200
        );
    }
    // A stranger fails twice for free; the third failure locks that client out, and then
    // even the right password is refused to it, with Retry-After.
    for _ in 0..3 {
        assert_eq!(
            attempt(&stranger, "wrong password!", None).await.status(),
            401
        );
    }
    let throttled = attempt(&stranger, PASSWORD, None).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    // Another client is not locked out by the stranger...
    assert_eq!(attempt(&newcomer, PASSWORD, None).await.status(), 200);
    // ... until the account's budget for clients without its device cookie is spent (4
    // failures): then they wait, and the manager's browser still gets in.
    assert_eq!(
        attempt(&newcomer, "wrong password!", None).await.status(),
        401
    );
    for device in [None, Some("forged.cookie")] {
        let refused = attempt(&newcomer, PASSWORD, device).await;
        assert_eq!(refused.status(), 429);
    }
    assert_eq!(
        attempt(&manager, PASSWORD, Some(&device)).await.status(),
        200
    );
    assert_eq!(
        attempt(&manager, PASSWORD, Some(&device)).await.status(),
        200
    );

    let admin = bearer(&token);
    let created = admin
        .post(format!("{base}/admin/api-keys"))
        .json(&json!({"name": "tiny", "role": "readonly", "rate_limit_per_hour": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let listed: Value = admin
        .get(format!("{base}/admin/api-keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !listed.to_string().contains(&key),
        "the key is shown once, never listed"
    );
    assert_eq!(listed[0]["key_prefix"], json!(&key[..12]));
    let with_key = bearer(&key);
    assert_eq!(
        status(&with_key, "GET", format!("{base}/alerts"), None).await,
        200
    );
    assert_eq!(
        status(&with_key, "GET", format!("{base}/alerts"), None).await,
        200
    );
    let limited = with_key.get(format!("{base}/alerts")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_are_audited_and_deactivation_stops_tokens() {
    let (app, site, base) = start(|config| {
        config.auth.user_cache_ttl = Duration::ZERO;
    })
    .await;
    create_user(&app, Some("alpha"), "boss@alpha.org", Role::Admin).await;
    let admin = bearer(
        login(&site, "boss@alpha.org").await["access_token"]
            .as_str()
            .unwrap(),
    );
    // An address with markup is not an address.
    let refused = admin
        .post(format!("{base}/admin/users"))
        .json(&json!({"email": "<script>alert(1)</script>@alpha.org", "password": PASSWORD, "role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_email", "{error}");
    let created = admin
        .post(format!("{base}/admin/users"))
        .json(&json!({"email": "new@alpha.org", "password": PASSWORD, "role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let new_id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = login(&site, "new@alpha.org").await;
    let new_user = bearer(session["access_token"].as_str().unwrap());
    assert_eq!(
        status(&new_user, "GET", format!("{base}/alerts"), None).await,
        200
    );
    let changed = status(
        &admin,
        "PATCH",
        format!("{base}/admin/users/{new_id}"),
        Some(json!({"role": "readonly"})),
    )
    .await;
    assert_eq!(changed, 200);
    // `null` is not "no change": the document says a present member is a value.
    for body in [json!({"role": null}), json!({"active": null}), json!({})] {
        let refused = status(
            &admin,
            "PATCH",
            format!("{base}/admin/users/{new_id}"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(refused, 400, "{body}");
    }
    // An admin cannot lock themselves out: understood, and forbidden.
    let me: Value = admin
        .get(format!("{base}/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let my_id = me["user"]["id"].as_str().unwrap();
    let own = admin
        .patch(format!("{base}/admin/users/{my_id}"))
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 403);
    assert_eq!(
        own.json::<Value>().await.unwrap()["error"]["code"],
        "cannot_change_self"
    );
    let ack = status(
        &new_user,
        "POST",
        format!("{base}/alerts/00000000-0000-0000-0000-000000000000/acknowledge"),
        None,
    )
    .await;
    assert_eq!(ack, 403, "the new role applies to existing tokens");
    let password = new_user
        .post(format!("{base}/auth/password"))
        .json(&json!({"current_password": PASSWORD, "new_password": "another long passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(password.status(), 204);
    assert_eq!(
        status(
            &admin,
            "PATCH",
            format!("{base}/admin/users/{new_id}"),
            Some(json!({"active": false}))
        )
        .await,
        200
    );
    assert_eq!(
        status(&new_user, "GET", format!("{base}/alerts"), None).await,
        401,
        "deactivated"
    );
    let key: Value = admin
        .post(format!("{base}/admin/api-keys"))
        // JSON Schema's `integer` admits `250.0`, so the server does too.
        .json(&json!({"name": "k", "role": "manager", "rate_limit_per_hour": 250.0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key["rate_limit_per_hour"], 250, "{key}");
    let key_id = key["id"].as_str().unwrap();
    assert_eq!(
        status(
            &admin,
            "DELETE",
            format!("{base}/admin/api-keys/{key_id}"),
            None
        )
        .await,
        204
    );
    assert_eq!(
        status(
            &bearer(key["key"].as_str().unwrap()),
            "GET",
            format!("{base}/alerts"),
            None
        )
        .await,
        401
    );

    let audit: Value = admin
        .get(format!("{base}/audit?limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "user.login",
        "user.create",
        "user.role_change",
        "user.password_change",
        "user.deactivate",
        "api_key.create",
        "api_key.revoke",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let logins: Value = admin
        .get(format!("{base}/audit?action=user.login"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = logins["entries"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["ip_address"], "127.0.0.1");
    assert!(
        !audit.to_string().contains(PASSWORD),
        "no secret in the audit trail"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_mode_is_switched_by_admins_audited_and_broadcast() {
    let (app, site, base) = start(|_| {}).await;
    create_user(&app, Some("alpha"), "boss@alpha.org", Role::Admin).await;
    create_user(&app, Some("alpha"), "lead@alpha.org", Role::Manager).await;
    create_user(&app, Some("beta"), "eye@beta.org", Role::Readonly).await;
    create_user(&app, None, "root@platform.org", Role::PlatformAdmin).await;
    let token = |v: Value| v["access_token"].as_str().unwrap().to_owned();
    let admin = bearer(&token(login(&site, "boss@alpha.org").await));
    let manager = bearer(&token(login(&site, "lead@alpha.org").await));
    let beta_token = token(login(&site, "eye@beta.org").await);
    let readonly = bearer(&beta_token);
    let platform = bearer(&token(login(&site, "root@platform.org").await));
    let url = format!("{base}/admin/data-mode");

    // The permission table: admins and the platform administrator only, GET and PUT.
    let mode: Value = admin.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(mode, json!({"mode": "MOCK"}));
    assert_eq!(status(&platform, "GET", url.clone(), None).await, 200);
    for client in [&manager, &readonly] {
        assert_eq!(status(client, "GET", url.clone(), None).await, 403);
        let put = client
            .put(&url)
            .json(&json!({"mode": "LIVE"}))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 403);
    }
    assert_eq!(
        reqwest::Client::new()
            .put(&url)
            .json(&json!({"mode": "LIVE"}))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(app.runtime().data_mode(), warroom_engine::DataMode::Mock);

    // A socket of another organisation hears the switch.
    let mut request = format!("ws://{}/api/v1/ws?org=beta", app.addr())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {beta_token}").parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    next_frame(&mut socket, |f| f["event"] == "subscribed").await;

    for bad in [json!({"mode": "TEST"}), json!({"mode": 1}), json!({})] {
        let response = admin.put(&url).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), 422, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_data_mode");
    }
    let switched: Value = admin
        .put(&url)
        .json(&json!({"mode": "LIVE"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        switched,
        json!({"mode": "LIVE", "previous": "MOCK", "changed": true})
    );
    let frame = next_frame(&mut socket, |f| f["event"] == "system:data-mode-change").await;
    assert_eq!(frame["data"], "LIVE", "{frame}");
    assert_eq!(app.runtime().data_mode(), warroom_engine::DataMode::Live);
    let mode: Value = readonly
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mode["data_mode"], "LIVE");
    // The database holds it (a restart would keep it).
    assert_eq!(
        warroom_actors::runtime::data_mode::read(app.runtime().store().as_ref())
            .await
            .unwrap(),
        Some(warroom_engine::DataMode::Live)
    );
    // The platform administrator switches back.
    let back = platform
        .put(&url)
        .json(&json!({"mode": "MOCK"}))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    let frame = next_frame(&mut socket, |f| f["event"] == "system:data-mode-change").await;
    assert_eq!(frame["data"], "MOCK");

    // Audited with old and new; nothing for the refused attempts.
    let audit: Value = admin
        .get(format!("{base}/audit?action=data_mode.change"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = audit["entries"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        1,
        "alpha's own row (the platform admin's has no org): {audit}"
    );
    assert_eq!(rows[0]["details"]["old"], "MOCK");
    assert_eq!(rows[0]["details"]["new"], "LIVE");
    assert_eq!(rows[0]["resource_type"], "data_mode");
    assert!(rows[0]["user_id"].is_string());
    app.shutdown().await.unwrap();
}

/// A Redis client for inspecting what the server stored.
async fn redis_client() -> fred::prelude::Client {
    use fred::prelude::ClientLike;
    let client = fred::prelude::Builder::from_config(
        fred::prelude::Config::from_url("redis://127.0.0.1:6379").unwrap(),
    )
    .build()
    .unwrap();
    client.init().await.expect("Redis at 127.0.0.1:6379");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_limits_count_in_redis_when_it_is_configured() {
    use fred::prelude::{ClientLike, KeysInterface};
    let prefix = format!("warroom-auth-test-{}", uuid::Uuid::new_v4().simple());
    let (app, site, base) = start(|config| {
        config.redis.url = "redis://127.0.0.1:6379".into();
        config.redis.key_prefix = prefix.clone();
    })
    .await;
    create_user(&app, Some("alpha"), "keys@alpha.org", Role::Admin).await;
    let admin = bearer(
        login(&site, "keys@alpha.org").await["access_token"]
            .as_str()
            .unwrap(),
    );
    let created: Value = admin
        .post(format!("{base}/admin/api-keys"))
        .json(&json!({"name": "shared", "role": "readonly", "rate_limit_per_hour": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let with_key = bearer(created["key"].as_str().unwrap());
    let counter = format!("{prefix}:rate:apikey:{}", created["id"].as_str().unwrap());
    assert_eq!(
        status(&with_key, "GET", format!("{base}/alerts"), None).await,
        200
    );
    let redis = redis_client().await;
    let count: Option<String> = redis.get(&counter).await.unwrap();
    assert_eq!(count.as_deref(), Some("1"), "the hit is counted in Redis");
    let ttl: i64 = redis.pttl(&counter).await.unwrap();
    assert!(ttl > 0 && ttl <= 3_600_000, "the window expires: {ttl} ms");
    // Another node's hits land on the same counter: two more make the key exhausted here.
    let _: String = redis
        .custom(
            fred::cmd!("SET"),
            vec![counter.clone(), "3".into(), "KEEPTTL".into()],
        )
        .await
        .unwrap();
    let limited = with_key.get(format!("{base}/alerts")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    app.shutdown().await.unwrap();
    let keys: Vec<String> = redis
        .custom(fred::cmd!("KEYS"), vec![format!("{prefix}:*")])
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = redis.del(keys).await.unwrap();
    }
    let _ = redis.quit().await;
}

const HARDENING_HEADERS: [&str; 4] = [
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_are_on_every_answer_and_hsts_only_when_configured() {
    // A small body limit: the oversized body then fits in the socket buffers, so the
    // client always reads the 413 instead of failing to write the rest.
    let small_bodies = |config: &mut Config| config.server.max_body_bytes = 1024;
    let (plain, _, plain_base) = start(small_bodies).await;
    let (tls, _, tls_base) = start(|config| {
        small_bodies(config);
        config.http.hsts = true;
    })
    .await;
    let client = reqwest::Client::new();
    for (base, hsts) in [(&plain_base, false), (&tls_base, true)] {
        // Success, 401, 403-free 404 fallback, 405, 400 (bad JSON) and 413.
        let answers = [
            client.get(format!("{base}/health")).send().await.unwrap(),
            client.get(format!("{base}/alerts")).send().await.unwrap(),
            client
                .get(format!("{base}/no/such/route"))
                .send()
                .await
                .unwrap(),
            client
                .delete(format!("{base}/health"))
                .send()
                .await
                .unwrap(),
            client
                .post(format!("{base}/auth/login"))
                .header("content-type", "application/json")
                .body("{not json")
                .send()
                .await
                .unwrap(),
            // Its own client: the server closes that connection, which must not be
            // reused by the next request.
            reqwest::Client::new()
                .post(format!("{base}/auth/login"))
                .header("content-type", "application/json")
                .body(vec![b' '; 4096])
                .send()
                .await
                .unwrap(),
        ];
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(statuses, [200, 401, 404, 405, 400, 413], "{base}");
        for response in &answers {
            for name in HARDENING_HEADERS {
                assert!(
                    response.headers().contains_key(name),
                    "{name} on {} {}",
                    response.status(),
                    response.url()
                );
            }
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
            assert_eq!(response.headers()["x-frame-options"], "DENY");
            assert_eq!(
                response.headers()["content-type"],
                "application/json",
                "errors are JSON too: {} {}",
                response.status(),
                response.url()
            );
            assert_eq!(
                response.headers().contains_key("strict-transport-security"),
                hsts,
                "HSTS on {} {} with http.hsts = {hsts}",
                response.status(),
                response.url()
            );
        }
    }
    let hsts = client
        .get(format!("{tls_base}/health"))
        .send()
        .await
        .unwrap();
    assert!(hsts.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    plain.shutdown().await.unwrap();
    tls.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_exactly_the_configured_origins() {
    const ALLOWED: &str = "https://warroom.example.org";
    const OTHER: &str = "https://evil.example.net";
    let (app, _, base) = start(|config| {
        config.http.cors_allowed_origins = vec![ALLOWED.into()];
    })
    .await;
    let client = reqwest::Client::new();
    // The preflight of a cross-origin call with a token.
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{base}/alerts"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight(ALLOWED).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], ALLOWED);
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("GET") && methods.contains("PUT"),
        "{methods}"
    );
    assert!(allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    let refused = preflight(OTHER).await.unwrap();
    assert!(!refused
        .headers()
        .contains_key("access-control-allow-origin"));
    // Actual requests, answered or refused: the allowed origin may read the answer (also
    // an error), the other may not.
    for path in ["/health", "/alerts"] {
        let ok = client
            .get(format!("{base}{path}"))
            .header("origin", ALLOWED)
            .send()
            .await
            .unwrap();
        assert_eq!(
            ok.headers()["access-control-allow-origin"],
            ALLOWED,
            "{path}"
        );
        let other = client
            .get(format!("{base}{path}"))
            .header("origin", OTHER)
            .send()
            .await
            .unwrap();
        assert!(
            !other.headers().contains_key("access-control-allow-origin"),
            "{path}"
        );
        assert_eq!(ok.status(), other.status(), "CORS is not authentication");
    }
    app.shutdown().await.unwrap();

    // Without an allow-list no origin gets anything.
    let (app, _, base) = start(no_cors).await;
    let answer = client
        .get(format!("{base}/health"))
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert!(!answer.headers().contains_key("access-control-allow-origin"));
    app.shutdown().await.unwrap();
}

/// The default configuration: `http.cors_allowed_origins` is empty.
fn no_cors(config: &mut Config) {
    assert!(config.http.cors_allowed_origins.is_empty());
}

/// Login and logout are pushed to the organisation's sockets as `user:login` /
/// `user:logout`, and a cookie-authenticated change needs the CSRF token echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_changes_need_the_csrf_token_and_logins_are_pushed() {
    let (app, site, base) = start(|_| {}).await;
    create_user(&app, Some("alpha"), "carol@alpha.example", Role::User).await;
    let now = chrono::Utc::now().timestamp();
    let service = sign(
        &json!({
            "iss": "warroom", "aud": "warroom-api", "sub": "auth-test", "org": "alpha",
            "role": "manager", "iat": now, "exp": now + 600,
            "jti": uuid::Uuid::new_v4().to_string(), "typ": "service",
        }),
        SECRET,
    );
    let mut request = format!("ws://{}/api/v1/ws?org=alpha&channels=system", app.addr())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {service}").parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    next_frame(&mut socket, |f| f["event"] == "subscribed").await;

    let session = login(&site, "carol@alpha.example").await;
    let pushed = next_frame(&mut socket, |f| f["event"] == "user:login").await;
    assert_eq!(pushed["org"], "alpha", "{pushed}");

    let access = session["access_token"].as_str().unwrap();
    let csrf = session["csrf_token"].as_str().unwrap();
    let cookies = format!("warroom_access={access}; warroom_csrf={csrf}");
    let client = reqwest::Client::new();
    // Reads by cookie need no CSRF token.
    let me = client
        .get(format!("{base}/auth/me"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // A change by cookie without the token, or with a wrong one, is refused.
    for echoed in [None, Some("not-the-token")] {
        let mut logout = client
            .post(format!("{base}/auth/logout"))
            .header("cookie", &cookies);
        if let Some(value) = echoed {
            logout = logout.header("x-csrf-token", value);
        }
        let refused = logout.send().await.unwrap();
        assert_eq!(refused.status(), 403);
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"]["code"], "csrf", "{error}");
    }
    // The token is bound to the session: an equal cookie/header pair of the attacker's
    // choosing, or another session's token, does not pass.
    let other = login(&site, "carol@alpha.example").await;
    let other_csrf = other["csrf_token"].as_str().unwrap();
    assert_ne!(other_csrf, csrf);
    for (cookie_csrf, echoed) in [("planted", "planted"), (other_csrf, other_csrf)] {
        let refused = client
            .post(format!("{base}/auth/logout"))
            .header(
                "cookie",
                format!("warroom_access={access}; warroom_csrf={cookie_csrf}"),
            )
            .header("x-csrf-token", echoed)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "csrf {echoed}");
    }
    // A cookie refresh needs its own session's token too.
    let refresh_cookie = format!(
        "warroom_refresh={}; warroom_csrf={other_csrf}",
        session["refresh_token"].as_str().unwrap()
    );
    let refused = client
        .post(format!("{base}/auth/refresh"))
        .header("cookie", &refresh_cookie)
        .header("x-csrf-token", other_csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    // With the token echoed it goes through, and the logout is pushed.
    let logout = client
        .post(format!("{base}/auth/logout"))
        .header("cookie", &cookies)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    next_frame(&mut socket, |f| f["event"] == "user:logout").await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_overview_shows_every_organisation_to_the_platform_admin_only() {
    let (app, site, base) = start(|_| {}).await;
    create_user(&app, Some("alpha"), "boss@alpha.org", Role::Admin).await;
    create_user(&app, None, "root@platform.org", Role::PlatformAdmin).await;
    let token = |v: Value| v["access_token"].as_str().unwrap().to_owned();
    let admin_token = token(login(&site, "boss@alpha.org").await);
    let admin = bearer(&admin_token);
    let platform = bearer(&token(login(&site, "root@platform.org").await));
    let url = format!("{base}/admin/overview");

    // Only the platform administrator: an organisation admin is refused, so is no one.
    assert_eq!(status(&admin, "GET", url.clone(), None).await, 403);
    assert_eq!(
        status(&reqwest::Client::new(), "GET", url.clone(), None).await,
        401
    );

    // Thirty mentions for alpha in the last minutes, and one socket following alpha.
    let now = chrono::Utc::now();
    let mentions: Vec<Value> = (0..30)
        .map(|i| {
            json!({"external_id": format!("ov-{i}"), "source": "twitter",
                   "content": "the overview counts this",
                   "event_time": (now - chrono::Duration::seconds(i)).to_rfc3339()})
        })
        .collect();
    assert_eq!(
        status(
            &admin,
            "POST",
            format!("{base}/ingest/mentions"),
            Some(json!(mentions))
        )
        .await,
        202
    );
    let mut request = format!("ws://{}/api/v1/ws?org=alpha", app.addr())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {admin_token}").parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    next_frame(&mut socket, |f| f["event"] == "subscribed").await;

    let overview = || async {
        let response = platform.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    let row = |body: &Value, id: &str| {
        body["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {body}"))
    };
    let body = wait_for("alpha's figures", DEADLINE, async || {
        let body = overview().await;
        let alpha = row(&body, "alpha");
        (alpha["mentions_24h"] == 30 && alpha["open_sockets"] == 1).then_some(body)
    })
    .await;
    assert_eq!(body["orgs"].as_array().unwrap().len(), 2, "{body}");
    let alpha = row(&body, "alpha");
    assert_eq!(alpha["name"], "alpha campaign");
    assert_eq!(alpha["mentions_per_minute"], 2.0, "30 in 15 min: {alpha}");
    assert_eq!(alpha["active_crises"], 0);
    assert_eq!(alpha["data_mode"], "MOCK");
    let beta = row(&body, "beta");
    for field in [
        "name",
        "mentions_per_minute",
        "mentions_24h",
        "active_crises",
        "open_sockets",
        "data_mode",
    ] {
        assert!(!beta[field].is_null(), "beta's {field}: {beta}");
    }
    assert_eq!(beta["mentions_24h"], 0);
    assert_eq!(beta["mentions_per_minute"], 0.0);
    assert_eq!(beta["open_sockets"], 0);

    // A closed socket is no longer counted.
    socket.close(None).await.unwrap();
    wait_for(
        "the closed socket to no longer count",
        DEADLINE,
        async || row(&overview().await, "alpha")["open_sockets"] == 0,
    )
    .await;
    app.shutdown().await.unwrap();
}

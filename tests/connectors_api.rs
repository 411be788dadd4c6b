//! `GET /api/v1/admin/connectors` on the real server: an organisation's admin sees its
//! own live connectors' state and nobody else's; credentials never appear; the public
//! health report carries counts only.

use std::time::Duration;

use serde_json::{json, Value};
use warroom::App;
use warroom_engine::config::OrgConfig;
use warroom_engine::connectors::{MentionlyticsAccount, MetaAccount, OrgConnectors, Secret};
use warroom_engine::{Config, DataMode, OrgId, Role};
use warroom_storage::accounts::NewUser;

const SECRET: &str = "connectors-api-test-signing-secret-0123456789";
const PASSWORD: &str = "a long enough passphrase";

fn org(id: &str, connectors: OrgConnectors) -> OrgConfig {
    OrgConfig {
        id: id.into(),
        name: format!("{id} campaign"),
        mentions_per_second: 0.0,
        negative_threshold: None,
        crises: Vec::new(),
        connectors,
    }
}

async fn admin(app: &App, org: &str, email: &str) {
    let hash = warroom_gateway::auth::password::hash(PASSWORD.into())
        .await
        .unwrap();
    app.runtime()
        .store()
        .accounts()
        .create_user(
            &NewUser {
                org: Some(OrgId::new(org)),
                email: email.into(),
                password_hash: hash,
                role: Role::Admin,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
}

async fn token(base: &str, email: &str) -> String {
    let session: Value = reqwest::Client::new()
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_only_their_organisations_connectors() {
    let mut config = Config::defaults();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.auth.jwt_secret = SECRET.into();
    config.data.mode = DataMode::Live;
    let dir = tempfile::tempdir().unwrap();
    config.database.url = format!("sqlite://{}", dir.path().join("w.db").display());
    // Nothing listens on port 9: every poll fails, which the state must show.
    config.connectors.mentionlytics.base_url = "http://127.0.0.1:9/v2".into();
    config.connectors.mentionlytics.token_url = "http://127.0.0.1:9/token".into();
    config.connectors.meta.base_url = "http://127.0.0.1:9".into();
    config.connectors.max_attempts = 1;
    config.orgs = vec![
        org(
            "alpha",
            OrgConnectors {
                mentionlytics: Some(MentionlyticsAccount {
                    refresh_token: Secret::new("alpha-refresh-s3cret"),
                    access_token: None,
                }),
                ..Default::default()
            },
        ),
        org(
            "beta",
            OrgConnectors {
                meta: Some(MetaAccount {
                    ad_account_id: "act_7".into(),
                    access_token: Secret::new("beta-meta-s3cret"),
                }),
                ..Default::default()
            },
        ),
    ];
    let app = App::start(config).await.expect("server starts");
    let base = format!("http://{}/api/v1", app.addr());
    admin(&app, "alpha", "a@alpha.org").await;
    admin(&app, "beta", "b@beta.org").await;

    let client = reqwest::Client::new();
    let anonymous = client
        .get(format!("{base}/admin/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let alpha = token(&base, "a@alpha.org").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let shown = loop {
        let response = client
            .get(format!("{base}/admin/connectors"))
            .bearer_auth(&alpha)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        if body["source:alpha:mentions"]["failures"].as_u64() >= Some(1) {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed poll shown: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let entries = shown.as_object().unwrap();
    assert_eq!(entries.len(), 1, "only alpha's connectors: {shown}");
    let state = &shown["source:alpha:mentions"];
    assert_eq!(state["vendor"], "mentionlytics");
    assert!(
        state["last_error"].as_str().unwrap().contains("transport"),
        "{state}"
    );
    let text = shown.to_string();
    assert!(!text.contains("s3cret") && !text.contains("beta"), "{text}");

    let beta = token(&base, "b@beta.org").await;
    let body: Value = client
        .get(format!("{base}/admin/connectors"))
        .bearer_auth(&beta)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["source:beta:meta"], "{body}");

    // The public report: counts only, no organisation, no error text, no credential.
    let health: Value = client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connectors = &health["services"]["connectors"];
    assert_eq!(connectors["status"], "degraded", "{health}");
    assert!(health.get("connectors").is_none());
    let text = connectors.to_string();
    assert!(
        !text.contains("alpha") && !text.contains("transport"),
        "{text}"
    );
    assert!(!health.to_string().contains("s3cret"));
    app.shutdown().await.unwrap();
}

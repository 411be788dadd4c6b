//! `GET /api/v1/admin/connectors` on the real server: an organisation's admin sees its
//! own live connectors' state and nobody else's; credentials never appear; the public
//! health report carries counts only.

use std::time::Duration;

use serde_json::Value;
use warroom_engine::config::OrgConfig;
use warroom_engine::connectors::{MentionlyticsAccount, MetaAccount, OrgConnectors, Secret};
use warroom_engine::DataMode;

use crate::common::{quiet_org, spawn_app, wait_for};

const DEADLINE: Duration = Duration::from_secs(20);

/// An organisation with `connectors` and no mock feed.
fn org(id: &str, connectors: OrgConnectors) -> OrgConfig {
    OrgConfig {
        connectors,
        ..quiet_org(id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_only_their_organisations_connectors() {
    let test = spawn_app(|config| {
        config.data.mode = DataMode::Live;
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
    })
    .await;
    let base = test.api();

    let client = reqwest::Client::new();
    let anonymous = client
        .get(format!("{base}/admin/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let alpha = test.admin_token("alpha").await;
    let shown = wait_for("a failed poll shown", DEADLINE, async || {
        let response = client
            .get(format!("{base}/admin/connectors"))
            .bearer_auth(&alpha)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        (body["source:alpha:mentions"]["failures"].as_u64() >= Some(1)).then_some(body)
    })
    .await;
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

    let beta = test.admin_token("beta").await;
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
    test.shutdown().await;
}

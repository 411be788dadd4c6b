//! The account-store conformance suite: every test body runs once on embedded SQLite (a
//! temporary file) and once on PostgreSQL (a fresh database per test on 127.0.0.1:5432,
//! dropped at the end), with the harness of `conformance.rs` (`harness/mod.rs`).

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use warroom_engine::{OrgId, Organization, Role};
use warroom_storage::accounts::{
    AuditEntry, AuditFilter, NewApiKey, NewRefreshToken, NewUser, RefreshOutcome, Replacement,
};
use warroom_storage::sql::Store;
use warroom_storage::webhooks::{
    DeliveryOutcome, DeliveryRecord, OutboxEntry, OutboxStatus, WebhookRecord,
};

#[macro_use]
mod harness;

conformance!(
    users_are_unique_by_address_and_scoped_by_organisation,
    deactivation_and_password_change_revoke_refresh_tokens,
    refresh_tokens_rotate_once_and_reuse_revokes_the_family,
    expired_and_logged_out_refresh_tokens_are_invalid,
    api_keys_are_found_by_hash_listed_per_org_and_revoked,
    audit_rows_read_back_filtered_and_paged,
    webhooks_are_scoped_logged_and_receipts_are_idempotent,
    webhook_outbox_keeps_pending_deliveries_until_finished,
);

fn now() -> DateTime<Utc> {
    // Whole microseconds: what both backends store.
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

async fn orgs(store: &Arc<dyn Store>) -> (OrgId, OrgId) {
    for id in ["alpha", "beta"] {
        store
            .upsert_organization(&Organization {
                id: OrgId::new(id),
                name: id.to_uppercase(),
            })
            .await
            .unwrap();
    }
    (OrgId::new("alpha"), OrgId::new("beta"))
}

fn new_user(org: &OrgId, email: &str, role: Role) -> NewUser {
    NewUser {
        org: Some(org.clone()),
        email: email.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role,
    }
}

fn token(user: Uuid, org: &OrgId, hash: &str, expires_at: DateTime<Utc>) -> NewRefreshToken {
    NewRefreshToken {
        id: Uuid::new_v4(),
        user_id: user,
        org: Some(org.clone()),
        family_id: Uuid::new_v4(),
        token_hash: hash.to_owned(),
        issued_at: now(),
        expires_at,
        ip: Some("127.0.0.1".parse().unwrap()),
        user_agent: Some("test".into()),
    }
}

fn replacement(hash: &str) -> Replacement {
    Replacement {
        id: Uuid::new_v4(),
        token_hash: hash.to_owned(),
        expires_at: now() + Duration::days(7),
        ip: None,
        user_agent: None,
    }
}

async fn users_are_unique_by_address_and_scoped_by_organisation(store: Arc<dyn Store>) {
    let (a, b) = orgs(&store).await;
    let accounts = store.accounts();
    let t = now();
    let ann = accounts
        .create_user(&new_user(&a, "Ann@Example.org", Role::Admin), t)
        .await
        .unwrap()
        .expect("created");
    assert_eq!(ann.org, Some(a.clone()));
    assert_eq!(ann.role, Role::Admin);
    assert!(ann.active);
    assert_eq!(ann.created_at, t);
    // The same address in any case, in any organisation, is taken.
    assert!(accounts
        .create_user(&new_user(&b, "ann@example.ORG", Role::User), t)
        .await
        .unwrap()
        .is_none());
    let found = accounts
        .user_by_email("ANN@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, ann);
    assert_eq!(accounts.user(ann.id).await.unwrap().unwrap(), ann);
    let bob = accounts
        .create_user(&new_user(&b, "bob@example.org", Role::Readonly), t)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(accounts.users(&a).await.unwrap(), vec![ann.clone()]);
    assert_eq!(accounts.users(&b).await.unwrap(), vec![bob.clone()]);
    // Another organisation's user cannot be changed through org a.
    assert!(!accounts.set_role(&a, bob.id, Role::Admin, t).await.unwrap());
    assert!(!accounts.set_active(&a, bob.id, false, t).await.unwrap());
    assert_eq!(accounts.user(bob.id).await.unwrap().unwrap(), bob);
    assert!(accounts
        .set_role(&b, bob.id, Role::Manager, t)
        .await
        .unwrap());
    assert_eq!(
        accounts.user(bob.id).await.unwrap().unwrap().role,
        Role::Manager
    );
    assert!(accounts
        .set_role(&b, bob.id, Role::PlatformAdmin, t)
        .await
        .is_err());
    // The platform administrator has no organisation.
    let root = accounts
        .create_user(
            &NewUser {
                org: None,
                email: "root@example.org".into(),
                password_hash: "x".into(),
                role: Role::PlatformAdmin,
            },
            t,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(root.org, None);
    accounts.record_login(root.id, t).await.unwrap();
    assert_eq!(
        accounts.user(root.id).await.unwrap().unwrap().last_login_at,
        Some(t)
    );
}

async fn deactivation_and_password_change_revoke_refresh_tokens(store: Arc<dyn Store>) {
    let (a, _) = orgs(&store).await;
    let accounts = store.accounts();
    let user = accounts
        .create_user(&new_user(&a, "u@example.org", Role::User), now())
        .await
        .unwrap()
        .unwrap();
    let later = now() + Duration::days(1);
    accounts
        .insert_refresh_token(&token(user.id, &a, "h1", later))
        .await
        .unwrap();
    assert!(accounts
        .set_active(&a, user.id, false, now())
        .await
        .unwrap());
    assert!(!accounts.user(user.id).await.unwrap().unwrap().active);
    assert_eq!(
        accounts
            .rotate_refresh_token("h1", &replacement("h2"), now())
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    assert!(accounts.set_active(&a, user.id, true, now()).await.unwrap());
    accounts
        .insert_refresh_token(&token(user.id, &a, "h3", later))
        .await
        .unwrap();
    // The session changing the password keeps its tokens; every other one is revoked.
    let keeper = token(user.id, &a, "keep", later);
    accounts.insert_refresh_token(&keeper).await.unwrap();
    let other = token(user.id, &a, "h3b", later);
    accounts.insert_refresh_token(&other).await.unwrap();
    assert!(accounts.session_active(other.family_id).await.unwrap());
    assert!(accounts
        .set_password_hash(user.id, "new-hash", Some(keeper.family_id), now())
        .await
        .unwrap());
    assert!(accounts.session_active(keeper.family_id).await.unwrap());
    assert!(!accounts.session_active(other.family_id).await.unwrap());
    assert_eq!(
        accounts.user(user.id).await.unwrap().unwrap().password_hash,
        "new-hash"
    );
    assert_eq!(
        accounts
            .rotate_refresh_token("h3", &replacement("h4"), now())
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    assert!(!accounts
        .set_password_hash(Uuid::new_v4(), "x", None, now())
        .await
        .unwrap());
}

async fn refresh_tokens_rotate_once_and_reuse_revokes_the_family(store: Arc<dyn Store>) {
    let (a, _) = orgs(&store).await;
    let accounts = store.accounts();
    let user = accounts
        .create_user(&new_user(&a, "r@example.org", Role::User), now())
        .await
        .unwrap()
        .unwrap();
    let first = token(user.id, &a, "t1", now() + Duration::days(7));
    let family = first.family_id;
    accounts.insert_refresh_token(&first).await.unwrap();
    let rotated = accounts
        .rotate_refresh_token("t1", &replacement("t2"), now())
        .await
        .unwrap();
    assert_eq!(
        rotated,
        RefreshOutcome::Rotated {
            user_id: user.id,
            family_id: family
        }
    );
    let again = accounts
        .rotate_refresh_token("t2", &replacement("t3"), now())
        .await
        .unwrap();
    assert_eq!(
        again,
        RefreshOutcome::Rotated {
            user_id: user.id,
            family_id: family
        }
    );
    // Replaying t1 (already rotated) is a reuse: the family, t3 included, is revoked.
    let reused = accounts
        .rotate_refresh_token("t1", &replacement("t4"), now())
        .await
        .unwrap();
    assert_eq!(
        reused,
        RefreshOutcome::Reused {
            user_id: user.id,
            family_id: family
        }
    );
    assert_eq!(
        accounts
            .rotate_refresh_token("t3", &replacement("t5"), now())
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    assert_eq!(
        accounts
            .rotate_refresh_token("unknown", &replacement("t6"), now())
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    // Another family of the same user is untouched.
    accounts
        .insert_refresh_token(&token(user.id, &a, "other", now() + Duration::days(7)))
        .await
        .unwrap();
    assert!(matches!(
        accounts
            .rotate_refresh_token("other", &replacement("other2"), now())
            .await
            .unwrap(),
        RefreshOutcome::Rotated { .. }
    ));
}

async fn expired_and_logged_out_refresh_tokens_are_invalid(store: Arc<dyn Store>) {
    let (a, _) = orgs(&store).await;
    let accounts = store.accounts();
    let user = accounts
        .create_user(&new_user(&a, "e@example.org", Role::User), now())
        .await
        .unwrap()
        .unwrap();
    accounts
        .insert_refresh_token(&token(user.id, &a, "old", now() - Duration::seconds(1)))
        .await
        .unwrap();
    assert_eq!(
        accounts
            .rotate_refresh_token("old", &replacement("n1"), now())
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    accounts
        .insert_refresh_token(&token(user.id, &a, "live", now() + Duration::days(1)))
        .await
        .unwrap();
    // Another user cannot log this token out.
    assert!(!accounts
        .revoke_refresh_family(Uuid::new_v4(), "live", now())
        .await
        .unwrap());
    assert!(accounts
        .revoke_refresh_family(user.id, "live", now())
        .await
        .unwrap());
    // A session is revoked by its id too (logout with an access token's `sid`), by its
    // owner only, and a revoked session stays revoked.
    let session = token(user.id, &a, "by-id", now() + Duration::days(1));
    accounts.insert_refresh_token(&session).await.unwrap();
    assert_eq!(
        accounts.refresh_session("by-id").await.unwrap(),
        Some(session.family_id)
    );
    assert_eq!(accounts.refresh_session("unknown").await.unwrap(), None);
    assert!(accounts.session_active(session.family_id).await.unwrap());
    assert!(!accounts
        .revoke_session(Uuid::new_v4(), session.family_id, now())
        .await
        .unwrap());
    assert!(accounts.session_active(session.family_id).await.unwrap());
    assert!(accounts
        .revoke_session(user.id, session.family_id, now())
        .await
        .unwrap());
    assert!(!accounts.session_active(session.family_id).await.unwrap());
    assert!(!accounts
        .revoke_session(user.id, session.family_id, now())
        .await
        .unwrap());
    assert!(!accounts.session_active(Uuid::new_v4()).await.unwrap());
    assert_eq!(
        accounts
            .rotate_refresh_token("live", &replacement("n2"), now())
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
}

async fn api_keys_are_found_by_hash_listed_per_org_and_revoked(store: Arc<dyn Store>) {
    let (a, b) = orgs(&store).await;
    let accounts = store.accounts();
    let key = |org: &OrgId, name: &str, hash: &str| NewApiKey {
        id: Uuid::new_v4(),
        org: org.clone(),
        name: name.into(),
        key_prefix: "wrk_abcdefgh".into(),
        key_hash: hash.into(),
        role: Role::Manager,
        rate_limit_per_hour: 1000,
        created_by: None,
        created_at: now(),
    };
    let ka = accounts
        .create_api_key(&key(&a, "ingest", "ha"))
        .await
        .unwrap();
    let kb = accounts
        .create_api_key(&key(&b, "other", "hb"))
        .await
        .unwrap();
    assert_eq!(ka.org, a);
    assert_eq!(ka.role, Role::Manager);
    assert_eq!(ka.revoked_at, None);
    assert_eq!(
        accounts.api_key_by_hash("ha").await.unwrap(),
        Some(ka.clone())
    );
    assert_eq!(accounts.api_key_by_hash("nope").await.unwrap(), None);
    assert_eq!(accounts.api_keys(&a).await.unwrap(), vec![ka.clone()]);
    // Org a cannot revoke org b's key.
    assert!(!accounts.revoke_api_key(&a, kb.id, now()).await.unwrap());
    assert_eq!(
        accounts
            .api_key_by_hash("hb")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    let t = now();
    assert!(accounts.revoke_api_key(&a, ka.id, t).await.unwrap());
    assert!(accounts
        .revoke_api_key(&a, ka.id, t + Duration::hours(1))
        .await
        .unwrap());
    assert_eq!(
        accounts
            .api_key_by_hash("ha")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t)
    );
}

async fn audit_rows_read_back_filtered_and_paged(store: Arc<dyn Store>) {
    let (a, b) = orgs(&store).await;
    let accounts = store.accounts();
    let user = accounts
        .create_user(&new_user(&a, "audit@example.org", Role::Admin), now())
        .await
        .unwrap()
        .unwrap();
    let base = now() - Duration::minutes(10);
    let ip: IpAddr = "10.1.2.3".parse().unwrap();
    for i in 0..7 {
        let entry = AuditEntry {
            org: Some(if i == 6 { b.clone() } else { a.clone() }),
            user_id: (i % 2 == 0).then_some(user.id),
            api_key_id: None,
            action: if i < 3 {
                "user.login".into()
            } else {
                "alert.resolve".into()
            },
            resource_type: "user".into(),
            resource_id: Some(format!("r{i}")),
            details: serde_json::json!({ "i": i }),
            ip_address: Some(ip),
            user_agent: Some("agent".into()),
            timestamp: base + Duration::seconds(i),
        };
        accounts.insert_audit(&entry).await.unwrap();
    }
    let all = accounts
        .audit_page(
            &a,
            &AuditFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.entries.len(), 6, "org b's row is not org a's");
    assert!(all.next.is_none());
    assert_eq!(
        all.entries[0].entry.resource_id.as_deref(),
        Some("r5"),
        "newest first"
    );
    assert_eq!(all.entries[0].entry.ip_address, Some(ip));
    assert_eq!(all.entries[0].entry.details["i"], 5);
    assert_eq!(all.entries[0].entry.timestamp, base + Duration::seconds(5));
    let logins = accounts
        .audit_page(
            &a,
            &AuditFilter {
                action: Some("user.login".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(logins.entries.len(), 3);
    let mine = accounts
        .audit_page(
            &a,
            &AuditFilter {
                user_id: Some(user.id),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(mine.entries.len(), 3, "rows 0, 2, 4");
    let range = accounts
        .audit_page(
            &a,
            &AuditFilter {
                from: Some(base + Duration::seconds(1)),
                to: Some(base + Duration::seconds(3)),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(range.entries.len(), 2);
    // Pages of 4 then 2, no row twice.
    let first = accounts
        .audit_page(
            &a,
            &AuditFilter {
                limit: 4,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first.entries.len(), 4);
    let second = accounts
        .audit_page(
            &a,
            &AuditFilter {
                limit: 4,
                after: first.next,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(second.entries.len(), 2);
    assert!(second.next.is_none());
    let mut ids: Vec<_> = first
        .entries
        .iter()
        .chain(&second.entries)
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
}

async fn webhooks_are_scoped_logged_and_receipts_are_idempotent(store: Arc<dyn Store>) {
    let (alpha, beta) = orgs(&store).await;
    let hooks = store.webhooks();
    let hook = WebhookRecord {
        id: Uuid::new_v4(),
        org: alpha.clone(),
        url: "http://127.0.0.1:9/hook".into(),
        events: vec!["crisis:detected".into(), "crisis:resolved".into()],
        secret: "whsec_test".into(),
        created_by: None,
        created_at: now(),
    };
    hooks.create_webhook(&hook).await.unwrap();
    assert_eq!(hooks.webhooks(&alpha).await.unwrap(), vec![hook.clone()]);
    assert!(hooks.webhooks(&beta).await.unwrap().is_empty());
    assert_eq!(
        hooks.webhook(&alpha, hook.id).await.unwrap(),
        Some(hook.clone())
    );
    assert_eq!(hooks.webhook(&beta, hook.id).await.unwrap(), None);

    let delivery_id = Uuid::new_v4();
    for (attempt, outcome, status) in [
        (1, DeliveryOutcome::Retrying, Some(500)),
        (2, DeliveryOutcome::Delivered, Some(204)),
    ] {
        hooks
            .insert_delivery(&DeliveryRecord {
                id: Uuid::new_v4(),
                webhook_id: hook.id,
                org: alpha.clone(),
                event: "crisis:detected".into(),
                delivery_id,
                attempt,
                outcome,
                response_status: status,
                error: (attempt == 1).then(|| "HTTP 500".to_owned()),
                attempted_at: now() + Duration::milliseconds(i64::from(attempt)),
            })
            .await
            .unwrap();
    }
    let log = hooks.deliveries(&alpha, hook.id, 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].attempt, log[0].outcome),
        (2, DeliveryOutcome::Delivered)
    );
    assert_eq!(log[1].error.as_deref(), Some("HTTP 500"));
    assert_eq!(log[1].response_status, Some(500));
    assert!(hooks
        .deliveries(&beta, hook.id, 10)
        .await
        .unwrap()
        .is_empty());

    assert!(!hooks.delete_webhook(&beta, hook.id).await.unwrap());
    assert!(hooks.delete_webhook(&alpha, hook.id).await.unwrap());
    assert!(hooks.webhooks(&alpha).await.unwrap().is_empty());
    assert!(hooks
        .deliveries(&alpha, hook.id, 10)
        .await
        .unwrap()
        .is_empty());

    let t = now();
    assert!(hooks
        .remember_receipt(&alpha, "generic", "d-1", t)
        .await
        .unwrap());
    assert!(!hooks
        .remember_receipt(&alpha, "generic", "d-1", t)
        .await
        .unwrap());
    // Another organisation or service has its own delivery ids.
    assert!(hooks
        .remember_receipt(&beta, "generic", "d-1", t)
        .await
        .unwrap());
    assert!(hooks
        .remember_receipt(&alpha, "other", "d-1", t)
        .await
        .unwrap());
    assert_eq!(
        hooks
            .prune_receipts(t + Duration::seconds(1))
            .await
            .unwrap(),
        3
    );
    assert!(hooks
        .remember_receipt(&alpha, "generic", "d-1", t)
        .await
        .unwrap());
}

/// The outbox: entries are written once, read back across organisations while pending,
/// updated per attempt, never reopened once finished, scoped by organisation for reads,
/// pruned when finished, and removed with their endpoint.
async fn webhook_outbox_keeps_pending_deliveries_until_finished(store: Arc<dyn Store>) {
    let (alpha, beta) = orgs(&store).await;
    let hooks = store.webhooks();
    let endpoint = |org: &OrgId| WebhookRecord {
        id: Uuid::new_v4(),
        org: org.clone(),
        url: "http://127.0.0.1:9/hook".into(),
        events: vec!["crisis:detected".into()],
        secret: "whsec_test".into(),
        created_by: None,
        created_at: now(),
    };
    let (hook_a, hook_b) = (endpoint(&alpha), endpoint(&beta));
    hooks.create_webhook(&hook_a).await.unwrap();
    hooks.create_webhook(&hook_b).await.unwrap();
    let entry = |hook: &WebhookRecord, due: DateTime<Utc>| OutboxEntry {
        id: Uuid::new_v4(),
        webhook_id: hook.id,
        org: hook.org.clone(),
        event: "crisis:detected".into(),
        body: r#"{"event":"crisis:detected"}"#.into(),
        attempts: 0,
        status: OutboxStatus::Pending,
        next_attempt_at: due,
        created_at: now(),
    };
    let later = entry(&hook_a, now() + Duration::seconds(30));
    let sooner = entry(&hook_b, now());
    hooks
        .enqueue_deliveries(&[later.clone(), sooner.clone()])
        .await
        .unwrap();
    // Writing the same entry again changes nothing.
    hooks
        .enqueue_deliveries(std::slice::from_ref(&later))
        .await
        .unwrap();
    assert_eq!(
        hooks.pending_deliveries(100).await.unwrap(),
        vec![sooner.clone(), later.clone()],
        "every organisation's pending entries, earliest first"
    );
    assert_eq!(
        hooks.outbox_entry(&alpha, later.id).await.unwrap(),
        Some(later.clone())
    );
    assert_eq!(hooks.outbox_entry(&beta, later.id).await.unwrap(), None);
    assert_eq!(
        hooks.outbox(&alpha, hook_a.id, 10).await.unwrap(),
        vec![later.clone()]
    );
    assert!(hooks.outbox(&beta, hook_a.id, 10).await.unwrap().is_empty());

    // An attempt failed: still pending, one attempt made, due later.
    let retry_at = now() + Duration::seconds(60);
    assert!(hooks
        .update_delivery(sooner.id, 1, OutboxStatus::Pending, retry_at)
        .await
        .unwrap());
    let got = hooks.outbox_entry(&beta, sooner.id).await.unwrap().unwrap();
    assert_eq!((got.attempts, got.status), (1, OutboxStatus::Pending));
    assert_eq!(got.next_attempt_at, retry_at);
    // Delivered: no longer pending, and never reopened.
    assert!(hooks
        .update_delivery(sooner.id, 2, OutboxStatus::Delivered, retry_at)
        .await
        .unwrap());
    assert!(!hooks
        .update_delivery(sooner.id, 3, OutboxStatus::Pending, retry_at)
        .await
        .unwrap());
    let got = hooks.outbox_entry(&beta, sooner.id).await.unwrap().unwrap();
    assert_eq!((got.attempts, got.status), (2, OutboxStatus::Delivered));
    assert_eq!(
        hooks.pending_deliveries(100).await.unwrap(),
        vec![later.clone()]
    );

    // Pruning forgets finished entries only.
    assert_eq!(
        hooks
            .prune_outbox(now() + Duration::hours(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(hooks.outbox_entry(&beta, sooner.id).await.unwrap(), None);
    assert!(hooks
        .outbox_entry(&alpha, later.id)
        .await
        .unwrap()
        .is_some());
    // Deleting the endpoint removes its entries.
    assert!(hooks.delete_webhook(&alpha, hook_a.id).await.unwrap());
    assert!(hooks.pending_deliveries(100).await.unwrap().is_empty());
}

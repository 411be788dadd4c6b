//! Nothing acknowledged is lost: ingest continuously through the API, `kill -9` the
//! server mid-stream, restart it, and check that every record whose request was answered
//! 2xx is in the database exactly once.
//!
//! A test binary of its own, not a module of `tests/api`: four writers load the server
//! child as fast as it answers, with a throughput floor ("ingest too slow to test") that
//! concurrent tests would threaten, and that load would slow theirs.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use warroom_engine::{DataMode, OrgId};

mod common;
use common::Server;

fn ingest_token() -> String {
    common::token("harbor-city")
}

fn batch(writer: usize, n: usize) -> (Vec<String>, serde_json::Value) {
    let ids: Vec<String> = (0..50).map(|i| format!("crash-{writer}-{n}-{i}")).collect();
    let body = ids
        .iter()
        .map(|id| {
            json!({"external_id": id, "source": "reddit", "content": "They said it again #debate",
                   "event_time": chrono::Utc::now().to_rfc3339()})
        })
        .collect();
    (ids, serde_json::Value::Array(body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_record_survives_kill_9_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("warroom.db").display());
    let (mut server, addr) = Server::spawn(&database_url, &[]);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Instant::now();

    // Four writers post continuously; the server is killed under them.
    let mut writers = Vec::new();
    for writer in 0..4 {
        let acked = Arc::clone(&acked);
        let url = format!("http://{addr}/api/v1/ingest/mentions?org=harbor-city");
        writers.push(tokio::spawn(async move {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", ingest_token()).parse().unwrap(),
            );
            let client = reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap();
            for n in 0.. {
                let (ids, body) = batch(writer, n);
                match client.post(&url).json(&body).send().await {
                    Ok(response) if response.status().is_success() => {
                        acked.lock().unwrap().extend(ids)
                    }
                    Ok(_) => {}
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 2_000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "ingest too slow to test"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill(); // SIGKILL: no shutdown, no flush
    for writer in writers {
        let _ = writer.await;
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();

    // Restart on the same database: it recovers, and the records are all there, once.
    let (mut server, addr) = Server::spawn(&database_url, &[]);
    let health: serde_json::Value = reqwest::get(format!("http://{addr}/api/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["services"]["storage"]["status"], "ok", "{health}");
    let store = warroom_storage::open_store(&database_url).await.unwrap();
    let org = OrgId::new("harbor-city");
    let mut stored = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .mentions_since(
                &org,
                DataMode::Mock,
                chrono::DateTime::UNIX_EPOCH,
                after,
                5_000,
            )
            .await
            .unwrap();
        stored.extend(page.mentions.into_iter().map(|m| m.mention.external_id));
        match page.next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "a record is stored twice");
    let missing: Vec<&String> = acked.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    server.kill();
}

//! The connectors against local fake vendor servers (an axum app on port 0) serving the
//! documented shapes (`/work/shared/vendor`, copied to `src/sources/connectors/testdata`):
//! pagination, 429 with Retry-After, 5xx, timeouts, malformed and truncated JSON, expired
//! tokens, schema drift; then the connectors inside a running engine (cursor resume,
//! health, circuit breaker) and the MOCK/LIVE swap under load.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use chrono::Utc;
use parking_lot::Mutex;
use serde_json::{json, Value};
use warroom_actors::runtime::Runtime;
use warroom_actors::sources::connectors::breaker::BreakerState;
use warroom_actors::sources::connectors::google_ads::GoogleAds;
use warroom_actors::sources::connectors::http::{Http, RateLimit, ResponseCache};
use warroom_actors::sources::connectors::mentionlytics::Mentionlytics;
use warroom_actors::sources::connectors::meta::Meta;
use warroom_actors::sources::connectors::{Connector, ConnectorError};
use warroom_engine::config::OrgConfig;
use warroom_engine::connectors::{
    ConnectorsConfig, GoogleAdsAccount, MentionlyticsAccount, MetaAccount, OrgConnectors, Secret,
};
use warroom_engine::{Config, DataMode, HealthStatus, OrgId, SystemClock};
use warroom_storage::cache::CacheServices;

// ---------------------------------------------------------------- the fake vendor

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

fn status(code: u16, body: &str) -> Reply {
    Reply {
        status: code,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_owned(),
        delay: Duration::ZERO,
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the fake received.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: String,
}

/// An answer computed from the request.
type Responder = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Default)]
struct Script {
    /// Answers by path, used in order; the last one of a path repeats.
    replies: HashMap<String, VecDeque<Reply>>,
    /// Answers by path computed from the request (after the queued ones are used up).
    dynamic: HashMap<String, Responder>,
    seen: Vec<Seen>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    async fn start() -> (Self, String) {
        let fake = Fake::default();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (fake, format!("http://{addr}"))
    }

    fn on(&self, path: &str, replies: Vec<Reply>) {
        self.0
            .lock()
            .replies
            .insert(path.to_owned(), replies.into());
    }

    fn on_request(&self, path: &str, f: impl Fn(&Seen) -> Reply + Send + Sync + 'static) {
        self.0.lock().dynamic.insert(path.to_owned(), Arc::new(f));
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.0
            .lock()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

async fn answer(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _ = method;
    let seen = Seen {
        path: uri.path().to_owned(),
        query: uri.query().map(url_pairs).unwrap_or_default(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let reply = {
        let mut script = fake.0.lock();
        script.seen.push(seen.clone());
        let queued = script.replies.get_mut(&seen.path).and_then(|q| {
            if q.len() > 1 {
                q.pop_front()
            } else {
                q.front().cloned()
            }
        });
        match queued {
            Some(reply) => Some(reply),
            None => script.dynamic.get(&seen.path).map(|f| f(&seen)),
        }
    }
    .unwrap_or_else(|| status(404, "{\"error\":\"no such path\"}"));
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}

fn url_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------- helpers

/// Fast retry settings for tests.
fn settings(base: &str) -> ConnectorsConfig {
    let mut s = Config::defaults().connectors;
    s.request_timeout = Duration::from_millis(500);
    s.connect_timeout = Duration::from_millis(500);
    s.max_attempts = 3;
    s.backoff_initial = Duration::from_millis(10);
    s.backoff_max = Duration::from_secs(2);
    s.breaker_failures = 2;
    s.breaker_cool_down = Duration::from_secs(3600);
    s.mentionlytics.base_url = format!("{base}/ml/v2");
    s.mentionlytics.token_url = format!("{base}/ml/v2/auth/refresh");
    s.mentionlytics.per_page = 2;
    s.mentionlytics.poll_interval = Duration::from_millis(50);
    s.meta.base_url = format!("{base}/graph");
    s.meta.poll_interval = Duration::from_millis(50);
    s.google_ads.base_url = format!("{base}/gads");
    s.google_ads.token_url = format!("{base}/oauth/token");
    s.google_ads.poll_interval = Duration::from_millis(50);
    s
}

fn http(settings: &ConnectorsConfig, limit: u64) -> Http {
    let cache = CacheServices::in_process(&Config::defaults().redis);
    Http::new(
        settings,
        RateLimit {
            limiter: cache.limiter,
            key: format!("test:{}", uuid_like()),
            limit,
            window: Duration::from_secs(3600),
        },
    )
    .unwrap()
}

fn uuid_like() -> String {
    format!("{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}

fn ml_account(access: Option<&str>) -> MentionlyticsAccount {
    MentionlyticsAccount {
        refresh_token: Secret::new("refresh-1"),
        access_token: access.map(Secret::new),
    }
}

fn mention(id: &str, at: &str, text: &str) -> Value {
    json!({"id": id, "pub_date": at, "description": text, "screen_name": "voter",
        "followers_count": "10", "country": null,
        "profile_meta": "{\"location\":\"Springfield\"}", "mRank": 3,
        "cmeta": {"likes": 0}, "campaign": "Example Campaign Keywords"})
}

fn bearer(seen: &Seen) -> String {
    seen.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

const TOKEN_OK: fn(&str) -> Reply =
    |t| ok(json!({"access_token": t, "expires_in": 3600, "refresh_token": "refresh-2"}));

// ---------------------------------------------------------------- Mentionlytics

#[tokio::test]
async fn mentionlytics_renews_an_expired_token_and_follows_pages() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("fresh")]);
    fake.on_request("/ml/v2/mentions", |seen| {
        if bearer(seen) != "Bearer fresh" {
            return status(401, r#"{"error":"token expired"}"#);
        }
        match seen.query.get("page_no").map(String::as_str) {
            Some("0") => ok(json!({"mentions": [
                mention("1", "2026-09-02T10:00:00Z", "first"),
                mention("2", "2026-09-02T10:05:00Z", "second")]})),
            Some("1") => ok(json!({"mentions": [mention("3", "2026-09-02T10:10:00Z", "third")]})),
            _ => ok(json!({"mentions": []})),
        }
    });
    let s = settings(&base);
    let mut connector = Mentionlytics::new(
        http(&s, 100),
        s.mentionlytics.clone(),
        &ml_account(Some("stale")),
        warroom_engine::validate::TimeBounds::from_config(
            &warroom_engine::Config::defaults().engine,
        ),
    );
    let now = "2026-09-02T12:00:00Z".parse().unwrap();
    let poll = connector
        .poll(Some("2026-09-02T09:00:00+00:00"), now)
        .await
        .unwrap();
    let ids: Vec<&str> = poll
        .mentions
        .iter()
        .map(|m| m.external_id.as_str())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(poll.cursor.as_deref(), Some("2026-09-02T10:10:00+00:00"));
    let calls = fake.seen("/ml/v2/mentions");
    // 401 with the stale token, then pages 0 and 1 with the renewed one; page 1 was short.
    assert_eq!(calls.len(), 3);
    assert_eq!(bearer(&calls[0]), "Bearer stale");
    assert_eq!(calls[1].query["startDate"], "20260902");
    assert_eq!(calls[2].query["page_no"], "1");
    let refresh = fake.seen("/ml/v2/auth/refresh");
    assert_eq!(refresh.len(), 1);
    assert!(
        refresh[0].body.contains("refresh_token=refresh-1"),
        "{}",
        refresh[0].body
    );
    // The rotated refresh token is used next time.
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("fresh")]);
    fake.on(
        "/ml/v2/mentions",
        vec![status(401, "{}"), ok(json!({"mentions": []}))],
    );
    connector.poll(None, now).await.unwrap();
    let refresh = fake.seen("/ml/v2/auth/refresh");
    assert!(
        refresh[1].body.contains("refresh_token=refresh-2"),
        "{}",
        refresh[1].body
    );
}

#[tokio::test]
async fn a_poll_that_cannot_read_everything_keeps_its_cursor() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    fake.on_request("/ml/v2/mentions", |seen| {
        let page = &seen.query["page_no"];
        ok(json!({"mentions": [
            mention(&format!("{page}-a"), "2026-09-02T11:00:00Z", "x"),
            mention(&format!("{page}-b"), "2026-09-02T11:30:00Z", "y")]}))
    });
    let mut s = settings(&base);
    s.mentionlytics.max_pages = 2;
    let mut connector = Mentionlytics::new(
        http(&s, 100),
        s.mentionlytics.clone(),
        &ml_account(None),
        bounds(),
    );
    let cursor = "2026-09-02T10:00:00+00:00";
    let poll = connector
        .poll(Some(cursor), "2026-09-02T12:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(poll.mentions.len(), 4);
    assert_eq!(
        poll.cursor.as_deref(),
        Some(cursor),
        "more pages remain: the cursor stays"
    );
    assert_eq!(fake.seen("/ml/v2/mentions").len(), 2);
}

#[tokio::test]
async fn a_refused_refresh_token_is_an_unauthorized_failure() {
    let (fake, base) = Fake::start().await;
    fake.on(
        "/ml/v2/auth/refresh",
        vec![status(400, r#"{"error":"invalid_grant"}"#)],
    );
    let s = settings(&base);
    let mut connector = Mentionlytics::new(
        http(&s, 100),
        s.mentionlytics.clone(),
        &ml_account(None),
        bounds(),
    );
    let err = connector.poll(None, Utc::now()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Unauthorized(_)), "{err:?}");
    assert!(
        !err.to_string().contains("refresh-1"),
        "a credential leaked: {err}"
    );
    assert!(fake.seen("/ml/v2/mentions").is_empty());
}

#[tokio::test]
async fn throttling_with_retry_after_is_honoured_then_retried() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    fake.on(
        "/ml/v2/mentions",
        vec![
            status(429, r#"{"error":"slow down"}"#).header("retry-after", "1"),
            ok(json!({"mentions": [mention("9", "2026-09-02T11:30:00Z", "hello")]})),
        ],
    );
    let s = settings(&base);
    let mut connector = Mentionlytics::new(
        http(&s, 100),
        s.mentionlytics.clone(),
        &ml_account(None),
        bounds(),
    );
    let started = Instant::now();
    let poll = connector
        .poll(None, "2026-09-02T12:00:00Z".parse().unwrap())
        .await
        .unwrap();
    // A lower bound only: the retry waited at least what the vendor asked.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(poll.mentions.len(), 1);
    assert_eq!(fake.seen("/ml/v2/mentions").len(), 2);

    // A Retry-After longer than backoff_max ends the poll with it, for the next poll.
    fake.on(
        "/ml/v2/mentions",
        vec![status(429, "{}").header("retry-after", "120")],
    );
    let err = connector.poll(None, Utc::now()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(
        fake.seen("/ml/v2/mentions").len(),
        3,
        "not retried within the poll"
    );
}

#[tokio::test]
async fn server_errors_are_retried_up_to_max_attempts() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    fake.on(
        "/ml/v2/mentions",
        vec![status(502, "bad gateway"), ok(json!({"mentions": []}))],
    );
    let s = settings(&base);
    let mut connector = Mentionlytics::new(
        http(&s, 100),
        s.mentionlytics.clone(),
        &ml_account(None),
        bounds(),
    );
    connector.poll(None, Utc::now()).await.unwrap();
    assert_eq!(fake.seen("/ml/v2/mentions").len(), 2);
    fake.on("/ml/v2/mentions", vec![status(503, "down")]);
    let err = connector.poll(None, Utc::now()).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Server { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(
        fake.seen("/ml/v2/mentions").len(),
        2 + 3,
        "max_attempts = 3"
    );
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    fake.on(
        "/ml/v2/mentions",
        vec![ok(json!({"mentions": []})).delayed(Duration::from_secs(3))],
    );
    let s = settings(&base);
    let mut connector = Mentionlytics::new(
        http(&s, 100),
        s.mentionlytics.clone(),
        &ml_account(None),
        bounds(),
    );
    let err = connector.poll(None, Utc::now()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Timeout(_)), "{err:?}");
    assert_eq!(fake.seen("/ml/v2/mentions").len(), 3);
}

#[tokio::test]
async fn malformed_and_truncated_json_fail_the_poll_without_retry() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    let s = settings(&base);
    let mut connector = Mentionlytics::new(
        http(&s, 100),
        s.mentionlytics.clone(),
        &ml_account(None),
        bounds(),
    );
    let full = json!({"mentions": [mention("1", "2026-09-02T10:00:00Z", "x")]}).to_string();
    for (i, body) in [
        "<html>oops</html>".to_owned(),
        full[..full.len() / 2].to_owned(),
        "{\"data\": 3}".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        fake.on("/ml/v2/mentions", vec![status(200, &body)]);
        let err = connector.poll(None, Utc::now()).await.unwrap_err();
        assert!(
            matches!(err, ConnectorError::Malformed(_)),
            "{body}: {err:?}"
        );
        assert_eq!(fake.seen("/ml/v2/mentions").len(), i + 1);
    }
}

#[tokio::test]
async fn schema_drift_skips_only_the_unusable_mentions() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    fake.on("/ml/v2/mentions", vec![ok(json!({"mentions": [
        {"id": 77, "pub_date": "2026-09-02T11:30:00Z", "text": "new field names", "followers_count": null,
         "mRank": "12", "profile_meta": "not json", "surprise": {"a": [1, 2]}},
        {"pub_date": "2026-09-02T11:30:00Z", "text": "no id"},
        {"id": 78, "pub_date": "2026-09-02T09:00:00Z", "text": "before the lookback: skipped, not rejected"},
    ], "meta": {"unknown": true}}))]);
    let mut s = settings(&base);
    s.mentionlytics.per_page = 10;
    let mut connector = Mentionlytics::new(
        http(&s, 100),
        s.mentionlytics.clone(),
        &ml_account(None),
        bounds(),
    );
    let poll = connector
        .poll(None, "2026-09-02T12:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(poll.mentions.len(), 1);
    assert_eq!(poll.mentions[0].external_id, "77");
    assert_eq!(poll.rejected.len(), 1);
}

#[tokio::test]
async fn the_local_rate_limit_stops_calls_before_the_vendor_sees_them() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    fake.on("/ml/v2/mentions", vec![ok(json!({"mentions": []}))]);
    let s = settings(&base);
    // 3 calls per hour: token + 2 pages of polls; the next waits an hour (> backoff_max).
    let mut connector = Mentionlytics::new(
        http(&s, 3),
        s.mentionlytics.clone(),
        &ml_account(None),
        bounds(),
    );
    connector.poll(None, Utc::now()).await.unwrap();
    connector.poll(None, Utc::now()).await.unwrap();
    let err = connector.poll(None, Utc::now()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::RateLimited(_)), "{err:?}");
    assert_eq!(fake.seen("/ml/v2/mentions").len(), 2);
}

// ---------------------------------------------------------------- Meta

fn meta_account() -> MetaAccount {
    MetaAccount {
        ad_account_id: "act_1".into(),
        access_token: Secret::new("meta-token"),
    }
}

#[tokio::test]
async fn meta_pages_until_next_is_absent_and_reads_strings() {
    let (fake, base) = Fake::start().await;
    let sample: Value = serde_json::from_str(include_str!(
        "../src/sources/connectors/testdata/meta-insights.json"
    ))
    .unwrap();
    fake.on_request("/graph/v25.0/act_1/insights", move |seen| {
        match seen.query.get("after").map(String::as_str) {
            None => ok(sample.clone()),
            Some("MjQZD") => ok(json!({"data": [{"campaign_id": "124", "campaign_name": "Fall", "date_start": "2025-04-06",
                "date_stop": "2025-04-06", "impressions": "10", "clicks": "1", "spend": "0.01"}],
                "paging": {"cursors": {"before": "x", "after": "LAST"}}})),
            Some(other) => status(400, &format!("{{\"error\":{{\"code\":100,\"message\":\"bad cursor {other}\"}}}}")),
        }
    });
    let s = settings(&base);
    let mut connector = Meta::new(http(&s, 200), s.meta.clone(), &meta_account());
    let now = "2025-04-06T12:00:00Z".parse().unwrap();
    let poll = connector.poll(None, now).await.unwrap();
    assert_eq!(poll.metrics.len(), 2);
    assert_eq!(poll.metrics[0].spend_micros, 5_339_500_000);
    assert_eq!(poll.metrics[1].spend_micros, 10_000);
    assert_eq!(poll.cursor.as_deref(), Some("2025-04-06"));
    let calls = fake.seen("/graph/v25.0/act_1/insights");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].query["time_increment"], "1");
    assert_eq!(calls[0].query["level"], "campaign");
    assert_eq!(
        calls[0].query["time_range"],
        r#"{"since":"2025-04-04","until":"2025-04-06"}"#
    );
    assert_eq!(bearer(&calls[0]), "Bearer meta-token");
    assert!(
        !calls[0].query.contains_key("access_token"),
        "the token stays out of URLs"
    );
}

#[tokio::test]
async fn meta_throttling_codes_and_usage_headers_are_honoured() {
    let (fake, base) = Fake::start().await;
    let page = json!({"data": [{"campaign_id": "1", "date_start": "2025-04-06", "spend": "1"}],
        "paging": {"cursors": {"after": "A"}, "next": "http://elsewhere/next"}});
    fake.on("/graph/v25.0/act_1/insights", vec![
        status(400, r#"{"error":{"message":"User request limit reached","code":17,"error_subcode":2446079}}"#),
        ok(page.clone()).header("x-app-usage", r#"{"call_count":97,"total_time":10,"total_cputime":10}"#),
        ok(page),
    ]);
    let s = settings(&base);
    let mut connector = Meta::new(http(&s, 200), s.meta.clone(), &meta_account());
    let poll = connector
        .poll(Some("2025-04-01"), "2025-04-06T12:00:00Z".parse().unwrap())
        .await
        .unwrap();
    // Code 17 was retried; at 97 % usage paging stopped, the cursor stays for a re-read.
    assert_eq!(fake.seen("/graph/v25.0/act_1/insights").len(), 2);
    assert_eq!(poll.metrics.len(), 1);
    assert_eq!(poll.usage_percent, Some(97));
    assert!(poll.pause.is_some());
    assert_eq!(poll.cursor.as_deref(), Some("2025-04-01"));
    // The next page was never fetched from the URL in `paging.next` (another host).
    assert!(fake.seen("/next").is_empty());
}

#[tokio::test]
async fn ad_reports_are_shared_through_the_response_cache_errors_are_not() {
    let (fake, base) = Fake::start().await;
    let path = "/graph/v25.0/act_1/insights";
    fake.on(
        path,
        vec![
            status(200, "{\"data\": [tru"),
            ok(json!({"data": [
        {"campaign_id": "1", "date_start": "2025-04-06", "spend": "2.5"}]})),
        ],
    );
    let s = settings(&base);
    let cache = CacheServices::in_process(&Config::defaults().redis);
    let shared = ResponseCache {
        cache: Arc::clone(&cache.cache),
        org: OrgId::new("acme"),
        ttl: Duration::from_secs(3600),
    };
    let now = "2025-04-06T12:00:00Z".parse().unwrap();
    // Two connectors (two nodes) sharing one cache.
    let mut first = Meta::new(
        http(&s, 200).with_cache(shared.clone()),
        s.meta.clone(),
        &meta_account(),
    );
    let mut second = Meta::new(
        http(&s, 200).with_cache(shared),
        s.meta.clone(),
        &meta_account(),
    );
    assert!(matches!(
        first.poll(None, now).await,
        Err(ConnectorError::Malformed(_))
    ));
    let a = first.poll(None, now).await.unwrap();
    let b = second.poll(None, now).await.unwrap();
    assert_eq!(a.metrics.len(), 1);
    assert_eq!(b.metrics[0].spend_micros, 2_500_000);
    // The truncated answer was not cached; the good one served the second connector.
    assert_eq!(fake.seen(path).len(), 2);
    // Another organisation's entries are its own.
    let other = ResponseCache {
        cache: Arc::clone(&cache.cache),
        org: OrgId::new("other"),
        ttl: Duration::from_secs(3600),
    };
    let mut third = Meta::new(
        http(&s, 200).with_cache(other),
        s.meta.clone(),
        &meta_account(),
    );
    third.poll(None, now).await.unwrap();
    assert_eq!(fake.seen(path).len(), 3);
}

// ---------------------------------------------------------------- Google Ads

fn google_account() -> GoogleAdsAccount {
    GoogleAdsAccount {
        customer_id: "1234567890".into(),
        login_customer_id: Some("999".into()),
        developer_token: Secret::new("dev-token"),
        client_id: "client".into(),
        client_secret: Secret::new("client-secret"),
        refresh_token: Secret::new("g-refresh"),
    }
}

#[tokio::test]
async fn google_ads_oauth_headers_gaql_and_exact_micros() {
    let (fake, base) = Fake::start().await;
    fake.on("/oauth/token", vec![TOKEN_OK("g1"), TOKEN_OK("g2")]);
    let sample =
        include_str!("../src/sources/connectors/testdata/google-ads-searchstream.json").to_owned();
    fake.on_request(
        "/gads/v26/customers/1234567890/googleAds:searchStream",
        move |seen| {
            if bearer(seen) == "Bearer g1" {
                // The first token is "expired" by the time it is used.
                return status(401, r#"{"error":{"code":401,"status":"UNAUTHENTICATED"}}"#);
            }
            status(200, &sample)
        },
    );
    let s = settings(&base);
    let mut connector = GoogleAds::new(http(&s, 60), s.google_ads.clone(), &google_account());
    let poll = connector
        .poll(None, "2026-09-02T12:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(poll.metrics.len(), 1);
    assert_eq!(poll.metrics[0].spend_micros, 2_500_000_000);
    assert_eq!(poll.metrics[0].impressions, 1000);
    let tokens = fake.seen("/oauth/token");
    assert_eq!(tokens.len(), 2);
    for field in [
        "grant_type=refresh_token",
        "client_id=client",
        "client_secret=client-secret",
        "refresh_token=g-refresh",
    ] {
        assert!(
            tokens[0].body.contains(field),
            "{field} in {}",
            tokens[0].body
        );
    }
    let calls = fake.seen("/gads/v26/customers/1234567890/googleAds:searchStream");
    assert_eq!(calls.len(), 2);
    let last = &calls[1];
    assert_eq!(bearer(last), "Bearer g2");
    assert_eq!(last.headers["developer-token"], "dev-token");
    assert_eq!(last.headers["login-customer-id"], "999");
    let body: Value = serde_json::from_str(&last.body).unwrap();
    assert!(body["query"]
        .as_str()
        .unwrap()
        .contains("metrics.cost_micros"));
    assert_eq!(poll.cursor.as_deref(), Some("2026-09-02"));
}

#[tokio::test]
async fn google_ads_stream_errors_and_bad_batches_fail_cleanly() {
    let (fake, base) = Fake::start().await;
    fake.on("/oauth/token", vec![TOKEN_OK("g")]);
    let path = "/gads/v26/customers/1234567890/googleAds:searchStream";
    let s = settings(&base);
    let mut connector = GoogleAds::new(http(&s, 60), s.google_ads.clone(), &google_account());
    fake.on(path, vec![status(200, r#"{"results": []}"#)]);
    assert!(matches!(
        connector.poll(None, Utc::now()).await,
        Err(ConnectorError::Malformed(_))
    ));
    fake.on(
        path,
        vec![status(429, r#"{"error":{"status":"RESOURCE_EXHAUSTED"}}"#)
            .header("retry-after", "300")],
    );
    let err = connector.poll(None, Utc::now()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Throttled { .. }), "{err:?}");
    fake.on(path, vec![status(200, r#"[{"results": [{"campaign": {"id": "1"}, "segments": {"date": "2026-09-02"}, "metrics": {"costMicros": "oops"}}]}]"#)]);
    let poll = connector
        .poll(None, "2026-09-02T12:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!((poll.metrics.len(), poll.rejected.len()), (0, 1));
}

// ---------------------------------------------------------------- inside the engine

fn org(id: &str, rate: f64, connectors: OrgConnectors) -> OrgConfig {
    OrgConfig {
        id: id.to_owned(),
        name: format!("{id} campaign"),
        mentions_per_second: rate,
        negative_threshold: None,
        crises: Vec::new(),
        connectors,
    }
}

fn engine_config(base: &str, db: &std::path::Path, orgs: Vec<OrgConfig>, mode: DataMode) -> Config {
    let mut config = Config::defaults();
    config.engine.kpi_interval = Duration::from_millis(100);
    config.engine.epoch_tick = Duration::from_millis(20);
    config.mock.tick = Duration::from_millis(20);
    // These tests count exact mentions: no mock history at first start.
    config.mock.backfill = Duration::ZERO;
    config.data.mode = mode;
    config.database.url = format!("sqlite://{}", db.display());
    config.connectors = settings(base);
    config.orgs = orgs;
    config
}

async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_for_async<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The organisation's 7-day KPI snapshot, from its actor.
async fn kpis_7d(runtime: &Runtime, org: &OrgId) -> warroom_engine::KpiSnapshot {
    let actor = runtime.directory().get(org).unwrap().actor().unwrap();
    match actor
        .call(
            |reply| warroom_actors::push::org::OrgMsg::Kpis(warroom_engine::Window::D7, reply),
            Some(Duration::from_secs(5)),
        )
        .await
        .unwrap()
    {
        ractor::rpc::CallResult::Success(kpis) => kpis,
        _ => panic!("the organisation actor did not answer"),
    }
}

fn sources_of(kpis: &warroom_engine::KpiSnapshot) -> Vec<warroom_engine::Source> {
    kpis.by_source
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| s.source)
        .collect()
}

fn mentionlytics_only() -> OrgConnectors {
    OrgConnectors {
        mentionlytics: Some(ml_account(None)),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_connector_ingests_persists_its_cursor_and_resumes_after_restart() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    let now = Utc::now();
    let at = |mins: i64| (now - chrono::Duration::minutes(mins)).to_rfc3339();
    let page = json!({"mentions": [mention("a", &at(30), "good news"), mention("b", &at(20), "bad news")]});
    let page_clone = page.clone();
    fake.on_request("/ml/v2/mentions", move |seen| {
        if seen.query.get("page_no").map(String::as_str) == Some("0") {
            ok(page_clone.clone())
        } else {
            ok(json!({"mentions": []}))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let config = engine_config(
        &base,
        &db,
        vec![org("acme", 0.0, mentionlytics_only())],
        DataMode::Live,
    );
    let runtime = Runtime::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let acme = OrgId::new("acme");
    let store = Arc::clone(runtime.store());
    wait_for_async("2 stored mentions", || {
        let store = Arc::clone(&store);
        let acme = acme.clone();
        async move { store.count_mentions(&acme).await.unwrap() == 2 }
    })
    .await;
    let key = warroom_actors::sources::connectors::cursor::key(&acme, "mentionlytics");
    let expected_cursor = chrono::DateTime::parse_from_rfc3339(&at(20))
        .unwrap()
        .to_rfc3339();
    wait_for_async("the cursor", || {
        let store = Arc::clone(&store);
        let key = key.clone();
        let c = expected_cursor.clone();
        async move { store.get_setting(&key).await.unwrap() == Some(c) }
    })
    .await;
    let status = wait_for("a connector status", || {
        runtime
            .health()
            .connectors
            .get("source:acme:mentions")
            .filter(|s| s.last_success.is_some())
            .cloned()
    })
    .await;
    assert_eq!(status.records, 2);
    assert_eq!(status.breaker, BreakerState::Closed);
    assert_eq!(
        runtime.health().services["connectors"].status,
        HealthStatus::Ok
    );
    runtime.shutdown().await;
    drop(runtime);

    // Restarted: the first request starts from the stored cursor's day; re-served
    // mentions are not stored twice.
    let before = fake.seen("/ml/v2/mentions").len();
    let runtime = Runtime::start(config, Arc::new(SystemClock)).await.unwrap();
    wait_for("a poll after the restart", || {
        (fake.seen("/ml/v2/mentions").len() > before).then_some(())
    })
    .await;
    let first = &fake.seen("/ml/v2/mentions")[before];
    assert_eq!(
        first.query["startDate"],
        (now - chrono::Duration::minutes(20))
            .format("%Y%m%d")
            .to_string()
    );
    wait_for("a successful poll", || {
        runtime
            .health()
            .connectors
            .get("source:acme:mentions")
            .and_then(|s| s.last_success)
            .map(|_| ())
    })
    .await;
    assert_eq!(runtime.store().count_mentions(&acme).await.unwrap(), 2);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_responses_are_counted_open_the_breaker_and_degrade_health_only() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    fake.on(
        "/ml/v2/mentions",
        vec![status(200, "{\"mentions\": [ {\"id\": 1, ")],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = engine_config(
        &base,
        &dir.path().join("w.db"),
        vec![org("acme", 0.0, mentionlytics_only())],
        DataMode::Live,
    );
    let runtime = Runtime::start(config, Arc::new(SystemClock)).await.unwrap();
    let status = wait_for("an open breaker", || {
        runtime
            .health()
            .connectors
            .get("source:acme:mentions")
            .filter(|s| s.breaker == BreakerState::Open)
            .cloned()
    })
    .await;
    assert_eq!(status.consecutive_failures, 2);
    assert!(status.malformed >= 2);
    assert!(status
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("malformed"));
    let health = runtime.health();
    assert_eq!(health.services["connectors"].status, HealthStatus::Degraded);
    assert_eq!(health.status, HealthStatus::Degraded);
    assert_eq!(health.services["stream_operators"].status, HealthStatus::Ok);
    // The breaker holds: no more calls while it is open (cool-down of an hour).
    let calls = fake.seen("/ml/v2/mentions").len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.seen("/ml/v2/mentions").len(), calls);
    assert!(
        health.services["connectors"]
            .detail
            .contains("1 of 1 connectors failing"),
        "{}",
        health.services["connectors"].detail
    );
    // The public report carries neither credentials nor per-connector errors.
    let shown = serde_json::to_string(&runtime.health()).unwrap();
    assert!(!shown.contains("refresh-1"));
    assert!(!shown.contains("malformed response"), "{shown}");
    runtime.shutdown().await;
}

/// The fake Mentionlytics serves `n` live mentions (`live-0`…), two per page, the
/// `i`-th from `back - i` minutes ago.
fn serve_live_mentions(fake: &Fake, n: i64, back: i64) {
    let now = Utc::now();
    let live: Vec<Value> = (0..n)
        .map(|i| {
            mention(
                &format!("live-{i}"),
                &(now - chrono::Duration::minutes(back - i)).to_rfc3339(),
                "live text",
            )
        })
        .collect();
    fake.on_request("/ml/v2/mentions", move |seen| {
        let page: usize = seen
            .query
            .get("page_no")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        ok(json!({"mentions": live.iter().skip(page * 2).take(2).cloned().collect::<Vec<_>>()}))
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_mock_live_mock_under_load_loses_nothing_and_mixes_nothing() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    // The vendor serves 6 live mentions over 3 pages, all recent.
    serve_live_mentions(&fake, 6, 10);
    let dir = tempfile::tempdir().unwrap();
    let config = engine_config(
        &base,
        &dir.path().join("w.db"),
        vec![org("acme", 300.0, mentionlytics_only())],
        DataMode::Mock,
    );
    let runtime = Runtime::start(config, Arc::new(SystemClock)).await.unwrap();
    let acme = OrgId::new("acme");
    let store = Arc::clone(runtime.store());
    wait_for_async("mock mentions", || {
        let store = Arc::clone(&store);
        let acme = acme.clone();
        async move { store.count_mentions(&acme).await.unwrap() > 200 }
    })
    .await;
    assert!(
        fake.seen("/ml/v2/mentions").is_empty(),
        "no connector runs in MOCK"
    );

    let to_live = Utc::now().timestamp_micros();
    assert!(runtime.set_data_mode(DataMode::Live).await.unwrap());
    let live_applied = Utc::now().timestamp_micros();
    assert!(
        !runtime
            .children()
            .snapshot()
            .contains_key("source:acme:meta"),
        "mock sources stopped"
    );
    wait_for_async("6 live mentions stored", || {
        let store = Arc::clone(&store);
        let acme = acme.clone();
        async move {
            store
                .recent_mentions(&acme, 100_000)
                .await
                .unwrap()
                .iter()
                .filter(|m| m.mention.external_id.starts_with("live-"))
                .count()
                == 6
        }
    })
    .await;
    // The windows were reset at the switch: they hold the 6 live mentions (the fake
    // sends no channel: `other`, which the mock generator never uses) and no mock one,
    // although mock batches were in flight when the switch happened.
    let (runtime_ref, acme_ref) = (&runtime, &acme);
    let mut live_kpis = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while live_kpis.is_none() {
        let kpis = kpis_7d(runtime_ref, acme_ref).await;
        if kpis.mention_count == 6 {
            live_kpis = Some(kpis);
        } else {
            assert!(
                Instant::now() < deadline,
                "7d window never held exactly the live mentions: {}",
                kpis.mention_count
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    assert_eq!(
        sources_of(&live_kpis.unwrap()),
        [warroom_engine::Source::Other]
    );
    let to_mock = Utc::now().timestamp_micros();
    assert!(runtime.set_data_mode(DataMode::Mock).await.unwrap());
    let mock_applied = Utc::now().timestamp_micros();
    assert!(
        runtime.health().connectors.is_empty(),
        "connectors stopped in MOCK"
    );
    let count_back = store.count_mentions(&acme).await.unwrap();
    wait_for_async("mock mentions again", || {
        let store = Arc::clone(&store);
        let acme = acme.clone();
        async move { store.count_mentions(&acme).await.unwrap() > count_back + 100 }
    })
    .await;
    let polls = fake.seen("/ml/v2/mentions").len();
    // Back in MOCK, the live mentions left the windows with the reset.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let kpis = kpis_7d(&runtime, &acme).await;
        let sources = sources_of(&kpis);
        if kpis.as_of.timestamp_micros() > mock_applied
            && kpis.mention_count > 0
            && !sources.contains(&warroom_engine::Source::Other)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "live mentions still in the MOCK windows: {sources:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        runtime
            .stats()
            .resets
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );

    let stored = store.recent_mentions(&acme, 1_000_000).await.unwrap();
    let mut ids = std::collections::HashSet::new();
    for m in &stored {
        assert!(
            ids.insert(m.mention.external_id.clone()),
            "stored twice: {}",
            m.mention.external_id
        );
        let at = m.ingested_at_us;
        if m.mention.external_id.starts_with("live-") {
            assert!(
                at >= to_live && at <= mock_applied,
                "live mention outside LIVE: {}",
                m.mention.external_id
            );
        } else {
            assert!(
                at <= live_applied || at >= to_mock,
                "mock mention ingested during LIVE: {}",
                m.mention.external_id
            );
        }
    }
    assert_eq!(
        stored
            .iter()
            .filter(|m| m.mention.external_id.starts_with("live-"))
            .count(),
        6
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.seen("/ml/v2/mentions").len(),
        polls,
        "the connector stopped polling in MOCK"
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_connector_is_restarted_and_keeps_its_cursor() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    let at = (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    fake.on(
        "/ml/v2/mentions",
        vec![ok(json!({"mentions": [mention("only", &at, "hello")]}))],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = engine_config(
        &base,
        &dir.path().join("w.db"),
        vec![org("acme", 0.0, mentionlytics_only())],
        DataMode::Live,
    );
    let runtime = Runtime::start(config, Arc::new(SystemClock)).await.unwrap();
    let acme = OrgId::new("acme");
    let name = "source:acme:mentions";
    let first = wait_for("a first success", || {
        runtime
            .connector_statuses()
            .get(name)
            .filter(|s| s.last_success.is_some() && s.cursor.is_some())
            .cloned()
    })
    .await;
    assert!(runtime.crash_source(&acme, warroom_actors::sources::actor::SourceKind::Mentions));
    wait_for("a restart", || {
        runtime
            .children()
            .snapshot()
            .get(name)
            .filter(|c| {
                c.restarts >= 1
                    && c.state == warroom_actors::runtime::supervisor::ChildState::Running
            })
            .map(|_| ())
    })
    .await;
    let after = wait_for("a poll after the restart", || {
        runtime
            .connector_statuses()
            .get(name)
            .filter(|s| s.started > first.started && s.polls > first.polls)
            .cloned()
    })
    .await;
    // The restarted actor read the stored cursor: its first request started there.
    assert_eq!(after.cursor, first.cursor);
    assert_eq!(runtime.store().count_mentions(&acme).await.unwrap(), 1);
    runtime.shutdown().await;
}

/// Mentions of `mode` stored for `org`, by external id.
async fn stored_ids(
    store: &dyn warroom_storage::Store,
    org: &OrgId,
    mode: DataMode,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .mentions_since(org, mode, chrono::DateTime::UNIX_EPOCH, after, 5_000)
            .await
            .unwrap();
        ids.extend(page.mentions.into_iter().map(|m| m.mention.external_id));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

/// Waits until the 7-day window holds exactly `count` mentions, all from `sources`.
async fn wait_for_window(
    runtime: &Runtime,
    org: &OrgId,
    count: u64,
    sources: impl Fn(&[warroom_engine::Source]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let kpis = kpis_7d(runtime, org).await;
        if kpis.mention_count == count && sources(&sources_of(&kpis)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the 7d window holds {} mentions from {:?}, not {count}",
            kpis.mention_count,
            sources_of(&kpis)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Recovery rebuilds only the current mode's windows: MOCK, then LIVE, restart → only
/// the LIVE mentions; back to MOCK, restart → only the MOCK ones. The KPI buckets are
/// kept per mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rebuilds_only_the_current_modes_windows() {
    let (fake, base) = Fake::start().await;
    fake.on("/ml/v2/auth/refresh", vec![TOKEN_OK("t")]);
    let now = Utc::now();
    serve_live_mentions(&fake, 3, 5);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let acme = OrgId::new("acme");
    let runtime = Runtime::start(
        engine_config(
            &base,
            &db,
            vec![org("acme", 200.0, mentionlytics_only())],
            DataMode::Mock,
        ),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let store = Arc::clone(runtime.store());
    wait_for_async("mock mentions", || {
        let store = Arc::clone(&store);
        let acme = acme.clone();
        async move { store.count_mentions(&acme).await.unwrap() > 50 }
    })
    .await;
    assert!(runtime.set_data_mode(DataMode::Live).await.unwrap());
    wait_for_async("3 live mentions stored", || {
        let store = Arc::clone(&store);
        let acme = acme.clone();
        async move {
            stored_ids(store.as_ref(), &acme, DataMode::Live)
                .await
                .len()
                == 3
        }
    })
    .await;
    runtime.shutdown().await;

    // Restarts produce nothing new (no mock generator, no connector): the windows hold
    // exactly what recovery replayed.
    let quiet = || {
        let mut config = engine_config(
            &base,
            &db,
            vec![org("acme", 0.0, OrgConnectors::default())],
            DataMode::Mock,
        );
        config.mock.enabled = false;
        config
    };
    let runtime = Runtime::start(quiet(), Arc::new(SystemClock))
        .await
        .unwrap();
    assert_eq!(
        runtime.data_mode(),
        DataMode::Live,
        "the persisted mode wins"
    );
    let store = Arc::clone(runtime.store());
    let live_ids = stored_ids(store.as_ref(), &acme, DataMode::Live).await;
    assert!(
        live_ids.iter().all(|id| id.starts_with("live-")),
        "{live_ids:?}"
    );
    let mock_ids = stored_ids(store.as_ref(), &acme, DataMode::Mock).await;
    assert!(mock_ids.len() > 50);
    assert!(mock_ids.iter().all(|id| !id.starts_with("live-")));
    // The fake vendor sends no channel (`other`), which the mock generator never uses.
    wait_for_window(&runtime, &acme, 3, |s| s == [warroom_engine::Source::Other]).await;
    let live_buckets = store
        .kpi_buckets_since(&acme, DataMode::Live, now - chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        live_buckets.iter().map(|b| b.mention_count).sum::<u64>(),
        3,
        "recovery wrote the LIVE buckets from the LIVE mentions only"
    );
    assert!(runtime.set_data_mode(DataMode::Mock).await.unwrap());
    runtime.shutdown().await;

    let runtime = Runtime::start(quiet(), Arc::new(SystemClock))
        .await
        .unwrap();
    assert_eq!(runtime.data_mode(), DataMode::Mock);
    wait_for_window(&runtime, &acme, mock_ids.len() as u64, |s| {
        !s.is_empty() && !s.contains(&warroom_engine::Source::Other)
    })
    .await;
    runtime.shutdown().await;
}

/// The default time bounds of records (`[engine] max_future_skew`, `max_event_age`).
fn bounds() -> warroom_engine::validate::TimeBounds {
    warroom_engine::validate::TimeBounds::from_config(&warroom_engine::Config::defaults().engine)
}

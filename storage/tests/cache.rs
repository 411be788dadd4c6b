//! One suite for both implementations of the cache, rate limiter and bus: every test runs
//! in process (`memory::…`) and against the real Redis at 127.0.0.1:6379 (`redis::…`),
//! each Redis test under its own random key prefix, deleted afterwards.
//!
//! No test sleeps to wait for a result: expiry and delivery are polled with a deadline.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fred::prelude::{ClientLike, KeysInterface};
use warroom_engine::{Config, OrgId};
use warroom_storage::cache::{self, read_through, CacheServices, Generation};

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const DEADLINE: Duration = Duration::from_secs(10);

struct TestCache {
    services: CacheServices,
    /// The Redis key prefix to delete afterwards; `None` in process.
    redis_prefix: Option<String>,
}

impl TestCache {
    fn in_process() -> Self {
        Self {
            services: CacheServices::in_process(&Config::defaults().redis),
            redis_prefix: None,
        }
    }

    async fn redis() -> Self {
        let mut config = Config::defaults().redis;
        config.url = REDIS_URL.to_owned();
        config.key_prefix = format!("warroom-test-{}", uuid::Uuid::new_v4().simple());
        let services = cache::connect(&config).await.expect("valid Redis URL");
        assert!(
            services.health.status().ok,
            "Redis is not reachable at {REDIS_URL} ({}). The Redis half of this suite needs it: \
             run scripts/services.sh to start (or install) it.",
            services.health.status().detail
        );
        Self {
            services,
            redis_prefix: Some(config.key_prefix),
        }
    }
}

impl Drop for TestCache {
    fn drop(&mut self) {
        let Some(prefix) = self.redis_prefix.take() else {
            return;
        };
        // Drop cannot await: delete the test's keys from a thread with its own runtime.
        let cleaned = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = fred::prelude::Builder::from_config(
                    fred::prelude::Config::from_url(REDIS_URL).map_err(|e| e.to_string())?,
                )
                .build()
                .map_err(|e| e.to_string())?;
                client.init().await.map_err(|e| e.to_string())?;
                let keys: Vec<String> = client
                    .custom(fred::cmd!("KEYS"), vec![format!("{prefix}:*")])
                    .await
                    .map_err(|e| e.to_string())?;
                if !keys.is_empty() {
                    let _: i64 = client.del(keys).await.map_err(|e| e.to_string())?;
                }
                let _ = client.quit().await;
                Ok::<_, String>(())
            })
        })
        .join();
        if !matches!(cleaned, Ok(Ok(()))) {
            eprintln!("warning: could not delete the test's Redis keys: {cleaned:?}");
        }
    }
}

async fn in_process<F, Fut>(body: F)
where
    F: FnOnce(CacheServices) -> Fut,
    Fut: Future<Output = ()>,
{
    let test = TestCache::in_process();
    body(test.services.clone()).await;
}

async fn on_redis<F, Fut>(body: F)
where
    F: FnOnce(CacheServices) -> Fut,
    Fut: Future<Output = ()>,
{
    let test = TestCache::redis().await;
    body(test.services.clone()).await;
    test.services.close().await;
}

/// Declares each test body once per implementation: `memory::<name>` and `redis::<name>`.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::in_process(crate::$name).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::on_redis(crate::$name).await;
                }
            )*
        }
    };
}

suite!(
    put_get_delete,
    entries_expire_after_their_ttl,
    tenants_never_read_each_other,
    invalidation_drops_only_that_organisation,
    a_load_racing_an_invalidation_is_never_served,
    read_through_loads_once_then_serves_the_cache,
    system_values_round_trip,
    rate_limiter_allows_denies_and_resets,
    rate_limiter_keys_are_independent,
    bus_delivers_to_subscribers_of_the_channel,
);

/// Polls `check` until it holds, failing at the deadline.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not before the deadline"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const LONG: Duration = Duration::from_secs(60);

async fn put_get_delete(s: CacheServices) {
    let org = OrgId::new("harbor-city");
    let lookup = s.cache.get(&org, "alerts:active").await.unwrap();
    assert_eq!(lookup.value, None);
    s.cache
        .put(&org, "alerts:active", b"[1,2,3]", LONG, lookup.generation)
        .await
        .unwrap();
    let lookup = s.cache.get(&org, "alerts:active").await.unwrap();
    assert_eq!(lookup.value.as_deref(), Some(&b"[1,2,3]"[..]));
    // Binary values survive as they are.
    let binary = [0u8, 255, 10, 13, 0, 7];
    s.cache
        .put(&org, "bin", &binary, LONG, lookup.generation)
        .await
        .unwrap();
    assert_eq!(
        s.cache.get(&org, "bin").await.unwrap().value.as_deref(),
        Some(&binary[..])
    );
    s.cache.delete(&org, "alerts:active").await.unwrap();
    assert_eq!(
        s.cache.get(&org, "alerts:active").await.unwrap().value,
        None
    );
    assert!(s.cache.get(&org, "bin").await.unwrap().value.is_some());
}

async fn entries_expire_after_their_ttl(s: CacheServices) {
    let org = OrgId::new("o");
    let g = s.cache.get(&org, "short").await.unwrap().generation;
    s.cache
        .put(&org, "short", b"x", Duration::from_millis(200), g)
        .await
        .unwrap();
    s.cache.put(&org, "long", b"y", LONG, g).await.unwrap();
    eventually("the short entry expires", || async {
        s.cache.get(&org, "short").await.unwrap().value.is_none()
    })
    .await;
    assert_eq!(
        s.cache.get(&org, "long").await.unwrap().value.as_deref(),
        Some(&b"y"[..])
    );
}

async fn tenants_never_read_each_other(s: CacheServices) {
    let a = OrgId::new("a");
    let b = OrgId::new("b");
    // An id that embeds another's key layout must not reach it either.
    let tricky = OrgId::new("a:e:k");
    let g = s.cache.get(&a, "k").await.unwrap().generation;
    s.cache.put(&a, "k", b"secret-a", LONG, g).await.unwrap();
    assert_eq!(s.cache.get(&b, "k").await.unwrap().value, None);
    assert_eq!(s.cache.get(&tricky, "k").await.unwrap().value, None);
    assert_eq!(s.cache.get(&tricky, "").await.unwrap().value, None);
    let g = s.cache.get(&b, "k").await.unwrap().generation;
    s.cache.put(&b, "k", b"secret-b", LONG, g).await.unwrap();
    assert_eq!(
        s.cache.get(&a, "k").await.unwrap().value.as_deref(),
        Some(&b"secret-a"[..])
    );
    assert_eq!(
        s.cache.get(&b, "k").await.unwrap().value.as_deref(),
        Some(&b"secret-b"[..])
    );
}

async fn invalidation_drops_only_that_organisation(s: CacheServices) {
    let a = OrgId::new("a");
    let b = OrgId::new("b");
    for org in [&a, &b] {
        let g = s.cache.get(org, "x").await.unwrap().generation;
        s.cache.put(org, "x", b"1", LONG, g).await.unwrap();
        s.cache.put(org, "y", b"2", LONG, g).await.unwrap();
    }
    s.cache.invalidate_org(&a).await.unwrap();
    assert_eq!(s.cache.get(&a, "x").await.unwrap().value, None);
    assert_eq!(s.cache.get(&a, "y").await.unwrap().value, None);
    assert!(s.cache.get(&b, "x").await.unwrap().value.is_some());
    assert!(s.cache.get(&b, "y").await.unwrap().value.is_some());
    // After the invalidation the organisation caches again.
    let g = s.cache.get(&a, "x").await.unwrap().generation;
    assert!(g > Generation::default());
    s.cache.put(&a, "x", b"3", LONG, g).await.unwrap();
    assert_eq!(
        s.cache.get(&a, "x").await.unwrap().value.as_deref(),
        Some(&b"3"[..])
    );
}

async fn a_load_racing_an_invalidation_is_never_served(s: CacheServices) {
    let org = OrgId::new("o");
    // A reader looks up (miss) and starts loading from the database...
    let before = s.cache.get(&org, "alerts").await.unwrap().generation;
    // ... meanwhile a writer changes the rows and invalidates ...
    s.cache.invalidate_org(&org).await.unwrap();
    // ... and the reader stores what it loaded before the change.
    s.cache
        .put(&org, "alerts", b"stale", LONG, before)
        .await
        .unwrap();
    assert_eq!(s.cache.get(&org, "alerts").await.unwrap().value, None);
}

async fn read_through_loads_once_then_serves_the_cache(s: CacheServices) {
    let org = OrgId::new("o");
    let loads = AtomicU32::new(0);
    let load = || async {
        loads.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(vec![1u32, 2, 3])
    };
    let first = read_through(s.cache.as_ref(), &org, "list", LONG, load)
        .await
        .unwrap();
    let second = read_through(s.cache.as_ref(), &org, "list", LONG, load)
        .await
        .unwrap();
    assert_eq!(first, vec![1, 2, 3]);
    assert_eq!(second, first);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    s.cache.invalidate_org(&org).await.unwrap();
    read_through(s.cache.as_ref(), &org, "list", LONG, load)
        .await
        .unwrap();
    assert_eq!(
        loads.load(Ordering::SeqCst),
        2,
        "invalidation forces a load"
    );
    // A failing load is returned as it is and nothing is cached.
    let failed: Result<Vec<u32>, String> =
        read_through(s.cache.as_ref(), &org, "other", LONG, || async {
            Err("db down".to_owned())
        })
        .await;
    assert_eq!(failed, Err("db down".to_owned()));
    assert_eq!(s.cache.get(&org, "other").await.unwrap().value, None);
}

async fn system_values_round_trip(s: CacheServices) {
    assert_eq!(s.cache.get_system("system:data_mode").await.unwrap(), None);
    s.cache
        .put_system("system:data_mode", b"LIVE", None)
        .await
        .unwrap();
    assert_eq!(
        s.cache
            .get_system("system:data_mode")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"LIVE"[..])
    );
    s.cache
        .put_system("short", b"x", Some(Duration::from_millis(200)))
        .await
        .unwrap();
    eventually("the short system value expires", || async {
        s.cache.get_system("short").await.unwrap().is_none()
    })
    .await;
    assert!(s
        .cache
        .get_system("system:data_mode")
        .await
        .unwrap()
        .is_some());
}

async fn rate_limiter_allows_denies_and_resets(s: CacheServices) {
    let window = Duration::from_millis(500);
    for remaining in [2, 1, 0] {
        let d = s.limiter.hit("login:ip:127.0.0.1", 3, window).await;
        assert!(d.allowed, "{d:?}");
        assert_eq!(d.remaining, remaining);
        assert_eq!(d.retry_after, Duration::ZERO);
    }
    let denied = s.limiter.hit("login:ip:127.0.0.1", 3, window).await;
    assert!(!denied.allowed);
    assert_eq!(denied.remaining, 0);
    assert!(
        denied.retry_after > Duration::ZERO && denied.retry_after <= window,
        "{denied:?}"
    );
    eventually("the window resets", || async {
        s.limiter.hit("login:ip:127.0.0.1", 3, window).await.allowed
    })
    .await;
}

async fn rate_limiter_keys_are_independent(s: CacheServices) {
    let window = Duration::from_secs(60);
    assert!(s.limiter.hit("k1", 1, window).await.allowed);
    assert!(!s.limiter.hit("k1", 1, window).await.allowed);
    let other = s.limiter.hit("k2", 1, window).await;
    assert!(other.allowed);
    assert_eq!(other.remaining, 0);
    // A peek says what one more hit would get, and counts nothing.
    assert!(s.limiter.peek("k3", 2).await.allowed);
    assert!(s.limiter.hit("k3", 2, window).await.allowed);
    assert!(s.limiter.peek("k3", 2).await.allowed);
    assert!(s.limiter.peek("k3", 2).await.allowed);
    assert!(s.limiter.hit("k3", 2, window).await.allowed);
    let full = s.limiter.peek("k3", 2).await;
    assert!(!full.allowed, "{full:?}");
    assert!(full.retry_after > Duration::ZERO && full.retry_after <= window);
}

async fn bus_delivers_to_subscribers_of_the_channel(s: CacheServices) {
    let mut first = s.bus.subscribe("system:data-mode").await.unwrap();
    let mut second = s.bus.subscribe("system:data-mode").await.unwrap();
    let mut other = s.bus.subscribe("other").await.unwrap();
    s.bus.publish("unrelated", b"ignored").await.unwrap();
    s.bus
        .publish("system:data-mode", br#"{"mode":"LIVE"}"#)
        .await
        .unwrap();
    for subscription in [&mut first, &mut second] {
        let message = tokio::time::timeout(DEADLINE, subscription.recv())
            .await
            .expect("delivered before the deadline")
            .expect("bus open");
        assert_eq!(message.channel, "system:data-mode");
        assert_eq!(&message.payload[..], br#"{"mode":"LIVE"}"#);
    }
    s.bus.publish("other", b"2").await.unwrap();
    let message = tokio::time::timeout(DEADLINE, other.recv())
        .await
        .expect("delivered before the deadline")
        .expect("bus open");
    assert_eq!(
        &message.payload[..],
        b"2",
        "messages of other channels are skipped"
    );
}

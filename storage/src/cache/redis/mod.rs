//! The Redis implementations, over `fred`: one command client (cache, counters,
//! publishing) and one dedicated subscriber client (the bus), both reconnecting forever
//! with exponential backoff. Every command fails fast: when the connection is down it
//! errors at once instead of queueing, and a command that gets no answer within
//! `redis.command_timeout` errors too, so a Redis outage costs callers milliseconds.

mod bus;
mod cache;
mod limiter;

use std::sync::Arc;
use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::prelude::{
    Builder, Client, ClientLike, Config as FredConfig, Options, ReconnectPolicy, TcpConfig,
};
use fred::types::config::UnresponsiveConfig;
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use warroom_engine::config::RedisConfig;

pub use bus::RedisBus;
pub use cache::RedisCache;
pub use limiter::RedisRateLimiter;

use super::{CacheError, CacheHealth};

/// The two clients of one Redis server, their health, and the tasks that drive them.
pub struct RedisConnection {
    client: Client,
    subscriber: SubscriberClient,
    options: Options,
    health: Arc<CacheHealth>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

impl RedisConnection {
    /// Connects to `config.url`. Waits at most `connect_timeout` for the first connection;
    /// if Redis is not reachable by then the connection starts degraded (health says so)
    /// and keeps reconnecting in the background. Fails only on a malformed URL.
    pub async fn connect(config: &RedisConfig) -> Result<Self, CacheError> {
        let mut fred_config =
            FredConfig::from_url(&config.url).map_err(|e| CacheError::Config(e.to_string()))?;
        // Keep reconnecting when the first attempt fails too: the engine starts without
        // Redis rather than not at all.
        fred_config.fail_fast = false;
        let mut builder = Builder::from_config(fred_config);
        builder
            .with_connection_config(|c| {
                c.connection_timeout = config.connect_timeout;
                c.internal_command_timeout = config.connect_timeout;
                c.tcp = TcpConfig {
                    nodelay: Some(true),
                    ..Default::default()
                };
                // A connection that stops answering (a half-open TCP connection) is closed
                // and reopened rather than eating every command's timeout forever.
                let unresponsive = (config.command_timeout * 4).max(Duration::from_secs(1));
                c.unresponsive = UnresponsiveConfig {
                    max_timeout: Some(unresponsive),
                    interval: unresponsive / 4,
                };
            })
            .with_performance_config(|p| {
                p.default_command_timeout = config.command_timeout;
            })
            .set_policy(ReconnectPolicy::new_exponential(
                0, // forever
                millis(config.reconnect_min_delay),
                millis(config.reconnect_max_delay),
                2,
            ));
        let client = builder
            .build()
            .map_err(|e| CacheError::Config(e.to_string()))?;
        let subscriber = builder
            .build_subscriber_client()
            .map_err(|e| CacheError::Config(e.to_string()))?;
        let health = Arc::new(CacheHealth::redis(config.redacted_url()));
        let options = Options {
            timeout: Some(config.command_timeout),
            fail_fast: true,
            ..Default::default()
        };

        let mut tasks = Vec::new();
        for handle in [client.connect(), subscriber.connect()] {
            tasks.push(tokio::spawn(async move {
                if let Ok(Err(error)) = handle.await {
                    tracing::debug!(%error, "redis connection task ended");
                }
            }));
        }
        // Re-subscribes the bus's channels after every reconnection.
        tasks.push(spawn_abortable(subscriber.manage_subscriptions()));

        match tokio::time::timeout(config.connect_timeout, client.wait_for_connect()).await {
            Ok(Ok(())) => health.record_ok(),
            Ok(Err(e)) => health.record_error("connect", &e.to_string()),
            Err(_) => health.record_error("connect", "timed out"),
        }
        tasks.push(tokio::spawn(probe(
            client.clone(),
            options.clone(),
            Arc::clone(&health),
            config.probe_interval,
        )));
        Ok(Self {
            client,
            subscriber,
            options,
            health,
            tasks: Mutex::new(tasks),
        })
    }

    /// The command client with fail-fast options.
    fn fast(&self) -> fred::clients::WithOptions<Client> {
        self.client.with_options(&self.options)
    }

    /// Reachability.
    pub fn health(&self) -> &Arc<CacheHealth> {
        &self.health
    }

    /// Records the outcome of a call in health and maps its error.
    fn observe<T>(
        &self,
        what: &str,
        result: Result<T, fred::error::Error>,
    ) -> Result<T, CacheError> {
        match result {
            Ok(value) => {
                self.health.record_ok();
                Ok(value)
            }
            Err(error) => {
                let message = error.to_string();
                self.health.record_error(what, &message);
                Err(CacheError::Unavailable(message))
            }
        }
    }

    /// Closes both connections and stops the probe.
    pub async fn close(&self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.quit()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.subscriber.quit()).await;
    }
}

impl Drop for RedisConnection {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().drain(..) {
            task.abort();
        }
    }
}

fn spawn_abortable(handle: JoinHandle<()>) -> JoinHandle<()> {
    // `manage_subscriptions` returns fred's own handle; wrapping it lets `close` abort it
    // like the others (aborting the wrapper drops, and so detaches, the inner handle).
    let abort = handle.abort_handle();
    tokio::spawn(async move {
        struct AbortOnDrop(tokio::task::AbortHandle);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let _guard = AbortOnDrop(abort);
        let _ = handle.await;
    })
}

/// PINGs every `interval` so that health notices an outage (and its end) even when no
/// request uses Redis.
async fn probe(client: Client, options: Options, health: Arc<CacheHealth>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match client.with_options(&options).ping::<String>(None).await {
            Ok(_) => health.record_ok(),
            Err(error) => health.record_error("PING", &error.to_string()),
        }
    }
}

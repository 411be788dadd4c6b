//! `OrgWindows` for one organisation at the demo rate of 20 mentions/s: the cost of
//! `apply` per mention, and of the KPI read the dataflow does on every KPI tick
//! (`advance` + `snapshot` of the four windows) on an organisation holding a full day.
//!
//! The state is filled once, outside the timing, with 24.5–25 hours of realistic mock
//! mentions (`MentionGenerator`, 2 % late, scored with VADER beforehand) delivered in
//! 250 ms ticks, with `advance` every 500 ms as the KPI tick does.
//!
//! * `apply/steady_20_per_s`: the next 10,000 mentions (500 s of traffic) applied to a
//!   copy of the filled state; the throughput line gives the time per mention.
//! * `kpi_read/same_minute`: the common tick (119 of 120 in a minute): the cached
//!   sketch merges are fresh, `advance` only checks them.
//! * `kpi_read/new_minute`: the first tick of a minute, which rebuilds the cached merges
//!   of the 15m and 1h windows.
//! * `kpi_read/new_hour`: the first tick of an hour, which rebuilds all four (24h and 7d
//!   merge the sketches of up to 169 hour buckets).
//!
//! Run: `cargo bench --bench windows`

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::DateTime;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use warroom_actors::sources::mock::MentionGenerator;
use warroom_engine::{Config, OrgId, ScoredMention, Window};
use warroom_streams::sentiment::analyzer;
use warroom_streams::window::{OrgWindows, WindowParams};

/// 2026-01-01T00:00:00Z: a fixed start, so every run sees the same data.
const T0_MS: i64 = 1_767_225_600_000;
const TICK_MS: i64 = 250;
/// Mentions per tick: 5 every 250 ms is the demo organisation's 20 mentions/s.
const PER_TICK: usize = 5;
const LATE_FRACTION: f64 = 0.02;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Mentions applied per iteration of the `apply` benchmark.
const APPLY_BATCH: usize = 10_000;

/// A deterministic feed of scored mock mentions for one organisation.
struct Feed {
    org: OrgId,
    generator: MentionGenerator,
    now_ms: i64,
}

impl Feed {
    fn new() -> Self {
        let org = OrgId::new("harbor-city");
        Self {
            generator: MentionGenerator::new(&org, 42),
            org,
            now_ms: T0_MS,
        }
    }

    /// The next tick: its delivery time and its mentions, already scored (scoring is
    /// not part of the windows' cost; it has its own benchmark).
    fn tick(&mut self) -> (i64, Vec<ScoredMention>) {
        self.now_ms += TICK_MS;
        let now = DateTime::from_timestamp_millis(self.now_ms).expect("time in range");
        let batch = self
            .generator
            .generate(now, PER_TICK, LATE_FRACTION)
            .into_iter()
            .map(|mention| ScoredMention {
                org: self.org.clone(),
                sentiment: analyzer().polarity_scores(&mention.content),
                mention,
                ingested_at_us: self.now_ms * 1000,
            })
            .collect();
        (self.now_ms, batch)
    }

    /// Applies ticks until the feed's clock reaches `until_ms`, with the KPI tick's
    /// `advance` every 500 ms.
    fn fill(&mut self, windows: &mut OrgWindows, until_ms: i64) {
        while self.now_ms < until_ms {
            let (now, batch) = self.tick();
            for m in &batch {
                windows.apply(m, now);
            }
            if now % 500 == 0 {
                windows.advance(now);
            }
        }
    }
}

/// The KPI tick's read: what `publish_kpis` in the dataflow does per organisation.
fn kpi_read(windows: &mut OrgWindows, now_ms: i64) {
    windows.advance(now_ms);
    for window in Window::ALL {
        black_box(windows.snapshot(window, now_ms));
    }
}

fn bench_windows(c: &mut Criterion) {
    let config = Config::defaults();
    let params = WindowParams::from_config(&config.engine);
    let started = Instant::now();
    let mut feed = Feed::new();
    let mut windows = OrgWindows::new(params);
    // Stop half a tick before xx:30:00 and before the next xx:00:00, so that the next
    // KPI tick is the first of a minute (resp. of an hour).
    let half_past = T0_MS + 24 * HOUR_MS + 30 * MINUTE_MS - 500;
    feed.fill(&mut windows, half_past);
    let at_half_past = windows.clone();
    let full_hour = half_past + 30 * MINUTE_MS;
    feed.fill(&mut windows, full_hour);
    let at_full_hour = windows.clone();
    let counters = windows.counters();
    // The next 500 s of traffic, for `apply`.
    let mut corpus = Vec::with_capacity(APPLY_BATCH / PER_TICK);
    while corpus.len() * PER_TICK < APPLY_BATCH {
        corpus.push(feed.tick());
    }
    let day = windows.snapshot(Window::H24, full_hour);
    println!(
        "filled in {:.1} s: {} mentions applied ({} late), 24h window {} mentions, {:.2} MiB state",
        started.elapsed().as_secs_f64(),
        counters.mentions_applied,
        counters.late_applied,
        day.mention_count,
        windows.heap_bytes() as f64 / (1024.0 * 1024.0)
    );

    let mut group = c.benchmark_group("apply");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Elements(APPLY_BATCH as u64));
    group.bench_function("steady_20_per_s", |b| {
        b.iter_batched(
            || at_full_hour.clone(),
            |mut w| {
                for (now, batch) in &corpus {
                    for m in batch {
                        black_box(w.apply(black_box(m), *now));
                    }
                }
                // Returned so that dropping the copy is not timed.
                w
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("kpi_read");
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("same_minute", |b| {
        let mut w = at_half_past.clone();
        // Same `now` every time: after the first call the caches are fresh, as on 119
        // of the 120 KPI ticks of a minute.
        b.iter(|| kpi_read(&mut w, half_past))
    });
    group.bench_function("new_minute", |b| {
        b.iter_batched(
            || at_half_past.clone(),
            |mut w| {
                kpi_read(&mut w, half_past + 500);
                w
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("new_hour", |b| {
        b.iter_batched(
            || at_full_hour.clone(),
            |mut w| {
                kpi_read(&mut w, full_hour + 500);
                w
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_windows);
criterion_main!(benches);

//! `CrisisDetector::evaluate` on a warmed-up organisation at the demo rate (20 mentions/s).
//!
//! Setup, outside the timing: two hours of realistic mock mentions (`MentionGenerator`,
//! scored with VADER beforehand) delivered in 250 ms ticks, with `evaluate` after every
//! batch as the dataflow does, so the EWMA baseline is learned (the spike detector is
//! armed after ~26 minutes). The organisation's negative-surge threshold is set above
//! what its normal traffic produces (see `SURGE_THRESHOLD`), as an operator would for a
//! busy account; the seed's default of 25 would keep it in a permanent surge at 20/s.
//!
//! * `evaluate/quiet`: normal traffic, no incident; no signal.
//! * `evaluate/burst_raise`: the evaluation that first sees a crisis burst
//!   (`generate_crisis`, 200 strongly negative mentions/s on top of the normal traffic)
//!   cross a trigger level: it raises, and builds the evidence from a 15-minute snapshot.
//! * `evaluate/burst_active`: two minutes into the burst, both incidents active; no new
//!   signal.
//!
//! Run: `cargo bench --bench crisis`

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::DateTime;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use warroom_actors::sources::mock::MentionGenerator;
use warroom_engine::{Config, CrisisSignal, Mention, OrgId, ScoredMention};
use warroom_streams::crisis::{CrisisDetector, CrisisParams};
use warroom_streams::sentiment::analyzer;
use warroom_streams::window::{OrgWindows, WindowParams};

/// 2026-01-01T00:00:00Z: a fixed start, so every run sees the same data.
const T0_MS: i64 = 1_767_225_600_000;
const TICK_MS: i64 = 250;
/// 5 every 250 ms: 20 mentions/s.
const PER_TICK: usize = 5;
/// Extra strongly negative mentions per tick during the burst: 200/s.
const BURST_PER_TICK: usize = 50;
const LATE_FRACTION: f64 = 0.02;
const MINUTE_MS: i64 = 60_000;
/// Strongly negative mentions in 15 minutes above which a surge is raised: about twice
/// what this organisation's normal traffic produces (printed by the setup).
const SURGE_THRESHOLD: u64 = 1_000;

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

    fn score(&self, mention: Mention) -> ScoredMention {
        ScoredMention {
            org: self.org.clone(),
            sentiment: analyzer().polarity_scores(&mention.content),
            mention,
            ingested_at_us: self.now_ms * 1000,
        }
    }

    /// The next tick's delivery time and mentions, plus `burst` crisis mentions.
    fn tick(&mut self, burst: usize) -> (i64, Vec<ScoredMention>) {
        self.now_ms += TICK_MS;
        let now = DateTime::from_timestamp_millis(self.now_ms).expect("time in range");
        let mut mentions = self.generator.generate(now, PER_TICK, LATE_FRACTION);
        if burst > 0 {
            mentions.extend(self.generator.generate_crisis(now, burst));
        }
        let scored = mentions.into_iter().map(|m| self.score(m)).collect();
        (self.now_ms, scored)
    }
}

/// One organisation's windows and detector, driven like the dataflow drives them:
/// `evaluate` after every batch, `advance` + `evaluate` on every 500 ms KPI tick.
#[derive(Clone)]
struct Org {
    windows: OrgWindows,
    detector: CrisisDetector,
}

impl Org {
    /// Applies one tick; returns the signals it raised.
    fn step(&mut self, now: i64, batch: &[ScoredMention]) -> Vec<CrisisSignal> {
        for m in batch {
            self.windows.apply(m, now);
        }
        let mut signals = self.detector.evaluate(&self.windows, now);
        if now % 500 == 0 {
            self.windows.advance(now);
            signals.extend(self.detector.evaluate(&self.windows, now));
        }
        signals
    }
}

fn describe(signals: &[CrisisSignal]) -> Vec<String> {
    signals
        .iter()
        .map(|s| match s {
            CrisisSignal::Raised { kind, severity, .. } => {
                format!("raised {} sev {severity}", kind.as_str())
            }
            CrisisSignal::Escalated { kind, severity, .. } => {
                format!("escalated {} sev {severity}", kind.as_str())
            }
            CrisisSignal::Cleared { kind, .. } => format!("cleared {}", kind.as_str()),
        })
        .collect()
}

fn bench_crisis(c: &mut Criterion) {
    let config = Config::defaults();
    let started = Instant::now();
    let mut feed = Feed::new();
    let mut org = Org {
        windows: OrgWindows::new(WindowParams::from_config(&config.engine)),
        detector: CrisisDetector::new(CrisisParams::from_config(
            &config.crisis,
            Some(SURGE_THRESHOLD),
        )),
    };
    let warm_until = T0_MS + 120 * MINUTE_MS;
    while feed.now_ms < warm_until {
        let (now, batch) = feed.tick(0);
        let signals = org.step(now, &batch);
        assert!(
            signals.is_empty(),
            "normal traffic raised {:?}",
            describe(&signals)
        );
    }
    let quiet_at = feed.now_ms;
    let quiet = org.clone();
    let baseline = quiet.detector.baseline();
    println!(
        "warmed up in {:.1} s: baseline {:.0} ± {:.0} mentions/min over {} minutes, \
         {} strongly negative in 15 min (surge threshold {SURGE_THRESHOLD})",
        started.elapsed().as_secs_f64(),
        baseline.mean,
        baseline.variance.sqrt(),
        baseline.minutes,
        quiet.windows.strongly_negative(quiet_at, 15),
    );
    assert!(quiet.detector.warmed_up());

    // The burst: find the evaluation that raises, and keep the state just before it.
    let (raise_at, before_raise, raised) = loop {
        let (now, batch) = feed.tick(BURST_PER_TICK);
        for m in &batch {
            org.windows.apply(m, now);
        }
        let before = org.clone();
        let signals = org.detector.evaluate(&org.windows, now);
        if !signals.is_empty() {
            break (now, before, signals);
        }
        if now % 500 == 0 {
            org.windows.advance(now);
            let signals = org.detector.evaluate(&org.windows, now);
            assert!(signals.is_empty(), "raised on the KPI tick, not measured");
        }
    };
    println!(
        "burst raise after {:.2} s: {:?}",
        (raise_at - quiet_at) as f64 / 1000.0,
        describe(&raised)
    );
    let mut during = Vec::new();
    while feed.now_ms < raise_at + 2 * MINUTE_MS {
        let (now, batch) = feed.tick(BURST_PER_TICK);
        during.extend(describe(&org.step(now, &batch)));
    }
    let active_at = feed.now_ms;
    println!("later in the burst: {during:?}");

    let mut group = c.benchmark_group("evaluate");
    group.sample_size(50);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("quiet", |b| {
        let mut org = quiet.clone();
        // The same `now` every time: nothing left to learn, nothing to raise.
        b.iter(|| black_box(org.detector.evaluate(&org.windows, quiet_at)))
    });
    group.bench_function("burst_raise", |b| {
        b.iter_batched(
            || before_raise.detector.clone(),
            |mut detector| {
                let signals = detector.evaluate(&before_raise.windows, raise_at);
                (detector, signals)
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("burst_active", |b| {
        let mut org = org.clone();
        b.iter(|| black_box(org.detector.evaluate(&org.windows, active_at)))
    });
    group.finish();
}

criterion_group!(benches, bench_crisis);
criterion_main!(benches);

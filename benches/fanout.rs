//! Fan-out of one organisation's update to 10,000 sockets' outgoing queues.
//!
//! One update is what the organisation actor emits for a busy moment: a
//! `dashboard:mention-stream` frame of 20 mentions and a `dashboard:kpi-update` frame.
//! Each is encoded once (`outbox::encode`: JSON plus the WebSocket header) and the same
//! bytes are pushed to every socket's `Outbox` (a reference-counted clone per socket),
//! which is what `OrgState::emit` does. `OrgState` is private to the actor, so this
//! benchmark drives the public pieces it is made of; it leaves out the resume ring
//! (one `VecDeque` push per frame) and the per-subscriber channel-mask test.
//!
//! * `encode/mention_stream_20` and `encode/kpi_update`: encoding alone.
//! * `update_to_10k/drained`: encode both frames and push each to 10,000 outboxes. Only
//!   the update is timed; afterwards (untimed) every outbox is drained with `take`, as
//!   each socket's writer would, so every update meets empty queues: the steady state of
//!   clients that keep up.
//! * `update_to_10k/concurrent_writer`: the same, while a second thread plays the 10,000
//!   writers, looping over the outboxes and draining them with `take` (lock contention
//!   and cache traffic included). On the 2-core machine this thread competes with the
//!   criterion thread for the cores, so read it as a pessimistic figure.
//!
//! Throughput is in frames queued per second (2 frames × 10,000 sockets per update).
//!
//! Run: `cargo bench --bench fanout`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warroom_actors::push::outbox::{self, EncodedFrame, Outbox, OutboxLimits};
use warroom_actors::sources::mock::MentionGenerator;
use warroom_engine::wire::{events, Channel, KpiUpdateData, WindowFigures};
use warroom_engine::{Config, OrgId, ScoredMention, Window};
use warroom_streams::sentiment::analyzer;
use warroom_streams::window::{OrgWindows, WindowParams};

/// 2026-01-01T00:00:00Z: a fixed start, so every run sees the same data.
const T0_MS: i64 = 1_767_225_600_000;
const SOCKETS: usize = 10_000;
const MENTIONS_PER_UPDATE: usize = 20;
const FRAMES_PER_UPDATE: u64 = 2;

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("time in range")
}

/// What the two frames of an update carry: 20 scored mentions, and a KPI payload built
/// as `OrgState::kpi_update_data` builds it from an hour of traffic at 20 mentions/s.
fn payloads(org: &OrgId) -> (Vec<ScoredMention>, KpiUpdateData) {
    let mut generator = MentionGenerator::new(org, 42);
    let mut windows = OrgWindows::new(WindowParams::from_config(&Config::defaults().engine));
    let score = |mention: warroom_engine::Mention, now_ms: i64| ScoredMention {
        org: org.clone(),
        sentiment: analyzer().polarity_scores(&mention.content),
        mention,
        ingested_at_us: now_ms * 1000,
    };
    let mut now_ms = T0_MS;
    for _ in 0..3_600 {
        now_ms += 1_000;
        for mention in generator.generate(time(now_ms), 20, 0.02) {
            windows.apply(&score(mention, now_ms), now_ms);
        }
        windows.advance(now_ms);
    }
    let batch = generator
        .generate(time(now_ms), MENTIONS_PER_UPDATE, 0.02)
        .into_iter()
        .map(|m| score(m, now_ms))
        .collect();
    let snapshot = |w| windows.snapshot(w, now_ms);
    let figures = Window::ALL
        .iter()
        .map(|w| {
            let s = snapshot(*w);
            (
                w.as_str().to_owned(),
                WindowFigures {
                    mention_count: s.mention_count,
                    avg_sentiment: s.avg_sentiment,
                    negative_share: s.negative_share,
                    positive_share: s.positive_share,
                    strongly_negative: s.strongly_negative,
                },
            )
        })
        .collect::<BTreeMap<_, _>>();
    let h1 = snapshot(Window::H1);
    let kpi = KpiUpdateData {
        as_of: h1.as_of,
        mentions_24h: snapshot(Window::H24).mention_count,
        avg_sentiment: snapshot(Window::D7).avg_sentiment,
        active_crises: 0,
        windows: figures,
        volume_1h: h1.volume.iter().map(|p| p.count).collect(),
        volume_1h_negative: h1.volume.iter().map(|p| p.negative).collect(),
        volume_1h_positive: h1.volume.iter().map(|p| p.positive).collect(),
        by_source_15m: snapshot(Window::M15).by_source,
        trending_1h: h1.trending,
        counters: windows.counters(),
    };
    (batch, kpi)
}

/// Encodes one frame as `OrgState::emit` does.
fn encoded<T: serde::Serialize>(
    event: &'static str,
    org: &OrgId,
    seq: u64,
    ingested_at_us: Option<i64>,
    data: &T,
) -> EncodedFrame {
    EncodedFrame {
        seq,
        channel: Channel::of_event(event),
        class: outbox::class_of(event),
        bytes: outbox::encode(event, org, seq, Utc::now(), ingested_at_us, data),
    }
}

/// One update: both frames encoded once and pushed to every outbox.
fn update(
    org: &OrgId,
    seq: &mut u64,
    batch: &[ScoredMention],
    kpi: &KpiUpdateData,
    outboxes: &[Arc<Outbox>],
) {
    let earliest = batch.iter().map(|m| m.ingested_at_us).min();
    *seq += 1;
    let mentions = encoded(events::MENTION_STREAM, org, *seq, earliest, &batch);
    for outbox in outboxes {
        black_box(outbox.push(mentions.clone()));
    }
    *seq += 1;
    let kpis = encoded(events::KPI_UPDATE, org, *seq, None, kpi);
    for outbox in outboxes {
        black_box(outbox.push(kpis.clone()));
    }
}

fn bench_fanout(c: &mut Criterion) {
    let config = Config::defaults();
    let org = OrgId::new("harbor-city");
    let (batch, kpi) = payloads(&org);
    let limits = OutboxLimits {
        max_frames: config.push.socket_queue_frames,
        max_bytes: config.push.socket_queue_bytes,
    };
    let outboxes: Vec<Arc<Outbox>> = (0..SOCKETS)
        .map(|_| Arc::new(Outbox::new(limits)))
        .collect();
    let sample_mentions = encoded(events::MENTION_STREAM, &org, 1, Some(0), &batch);
    let sample_kpi = encoded(events::KPI_UPDATE, &org, 2, None, &kpi);
    println!(
        "frames: mention-stream of {} mentions {} bytes, kpi-update {} bytes",
        batch.len(),
        sample_mentions.bytes.len(),
        sample_kpi.bytes.len()
    );

    let mut group = c.benchmark_group("encode");
    group.sample_size(50);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("mention_stream_20", |b| {
        b.iter(|| encoded(events::MENTION_STREAM, &org, 1, Some(0), black_box(&batch)))
    });
    group.bench_function("kpi_update", |b| {
        b.iter(|| encoded(events::KPI_UPDATE, &org, 2, None, black_box(&kpi)))
    });
    group.finish();

    let mut group = c.benchmark_group("update_to_10k");
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(FRAMES_PER_UPDATE * SOCKETS as u64));
    let mut seq = 0;
    group.bench_function("drained", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                update(&org, &mut seq, &batch, &kpi, &outboxes);
                total += start.elapsed();
                for outbox in &outboxes {
                    black_box(outbox.take(usize::MAX));
                }
            }
            total
        })
    });

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let outboxes = outboxes.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut frames = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for outbox in &outboxes {
                    frames += outbox.take(usize::MAX).frames.len() as u64;
                }
            }
            frames
        })
    };
    group.bench_function("concurrent_writer", |b| {
        b.iter(|| update(&org, &mut seq, &batch, &kpi, &outboxes))
    });
    stop.store(true, Ordering::Relaxed);
    let taken = writer.join().expect("writer thread");
    let (dropped, conflated) = outboxes
        .iter()
        .map(|o| o.loss_counters())
        .fold((0, 0), |(d, c), (d2, c2)| (d + d2, c + c2));
    println!(
        "concurrent writer took {taken} frames; over both runs {dropped} mention frames \
         dropped and {conflated} KPI frames conflated in the queues"
    );
    group.finish();
}

criterion_group!(benches, bench_fanout);
criterion_main!(benches);

//! The whole in-process pipeline: sentiment (as the ingestor scores each mention once) →
//! ingest handle → timely workers → exchange by organisation → windows + crisis +
//! campaigns → update sink, in mentions per second, with 1 and 2 timely workers.
//!
//! Run: `cargo bench --bench pipeline`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warroom_actors::sources::mock::MentionGenerator;
use warroom_engine::{
    Config, Event, Mention, OrgId, OrgUpdate, ScoredMention, SystemClock, UpdateSink,
};
use warroom_streams::dataflow::{Dataflow, DataflowConfig};

/// Counts what the dataflow publishes and otherwise drops it (the benchmark stops at the
/// operators; fan-out has its own benchmark).
#[derive(Default)]
struct CountingSink {
    mentions: AtomicU64,
}

impl UpdateSink for CountingSink {
    fn publish(&self, _org: &OrgId, update: OrgUpdate) {
        if let OrgUpdate::Mentions(batch) = update {
            self.mentions
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }
}

const ORGS: usize = 50;
const BATCH: usize = 500;

fn corpus(count: usize) -> Vec<(OrgId, Mention)> {
    let orgs: Vec<OrgId> = (0..ORGS).map(|i| OrgId::new(format!("org-{i}"))).collect();
    let mut generators: Vec<MentionGenerator> =
        orgs.iter().map(|o| MentionGenerator::new(o, 7)).collect();
    let now = chrono::Utc::now();
    let mut events = Vec::with_capacity(count);
    let mut i = 0;
    while events.len() < count {
        let org = i % ORGS;
        for mention in generators[org].generate(now, 10, 0.02) {
            events.push((orgs[org].clone(), mention));
        }
        i += 1;
    }
    events.truncate(count);
    events
}

fn pipeline(c: &mut Criterion) {
    let events = corpus(100_000);
    let vader = warroom_streams::sentiment::analyzer();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let config = Config::defaults();
    for workers in [1, 2] {
        let mut dataflow_config = DataflowConfig::new(&config.engine, &config.crisis);
        dataflow_config.workers = workers;
        dataflow_config.max_in_flight = usize::MAX / 2;
        let sink = Arc::new(CountingSink::default());
        let dataflow = Dataflow::start(
            dataflow_config,
            Arc::new(SystemClock),
            sink.clone() as Arc<dyn UpdateSink>,
        )
        .expect("dataflow starts");
        let handle = dataflow.handle();
        group.bench_function(format!("workers={workers}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let target = sink.mentions.load(Ordering::Relaxed) + events.len() as u64;
                    // Cloning the input is not part of the pipeline: do it before the clock starts.
                    let batches: Vec<Vec<(OrgId, Mention)>> =
                        events.chunks(BATCH).map(<[_]>::to_vec).collect();
                    let start = Instant::now();
                    for batch in batches {
                        // Scored on this thread, as a request's batch is on its task.
                        let scored = batch
                            .into_iter()
                            .map(|(org, mention)| {
                                Event::Mention(ScoredMention {
                                    org,
                                    sentiment: vader.polarity_scores(&mention.content),
                                    mention,
                                    ingested_at_us: 0,
                                })
                            })
                            .collect();
                        handle.send(scored).expect("dataflow accepts");
                    }
                    while sink.mentions.load(Ordering::Relaxed) < target {
                        std::thread::yield_now();
                    }
                    total += start.elapsed();
                }
                total
            })
        });
        dataflow.shutdown();
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);

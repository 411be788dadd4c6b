//! VADER `polarity_scores` throughput.
//!
//! `social_mix` scores ~1,000 social-style texts from the reference fixture (15-40 words,
//! hashtags, handles, emojis, mixed caps); divide the reported time by the element count
//! (criterion prints it as throughput) for the time per text. `short` and `long` bracket it.
//!
//! Run: `cargo bench -p warroom --bench sentiment`.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warroom_streams::sentiment::analyzer;

const FIXTURE: &str = include_str!("../streams/tests/fixtures/vader_reference.jsonl");

/// Every fixture text of 15 to 40 words, thinned evenly to about 1,000.
fn social_texts() -> Vec<String> {
    let all: Vec<String> = FIXTURE
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|row| row.get("text")?.as_str().map(str::to_owned))
        .filter(|text| (15..=40).contains(&text.split_whitespace().count()))
        .collect();
    let step = (all.len() / 1000).max(1);
    all.into_iter().step_by(step).take(1000).collect()
}

fn bench_sentiment(c: &mut Criterion) {
    let analyzer = analyzer();
    let texts = social_texts();
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    println!(
        "social_mix: {} texts, {:.1} words and {:.0} bytes per text on average, {} non-ASCII",
        texts.len(),
        words as f64 / texts.len() as f64,
        texts.iter().map(String::len).sum::<usize>() as f64 / texts.len() as f64,
        texts.iter().filter(|t| !t.is_ascii()).count()
    );

    let mut group = c.benchmark_group("sentiment");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("social_mix", |b| {
        b.iter(|| {
            for text in &texts {
                black_box(analyzer.polarity_scores(black_box(text)));
            }
        })
    });

    let short = "Great speech tonight! #Vote2024";
    let typical = "@ReyesForSenate absolutely NAILED the debate on healthcare tonight, \
                   but the answer on taxes was kind of weak?? Still voting for her 🔥🔥 \
                   #Debate #Vote2024 https://t.co/x8Yz2Ab";
    let long = [typical; 20].join(" ");
    group.throughput(Throughput::Elements(1));
    for (name, text) in [
        ("short", short),
        ("typical", typical),
        ("long", long.as_str()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(analyzer.polarity_scores(black_box(text))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sentiment);
criterion_main!(benches);

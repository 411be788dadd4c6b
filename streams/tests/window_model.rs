//! Model-based property test of `OrgWindows`: random mentions (on time, late, out of
//! order, beyond the retention, slightly in the future) and random clock advances, each
//! step compared with a brute-force model that keeps every event in a `Vec`.
//!
//! Exact KPIs are compared exactly (averages within 1e-9); influencers, exact by design,
//! exactly; countries and hashtags (Space-Saving) by the sketch guarantees, and exactly
//! whenever their keys fit in the sketch. Two instances run side by side: one advanced on
//! every tick (snapshots from the cached merges) and one advanced only now and then
//! (snapshots often merging every bucket).

use std::collections::BTreeMap;

use chrono::DateTime;
use proptest::prelude::*;
use warroom_engine::{
    sentiment_class, Author, KpiSnapshot, Mention, OrgId, ScoredMention, SentimentClass,
    SentimentScores, Source, StreamCounters, Window,
};
use warroom_streams::window::{Applied, OrgWindows, WindowParams};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Not aligned to a minute or an hour on purpose.
const T0: i64 = 1_767_225_600_000 + 37 * MINUTE + 12_345;
const CAPACITY: usize = 4;
const TOP_K: usize = 3;

#[derive(Debug, Clone)]
struct MentionSpec {
    offset_ms: i64,
    source: usize,
    country: Option<u8>,
    tags: Vec<u8>,
    handle: u8,
    reach: u64,
    followers: u64,
    compound: f64,
}

#[derive(Debug, Clone)]
enum Op {
    Mention(MentionSpec),
    Tick { ms: i64, advance: bool },
}

fn compound() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            -1.0,
            -0.95,
            -0.800_000_1,
            -0.8,
            -0.5,
            -0.05,
            -0.049_9,
            0.0,
            0.049_9,
            0.05,
            0.5,
            1.0,
        ]),
        -1.0..=1.0f64,
    ]
}

fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        5 => -90_000i64..5_000,
        2 => -2 * HOUR..0,
        1 => -30 * HOUR..0,
        1 => -(7 * DAY + 2 * HOUR)..-(7 * DAY - 2 * HOUR),
        1 => -8 * DAY..0,
        1 => 0i64..6 * MINUTE,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let mention = (
        offset(),
        0usize..Source::COUNT,
        prop::option::weighted(0.8, 0u8..6),
        prop::collection::vec(0u8..7, 0..3),
        0u8..8,
        prop_oneof![Just(0u64), 1u64..1_000],
        0u64..1_000,
        compound(),
    )
        .prop_map(
            |(offset_ms, source, country, tags, handle, reach, followers, compound)| {
                Op::Mention(MentionSpec {
                    offset_ms,
                    source,
                    country,
                    tags,
                    handle,
                    reach,
                    followers,
                    compound,
                })
            },
        );
    let tick = (
        prop_oneof![4 => 0i64..90_000, 2 => 0i64..3 * HOUR, 1 => 0i64..2 * DAY],
        prop::bool::weighted(0.6),
    )
        .prop_map(|(ms, advance)| Op::Tick { ms, advance });
    prop_oneof![6 => mention, 2 => tick]
}

fn scored(spec: &MentionSpec, now: i64) -> ScoredMention {
    let event_ms = now + spec.offset_ms;
    ScoredMention {
        org: OrgId::new("model"),
        mention: Mention {
            external_id: format!("{event_ms}"),
            source: Source::ALL[spec.source],
            content: String::new(),
            author: Author {
                handle: format!("@h{}", spec.handle),
                name: None,
                followers: spec.followers,
                reach: spec.reach,
            },
            country: spec.country.map(|c| format!("C{c}")),
            region: None,
            language: None,
            hashtags: spec.tags.iter().map(|t| format!("t{t}")).collect(),
            url: None,
            event_time: DateTime::from_timestamp_millis(event_ms).unwrap(),
            source_sentiment: None,
        },
        sentiment: SentimentScores {
            compound: spec.compound,
            ..SentimentScores::default()
        },
        ingested_at_us: now * 1000,
    }
}

/// One applied event as the model keeps it.
#[derive(Debug, Clone)]
struct Ev {
    minute: i64,
    compound: f64,
    source: Source,
    country: Option<String>,
    tags: Vec<String>,
    handle: String,
    reach: u64,
}

#[derive(Debug, Default)]
struct Model {
    events: Vec<Ev>,
    counters: StreamCounters,
}

fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE)
}

fn hour_of_minute(m: i64) -> i64 {
    m.div_euclid(60)
}

impl Model {
    fn apply(&mut self, m: &ScoredMention, now: i64) -> Applied {
        let clock_minute = minute_of(now);
        let minute = minute_of(m.mention.event_time.timestamp_millis()).min(clock_minute);
        if hour_of_minute(minute) < hour_of_minute(clock_minute) - 168 {
            self.counters.too_late += 1;
            return Applied::TooLate;
        }
        let a = &m.mention.author;
        self.events.push(Ev {
            minute,
            compound: m.sentiment.compound,
            source: m.mention.source,
            country: m.mention.country.clone(),
            tags: m.mention.hashtags.clone(),
            handle: a.handle.clone(),
            reach: if a.reach > 0 { a.reach } else { a.followers },
        });
        self.counters.mentions_applied += 1;
        if minute < clock_minute {
            self.counters.late_applied += 1;
            Applied::Late
        } else {
            Applied::OnTime
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, sum) = values.fold((0u64, 0.0), |(n, s), v| (n + 1, s + v));
    (n > 0).then(|| sum / n as f64)
}

fn close_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => close(a, b),
        _ => false,
    }
}

/// Checks a Space-Saving top list against the exact counts of the range it covers.
fn check_heavy_hitters(what: &str, list: &[(String, u64)], truth: &BTreeMap<String, u64>) {
    let n: u64 = truth.values().sum();
    assert!(list.len() <= TOP_K, "{what}: {} > top_k", list.len());
    for pair in list.windows(2) {
        assert!(
            pair[0].1 > pair[1].1 || (pair[0].1 == pair[1].1 && pair[0].0 < pair[1].0),
            "{what}: not ranked: {list:?}"
        );
    }
    for (key, count) in list {
        let t = truth.get(key).copied().unwrap_or(0);
        assert!(t > 0, "{what}: {key} was never seen");
        assert!(
            *count >= t,
            "{what}: {key} count {count} under-estimates {t}"
        );
    }
    let kth = (list.len() == TOP_K).then(|| list[TOP_K - 1].1);
    for (key, &t) in truth {
        if list.iter().any(|(k, _)| k == key) {
            continue;
        }
        let below_floor = t * CAPACITY as u64 <= n;
        let below_kth = kth.is_some_and(|kth| t <= kth);
        assert!(
            below_floor || below_kth,
            "{what}: {key} ({t} of {n}) missing from {list:?} (truth {truth:?})"
        );
    }
    if truth.len() <= CAPACITY {
        let mut exact: Vec<(String, u64)> = truth.iter().map(|(k, c)| (k.clone(), *c)).collect();
        exact.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        exact.truncate(TOP_K);
        assert_eq!(
            list,
            &exact[..],
            "{what}: keys fit in the sketch, so it must be exact"
        );
    }
}

fn check_snapshot(snap: &KpiSnapshot, model: &Model, window: Window, now: i64) {
    let e = minute_of(now);
    let he = hour_of_minute(e);
    let in_window = |ev: &&Ev| match window {
        Window::D7 => (he - 168..=he).contains(&hour_of_minute(ev.minute)),
        _ => (e - window.minutes() + 1..=e).contains(&ev.minute),
    };
    let evs: Vec<&Ev> = model.events.iter().filter(in_window).collect();
    let ctx = format!("{window:?} at {now}");

    assert_eq!(snap.window, window);
    assert_eq!(snap.as_of.timestamp_millis(), now, "{ctx}");
    let total = evs.len() as u64;
    assert_eq!(snap.mention_count, total, "{ctx}: mention_count");
    let avg = mean(evs.iter().map(|e| e.compound));
    assert!(
        close_opt(snap.avg_sentiment, avg),
        "{ctx}: avg {:?} vs {avg:?}",
        snap.avg_sentiment
    );
    let class = |c: SentimentClass| {
        evs.iter()
            .filter(|e| SentimentClass::of(e.compound) == c)
            .count() as f64
    };
    let share = |x: f64| if total == 0 { 0.0 } else { x / total as f64 };
    assert!(
        close(snap.negative_share, share(class(SentimentClass::Negative))),
        "{ctx}: negative share"
    );
    assert!(
        close(snap.positive_share, share(class(SentimentClass::Positive))),
        "{ctx}: positive share"
    );
    assert!(
        close(snap.neutral_share, share(class(SentimentClass::Neutral))),
        "{ctx}: neutral share"
    );
    let strong = evs
        .iter()
        .filter(|e| e.compound < sentiment_class::STRONGLY_NEGATIVE)
        .count() as u64;
    assert_eq!(snap.strongly_negative, strong, "{ctx}: strongly_negative");

    // By source, largest first, ties by source order.
    let mut by_source: Vec<(Source, u64, Option<f64>)> = Source::ALL
        .into_iter()
        .map(|s| {
            let of: Vec<f64> = evs
                .iter()
                .filter(|e| e.source == s)
                .map(|e| e.compound)
                .collect();
            (s, of.len() as u64, mean(of.into_iter()))
        })
        .filter(|(_, n, _)| *n > 0)
        .collect();
    by_source.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(
        snap.by_source.len(),
        by_source.len(),
        "{ctx}: by_source {:?}",
        snap.by_source
    );
    for (got, (source, count, avg)) in snap.by_source.iter().zip(&by_source) {
        assert_eq!(
            (got.source, got.count),
            (*source, *count),
            "{ctx}: by_source"
        );
        assert!(
            close(got.share, share(*count as f64)),
            "{ctx}: source share"
        );
        assert!(close_opt(got.avg_sentiment, *avg), "{ctx}: source avg");
    }

    // Volume series: (slot start in minutes, slot length in minutes, count).
    let slots: Vec<(i64, i64)> = match window {
        Window::M15 | Window::H1 => (e - window.minutes() + 1..=e).map(|m| (m, 1)).collect(),
        Window::H24 => (0..24).map(|i| (e - 1439 + 60 * i, 60)).collect(),
        Window::D7 => (he - 168..=he).map(|h| (h * 60, 60)).collect(),
    };
    let resolution = if matches!(window, Window::M15 | Window::H1) {
        60
    } else {
        3600
    };
    assert_eq!(snap.volume_resolution_secs, resolution, "{ctx}");
    assert_eq!(snap.volume.len(), slots.len(), "{ctx}: volume length");
    for (point, (start, len)) in snap.volume.iter().zip(&slots) {
        let of: Vec<f64> = evs
            .iter()
            .filter(|e| (*start..start + len).contains(&e.minute))
            .map(|e| e.compound)
            .collect();
        assert_eq!(
            point.at.timestamp_millis(),
            start * MINUTE,
            "{ctx}: slot start"
        );
        assert_eq!(point.count, of.len() as u64, "{ctx}: volume at {start}");
        let negative = of
            .iter()
            .filter(|c| **c <= sentiment_class::NEGATIVE)
            .count() as u64;
        let positive = of
            .iter()
            .filter(|c| **c >= sentiment_class::POSITIVE)
            .count() as u64;
        assert_eq!(point.negative, negative, "{ctx}: negative at {start}");
        assert_eq!(point.positive, positive, "{ctx}: positive at {start}");
        let strongly = of
            .iter()
            .filter(|c| **c < sentiment_class::STRONGLY_NEGATIVE)
            .count() as u64;
        assert_eq!(
            point.strongly_negative, strongly,
            "{ctx}: strongly negative at {start}"
        );
        assert!(
            close_opt(point.avg_sentiment, mean(of.into_iter())),
            "{ctx}: volume avg"
        );
    }
    assert_eq!(
        snap.volume.iter().map(|p| p.count).sum::<u64>(),
        total,
        "{ctx}"
    );

    // Top lists cover the window (15m, 1h, 7d) or the clock hours overlapping it (24h).
    let tops: Vec<&Ev> = match window {
        Window::H24 => {
            let first = hour_of_minute(e - 1439);
            model
                .events
                .iter()
                .filter(|ev| (first..=he).contains(&hour_of_minute(ev.minute)))
                .collect()
        }
        _ => evs.clone(),
    };
    let mut countries = BTreeMap::new();
    let mut tags = BTreeMap::new();
    let mut reach: BTreeMap<(Source, String), u64> = BTreeMap::new();
    for ev in &tops {
        if let Some(c) = &ev.country {
            *countries.entry(c.clone()).or_insert(0) += 1;
        }
        for t in &ev.tags {
            *tags.entry(t.clone()).or_insert(0) += 1;
        }
        if ev.reach > 0 {
            let r = reach.entry((ev.source, ev.handle.clone())).or_insert(0);
            *r = (*r).max(ev.reach);
        }
    }
    let got: Vec<(String, u64)> = snap
        .top_countries
        .iter()
        .map(|c| (c.country.clone(), c.count))
        .collect();
    check_heavy_hitters(&format!("{ctx}: countries"), &got, &countries);
    let got: Vec<(String, u64)> = snap
        .trending
        .iter()
        .map(|t| (t.term.clone(), t.count))
        .collect();
    check_heavy_hitters(&format!("{ctx}: hashtags"), &got, &tags);
    let mut expected: Vec<(Source, String, u64)> =
        reach.into_iter().map(|((s, h), r)| (s, h, r)).collect();
    expected.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then_with(|| a.0.cmp(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    expected.truncate(TOP_K);
    let got: Vec<(Source, String, u64)> = snap
        .top_influencers
        .iter()
        .map(|i| (i.source, i.handle.clone(), i.reach))
        .collect();
    assert_eq!(got, expected, "{ctx}: influencers");
}

fn check_all(w: &OrgWindows, model: &Model, now: i64) {
    for window in Window::ALL {
        check_snapshot(&w.snapshot(window, now), model, window, now);
    }
    assert_eq!(w.counters(), model.counters);
    let e = minute_of(now);
    let counts: Vec<u64> = (e - 19..=e)
        .map(|m| model.events.iter().filter(|ev| ev.minute == m).count() as u64)
        .collect();
    assert_eq!(w.minute_counts(now, 20), counts, "minute_counts");
    let strong = model
        .events
        .iter()
        .filter(|ev| ev.minute > e - 15 && ev.compound < sentiment_class::STRONGLY_NEGATIVE)
        .count() as u64;
    assert_eq!(w.strongly_negative(now, 15), strong, "strongly_negative");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn windows_match_a_brute_force_model(ops in prop::collection::vec(op(), 1..120)) {
        let params = WindowParams { sketch_capacity: CAPACITY, top_k: TOP_K };
        let mut eager = OrgWindows::new(params);
        let mut lazy = OrgWindows::new(params);
        let mut model = Model::default();
        let mut now = T0;
        for op in &ops {
            match op {
                Op::Mention(spec) => {
                    let m = scored(spec, now);
                    let expected = model.apply(&m, now);
                    prop_assert_eq!(eager.apply(&m, now), expected);
                    prop_assert_eq!(lazy.apply(&m, now), expected);
                }
                Op::Tick { ms, advance } => {
                    now += ms;
                    eager.advance(now);
                    if *advance {
                        lazy.advance(now);
                    }
                }
            }
            check_all(&eager, &model, now);
            check_all(&lazy, &model, now);
        }
    }
}

#[test]
fn retention_edge_is_hour_aligned() {
    let params = WindowParams {
        sketch_capacity: CAPACITY,
        top_k: TOP_K,
    };
    let mut w = OrgWindows::new(params);
    // now = 10:30; the oldest kept hour is 10:00 seven days earlier.
    let now = 1_767_225_600_000 + 10 * HOUR + 30 * MINUTE;
    let spec = |offset_ms| MentionSpec {
        offset_ms,
        source: 0,
        country: None,
        tags: vec![],
        handle: 0,
        reach: 0,
        followers: 0,
        compound: 0.0,
    };
    assert_eq!(
        w.apply(&scored(&spec(-7 * DAY - 30 * MINUTE), now), now),
        Applied::Late
    );
    assert_eq!(
        w.apply(&scored(&spec(-7 * DAY - 30 * MINUTE - 1), now), now),
        Applied::TooLate
    );
    assert_eq!(
        w.apply(&scored(&spec(4 * MINUTE), now), now),
        Applied::OnTime
    );
    let c = w.counters();
    assert_eq!((c.mentions_applied, c.late_applied, c.too_late), (2, 1, 1));
    assert_eq!(w.snapshot(Window::D7, now).mention_count, 2);
    assert_eq!(
        w.snapshot(Window::M15, now).mention_count,
        1,
        "the future one counts now"
    );
}

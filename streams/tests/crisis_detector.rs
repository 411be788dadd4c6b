//! Crisis detector scenarios on a manual time axis (no sleeping): mentions are applied
//! with explicit event and processing times, and the detector is evaluated on a
//! simulated 10-second tick.

use chrono::DateTime;
use warroom_engine::config::Config;
use warroom_engine::{
    Author, CrisisKind, CrisisSignal, Mention, OrgId, ScoredMention, SentimentScores, Source,
};
use warroom_streams::crisis::{severity, CrisisDetector, CrisisParams};
use warroom_streams::window::{OrgWindows, WindowParams};

/// 2026-01-01T00:00:00Z, minute aligned.
const T0: i64 = 1_767_225_600_000;
const MINUTE: i64 = 60_000;
const TICKS_PER_MINUTE: i64 = 6;

fn mention(event_ms: i64, compound: f64, source: Source, hashtag: &str) -> ScoredMention {
    ScoredMention {
        org: OrgId::new("test-org"),
        mention: Mention {
            external_id: format!("m{event_ms}"),
            source,
            content: String::new(),
            author: Author {
                handle: "@someone".to_owned(),
                name: None,
                followers: 10,
                reach: 100,
            },
            country: Some("US".to_owned()),
            region: None,
            language: None,
            hashtags: vec![hashtag.to_owned()],
            url: None,
            event_time: DateTime::from_timestamp_millis(event_ms).unwrap(),
            source_sentiment: None,
        },
        sentiment: SentimentScores {
            compound,
            ..SentimentScores::default()
        },
        ingested_at_us: event_ms * 1000,
    }
}

fn params() -> CrisisParams {
    CrisisParams {
        negative_threshold: 25,
        spike_z: 4.0,
        spike_min_mentions: 50,
        baseline_alpha: 0.05,
        clear_ratio: 0.5,
        clear_after_ms: 5 * MINUTE,
        warmup_minutes: 20,
    }
}

/// A simulated organisation: windows, detector and the signals seen, with their times.
struct Sim {
    windows: OrgWindows,
    detector: CrisisDetector,
    now: i64,
    signals: Vec<(i64, CrisisSignal)>,
}

impl Sim {
    fn new(params: CrisisParams) -> Self {
        Self {
            windows: OrgWindows::new(WindowParams {
                sketch_capacity: 64,
                top_k: 10,
            }),
            detector: CrisisDetector::new(params),
            now: T0,
            signals: Vec::new(),
        }
    }

    /// One minute of traffic: `normal` neutral and `negative` strongly negative mentions
    /// (spread over the minute), with an evaluation on every 10-second tick.
    fn minute(&mut self, normal: i64, negative: i64) {
        for tick in 0..TICKS_PER_MINUTE {
            let share = |n: i64| n * (tick + 1) / TICKS_PER_MINUTE - n * tick / TICKS_PER_MINUTE;
            for _ in 0..share(normal) {
                let m = mention(self.now, 0.0, Source::Twitter, "weather");
                self.windows.apply(&m, self.now);
            }
            for _ in 0..share(negative) {
                let m = mention(self.now, -0.95, Source::Reddit, "scandal");
                self.windows.apply(&m, self.now);
            }
            self.now += MINUTE / TICKS_PER_MINUTE;
            self.windows.advance(self.now);
            for s in self.detector.evaluate(&self.windows, self.now) {
                self.signals.push((self.now, s));
            }
        }
    }

    fn minutes(&mut self, n: usize, normal: i64, negative: i64) {
        for _ in 0..n {
            self.minute(normal, negative);
        }
    }

    fn of_kind(&self, kind: CrisisKind) -> Vec<(i64, &CrisisSignal)> {
        self.signals
            .iter()
            .filter(|(_, s)| match s {
                CrisisSignal::Raised { kind: k, .. }
                | CrisisSignal::Escalated { kind: k, .. }
                | CrisisSignal::Cleared { kind: k, .. } => *k == kind,
            })
            .map(|(t, s)| (*t, s))
            .collect()
    }
}

fn raised(signals: &[(i64, &CrisisSignal)]) -> Vec<i64> {
    signals
        .iter()
        .filter(|(_, s)| matches!(s, CrisisSignal::Raised { .. }))
        .map(|(t, _)| *t)
        .collect()
}

fn cleared(signals: &[(i64, &CrisisSignal)]) -> Vec<i64> {
    signals
        .iter()
        .filter(|(_, s)| matches!(s, CrisisSignal::Cleared { .. }))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn negative_surge_raises_once_escalates_clears_and_raises_again() {
    let mut p = params();
    p.spike_min_mentions = u64::MAX; // isolate the surge rule
    let mut sim = Sim::new(p);

    sim.minutes(20, 10, 0);
    assert!(sim.signals.is_empty(), "quiet traffic: {:?}", sim.signals);

    // 5 strongly negative mentions a minute for 10 minutes: 50 in the 15-minute window.
    let burst_start = sim.now;
    sim.minutes(10, 10, 5);
    let surge = sim.of_kind(CrisisKind::NegativeSurge);
    assert_eq!(
        raised(&surge).len(),
        1,
        "one incident, one crisis: {surge:?}"
    );
    // 26 > 25 needs a sixth minute of the burst.
    assert!(raised(&surge)[0] > burst_start + 5 * MINUTE);
    let mut last = match surge[0].1 {
        CrisisSignal::Raised {
            severity, evidence, ..
        } => {
            assert_eq!(*severity, 3, "just above the threshold");
            assert!(evidence.strongly_negative_15m > 25);
            assert_eq!(evidence.threshold, 25);
            assert!(evidence.mentions_15m > evidence.strongly_negative_15m);
            assert!(evidence.avg_sentiment_15m.unwrap() < 0.0);
            assert!(evidence.top_sources.contains(&Source::Reddit));
            assert!(evidence.top_terms.contains(&"scandal".to_owned()));
            *severity
        }
        ref other => panic!("first signal must be Raised, got {other:?}"),
    };
    let mut escalations = 0;
    for (_, s) in &surge[1..] {
        match s {
            CrisisSignal::Escalated { severity, .. } => {
                assert!(*severity > last, "escalation must raise severity");
                last = *severity;
                escalations += 1;
            }
            other => panic!("only escalations while the burst lasts, got {other:?}"),
        }
    }
    assert!(escalations >= 1);
    assert_eq!(last, severity(50.0 / 25.0));
    assert_eq!(sim.detector.active(CrisisKind::NegativeSurge), Some(last));

    // Quiet again. At the start of quiet minute k the 15-minute window (current minute
    // included) still holds 10 - (k - 4) burst minutes: 10 mentions (< 12.5) at k = 12,
    // and the crisis clears 5 minutes later.
    let quiet_start = sim.now;
    sim.minutes(30, 10, 0);
    let surge = sim.of_kind(CrisisKind::NegativeSurge);
    let clears = cleared(&surge);
    assert_eq!(clears.len(), 1, "{surge:?}");
    assert_eq!(clears[0], quiet_start + 17 * MINUTE);
    assert_eq!(raised(&surge).len(), 1, "no re-raise while clearing");
    assert_eq!(sim.detector.active(CrisisKind::NegativeSurge), None);

    // A new incident raises a new crisis.
    sim.minutes(5, 10, 10);
    let surge = sim.of_kind(CrisisKind::NegativeSurge);
    assert_eq!(raised(&surge).len(), 2);
    assert!(sim.of_kind(CrisisKind::VolumeSpike).is_empty());
}

#[test]
fn a_dip_during_the_cool_down_restarts_it() {
    let mut p = params();
    p.spike_min_mentions = u64::MAX;
    let mut sim = Sim::new(p);
    sim.minutes(10, 0, 0);
    sim.minutes(1, 0, 40);
    sim.minutes(15, 0, 0); // the burst leaves the 15-minute window
    let before = cleared(&sim.of_kind(CrisisKind::NegativeSurge)).len();
    assert_eq!(before, 0, "still cooling down");
    sim.minutes(1, 0, 20); // back at the clearing level (20 ≥ 12.5): cool-down restarts
    sim.minutes(14, 0, 0);
    let surge = sim.of_kind(CrisisKind::NegativeSurge);
    assert!(
        cleared(&surge).is_empty(),
        "the dip restarted the cool-down: {surge:?}"
    );
    sim.minutes(6, 0, 0);
    assert_eq!(cleared(&sim.of_kind(CrisisKind::NegativeSurge)).len(), 1);
    assert_eq!(raised(&sim.of_kind(CrisisKind::NegativeSurge)).len(), 1);
}

#[test]
fn a_zero_threshold_raises_on_one_mention_and_still_clears() {
    let mut p = params();
    p.negative_threshold = 0;
    p.spike_min_mentions = u64::MAX;
    let mut sim = Sim::new(p);
    sim.minutes(1, 0, 1);
    assert_eq!(raised(&sim.of_kind(CrisisKind::NegativeSurge)).len(), 1);
    sim.minutes(25, 0, 0);
    assert_eq!(cleared(&sim.of_kind(CrisisKind::NegativeSurge)).len(), 1);
}

#[test]
fn no_volume_spike_during_warm_up() {
    let mut sim = Sim::new(params());
    sim.minutes(3, 10, 0);
    assert!(!sim.detector.warmed_up());
    sim.minutes(5, 100, 0);
    assert!(!sim.detector.warmed_up());
    assert!(
        sim.of_kind(CrisisKind::VolumeSpike).is_empty(),
        "{:?}",
        sim.signals
    );
}

#[test]
fn volume_spike_fires_once_without_polluting_the_baseline_then_clears_and_refires() {
    let mut sim = Sim::new(params());
    // A noisy baseline around 10 a minute.
    for i in 0..40 {
        sim.minute(if i % 2 == 0 { 8 } else { 12 }, 0);
    }
    assert!(sim.detector.warmed_up());
    assert!(sim.signals.is_empty(), "{:?}", sim.signals);
    let before = sim.detector.baseline();
    assert!((before.mean - 10.0).abs() < 1.0, "{before:?}");

    // 60 a minute for 10 minutes.
    sim.minutes(10, 60, 0);
    let spike = sim.of_kind(CrisisKind::VolumeSpike);
    assert_eq!(raised(&spike).len(), 1, "{spike:?}");
    if let CrisisSignal::Raised {
        severity, evidence, ..
    } = spike[0].1
    {
        assert!((1..=10).contains(severity));
        assert!(evidence.z_score >= 4.0);
        assert!(evidence.observed_per_minute > evidence.baseline_per_minute);
        assert!((evidence.baseline_per_minute - 10.0).abs() < 1.0);
    }
    // The baseline is frozen: it neither moved nor counted the spike's minutes.
    let during = sim.detector.baseline();
    assert_eq!(during, before, "the baseline learned the spike");

    // Back to normal: the burst leaves the 5-minute span, then the cool-down runs.
    let calm_start = sim.now;
    sim.minutes(15, 10, 0);
    let spike = sim.of_kind(CrisisKind::VolumeSpike);
    let clears = cleared(&spike);
    assert_eq!(clears.len(), 1, "{spike:?}");
    assert!(clears[0] >= calm_start + 5 * MINUTE);
    assert_eq!(raised(&spike).len(), 1);
    let after = sim.detector.baseline();
    assert!(
        after.minutes > during.minutes,
        "learning resumes after clearing"
    );
    assert!((after.mean - 10.0).abs() < 1.0, "{after:?}");

    // A later spike is a new incident.
    sim.minutes(5, 80, 0);
    assert_eq!(raised(&sim.of_kind(CrisisKind::VolumeSpike)).len(), 2);
    assert!(
        sim.of_kind(CrisisKind::NegativeSurge).is_empty(),
        "neutral traffic"
    );
}

#[test]
fn a_steady_high_rate_is_not_a_spike() {
    let mut sim = Sim::new(params());
    sim.minutes(60, 500, 0);
    assert!(sim.signals.is_empty(), "{:?}", sim.signals);
    assert!((sim.detector.baseline().mean - 500.0).abs() < 1e-6);
}

#[test]
fn severity_is_monotone_and_bounded() {
    assert_eq!(severity(1.0), 3);
    assert_eq!(severity(2.0), 6);
    assert_eq!(severity(4.0), 9);
    assert_eq!(severity(1000.0), 10);
    assert_eq!(severity(0.5), 1);
    assert_eq!(severity(0.0), 1);
    assert_eq!(severity(f64::NAN), 1);
    let mut last = 0;
    for i in 0..10_000 {
        let s = severity(f64::from(i) / 100.0);
        assert!((1..=10).contains(&s));
        assert!(s >= last);
        last = s;
    }
}

#[test]
fn params_come_from_the_config_with_the_org_override() {
    let config = Config::defaults();
    let p = CrisisParams::from_config(&config.crisis, None);
    assert_eq!(p.negative_threshold, config.crisis.negative_threshold);
    assert_eq!(p.clear_after_ms, 5 * MINUTE);
    assert_eq!(p.warmup_minutes, 20, "ceil(1 / 0.05)");
    let p = CrisisParams::from_config(&config.crisis, Some(3));
    assert_eq!(p.negative_threshold, 3);
}

//! Crisis detectors with hysteresis, evaluated over an organisation's [`OrgWindows`].
//!
//! Two detectors run side by side; each has at most one active incident.
//!
//! * **Negative surge** (the seed's rule): strongly negative mentions (compound < -0.8)
//!   in the last 15 minutes ([`SURGE_MINUTES`]) *above* the organisation's threshold.
//!   Its trigger level is the threshold; its magnitude is `count / threshold`.
//! * **Volume spike**: the mention rate of the last 5 minutes ([`SPIKE_MINUTES`])
//!   against an EWMA baseline of completed minutes. The observed rate is the mentions of
//!   the 5 minute buckets ending with the current one divided by the elapsed span (4 whole
//!   minutes plus the elapsed part of the current one). The standard score is
//!   `z = (observed - mean) / sqrt(max(variance, mean, 1))`: the Poisson floor `mean`
//!   keeps a very regular stream (tiny variance) from alarming on noise, and the 1 keeps
//!   a silent organisation's score finite. It fires when `z >= spike_z` *and* the 5
//!   minutes hold at least `spike_min_mentions` mentions. Its trigger level is `spike_z`;
//!   its magnitude is `z / spike_z`.
//!
//! # Baseline
//!
//! Mean and variance of mentions per completed minute, updated once per minute with
//! weight `max(alpha, 1/n)` for the `n`-th minute learned (a cumulative average while
//! `n < 1/alpha`, so the first minutes do not bias it; an EWMA afterwards; West's
//! incremental update for the variance). A minute is learned once it has left the
//! 5-minute spike span (when the current minute is 5 later): every spike is judged before
//! any of its minutes can be learned — even one that ramps up over a few minutes — and
//! late mentions have those minutes to arrive. Learning starts with the first minute
//! that begins after the detector's first evaluation (an earlier one may be partial).
//! While a volume spike is active the baseline is **frozen**: the minutes that leave the
//! span during the incident are skipped, so the baseline does not learn the spike.
//! Mentions arriving for a minute already learned do not change the baseline.
//!
//! **Warm-up**: the spike detector cannot fire before `warmup_minutes` minutes were
//! learned; [`CrisisParams::from_config`] sets it to `ceil(1 / alpha)` clamped to
//! 5..=240 (20 minutes for the default alpha 0.05), the EWMA's effective memory. With
//! the 5-minute delay and the skipped first minute, the detector is armed about 26
//! minutes after its first evaluation. The negative-surge rule needs no warm-up.
//!
//! # Severity
//!
//! `severity = clamp(3 + floor(3 · log2(magnitude)), 1, 10)`: 3 at the trigger level,
//! 6 at twice it, 9 at four times, 10 from about five times. Monotone in the magnitude.
//!
//! # Hysteresis
//!
//! One incident raises one crisis: while a detector's incident is active it never raises
//! again. It sends `Escalated` only when the severity rises above the highest sent so
//! far, and `Cleared` once its signal has stayed below `clear_ratio` × the trigger level
//! for `clear_after` (measured between evaluations; any evaluation at or above the
//! clearing level restarts the cool-down). For the spike, "below" means `z` below
//! `clear_ratio · spike_z` or the 5-minute count below `clear_ratio · spike_min_mentions`;
//! for the surge, the clearing level is at least one mention (a threshold of 0 clears
//! once no strongly negative mention is left in the 15 minutes).
//! After clearing, a new incident raises a new crisis.
//!
//! State is a few numbers per organisation; evaluation reads 20 minute buckets and,
//! only when it emits a signal, one 15-minute snapshot for the evidence.

use chrono::{DateTime, Utc};
use warroom_engine::config::CrisisConfig;
use warroom_engine::{CrisisEvidence, CrisisKind, CrisisSignal, Window};

use crate::window::OrgWindows;

/// Minutes the negative-surge rule counts over.
pub const SURGE_MINUTES: usize = 15;
/// Minutes the volume-spike rule measures the rate over.
pub const SPIKE_MINUTES: usize = 5;
/// Sources listed in evidence.
const EVIDENCE_SOURCES: usize = 3;
/// Hashtags listed in evidence.
const EVIDENCE_TERMS: usize = 5;
const MINUTE_MS: i64 = 60_000;

/// Detector settings: [`CrisisConfig`] plus the organisation's threshold override.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrisisParams {
    /// Strongly negative mentions in 15 minutes above which a negative surge is raised.
    pub negative_threshold: u64,
    /// Standard score at which a volume spike is raised.
    pub spike_z: f64,
    /// Mentions in the 5 minutes a volume spike needs at least.
    pub spike_min_mentions: u64,
    /// EWMA weight of each completed minute (0..1).
    pub baseline_alpha: f64,
    /// Clearing level as a fraction of the trigger level.
    pub clear_ratio: f64,
    /// How long (ms) a signal stays below the clearing level before its crisis clears.
    pub clear_after_ms: i64,
    /// Completed minutes the baseline learns before the spike detector may fire.
    pub warmup_minutes: u32,
}

impl CrisisParams {
    /// From `[crisis]`, with the organisation's `negative_threshold` override if any.
    pub fn from_config(c: &CrisisConfig, negative_threshold_override: Option<u64>) -> Self {
        let warmup = if c.baseline_alpha > 0.0 {
            (1.0 / c.baseline_alpha).ceil().clamp(5.0, 240.0) as u32
        } else {
            240
        };
        Self {
            negative_threshold: negative_threshold_override.unwrap_or(c.negative_threshold),
            spike_z: c.spike_z,
            spike_min_mentions: c.spike_min_mentions,
            baseline_alpha: c.baseline_alpha,
            clear_ratio: c.clear_ratio,
            clear_after_ms: i64::try_from(c.clear_after.as_millis()).unwrap_or(i64::MAX),
            warmup_minutes: warmup,
        }
    }
}

/// The learned per-minute mention rate.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Baseline {
    /// Expected mentions per minute.
    pub mean: f64,
    /// Variance of mentions per minute.
    pub variance: f64,
    /// Completed minutes learned so far.
    pub minutes: u64,
}

impl Baseline {
    fn learn(&mut self, x: f64, alpha: f64) {
        self.minutes += 1;
        let weight = alpha.max(1.0 / self.minutes as f64);
        let diff = x - self.mean;
        let incr = weight * diff;
        self.mean += incr;
        self.variance = (1.0 - weight) * (self.variance + diff * incr);
    }

    fn sigma(&self) -> f64 {
        self.variance.max(self.mean).max(1.0).sqrt()
    }
}

/// An active incident of one detector.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Incident {
    /// Highest severity sent.
    severity: u8,
    /// Since when (ms) the signal has been below the clearing level.
    below_since: Option<i64>,
}

/// What one detector observed at one evaluation.
struct Reading {
    triggered: bool,
    below_clear: bool,
    magnitude: f64,
}

/// State change of one detector.
enum Change {
    Raised(u8),
    Escalated(u8),
    Cleared,
}

/// The crisis detectors of one organisation.
#[derive(Debug, Clone)]
pub struct CrisisDetector {
    params: CrisisParams,
    baseline: Baseline,
    /// The next completed minute the baseline will learn; `None` before the first call.
    next_minute: Option<i64>,
    clock_ms: i64,
    surge: Option<Incident>,
    spike: Option<Incident>,
}

/// `clamp(3 + floor(3 · log2(magnitude)), 1, 10)`; 1 for a non-positive magnitude.
pub fn severity(magnitude: f64) -> u8 {
    if magnitude.is_nan() || magnitude <= 0.0 {
        return 1;
    }
    (3.0 + (3.0 * magnitude.log2()).floor()).clamp(1.0, 10.0) as u8
}

fn time_of_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Moves one incident state machine on.
fn step(
    state: &mut Option<Incident>,
    r: &Reading,
    now_ms: i64,
    clear_after_ms: i64,
) -> Option<Change> {
    let sev = severity(r.magnitude);
    match state {
        None => {
            if r.triggered {
                *state = Some(Incident {
                    severity: sev,
                    below_since: None,
                });
                Some(Change::Raised(sev))
            } else {
                None
            }
        }
        Some(incident) => {
            if r.below_clear {
                let since = *incident.below_since.get_or_insert(now_ms);
                if now_ms.saturating_sub(since) >= clear_after_ms {
                    *state = None;
                    return Some(Change::Cleared);
                }
                return None;
            }
            incident.below_since = None;
            if sev > incident.severity {
                incident.severity = sev;
                Some(Change::Escalated(sev))
            } else {
                None
            }
        }
    }
}

impl CrisisDetector {
    /// A detector with no history (the spike detector starts warming up).
    pub fn new(params: CrisisParams) -> Self {
        Self {
            params,
            baseline: Baseline::default(),
            next_minute: None,
            clock_ms: i64::MIN,
            surge: None,
            spike: None,
        }
    }

    /// The settings in use.
    pub fn params(&self) -> &CrisisParams {
        &self.params
    }

    /// The learned baseline.
    pub fn baseline(&self) -> Baseline {
        self.baseline
    }

    /// Whether the baseline has learned enough minutes for the spike detector to fire.
    pub fn warmed_up(&self) -> bool {
        self.baseline.minutes >= u64::from(self.params.warmup_minutes)
    }

    /// The severity of the active incident of `kind`, if one is active.
    pub fn active(&self, kind: CrisisKind) -> Option<u8> {
        match kind {
            CrisisKind::NegativeSurge => self.surge.map(|i| i.severity),
            CrisisKind::VolumeSpike => self.spike.map(|i| i.severity),
        }
    }

    /// Called after each batch of mentions and on every tick. Returns state changes only.
    ///
    /// `now_ms` is the processing time the windows were last given; it never goes
    /// backwards (an earlier value is read as the latest seen).
    pub fn evaluate(&mut self, windows: &OrgWindows, now_ms: i64) -> Vec<CrisisSignal> {
        self.clock_ms = self.clock_ms.max(now_ms);
        let now_ms = self.clock_ms;
        let minute = now_ms.div_euclid(MINUTE_MS);
        let p = self.params;

        // Negative surge.
        let strong = windows.strongly_negative(now_ms, SURGE_MINUTES);
        let threshold = p.negative_threshold;
        let surge = Reading {
            triggered: strong > threshold,
            // At least one mention, so that a threshold of 0 can still clear (at 0).
            below_clear: (strong as f64) < (p.clear_ratio * threshold as f64).max(1.0),
            magnitude: strong as f64 / threshold.max(1) as f64,
        };

        // Volume spike, against the baseline as it stood before this minute.
        let recent = windows.minute_counts(now_ms, SPIKE_MINUTES);
        let n5: u64 = recent.iter().sum();
        let elapsed = (now_ms - minute * MINUTE_MS) as f64 / MINUTE_MS as f64;
        let span = (SPIKE_MINUTES - 1) as f64 + elapsed;
        let observed = n5 as f64 / span;
        let z = (observed - self.baseline.mean) / self.baseline.sigma();
        let spike_z = p.spike_z.max(f64::EPSILON);
        let spike = Reading {
            triggered: self.warmed_up() && z >= spike_z && n5 >= p.spike_min_mentions,
            below_clear: z < p.clear_ratio * spike_z
                || (n5 as f64) < p.clear_ratio * p.spike_min_mentions as f64,
            magnitude: z / spike_z,
        };

        let mut signals = Vec::new();
        let changes = [
            (
                CrisisKind::NegativeSurge,
                step(&mut self.surge, &surge, now_ms, p.clear_after_ms),
            ),
            (
                CrisisKind::VolumeSpike,
                step(&mut self.spike, &spike, now_ms, p.clear_after_ms),
            ),
        ];
        for (kind, change) in changes {
            let Some(change) = change else { continue };
            signals.push(match change {
                Change::Raised(severity) => CrisisSignal::Raised {
                    kind,
                    severity,
                    evidence: self.evidence(windows, now_ms, observed, z),
                    at: time_of_ms(now_ms),
                },
                Change::Escalated(severity) => CrisisSignal::Escalated {
                    kind,
                    severity,
                    evidence: self.evidence(windows, now_ms, observed, z),
                },
                Change::Cleared => CrisisSignal::Cleared {
                    kind,
                    at: time_of_ms(now_ms),
                },
            });
        }

        self.learn(windows, now_ms, minute);
        signals
    }

    /// Learns the minutes that left the spike span since the last call (skipped while a
    /// spike is active).
    fn learn(&mut self, windows: &OrgWindows, now_ms: i64, minute: i64) {
        let last_learnable = minute - SPIKE_MINUTES as i64;
        let next = *self.next_minute.get_or_insert(minute + 1);
        if next > last_learnable {
            return;
        }
        if self.spike.is_none() {
            // minute_counts ends with the current minute: ask from `next` on and drop the
            // minutes still inside the spike span. Beyond the 24 h minute ring the older
            // minutes are simply not learned.
            let span = usize::try_from(minute - next + 1).unwrap_or(usize::MAX);
            let counts = windows.minute_counts(now_ms, span);
            for &c in &counts[..counts.len().saturating_sub(SPIKE_MINUTES)] {
                self.baseline.learn(c as f64, self.params.baseline_alpha);
            }
        }
        self.next_minute = Some(last_learnable + 1);
    }

    fn evidence(&self, windows: &OrgWindows, now_ms: i64, observed: f64, z: f64) -> CrisisEvidence {
        let snap = windows.snapshot(Window::M15, now_ms);
        CrisisEvidence {
            strongly_negative_15m: snap.strongly_negative,
            threshold: self.params.negative_threshold,
            mentions_15m: snap.mention_count,
            baseline_per_minute: self.baseline.mean,
            observed_per_minute: observed,
            z_score: z,
            avg_sentiment_15m: snap.avg_sentiment,
            top_sources: snap
                .by_source
                .iter()
                .take(EVIDENCE_SOURCES)
                .map(|s| s.source)
                .collect(),
            top_terms: snap
                .trending
                .iter()
                .take(EVIDENCE_TERMS)
                .map(|t| t.term.clone())
                .collect(),
            // The windows keep no mention ids: the organisation actor fills the samples
            // from the recent mentions it holds.
            sample_external_ids: Vec::new(),
        }
    }
}

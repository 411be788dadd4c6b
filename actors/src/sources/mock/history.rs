//! How much mock history a first start backfills, minute by minute (`[mock] backfill`).
//!
//! The rule, for an organisation with live rate `R` mentions/s, the period `P`
//! (`backfill`), the full-rate span `F` (`backfill_full_rate`) and the cap `C`
//! (`backfill_max_mentions`), backfilling up to the instant `end` at which its live feed
//! starts:
//!
//! 1. **Recent tier**, `[end - F', end)`: mentions at the live rate `R`, flat like the live
//!    feed, so the 15 m and 1 h windows and the windows before them read like the
//!    campaign running at its normal pace. `F' = min(F, P, 3C / (4R))`: the recent tier
//!    never takes more than three quarters of the cap (the most recent part is kept when
//!    it is cut), so the older tier always has a quarter at least.
//! 2. **Older tier**, `[end - P, end - F')`: mentions at `s · R · d(t)`, where `d` is the
//!    diurnal curve of the mock ad delivery ([`HOURLY`], UTC hours, interpolated linearly
//!    between hour midpoints and scaled to average 1 over a day: 0.14 at 03:30 and 04:30,
//!    1.84 at 19:30) and `s = min(1, (C - R·F') / (R · ∫ d))` is the sampling factor that
//!    makes the whole backfill come to `C` mentions (or less, when `R · P` is smaller).
//!    With the demo settings `s` is a fraction of a percent: the older history is a *sample*
//!    of a campaign's volume with the right shape over the day, not its volume.
//! 3. Each piece of a minute gets a Poisson-distributed count with the expected value of
//!    its tier (`R` or `s · R · d` at its midpoint, times its length), seeded, so a backfill
//!    is reproducible; if the counts add up to more than `C`, the excess is thinned evenly
//!    out of the older tier (every k-th of its mentions), so its shape over the day is kept
//!    (cutting the oldest minutes instead emptied whole hours when they fell in the
//!    nightly trough), and only what the older tier cannot give comes from the oldest
//!    recent minutes. Event times are uniform within the minute.
//!
//! Nothing here knows about crises: the recent tier holds exactly the traffic the live feed
//! produces, so the detectors see the steady state they would see after running that long
//! (see `docs/architecture.md`, "Mock history at first start").

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::{poisson_count, HOURLY};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// The largest share of the cap the recent tier may take.
const RECENT_SHARE: f64 = 0.75;

/// The diurnal factor of the mock history at `t` (ms since the epoch): [`HOURLY`] at the
/// middle of each UTC hour, linear in between, scaled so that a day averages 1.
pub fn diurnal(t_ms: i64) -> f64 {
    let mean = HOURLY.iter().sum::<f64>() / HOURLY.len() as f64;
    // Hours since the midpoint of hour 0 (00:30), within the day.
    let x = (t_ms - HOUR_MS / 2).rem_euclid(DAY_MS) as f64 / HOUR_MS as f64;
    let i = x.floor() as usize % 24;
    let frac = x - x.floor();
    let (a, b) = (HOURLY[i], HOURLY[(i + 1) % 24]);
    (a + (b - a) * frac) / mean
}

/// A piece of one minute, wholly inside one tier: `[from_ms, to_ms)` with its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Start (ms since the epoch), inclusive.
    pub from_ms: i64,
    /// End (ms since the epoch), exclusive.
    pub to_ms: i64,
    /// Mentions to generate in it.
    pub count: u32,
}

/// The backfill of one organisation: where its tiers lie and how dense each is. See the
/// [module documentation](self) for the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPlan {
    start_ms: i64,
    full_from_ms: i64,
    end_ms: i64,
    rate: f64,
    sample: f64,
    cap: u64,
}

impl HistoryPlan {
    /// The plan for an organisation of live rate `rate` (mentions/s) backfilling `period`
    /// before `end`, the last `full_rate` of it at the live rate, `cap` mentions at most.
    /// A rate that is not positive, an empty period or a zero cap give an empty plan.
    pub fn new(
        end: DateTime<Utc>,
        period: Duration,
        full_rate: Duration,
        rate: f64,
        cap: u64,
    ) -> Self {
        let end_ms = end.timestamp_millis();
        let usable = rate.is_finite() && rate > 0.0 && cap > 0;
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let period_ms = if usable { ms(period) } else { 0 };
        let start_ms = end_ms.saturating_sub(period_ms);
        // The recent tier: at the live rate, for at most RECENT_SHARE of the cap.
        let share_ms = if usable {
            (RECENT_SHARE * cap as f64 / rate * 1000.0).min(i64::MAX as f64) as i64
        } else {
            0
        };
        let full_ms = ms(full_rate).min(period_ms).min(share_ms);
        let full_from_ms = end_ms - full_ms;
        let mut plan = Self {
            start_ms,
            full_from_ms,
            end_ms,
            rate: if usable { rate } else { 0.0 },
            sample: 0.0,
            cap,
        };
        // ∫ d over the older tier, in seconds (the same pieces the counts are drawn for).
        let older: f64 = plan
            .pieces()
            .filter(|&(from, _)| from < full_from_ms)
            .map(|(from, to)| diurnal((from + to) / 2) * (to - from) as f64 / 1000.0)
            .sum();
        let recent = plan.rate * full_ms as f64 / 1000.0;
        if older > 0.0 {
            plan.sample = ((cap as f64 - recent) / (plan.rate * older)).clamp(0.0, 1.0);
        }
        plan
    }

    /// Whether it generates nothing.
    pub fn is_empty(&self) -> bool {
        self.rate == 0.0 || self.start_ms == self.end_ms
    }

    /// The oldest instant backfilled.
    pub fn start(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.start_ms).unwrap_or_default()
    }

    /// Where the recent tier (live rate) begins.
    pub fn full_rate_since(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.full_from_ms).unwrap_or_default()
    }

    /// The older tier's sampling factor `s` (0..=1).
    pub fn sample(&self) -> f64 {
        self.sample
    }

    /// The expected rate (mentions/s) at `t_ms`: `R` in the recent tier, `s · R · d(t)`
    /// in the older one, 0 outside the backfill.
    pub fn density(&self, t_ms: i64) -> f64 {
        if t_ms < self.start_ms || t_ms >= self.end_ms {
            0.0
        } else if t_ms >= self.full_from_ms {
            self.rate
        } else {
            self.sample * self.rate * diurnal(t_ms)
        }
    }

    /// The expected number of mentions of the whole backfill (at most the cap, up to
    /// rounding).
    pub fn expected_total(&self) -> f64 {
        self.pieces()
            .map(|(from, to)| self.expected(from, to))
            .sum()
    }

    /// Expected mentions in a piece lying inside one tier.
    fn expected(&self, from_ms: i64, to_ms: i64) -> f64 {
        self.density((from_ms + to_ms) / 2) * (to_ms - from_ms) as f64 / 1000.0
    }

    /// The minute-aligned pieces covering `[start, end)`, split where the recent tier
    /// begins, oldest first.
    fn pieces(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        let mut t = self.start_ms;
        std::iter::from_fn(move || {
            if t >= self.end_ms {
                return None;
            }
            let mut next = (t.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
            next = next.min(self.end_ms);
            if t < self.full_from_ms && next > self.full_from_ms {
                next = self.full_from_ms;
            }
            let piece = (t, next);
            t = next;
            Some(piece)
        })
    }

    /// Draws the count of every piece (Poisson around its expected value), oldest first;
    /// the counts add up to at most the cap (an excess is thinned evenly out of the older
    /// tier; see the module docs).
    pub fn slots(&self, rng: &mut impl Rng) -> Vec<Slot> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut slots: Vec<Slot> = self
            .pieces()
            .map(|(from_ms, to_ms)| Slot {
                from_ms,
                to_ms,
                count: poisson_count(rng, self.expected(from_ms, to_ms), Duration::from_secs(1))
                    .min(u32::MAX as usize) as u32,
            })
            .collect();
        let total: u64 = slots.iter().map(|s| u64::from(s.count)).sum();
        let mut excess = total.saturating_sub(self.cap);
        let older_tier = |slot: &Slot| slot.to_ms <= self.full_from_ms;
        let older: u64 = slots
            .iter()
            .filter(|s| older_tier(s))
            .map(|s| u64::from(s.count))
            .sum();
        let thinned = excess.min(older);
        if thinned > 0 {
            // Drop the older tier's mentions of rank ⌊k · older / thinned⌋, k < thinned:
            // before rank x there are ⌈x · thinned / older⌉ of them.
            let drops_before = |x: u64| (x * thinned).div_ceil(older).min(thinned);
            let mut rank = 0;
            for slot in slots.iter_mut().filter(|s| older_tier(s)) {
                let count = u64::from(slot.count);
                let cut = drops_before(rank + count) - drops_before(rank);
                rank += count;
                slot.count -= cut as u32;
            }
            excess -= thinned;
        }
        for slot in &mut slots {
            if excess == 0 {
                break;
            }
            let cut = u64::from(slot.count).min(excess);
            slot.count -= cut as u32;
            excess -= cut;
        }
        slots
    }
}

/// `count` event times drawn uniformly in the slot, in order.
pub fn event_times(slot: &Slot, rng: &mut impl Rng) -> Vec<DateTime<Utc>> {
    let mut ms: Vec<i64> = (0..slot.count)
        .map(|_| rng.random_range(slot.from_ms..slot.to_ms.max(slot.from_ms + 1)))
        .collect();
    ms.sort_unstable();
    ms.into_iter()
        .filter_map(DateTime::from_timestamp_millis)
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;

    const H: u64 = 3600;

    /// 17:42:13.250 UTC: not on a minute, so the first and last pieces are partial.
    fn end() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 14, 17, 42, 13)
            .single()
            .expect("valid time")
            + chrono::Duration::milliseconds(250)
    }

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * H)
    }

    fn total(slots: &[Slot]) -> u64 {
        slots.iter().map(|s| u64::from(s.count)).sum()
    }

    /// Mentions of the slots with `from_ms` in `[from, to)`.
    fn between(slots: &[Slot], from: i64, to: i64) -> u64 {
        slots
            .iter()
            .filter(|s| s.from_ms >= from && s.from_ms < to)
            .map(|s| u64::from(s.count))
            .sum()
    }

    #[test]
    fn the_diurnal_curve_averages_one_and_is_quiet_at_night() {
        let day = Utc
            .with_ymd_and_hms(2026, 3, 14, 0, 0, 0)
            .single()
            .unwrap()
            .timestamp_millis();
        let minutes: Vec<f64> = (0..1440).map(|m| diurnal(day + m * MINUTE_MS)).collect();
        let mean = minutes.iter().sum::<f64>() / 1440.0;
        assert!((mean - 1.0).abs() < 1e-3, "mean {mean}");
        let at = |h: i64| diurnal(day + h * HOUR_MS + HOUR_MS / 2);
        assert!(at(3) < 0.2 && at(4) < 0.2, "night {} {}", at(3), at(4));
        assert!(at(19) > 1.7, "evening {}", at(19));
        // Continuous: no jump between consecutive minutes, midnight included.
        for m in 0..1440 {
            let (a, b) = (minutes[m], minutes[(m + 1) % 1440]);
            assert!((a - b).abs() < 0.02, "minute {m}: {a} → {b}");
        }
        // The same every day.
        assert_eq!(at(7), diurnal(day + DAY_MS * 5 + 7 * HOUR_MS + HOUR_MS / 2));
    }

    #[test]
    fn an_excess_over_the_cap_thins_the_older_tier_and_keeps_its_oldest_hours() {
        // 36 hours back from 12:00 UTC: the oldest hours (00:00-07:00) are the nightly
        // trough, where cutting the excess from the oldest minutes emptied them.
        let end = DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let plan = HistoryPlan::new(end, hours(36), Duration::from_secs(1200), 2.0, 4_000);
        for seed in 0..20 {
            let slots = plan.slots(&mut SmallRng::seed_from_u64(seed));
            assert!(total(&slots) <= 4_000);
            assert!(total(&slots) > 3_800, "{}", total(&slots));
            let first_hour = plan.start().timestamp_millis() + HOUR_MS;
            let oldest: u64 = slots
                .iter()
                .filter(|s| s.from_ms < first_hour)
                .map(|s| u64::from(s.count))
                .sum();
            assert!(oldest > 0, "seed {seed}: the oldest hour was emptied");
        }
    }

    #[test]
    fn the_recent_tier_runs_at_the_live_rate_and_the_cap_holds() {
        let plan = HistoryPlan::new(end(), hours(7 * 24), hours(2), 20.0, 200_000);
        let end_ms = end().timestamp_millis();
        assert_eq!(plan.full_rate_since(), end() - chrono::Duration::hours(2));
        assert_eq!(plan.start(), end() - chrono::Duration::days(7));
        // 144,000 recent mentions, 56,000 for the 166 hours before: s ≈ 0.0047.
        assert!(
            (0.004..0.0055).contains(&plan.sample()),
            "{}",
            plan.sample()
        );
        assert!((plan.expected_total() - 200_000.0).abs() < 1.0);
        let slots = plan.slots(&mut SmallRng::seed_from_u64(1));
        assert!(total(&slots) <= 200_000);
        assert!(total(&slots) > 199_000, "{}", total(&slots));
        // Every whole minute of the last two hours near 1,200 (Poisson: σ ≈ 35).
        let recent: Vec<&Slot> = slots
            .iter()
            .filter(|s| s.from_ms >= end_ms - 2 * HOUR_MS && s.to_ms - s.from_ms == 60_000)
            .collect();
        assert!(recent.len() >= 118, "{}", recent.len());
        for s in &recent {
            assert!((1_050..1_350).contains(&s.count), "{s:?}");
        }
        let last_hour = between(&slots, end_ms - HOUR_MS, end_ms);
        let hour_before = between(&slots, end_ms - 2 * HOUR_MS, end_ms - HOUR_MS);
        for n in [last_hour, hour_before] {
            assert!((70_500..73_500).contains(&n), "{n}");
        }
        // The older tier is thin: the third hour back holds a few hundred at most.
        assert!(between(&slots, end_ms - 3 * HOUR_MS, end_ms - 2 * HOUR_MS) < 1_000);
    }

    #[test]
    fn older_history_follows_the_day() {
        let plan = HistoryPlan::new(end(), hours(7 * 24), hours(1), 20.0, 150_000);
        let slots = plan.slots(&mut SmallRng::seed_from_u64(2));
        let older: Vec<&Slot> = slots
            .iter()
            .filter(|s| s.to_ms <= plan.full_rate_since().timestamp_millis())
            .collect();
        let by_hour = |hours: &[i64]| -> u64 {
            older
                .iter()
                .filter(|s| hours.contains(&(s.from_ms.rem_euclid(DAY_MS) / HOUR_MS)))
                .map(|s| u64::from(s.count))
                .sum()
        };
        let night = by_hour(&[2, 3, 4, 5]);
        let evening = by_hour(&[17, 18, 19, 20]);
        assert!(evening > 6 * night, "night {night}, evening {evening}");
        // Spread over all seven days.
        let days: std::collections::BTreeSet<i64> = older
            .iter()
            .filter(|s| s.count > 0)
            .map(|s| s.from_ms.div_euclid(DAY_MS))
            .collect();
        assert_eq!(
            days.len(),
            8,
            "seven days back from 17:42 touch eight dates"
        );
    }

    #[test]
    fn a_small_cap_shortens_the_recent_tier_to_three_quarters_of_it() {
        // 50/s for two hours would be 360,000: the recent tier gets 75,000 (1,500 s).
        let plan = HistoryPlan::new(end(), hours(48), hours(2), 50.0, 100_000);
        let since = end() - chrono::Duration::seconds(1500);
        assert_eq!(plan.full_rate_since(), since);
        let slots = plan.slots(&mut SmallRng::seed_from_u64(3));
        let recent = between(&slots, since.timestamp_millis(), end().timestamp_millis());
        assert!((74_000..76_000).contains(&recent), "{recent}");
        let older = between(
            &slots,
            plan.start().timestamp_millis(),
            since.timestamp_millis(),
        );
        assert!((24_000..26_000).contains(&older), "{older}");
        assert!(total(&slots) <= 100_000 && total(&slots) > 99_000);
        assert!(plan.density(end().timestamp_millis() - 1) == 50.0);
    }

    #[test]
    fn a_cap_that_does_not_bind_gives_the_full_volume() {
        // 0.05/s over 36 hours: about 6,500 mentions, far under the cap.
        let plan = HistoryPlan::new(end(), hours(36), hours(2), 0.05, 1_000_000);
        assert_eq!(plan.sample(), 1.0);
        let expected = plan.expected_total();
        assert!((5_800.0..7_200.0).contains(&expected), "{expected}");
        let slots = plan.slots(&mut SmallRng::seed_from_u64(4));
        let n = total(&slots) as f64;
        assert!(
            (n - expected).abs() < 5.0 * expected.sqrt(),
            "{n} vs {expected}"
        );
    }

    #[test]
    fn pieces_cover_the_period_without_gaps_inside_minutes() {
        let plan = HistoryPlan::new(end(), hours(3), Duration::from_secs(1234), 1.0, 10_000);
        let slots = plan.slots(&mut SmallRng::seed_from_u64(5));
        assert_eq!(slots[0].from_ms, plan.start().timestamp_millis());
        assert_eq!(slots.last().unwrap().to_ms, end().timestamp_millis());
        for pair in slots.windows(2) {
            assert_eq!(pair[0].to_ms, pair[1].from_ms);
        }
        for s in &slots {
            assert!(s.to_ms > s.from_ms);
            assert_eq!(
                s.from_ms.div_euclid(MINUTE_MS),
                (s.to_ms - 1).div_euclid(MINUTE_MS),
                "{s:?} stays in one minute"
            );
        }
        let mut rng = SmallRng::seed_from_u64(6);
        for s in slots.iter().filter(|s| s.count > 0).take(50) {
            let times = event_times(s, &mut rng);
            assert_eq!(times.len(), s.count as usize);
            assert!(times.windows(2).all(|w| w[0] <= w[1]));
            assert!(times.iter().all(|t| {
                let ms = t.timestamp_millis();
                ms >= s.from_ms && ms < s.to_ms
            }));
        }
    }

    /// The history, sent in the first seconds after the start as the backfill sends it, then
    /// 40 minutes of the live feed: neither detector fires. The surge threshold is 2.5 times
    /// the normal level, the demo organisations' ratio (at 2/s about 24 mentions with compound
    /// < -0.8 per 15 minutes); a recent tier denser than the live rate would cross it, and a
    /// baseline learned from the thin older tier would see the live feed as a spike once armed.
    #[test]
    fn history_then_the_live_feed_raise_no_crisis() {
        use warroom_engine::{OrgId, ScoredMention};
        use warroom_streams::crisis::{CrisisDetector, CrisisParams};
        use warroom_streams::window::{OrgWindows, WindowParams};

        use crate::sources::mock::MentionGenerator;

        let org = OrgId::new("harbor-city");
        let rate = 2.0;
        let analyzer = warroom_streams::sentiment::analyzer();
        let score = |mention: warroom_engine::Mention| ScoredMention {
            org: org.clone(),
            sentiment: analyzer.polarity_scores(&mention.content),
            mention,
            ingested_at_us: 0,
        };
        let crisis = warroom_engine::Config::defaults().crisis;
        let mut detector = CrisisDetector::new(CrisisParams::from_config(&crisis, Some(60)));
        let mut windows = OrgWindows::new(WindowParams {
            sketch_capacity: 64,
            top_k: 10,
        });
        let start = end();
        let start_ms = start.timestamp_millis();

        let plan = HistoryPlan::new(start, hours(3), Duration::from_secs(1800), rate, 20_000);
        let mut rng = SmallRng::seed_from_u64(9);
        let mut history = MentionGenerator::for_history(&org, 42, start);
        let mut sent = 0;
        for slot in plan.slots(&mut rng) {
            let now_ms = start_ms + 10 + sent / 5;
            for mention in history.generate_at(&event_times(&slot, &mut rng)) {
                windows.apply(&score(mention), now_ms);
                sent += 1;
            }
            assert!(
                detector.evaluate(&windows, now_ms).is_empty(),
                "at {now_ms}"
            );
        }
        assert!(sent > 15_000, "{sent} backfilled");

        let mut live = MentionGenerator::new(&org, 42);
        for step in 1..=240 {
            let now = start + chrono::Duration::seconds(10 * step);
            let n = poisson_count(&mut rng, rate, Duration::from_secs(10));
            for mention in live.generate(now, n, 0.02) {
                windows.apply(&score(mention), now.timestamp_millis());
            }
            windows.advance(now.timestamp_millis());
            let signals = detector.evaluate(&windows, now.timestamp_millis());
            assert!(signals.is_empty(), "{signals:?} after {step}0 s");
        }
        assert!(detector.warmed_up(), "the spike detector was armed");
    }

    #[test]
    fn deterministic_and_empty_when_disabled() {
        let plan = HistoryPlan::new(end(), hours(24), hours(1), 3.0, 20_000);
        assert_eq!(
            plan.slots(&mut SmallRng::seed_from_u64(7)),
            plan.slots(&mut SmallRng::seed_from_u64(7))
        );
        for plan in [
            HistoryPlan::new(end(), hours(24), hours(1), 0.0, 20_000),
            HistoryPlan::new(end(), hours(24), hours(1), f64::NAN, 20_000),
            HistoryPlan::new(end(), Duration::ZERO, hours(1), 3.0, 20_000),
            HistoryPlan::new(end(), hours(24), hours(1), 3.0, 0),
        ] {
            assert!(plan.is_empty(), "{plan:?}");
            assert!(plan.slots(&mut SmallRng::seed_from_u64(8)).is_empty());
            assert_eq!(plan.expected_total(), 0.0);
        }
        // Everything at the live rate when the full-rate span covers the period.
        let plan = HistoryPlan::new(end(), hours(1), hours(2), 3.0, 1_000_000);
        assert_eq!(plan.full_rate_since(), plan.start());
        assert!((plan.expected_total() - 10_800.0).abs() < 1e-6);
    }
}

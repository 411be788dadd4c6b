//! The mock ad-platform reporter: Meta and Google Ads campaigns restating today's totals.

use chrono::{DateTime, Datelike, Days, NaiveDate, Timelike, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use warroom_engine::{CampaignMetric, OrgId, Platform};

use super::mentions::Persona;
use super::{mix, standard_normal, HOURLY};

/// What kind of campaign it is; sets its names and rate ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MetaAwareness,
    MetaPersuasion,
    MetaGotv,
    SearchBrand,
    SearchIssues,
    SearchVoterInfo,
}

/// A campaign's fixed parameters.
#[derive(Debug, Clone)]
struct Campaign {
    platform: Platform,
    id: String,
    name: String,
    budget_micros: i64,
    /// Click-through rate (clicks / impressions).
    ctr: f64,
    /// Meta: cost per thousand impressions; Google: cost per click (dollars).
    price: f64,
    /// Conversions per click.
    cvr: f64,
    /// Meta: average daily frequency at the end of the day (impressions / reach).
    frequency: f64,
    /// Per-campaign key of the daily variations.
    key: u64,
}

/// The day's draws for one campaign: pacing, rate wobble and hourly delivery noise.
struct Day {
    pace: f64,
    ctr: f64,
    price: f64,
    cvr: f64,
    /// Cumulative delivery share at the start of each hour, and 1.0 at the end of the day.
    cumulative: [f64; 25],
}

/// Deterministic generator of ad-platform campaign reports for one organisation.
///
/// See the [module documentation](super) for what is modelled.
#[derive(Debug, Clone)]
pub struct CampaignGenerator {
    campaigns: Vec<Campaign>,
}

impl CampaignGenerator {
    /// Builds 2–3 Meta and 2–3 Google Ads campaigns for the organisation; deterministic per
    /// `(org, seed)`.
    pub fn new(org: &OrgId, seed: u64) -> Self {
        let base = mix(seed, org.route_hash());
        let mut rng = SmallRng::seed_from_u64(mix(base, 0xad5));
        // The names follow the race of the mention generator: same candidate, same city.
        let race = Persona::new(org);
        let mut kinds = vec![Kind::MetaAwareness, Kind::MetaPersuasion];
        if rng.random_bool(0.5) {
            kinds.push(Kind::MetaGotv);
        }
        kinds.extend([Kind::SearchBrand, Kind::SearchIssues]);
        if rng.random_bool(0.5) {
            kinds.push(Kind::SearchVoterInfo);
        }
        let campaigns = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Campaign::new(&mut rng, kind, &race, mix(base, i as u64 + 1)))
            .collect();
        Self { campaigns }
    }

    /// The campaigns' running figures for today as of `now` (one CampaignMetric per campaign
    /// per day reported).
    pub fn report(&mut self, now: DateTime<Utc>) -> Vec<CampaignMetric> {
        let date = now.date_naive();
        let secs = now.num_seconds_from_midnight();
        let hours = f64::from(secs) / 3600.0;
        self.campaigns
            .iter()
            .map(|c| c.metric(date, hours, now))
            .collect()
    }

    /// The closing figures of the `days` full days before `now`'s, oldest first (reported at
    /// `now`): a backfill so a fresh dashboard has history.
    pub fn history(&mut self, now: DateTime<Utc>, days: u32) -> Vec<CampaignMetric> {
        let today = now.date_naive();
        (1..=u64::from(days))
            .rev()
            .filter_map(|back| today.checked_sub_days(Days::new(back)))
            .flat_map(|date| {
                self.campaigns
                    .iter()
                    .map(move |c| c.metric(date, 24.0, now))
            })
            .collect()
    }
}

impl Campaign {
    fn new(rng: &mut SmallRng, kind: Kind, race: &Persona, key: u64) -> Self {
        let (last, city, state) = (race.last, race.city, race.state);
        let u = |rng: &mut SmallRng, lo: f64, hi: f64| lo + (hi - lo) * rng.random::<f64>();
        // (name, budget $ range, CTR range, price range, conversion-rate range)
        let (name, budget, ctr, price, cvr) = match kind {
            Kind::MetaAwareness => (
                format!("{last} 2026 | Awareness | FB+IG | {state}"),
                (800.0, 2_500.0),
                (0.008, 0.011),
                (6.5, 10.0),
                (0.010, 0.025),
            ),
            Kind::MetaPersuasion => (
                format!("{last} | Persuasion | Video | Adults 35-64"),
                (500.0, 1_500.0),
                (0.010, 0.014),
                (9.0, 14.0),
                (0.015, 0.035),
            ),
            Kind::MetaGotv => (
                format!("{last} | GOTV Reminder | IG Reels | {city}"),
                (300.0, 900.0),
                (0.011, 0.015),
                (7.0, 12.0),
                (0.030, 0.060),
            ),
            Kind::SearchBrand => (
                format!("Search | Brand | {last}"),
                (150.0, 400.0),
                (0.055, 0.065),
                (1.05, 1.8),
                (0.08, 0.15),
            ),
            Kind::SearchIssues => (
                "Search | Issues | Housing & Cost of Living".to_owned(),
                (300.0, 900.0),
                (0.032, 0.042),
                (2.0, 3.7),
                (0.03, 0.06),
            ),
            Kind::SearchVoterInfo => (
                "Search | Voter Info | Where to Vote".to_owned(),
                (100.0, 300.0),
                (0.045, 0.060),
                (1.1, 2.4),
                (0.10, 0.20),
            ),
        };
        let platform = match kind {
            Kind::MetaAwareness | Kind::MetaPersuasion | Kind::MetaGotv => Platform::Meta,
            _ => Platform::GoogleAds,
        };
        // Meta campaign ids are 18 digits starting 1202…; Google's are 11 digits.
        let id = match platform {
            Platform::Meta => format!("1202{:014}", rng.random_range(0..100_000_000_000_000u64)),
            Platform::GoogleAds => format!("2{:010}", rng.random_range(0..10_000_000_000u64)),
        };
        // Budgets are set in round $50 steps.
        let dollars = (u(rng, budget.0, budget.1) / 50.0).round() * 50.0;
        Self {
            platform,
            id,
            name,
            budget_micros: dollars as i64 * 1_000_000,
            ctr: u(rng, ctr.0, ctr.1),
            price: u(rng, price.0, price.1),
            cvr: u(rng, cvr.0, cvr.1),
            frequency: u(rng, 1.3, 2.1),
            key,
        }
    }

    /// The day's variations, a pure function of the campaign and the date.
    fn day(&self, date: NaiveDate) -> Day {
        let ordinal = date.num_days_from_ce() as u64; // Datelike: days since 0001-01-01
        let mut rng = SmallRng::seed_from_u64(mix(self.key, ordinal));
        let wobble = |rng: &mut SmallRng, sd: f64| {
            (1.0 + sd * standard_normal(rng)).clamp(1.0 - 2.0 * sd, 1.0 + 2.0 * sd)
        };
        // Delivery usually lands a bit under budget, sometimes a touch over.
        let pace = (0.95 + 0.045 * standard_normal(&mut rng)).clamp(0.82, 1.06);
        let (ctr_range, price_range) = match self.platform {
            Platform::Meta => ((0.008, 0.016), (6.0, 15.0)),
            Platform::GoogleAds => ((0.03, 0.07), (1.0, 4.0)),
        };
        let ctr = (self.ctr * wobble(&mut rng, 0.05)).clamp(ctr_range.0, ctr_range.1);
        let price = (self.price * wobble(&mut rng, 0.05)).clamp(price_range.0, price_range.1);
        let cvr = self.cvr * wobble(&mut rng, 0.1);
        let mut cumulative = [0.0; 25];
        let mut total = 0.0;
        for (h, w) in HOURLY.iter().enumerate() {
            total += w * (1.0 + 0.2 * (2.0 * rng.random::<f64>() - 1.0));
            cumulative[h + 1] = total;
        }
        for c in &mut cumulative {
            *c /= total;
        }
        Day {
            pace,
            ctr,
            price,
            cvr,
            cumulative,
        }
    }

    /// Today's cumulative figures after `hours` (0–24) of the day.
    fn metric(&self, date: NaiveDate, hours: f64, now: DateTime<Utc>) -> CampaignMetric {
        let day = self.day(date);
        let hours = hours.clamp(0.0, 24.0);
        let h = (hours.floor() as usize).min(23);
        let share =
            day.cumulative[h] + (day.cumulative[h + 1] - day.cumulative[h]) * (hours - h as f64);
        let budget = self.budget_micros as f64 / 1e6;
        let spend = budget * day.pace * share;
        // Every figure below is a non-decreasing function of `share`, so restatements during
        // the day never go down.
        let (impressions, clicks, reach, spend_micros) = match self.platform {
            Platform::Meta => {
                let impressions = spend / day.price * 1000.0;
                let clicks = impressions * day.ctr;
                // Frequency builds up through the day; impressions / (1 + k·√share) still grows.
                let frequency = 1.0 + (self.frequency - 1.0) * share.sqrt();
                // Meta reports spend in cents.
                let cents = (spend * 100.0).floor() as i64;
                (
                    impressions,
                    clicks,
                    Some((impressions / frequency).floor() as u64),
                    cents * 10_000,
                )
            }
            Platform::GoogleAds => {
                let clicks = spend / day.price;
                let impressions = clicks / day.ctr;
                (impressions, clicks, None, (spend * 1e6).floor() as i64)
            }
        };
        let conversions = clicks * day.cvr;
        let conversions = match self.platform {
            // Meta counts whole conversions; Google's data-driven attribution is fractional.
            Platform::Meta => conversions.floor(),
            Platform::GoogleAds => (conversions * 100.0).floor() / 100.0,
        };
        CampaignMetric {
            platform: self.platform,
            campaign_id: self.id.clone(),
            campaign_name: self.name.clone(),
            date,
            impressions: impressions.floor() as u64,
            reach,
            clicks: clicks.floor() as u64,
            spend_micros,
            conversions,
            daily_budget_micros: Some(self.budget_micros),
            currency: "USD".to_owned(),
            reported_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn midnight() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 14, 0, 0, 0)
            .single()
            .expect("valid time")
    }

    fn org() -> OrgId {
        OrgId::new("harbor-campaign")
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let at = midnight() + Duration::hours(15);
        let a = CampaignGenerator::new(&org(), 1).report(at);
        assert_eq!(a, CampaignGenerator::new(&org(), 1).report(at));
        assert_ne!(a, CampaignGenerator::new(&org(), 2).report(at));
        assert_ne!(
            a,
            CampaignGenerator::new(&OrgId::new("metro-ballot"), 1).report(at)
        );
    }

    #[test]
    fn two_or_three_campaigns_per_platform() {
        for seed in 0..20 {
            let r = CampaignGenerator::new(&org(), seed).report(midnight() + Duration::hours(12));
            let meta = r.iter().filter(|m| m.platform == Platform::Meta).count();
            let google = r.len() - meta;
            assert!(
                (2..=3).contains(&meta) && (2..=3).contains(&google),
                "{meta} {google}"
            );
            for m in &r {
                assert_eq!(m.reach.is_some(), m.platform == Platform::Meta);
                assert!(m.daily_budget_micros.is_some_and(|b| b > 0));
                assert_eq!(m.date, midnight().date_naive());
                assert_eq!(m.currency, "USD");
            }
        }
    }

    #[test]
    fn monotonic_within_a_day_and_rates_in_range() {
        for seed in 0..10 {
            let mut g = CampaignGenerator::new(&org(), seed);
            let mut prev: Option<Vec<CampaignMetric>> = None;
            for step in 0..=(24 * 12 - 1) {
                let at = midnight() + Duration::minutes(5 * step) + Duration::seconds(37);
                let r = g.report(at);
                assert!(r.iter().all(|m| m.reported_at == at));
                if let Some(p) = &prev {
                    for (a, b) in p.iter().zip(&r) {
                        assert_eq!(a.campaign_id, b.campaign_id);
                        assert!(b.impressions >= a.impressions && b.clicks >= a.clicks);
                        assert!(b.spend_micros >= a.spend_micros && b.conversions >= a.conversions);
                        assert!(b.reach >= a.reach);
                    }
                }
                for m in &r {
                    // Rates are only meaningful once there is volume (rounding dominates at 3am).
                    if m.impressions < 2_000 {
                        continue;
                    }
                    let ctr = m.clicks as f64 / m.impressions as f64;
                    let spend = m.spend_micros as f64 / 1e6;
                    match m.platform {
                        Platform::Meta => {
                            assert!((0.0075..=0.0165).contains(&ctr), "meta ctr {ctr}");
                            let cpm = spend / m.impressions as f64 * 1000.0;
                            assert!((5.9..=15.1).contains(&cpm), "cpm {cpm}");
                            let reach = m.reach.expect("meta reports reach");
                            assert!(reach <= m.impressions && reach * 3 >= m.impressions);
                            assert_eq!(m.spend_micros % 10_000, 0, "meta spends whole cents");
                        }
                        Platform::GoogleAds => {
                            assert!((0.029..=0.071).contains(&ctr), "google ctr {ctr}");
                            let cpc = spend / m.clicks as f64;
                            assert!((0.98..=4.05).contains(&cpc), "cpc {cpc}");
                        }
                    }
                    assert!(m.conversions <= m.clicks as f64);
                }
                prev = Some(r);
            }
            // End of day: spend near budget pace, not always exactly on it.
            let close = g.report(midnight() + Duration::hours(24) - Duration::seconds(1));
            for m in &close {
                let ratio = m.spend_micros as f64 / m.daily_budget_micros.unwrap_or(1) as f64;
                assert!((0.8..=1.07).contains(&ratio), "end-of-day pacing {ratio}");
            }
        }
    }

    #[test]
    fn diurnal_curve_quiet_at_night() {
        let mut g = CampaignGenerator::new(&org(), 4);
        let spend = |g: &mut CampaignGenerator, h: i64| -> i64 {
            g.report(midnight() + Duration::hours(h))
                .iter()
                .map(|m| m.spend_micros)
                .sum()
        };
        let night = spend(&mut g, 6) - spend(&mut g, 1);
        let evening = spend(&mut g, 21) - spend(&mut g, 16);
        assert!(evening > 4 * night, "night {night} evening {evening}");
    }

    #[test]
    fn history_is_closed_days() {
        let now = midnight() + Duration::hours(10);
        let mut g = CampaignGenerator::new(&org(), 3);
        let h = g.history(now, 7);
        let per_day = g.report(now).len();
        assert_eq!(h.len(), 7 * per_day);
        assert_eq!(h[0].date, now.date_naive() - Duration::days(7));
        assert!(h.iter().all(|m| m.date < now.date_naive()));
    }
}

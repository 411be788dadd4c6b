//! Campaign aggregates per `(platform, campaign)`, from daily platform reports.
//!
//! Platforms restate the running day until it closes, so a report for a
//! `(platform, campaign_id, date)` replaces the earlier one when its `reported_at` is
//! later; an older (or equally old: same idempotency key) restatement is ignored. Totals
//! are exact: spend is summed in integer micro-units (in `i128`, so no sum can overflow)
//! and converted to currency units only in the output. Campaign-level fields (name,
//! currency, daily budget) come from the campaign's most recent report.
//!
//! Ratios, `None` on a zero denominator: CTR = clicks / impressions, CPC = spend /
//! clicks, CPM = spend / impressions × 1000, CPA = spend / conversions. Budget pacing =
//! today's spend / (daily budget × fraction of the UTC day elapsed at `now`); `None`
//! without a positive budget (today's report's, else the campaign's latest), without a
//! report for today, or at exactly midnight. 1.0 is on pace.
//!
//! Memory bound: at most `max_campaigns` campaigns (a report for a new campaign beyond
//! that is refused and counted) of at most `max_days` days each (the oldest day is
//! dropped when a newer one arrives), a few hundred bytes per day.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use warroom_engine::{CampaignAggregate, CampaignDay, CampaignMetric, Platform};

const MICROS_PER_UNIT: f64 = 1_000_000.0;

/// One day as last reported.
#[derive(Debug, Clone, PartialEq)]
struct DayReport {
    impressions: u64,
    reach: Option<u64>,
    clicks: u64,
    spend_micros: i64,
    conversions: f64,
    daily_budget_micros: Option<i64>,
    reported_at: DateTime<Utc>,
}

impl DayReport {
    fn of(m: &CampaignMetric) -> Self {
        Self {
            impressions: m.impressions,
            reach: m.reach,
            clicks: m.clicks,
            spend_micros: m.spend_micros,
            conversions: m.conversions,
            daily_budget_micros: m.daily_budget_micros,
            reported_at: m.reported_at,
        }
    }
}

/// One campaign's days and latest descriptive fields.
#[derive(Debug, Clone)]
struct CampaignState {
    name: String,
    currency: String,
    daily_budget_micros: Option<i64>,
    latest_report: DateTime<Utc>,
    days: BTreeMap<NaiveDate, DayReport>,
}

/// The campaigns of one organisation, bounded in campaigns and days.
#[derive(Debug, Clone)]
pub struct CampaignBook {
    max_campaigns: usize,
    max_days: usize,
    campaigns: BTreeMap<(Platform, String), CampaignState>,
    applied: u64,
    refused: u64,
    stale: u64,
}

fn units(micros: i128) -> f64 {
    micros as f64 / MICROS_PER_UNIT
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

impl CampaignBook {
    /// An empty book keeping at most `max_campaigns` campaigns of `max_days` days (≥ 1).
    pub fn new(max_campaigns: usize, max_days: usize) -> Self {
        Self {
            max_campaigns,
            max_days: max_days.max(1),
            campaigns: BTreeMap::new(),
            applied: 0,
            refused: 0,
            stale: 0,
        }
    }

    /// Reports that changed the book.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Reports refused because the book already holds `max_campaigns` campaigns.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Reports ignored as older than (or as old as) the one held, or older than every
    /// kept day of a full campaign.
    pub fn stale(&self) -> u64 {
        self.stale
    }

    /// Campaigns held.
    pub fn len(&self) -> usize {
        self.campaigns.len()
    }

    /// Whether no campaign is held.
    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty()
    }

    /// A later report for the same (platform, campaign_id, date) replaces the earlier one (by reported_at; an older restatement is ignored). Returns whether anything changed.
    pub fn apply(&mut self, metric: &CampaignMetric) -> bool {
        let key = (metric.platform, metric.campaign_id.clone());
        if !self.campaigns.contains_key(&key) && self.campaigns.len() >= self.max_campaigns {
            self.refused += 1;
            return false;
        }
        let max_days = self.max_days;
        let state = self.campaigns.entry(key).or_insert_with(|| CampaignState {
            name: metric.campaign_name.clone(),
            currency: metric.currency.clone(),
            daily_budget_micros: metric.daily_budget_micros,
            latest_report: metric.reported_at,
            days: BTreeMap::new(),
        });
        if let Some(held) = state.days.get(&metric.date) {
            if held.reported_at >= metric.reported_at {
                self.stale += 1;
                return false;
            }
        } else if state.days.len() >= max_days
            && state
                .days
                .keys()
                .next()
                .is_some_and(|oldest| metric.date < *oldest)
        {
            // Full, and older than every kept day: it would be dropped at once.
            self.stale += 1;
            return false;
        }
        state.days.insert(metric.date, DayReport::of(metric));
        while state.days.len() > max_days {
            state.days.pop_first();
        }
        if metric.reported_at >= state.latest_report {
            state.latest_report = metric.reported_at;
            state.name.clone_from(&metric.campaign_name);
            state.currency.clone_from(&metric.currency);
            if metric.daily_budget_micros.is_some() {
                state.daily_budget_micros = metric.daily_budget_micros;
            }
        }
        self.applied += 1;
        true
    }

    /// Every campaign's aggregate, ordered by platform and campaign id.
    pub fn aggregates(&self, now: DateTime<Utc>) -> Vec<CampaignAggregate> {
        self.campaigns
            .iter()
            .filter_map(|((platform, id), state)| aggregate_of(*platform, id, state, now))
            .collect()
    }

    /// One campaign's aggregate.
    pub fn aggregate(
        &self,
        platform: Platform,
        campaign_id: &str,
        now: DateTime<Utc>,
    ) -> Option<CampaignAggregate> {
        let state = self.campaigns.get(&(platform, campaign_id.to_owned()))?;
        aggregate_of(platform, campaign_id, state, now)
    }
}

fn aggregate_of(
    platform: Platform,
    id: &str,
    state: &CampaignState,
    now: DateTime<Utc>,
) -> Option<CampaignAggregate> {
    let first_date = *state.days.keys().next()?;
    let last_date = *state.days.keys().next_back()?;
    let mut impressions = 0u64;
    let mut clicks = 0u64;
    let mut spend_micros = 0i128;
    let mut conversions = 0.0;
    let mut reach: Option<u64> = None;
    let mut daily = Vec::with_capacity(state.days.len());
    for (date, d) in &state.days {
        impressions = impressions.saturating_add(d.impressions);
        clicks = clicks.saturating_add(d.clicks);
        spend_micros += i128::from(d.spend_micros);
        conversions += d.conversions;
        if let Some(r) = d.reach {
            reach = Some(reach.unwrap_or(0).saturating_add(r));
        }
        daily.push(CampaignDay {
            date: *date,
            impressions: d.impressions,
            clicks: d.clicks,
            spend: units(i128::from(d.spend_micros)),
            conversions: d.conversions,
        });
    }
    let spend = units(spend_micros);

    let today = state.days.get(&now.date_naive());
    let budget_micros = today
        .and_then(|d| d.daily_budget_micros)
        .or(state.daily_budget_micros)
        .filter(|b| *b > 0);
    let elapsed = f64::from(now.num_seconds_from_midnight())
        + f64::from(now.nanosecond().min(999_999_999)) / 1e9;
    let day_fraction = elapsed / 86_400.0;
    let budget_pacing = match (today, budget_micros) {
        (Some(d), Some(b)) => ratio(
            units(i128::from(d.spend_micros)),
            units(i128::from(b)) * day_fraction,
        ),
        _ => None,
    };

    Some(CampaignAggregate {
        platform,
        campaign_id: id.to_owned(),
        campaign_name: state.name.clone(),
        currency: state.currency.clone(),
        impressions,
        reach,
        clicks,
        spend,
        conversions,
        ctr: ratio(clicks as f64, impressions as f64),
        cpc: ratio(spend, clicks as f64),
        cpm: ratio(spend * 1000.0, impressions as f64),
        cpa: ratio(spend, conversions),
        daily_budget: state.daily_budget_micros.map(|b| units(i128::from(b))),
        budget_pacing,
        first_date,
        last_date,
        daily,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    fn metric(
        id: &str,
        date: NaiveDate,
        spend_micros: i64,
        reported_at: DateTime<Utc>,
    ) -> CampaignMetric {
        CampaignMetric {
            platform: Platform::Meta,
            campaign_id: id.to_owned(),
            campaign_name: format!("Campaign {id}"),
            date,
            impressions: 10_000,
            reach: Some(4_000),
            clicks: 200,
            spend_micros,
            conversions: 8.0,
            daily_budget_micros: Some(100_000_000),
            currency: "USD".to_owned(),
            reported_at,
        }
    }

    #[test]
    fn totals_and_ratios_are_exact() {
        let mut book = CampaignBook::new(10, 30);
        assert!(book.apply(&metric("c1", day(1), 50_000_000, at(1, 23, 0))));
        let mut m2 = metric("c1", day(2), 25_500_000, at(2, 23, 0));
        m2.impressions = 5_000;
        m2.clicks = 50;
        m2.conversions = 0.5;
        m2.reach = None;
        assert!(book.apply(&m2));
        let a = book.aggregate(Platform::Meta, "c1", at(3, 12, 0)).unwrap();
        assert_eq!(a.impressions, 15_000);
        assert_eq!(a.clicks, 250);
        assert_eq!(a.spend, 75.5);
        assert_eq!(a.conversions, 8.5);
        assert_eq!(a.reach, Some(4_000));
        assert_eq!(a.ctr, Some(250.0 / 15_000.0));
        assert_eq!(a.cpc, Some(75.5 / 250.0));
        assert_eq!(a.cpm, Some(75.5 / 15_000.0 * 1000.0));
        assert_eq!(a.cpa, Some(75.5 / 8.5));
        assert_eq!(a.daily_budget, Some(100.0));
        assert_eq!((a.first_date, a.last_date), (day(1), day(2)));
        assert_eq!(
            a.daily.iter().map(|d| d.spend).collect::<Vec<_>>(),
            vec![50.0, 25.5]
        );
        assert_eq!(a.budget_pacing, None, "no report for today (3rd)");
    }

    #[test]
    fn spend_sums_in_micros_without_float_drift() {
        let mut book = CampaignBook::new(10, 400);
        // 0.1 in floating point sums to 29.999999999999... over 300 days; micros do not.
        for i in 0..300 {
            let date = day(1) + chrono::Days::new(i);
            book.apply(&metric(
                "c",
                date,
                100_000,
                at(1, 0, 0) + chrono::Days::new(i),
            ));
        }
        let a = book.aggregate(Platform::Meta, "c", at(1, 0, 0)).unwrap();
        assert_eq!(a.spend, 30.0);
    }

    #[test]
    fn ratios_are_none_on_zero_denominators() {
        let mut book = CampaignBook::new(10, 30);
        let mut m = metric("c0", day(1), 0, at(1, 1, 0));
        m.impressions = 0;
        m.clicks = 0;
        m.conversions = 0.0;
        m.daily_budget_micros = None;
        m.reach = None;
        book.apply(&m);
        let a = book.aggregate(Platform::Meta, "c0", at(1, 12, 0)).unwrap();
        assert_eq!((a.ctr, a.cpc, a.cpm, a.cpa), (None, None, None, None));
        assert_eq!(a.reach, None);
        assert_eq!(a.daily_budget, None);
        assert_eq!(a.budget_pacing, None, "no budget");
    }

    #[test]
    fn later_reports_replace_and_older_restatements_are_ignored() {
        let mut book = CampaignBook::new(10, 30);
        assert!(book.apply(&metric("c1", day(5), 10_000_000, at(5, 10, 0))));
        assert!(book.apply(&metric("c1", day(5), 30_000_000, at(5, 14, 0))));
        assert!(
            !book.apply(&metric("c1", day(5), 20_000_000, at(5, 12, 0))),
            "older restatement"
        );
        assert!(
            !book.apply(&metric("c1", day(5), 99_000_000, at(5, 14, 0))),
            "same report again"
        );
        let a = book.aggregate(Platform::Meta, "c1", at(5, 15, 0)).unwrap();
        assert_eq!(a.spend, 30.0);
        assert_eq!(a.daily.len(), 1);
        assert_eq!((book.applied(), book.stale()), (2, 2));
    }

    #[test]
    fn budget_pacing_uses_the_elapsed_part_of_the_utc_day() {
        let mut book = CampaignBook::new(10, 30);
        // $100 budget, $30 spent by 06:00 (a quarter of the day): 1.2× pace.
        book.apply(&metric("c1", day(7), 30_000_000, at(7, 6, 0)));
        let a = book.aggregate(Platform::Meta, "c1", at(7, 6, 0)).unwrap();
        let pacing = a.budget_pacing.unwrap();
        assert!((pacing - 1.2).abs() < 1e-12, "{pacing}");
        // At noon the same spend is 0.6× pace.
        let a = book.aggregate(Platform::Meta, "c1", at(7, 12, 0)).unwrap();
        assert!((a.budget_pacing.unwrap() - 0.6).abs() < 1e-12);
        // At midnight no part of the day has elapsed.
        let a = book.aggregate(Platform::Meta, "c1", at(7, 0, 0)).unwrap();
        assert_eq!(a.budget_pacing, None);
    }

    #[test]
    fn campaigns_beyond_the_limit_are_refused_and_counted() {
        let mut book = CampaignBook::new(2, 30);
        assert!(book.apply(&metric("a", day(1), 1, at(1, 1, 0))));
        assert!(book.apply(&metric("b", day(1), 1, at(1, 1, 0))));
        assert!(!book.apply(&metric("c", day(1), 1, at(1, 1, 0))));
        assert_eq!(book.refused(), 1);
        assert_eq!(book.len(), 2);
        // Known campaigns still update.
        assert!(book.apply(&metric("a", day(2), 1, at(2, 1, 0))));
        let ids: Vec<String> = book
            .aggregates(at(2, 2, 0))
            .into_iter()
            .map(|a| a.campaign_id)
            .collect();
        assert_eq!(ids, vec!["a", "b"]);
        // The same id on another platform is another campaign.
        let mut g = metric("a", day(1), 1, at(1, 1, 0));
        g.platform = Platform::GoogleAds;
        assert!(!book.apply(&g));
        assert_eq!(book.refused(), 2);
    }

    #[test]
    fn oldest_days_are_dropped_beyond_max_days() {
        let mut book = CampaignBook::new(10, 3);
        for d in 1..=5 {
            assert!(book.apply(&metric("c", day(d), 1_000_000, at(d, 1, 0))));
        }
        let a = book.aggregate(Platform::Meta, "c", at(5, 2, 0)).unwrap();
        assert_eq!((a.first_date, a.last_date), (day(3), day(5)));
        assert_eq!(a.spend, 3.0);
        // A report older than every kept day of a full campaign changes nothing.
        assert!(!book.apply(&metric("c", day(1), 5_000_000, at(6, 1, 0))));
        assert_eq!(
            book.aggregate(Platform::Meta, "c", at(6, 2, 0))
                .unwrap()
                .spend,
            3.0
        );
    }

    #[test]
    fn campaign_fields_follow_the_latest_report() {
        let mut book = CampaignBook::new(10, 30);
        book.apply(&metric("c", day(2), 1, at(2, 1, 0)));
        let mut old = metric("c", day(1), 1, at(1, 1, 0));
        old.campaign_name = "Old name".to_owned();
        old.daily_budget_micros = Some(5);
        book.apply(&old);
        let a = book.aggregate(Platform::Meta, "c", at(2, 2, 0)).unwrap();
        assert_eq!(a.campaign_name, "Campaign c");
        assert_eq!(a.daily_budget, Some(100.0));
        assert!(book
            .aggregate(Platform::GoogleAds, "c", at(2, 2, 0))
            .is_none());
    }
}

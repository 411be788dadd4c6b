//! Deterministic mock data: social mentions and ad-campaign reports that look real.
//!
//! MOCK is the default data mode, so the demo and the tests run on what these generators
//! produce. Both are seeded: the same `(org, seed)` and the same sequence of calls give exactly
//! the same output (for a given build: [`rand::rngs::SmallRng`]'s algorithm may differ between
//! platforms and `rand` versions). Different seeds or organisations give different data.
//!
//! # Mentions ([`MentionGenerator`])
//!
//! * **Race.** Each organisation gets a race derived from its id alone: a candidate, an
//!   opponent, an office, a ballot measure, a city/state, campaign hashtags and two signature
//!   issues that people post about more.
//! * **Sources.** Twitter 30 %, Facebook 17 %, Instagram 11 %, Reddit 11 %, TikTok 10 %,
//!   news 9 %, YouTube 7 %, blogs 5 %. A crisis burst shifts to Twitter, TikTok, Reddit and news.
//! * **Authors.** A pool per organisation and source (900 Twitter accounts … 90 blogs, plus
//!   local, state, national and foreign news outlets), with handles in each platform's style
//!   (`@jane_doe42`, `jane.doe.7`, `u/Quiet-Badger-4412`, `@CityTribune`, `x.substack.com`).
//!   Followers are log-normal per source (e.g. Twitter median 320, σ = 1.9) and about 1 % of
//!   accounts are influencers with Pareto-tailed audiences from 50 k up, so a few dominate
//!   reach. Who posts is Zipf-like (weight ∝ rank^-0.8). Reach = followers × a log-normal
//!   per-post engagement factor (median 4 % for news … 45 % for TikTok); for Reddit, the
//!   subreddit's size stands in for followers.
//! * **Place and language.** Per author: 7 % unknown, 80 % US (55 % of them in the race's
//!   state, the rest by state population), the rest CA, GB, MX, DE, IN, AU…; Spanish for ~7 %
//!   of US authors and most Mexican ones, English otherwise.
//! * **Text.** Templates per intended stance (positive / neutral / negative) and channel
//!   (headlines for news, titles for blogs, Spanish posts), filled with the race, a topic
//!   (economy, housing, public safety, taxes, schools, healthcare, transit, climate, jobs) and
//!   sentiment words from VADER's lexicon at mild and strong valence, boosters, negations
//!   ("isn't wrong", "don't trust"), "but" clauses, occasional CAPS and "!!!", questions,
//!   emoticons, emojis, openers/closers, @mentions and links. Neutral templates use no lexicon
//!   word at all. Measured with the reference VADER, about 40 % of texts score positive, 30 %
//!   neutral and 30 % negative, with magnitudes spread from ±0.1 to ±0.95.
//! * **Hashtags.** 0–3 per post (more on Instagram/TikTok, rarely on news or Reddit) from the
//!   topic's, the campaign's and the election's pools, lower case without `#`, each also in
//!   the text as `#tag` (inline when the word is already there, else appended).
//! * **Vendor score.** `source_sentiment` on ~70 % of Twitter/Facebook/Instagram/news posts
//!   and ~30 % of YouTube ones: the intended stance plus noise, two decimals.
//! * **Ids and urls.** In each platform's format: 19-digit time-ordered snowflakes for tweets
//!   and TikTok videos, `pageid_postid` for Facebook, Instagram shortcodes, `t3_` + 7 base-36
//!   digits for Reddit, 11-character YouTube ids, hex ids for news and blogs. Each is a keyed
//!   bijection of a per-source counter, so ids never repeat within a generator; the key also
//!   covers the first delivery time, so a generator restarted later with the same seed does
//!   not replay the ids of the previous run (which storage would drop as duplicates).
//! * **Time.** Event time = delivery time minus a log-normal delay (median 1.5 s, capped at
//!   45 s); a `late_fraction` share is 1–30 minutes late (log-uniform, so mostly a few minutes).
//! * **Crisis.** [`MentionGenerator::generate_crisis`] writes about one scandal with a shared
//!   hashtag (`whitfieldgate`, `whitfieldemails`…) kept across bursts less than 30 minutes
//!   apart; every text stacks several strong negatives (≥ 90 % score compound < -0.8).
//!
//! # Campaign metrics ([`CampaignGenerator`])
//!
//! Two or three Meta campaigns (awareness / persuasion / GOTV: CTR 0.8–1.6 %, CPM $6–15, reach
//! reported) and two or three Google Ads search campaigns (brand / issues / voter info: CTR
//! 3–7 %, CPC $1–4, no reach), each with a daily budget. A report restates today's running
//! totals: spend = budget × the day's pacing factor (0.82–1.06) × the share of the day's
//! delivery so far, which follows a diurnal curve (quiet at night, peak late afternoon and
//! evening, with per-day hourly noise). Impressions, clicks, reach and conversions derive
//! from spend with per-campaign rates and small per-day variations, so every figure is
//! monotonic within a day. Each report is a pure function of `(org, seed, now)`.
//!
//! # Load ([`poisson_count`])
//!
//! Source actors draw how many mentions arrive in a tick from a Poisson distribution.
//!
//! # History ([`history`])
//!
//! At an organisation's first start in MOCK mode the runtime backfills `[mock] backfill` of
//! history so the 24 h and 7 d windows are not empty: campaign reports closing each past day
//! ([`CampaignGenerator::history`]) and mentions from [`MentionGenerator::for_history`] at the
//! event times [`history::HistoryPlan`] draws: the last hour or two at the live rate, older
//! history a thin sample shaped by the day ([`HOURLY`]), within a per-organisation cap.

mod campaigns;
pub mod history;
mod mentions;
mod vocabulary;

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

pub use campaigns::CampaignGenerator;
pub use mentions::MentionGenerator;

/// Relative activity per UTC hour of the day: quiet at night, a morning ramp, the peak in
/// the late afternoon and evening when people scroll. Shapes the mock ad delivery and the
/// mock mention history alike.
pub const HOURLY: [f64; 24] = [
    0.35, 0.22, 0.15, 0.12, 0.12, 0.18, 0.35, 0.60, 0.80, 0.90, 0.95, 1.00, 1.05, 1.05, 1.10, 1.20,
    1.30, 1.40, 1.50, 1.55, 1.50, 1.30, 0.95, 0.60,
];

/// Poisson-distributed count for `rate_per_sec` over `dt` (helper for the source actors).
pub fn poisson_count(rng: &mut impl Rng, rate_per_sec: f64, dt: Duration) -> usize {
    let lambda = rate_per_sec * dt.as_secs_f64();
    if !lambda.is_finite() || lambda <= 0.0 {
        return 0;
    }
    match Poisson::new(lambda) {
        Ok(poisson) => {
            let n: f64 = poisson.sample(rng);
            n as usize
        }
        // Only for absurd rates beyond the sampler's range: the mean is close enough.
        Err(_) => lambda.round() as usize,
    }
}

/// Mixes two 64-bit values into a well-spread seed (splitmix64's finaliser).
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A standard normal draw.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// A log-normal draw given its median and the σ of its logarithm.
fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * standard_normal(rng)).exp()
}

/// A discrete distribution over indices by weight (zero weights are never picked).
#[derive(Debug, Clone)]
struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    fn new(weights: &[f64]) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    fn pick(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn poisson_mean_matches_rate() {
        let mut rng = SmallRng::seed_from_u64(1);
        let dt = Duration::from_millis(250);
        let n = 20_000;
        let total: usize = (0..n).map(|_| poisson_count(&mut rng, 40.0, dt)).sum();
        let mean = total as f64 / n as f64;
        assert!((mean - 10.0).abs() < 0.15, "mean {mean}");
        assert_eq!(poisson_count(&mut rng, 0.0, dt), 0);
        assert_eq!(poisson_count(&mut rng, -3.0, dt), 0);
        assert_eq!(poisson_count(&mut rng, f64::NAN, dt), 0);
        let big = poisson_count(&mut rng, 1e6, Duration::from_secs(1));
        assert!((990_000..1_010_000).contains(&big));
    }

    #[test]
    fn weighted_skips_zero_weights() {
        let w = Weighted::new(&[0.0, 1.0, 0.0, 3.0, 0.0]);
        let mut rng = SmallRng::seed_from_u64(2);
        let mut counts = [0usize; 5];
        for _ in 0..10_000 {
            counts[w.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[0] + counts[2] + counts[4], 0);
        assert!((2_200..2_800).contains(&counts[1]), "{counts:?}");
    }
}

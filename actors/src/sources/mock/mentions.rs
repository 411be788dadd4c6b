//! The mock social-mention generator: authors, texts, hashtags, ids, urls and event times.

use chrono::{DateTime, Datelike, Duration, Utc};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use warroom_engine::{Author, Mention, OrgId, Source};

use super::vocabulary as v;
use super::{lognormal, mix, Weighted};

/// The sources the generator publishes on, with their share of normal traffic.
const SOURCE_WEIGHTS: [(Source, f64); 8] = [
    (Source::Twitter, 30.0),
    (Source::Facebook, 17.0),
    (Source::Instagram, 11.0),
    (Source::News, 9.0),
    (Source::Reddit, 11.0),
    (Source::Tiktok, 10.0),
    (Source::Youtube, 7.0),
    (Source::Blog, 5.0),
];

/// During a crisis the outrage concentrates on fast, public channels.
const CRISIS_SOURCE_WEIGHTS: [(Source, f64); 8] = [
    (Source::Twitter, 36.0),
    (Source::Facebook, 8.0),
    (Source::Instagram, 3.0),
    (Source::News, 14.0),
    (Source::Reddit, 16.0),
    (Source::Tiktok, 18.0),
    (Source::Youtube, 4.0),
    (Source::Blog, 1.0),
];

/// Mixed into the seed and the id key of history generators ("HISTORY" in ASCII).
const HISTORY_STREAM: u64 = 0x0048_4953_544f_5259;

/// A scandal stays "the" crisis topic while bursts keep coming closer than this.
const CRISIS_STICKY_MINUTES: i64 = 30;

/// Intended stance of a post. What VADER makes of the text is measured, not assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stance {
    Positive,
    Neutral,
    Negative,
}

/// The organisation's race, derived from its id alone (stable across seeds and restarts).
#[derive(Debug, Clone)]
pub(super) struct Persona {
    first: &'static str,
    /// The candidate's surname.
    pub(super) last: &'static str,
    opponent: &'static str,
    office: &'static str,
    office_es: &'static str,
    measure: String,
    /// The race's city.
    pub(super) city: &'static str,
    /// Its state.
    pub(super) state: &'static str,
    /// The campaign's own account, e.g. `Whitfield4Mayor`.
    handle: String,
    /// Campaign hashtags (lower case, no `#`).
    tags: Vec<String>,
    /// Topic weights, with the race's two signature issues boosted.
    topics: Weighted,
}

impl Persona {
    /// The race of an organisation: a function of its id alone.
    pub(super) fn new(org: &OrgId) -> Self {
        let mut rng = SmallRng::seed_from_u64(mix(org.route_hash(), 0x0050_4552_534f_4e41));
        let first = pick(&mut rng, v::FIRST_NAMES);
        let last = pick(&mut rng, v::CANDIDATE_LAST_NAMES);
        let mut opponent = pick(&mut rng, v::CANDIDATE_LAST_NAMES);
        while opponent == last {
            opponent = pick(&mut rng, v::CANDIDATE_LAST_NAMES);
        }
        let &(office, office_es, office_short) = pick_ref(&mut rng, v::OFFICES);
        let &(city, state, _) = pick_ref(&mut rng, v::CITIES);
        let measure = match rng.random_range(0..3) {
            0 => format!("Measure {}", char::from(b'A' + rng.random_range(0..26u8))),
            1 => format!("Prop {}", rng.random_range(1..60)),
            _ => format!("Question {}", rng.random_range(1..6)),
        };
        let lower = last.to_ascii_lowercase();
        let city_tag: String = city.chars().filter(char::is_ascii_alphabetic).collect();
        let measure_tag: String = measure
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let tags = vec![
            format!("{lower}2026"),
            format!("team{lower}"),
            format!("{}forward", city_tag.to_ascii_lowercase()),
            format!("yeson{measure_tag}"),
            format!("{}politics", city_tag.to_ascii_lowercase()),
        ];
        let handle = format!("{last}4{office_short}");
        let mut weights: Vec<f64> = v::TOPICS.iter().map(|t| t.weight).collect();
        for _ in 0..2 {
            let i = rng.random_range(0..weights.len());
            weights[i] *= 2.0;
        }
        Self {
            first,
            last,
            opponent,
            office,
            office_es,
            measure,
            city,
            state,
            handle,
            tags,
            topics: Weighted::new(&weights),
        }
    }

    fn full_name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

/// One member of an organisation's author pool.
#[derive(Debug, Clone)]
struct PoolAuthor {
    handle: String,
    name: Option<String>,
    followers: u64,
    country: Option<&'static str>,
    region: Option<String>,
    language: &'static str,
    /// Facebook page/profile id; news/blog/YouTube domain or channel.
    page_id: u64,
    domain: String,
}

/// The authors of one source, with a Zipf-like activity weight (a few post a lot).
#[derive(Debug, Clone)]
struct AuthorPool {
    authors: Vec<PoolAuthor>,
    activity: Weighted,
}

/// Deterministic generator of realistic social mentions for one organisation.
///
/// See the [module documentation](super) for what is modelled. Boxed: the state is a few
/// hundred bytes and actors move their generator around.
#[derive(Debug, Clone)]
pub struct MentionGenerator(Box<Generator>);

impl MentionGenerator {
    /// Deterministic per (seed, org): same seed, same calls → same output.
    pub fn new(org: &OrgId, seed: u64) -> Self {
        Self(Box::new(Generator::new(org, seed)))
    }

    /// `count` mentions delivered at `now`. Event times are `now` minus a realistic jitter
    /// (seconds, skewed: most within a few seconds); a `late_fraction` share are delivered
    /// late: event time 1–30 minutes before `now` (out of order).
    pub fn generate(
        &mut self,
        now: DateTime<Utc>,
        count: usize,
        late_fraction: f64,
    ) -> Vec<Mention> {
        self.0.generate(now, count, late_fraction)
    }

    /// A generator of backfilled history for the organisation: the same race, authors and
    /// vocabulary as [`MentionGenerator::new`] with the same `(org, seed)`, but its own random
    /// stream, and ids keyed by `now` (the instant the history ends) in a way the live feed's
    /// never are, so history neither repeats the live feed's first texts nor collides with its
    /// ids. Deterministic per `(org, seed, now)`.
    pub fn for_history(org: &OrgId, seed: u64, now: DateTime<Utc>) -> Self {
        Self(Box::new(Generator::for_history(org, seed, now)))
    }

    /// One ordinary (non-crisis) mention published at each of `event_times`, in that order.
    /// No delivery delay is applied: history is delivered long after it happened anyway.
    pub fn generate_at(&mut self, event_times: &[DateTime<Utc>]) -> Vec<Mention> {
        self.0.generate_at(event_times)
    }

    /// A crisis burst: `count` strongly negative mentions (VADER compound < -0.8 for the vast
    /// majority) about one scandal topic with a shared hashtag, skewed to
    /// twitter/tiktok/reddit/news.
    ///
    /// Consecutive bursts less than 30 minutes apart keep the same scandal and hashtag, so a
    /// crisis fed over many ticks reads as one story.
    pub fn generate_crisis(&mut self, now: DateTime<Utc>, count: usize) -> Vec<Mention> {
        self.0.generate_crisis(now, count)
    }
}

/// The generator's state.
#[derive(Debug, Clone)]
struct Generator {
    persona: Persona,
    rng: SmallRng,
    pools: Vec<AuthorPool>,
    sources: Weighted,
    crisis_sources: Weighted,
    /// Mentions generated so far per source: the input of the external-id permutations.
    counters: [u64; Source::COUNT],
    /// Per-source keys of the external-id permutations.
    id_keys: [u64; Source::COUNT],
    /// The first delivery time seen, in ms: it keys the ids too, so a generator restarted
    /// later with the same seed does not replay the previous run's ids.
    run_key: Option<u64>,
    /// The scandal of the ongoing burst: (scandal index, hashtag, last burst time).
    crisis: Option<(usize, String, DateTime<Utc>)>,
}

impl Generator {
    fn new(org: &OrgId, seed: u64) -> Self {
        let persona = Persona::new(org);
        let base = mix(seed, org.route_hash());
        let mut pool_rng = SmallRng::seed_from_u64(mix(base, 1));
        let pools = SOURCE_WEIGHTS
            .iter()
            .map(|&(s, _)| build_pool(&mut pool_rng, s, &persona))
            .collect();
        let mut id_keys = [0; Source::COUNT];
        for (i, k) in id_keys.iter_mut().enumerate() {
            *k = mix(base, 0x1d00 + i as u64);
        }
        Self {
            persona,
            rng: SmallRng::seed_from_u64(mix(base, 2)),
            pools,
            sources: Weighted::new(&SOURCE_WEIGHTS.map(|(_, w)| w)),
            crisis_sources: Weighted::new(&CRISIS_SOURCE_WEIGHTS.map(|(_, w)| w)),
            counters: [0; Source::COUNT],
            id_keys,
            run_key: None,
            crisis: None,
        }
    }

    /// See [`MentionGenerator::for_history`].
    fn for_history(org: &OrgId, seed: u64, now: DateTime<Utc>) -> Self {
        let mut generator = Self::new(org, seed);
        let base = mix(seed, org.route_hash());
        generator.rng = SmallRng::seed_from_u64(mix(base, HISTORY_STREAM));
        // A live run keys its ids by its first delivery time in ms, which this cannot equal
        // except by a 1-in-2^64 accident.
        generator.run_key = Some(mix(now.timestamp_millis() as u64, HISTORY_STREAM));
        generator
    }

    /// See [`MentionGenerator::generate_at`].
    fn generate_at(&mut self, event_times: &[DateTime<Utc>]) -> Vec<Mention> {
        if let Some(first) = event_times.first() {
            self.run_key.get_or_insert(first.timestamp_millis() as u64);
        }
        event_times.iter().map(|&t| self.one(t)).collect()
    }

    /// See [`MentionGenerator::generate`].
    fn generate(&mut self, now: DateTime<Utc>, count: usize, late_fraction: f64) -> Vec<Mention> {
        self.run_key.get_or_insert(now.timestamp_millis() as u64);
        let late_fraction = if late_fraction.is_finite() {
            late_fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        (0..count)
            .map(|_| {
                let late = self.rng.random_bool(late_fraction);
                let event_time = now - self.delay(late);
                self.one(event_time)
            })
            .collect()
    }

    /// See [`MentionGenerator::generate_crisis`].
    fn generate_crisis(&mut self, now: DateTime<Utc>, count: usize) -> Vec<Mention> {
        self.run_key.get_or_insert(now.timestamp_millis() as u64);
        let sticky = self
            .crisis
            .as_ref()
            .is_some_and(|(_, _, at)| (now - *at).num_minutes().abs() < CRISIS_STICKY_MINUTES);
        if !sticky {
            let scandal = self.rng.random_range(0..v::SCANDALS.len());
            let last = self.persona.last.to_ascii_lowercase();
            let tag = if self.rng.random_bool(0.5) {
                format!("{last}gate")
            } else {
                format!("{last}{}", v::SCANDALS[scandal].1)
            };
            self.crisis = Some((scandal, tag, now));
        }
        let Some((scandal, tag, at)) = self.crisis.as_mut() else {
            return Vec::new(); // unreachable: set just above
        };
        *at = now;
        let (scandal, tag) = (*scandal, tag.clone());
        (0..count)
            .map(|_| {
                let event_time = now - self.delay(false);
                self.one_crisis(event_time, scandal, &tag)
            })
            .collect()
    }

    /// How long before delivery the post was published.
    fn delay(&mut self, late: bool) -> Duration {
        let ms = if late {
            // Log-uniform over 1–30 minutes: most stragglers are a few minutes late.
            (60_000.0 * 30f64.powf(self.rng.random::<f64>())) as i64
        } else {
            // Log-normal, median 1.5 s: most posts arrive within seconds, a few lag a minute.
            // Capped below a minute so "late" (≥ 1 minute) stays a property of the late ones.
            (lognormal(&mut self.rng, 1_500.0, 1.0).min(45_000.0)) as i64
        };
        Duration::milliseconds(ms.clamp(0, 30 * 60_000))
    }

    fn pick_author(&mut self, source: Source) -> (PoolAuthor, u64) {
        let pool = &self.pools[source.index()];
        let author = pool.authors[pool.activity.pick(&mut self.rng)].clone();
        let reach = self.reach(source, author.followers);
        (author, reach)
    }

    /// Reach ≈ followers × a per-post engagement factor (log-normal: most posts reach a
    /// fraction of the audience, a few go viral beyond it).
    fn reach(&mut self, source: Source, followers: u64) -> u64 {
        let (median, audience) = match source {
            Source::Twitter => (0.10, followers as f64),
            Source::Facebook => (0.15, followers as f64),
            Source::Instagram => (0.20, followers as f64),
            Source::Tiktok => (0.45, followers as f64),
            Source::Youtube => (0.15, followers as f64),
            Source::News => (0.04, followers as f64),
            Source::Blog => (0.30, followers as f64),
            // A reddit post is seen by the subreddit, not by the poster's few followers.
            Source::Reddit => {
                const SUBREDDIT_SIZES: [f64; 4] = [45_000.0, 180_000.0, 2_400_000.0, 8_500_000.0];
                (
                    0.004,
                    SUBREDDIT_SIZES[self.rng.random_range(0..SUBREDDIT_SIZES.len())],
                )
            }
            Source::Other => (0.10, followers as f64),
        };
        let factor = lognormal(&mut self.rng, median, 0.8).clamp(0.002, 6.0);
        ((audience * factor).round() as u64).max(1)
    }

    fn one(&mut self, event_time: DateTime<Utc>) -> Mention {
        let source = SOURCE_WEIGHTS[self.sources.pick(&mut self.rng)].0;
        let (author, reach) = self.pick_author(source);
        let stance = self.stance(source);
        let topic = self.persona.topics.pick(&mut self.rng);
        let spanish = author.language == "es";
        let mut text = self.body(source, stance, topic, spanish);
        self.decorate(&mut text, source, stance, spanish);
        let hashtags = self.hashtags(source, topic);
        self.attach_hashtags(&mut text, &hashtags);
        if let Some(link) = self.inline_link(source) {
            text.push(' ');
            text.push_str(&link);
        }
        let source_sentiment = self.source_sentiment(source, stance);
        self.finish(
            source,
            author,
            reach,
            text,
            hashtags,
            event_time,
            source_sentiment,
            None,
        )
    }

    fn one_crisis(&mut self, event_time: DateTime<Utc>, scandal: usize, tag: &str) -> Mention {
        let source = CRISIS_SOURCE_WEIGHTS[self.crisis_sources.pick(&mut self.rng)].0;
        let (author, reach) = self.pick_author(source);
        let news = source == Source::News;
        let template = pick(&mut self.rng, if news { v::CRISIS_NEWS } else { v::CRISIS });
        let mut text = self.fill(template, Stance::Negative, 0, Some(scandal), false);
        if !news {
            if self.rng.random_bool(0.25) {
                text.push_str(". ");
                text.push_str(pick(&mut self.rng, v::CRISIS_SHOUT));
            }
            let bang = match self.rng.random_range(0..10) {
                0..5 => "!!!",
                5..7 => "!",
                _ => "",
            };
            if !text.ends_with(['?', '!', '.']) {
                text.push_str(bang);
            }
            if source == Source::Twitter && self.rng.random_bool(0.2) {
                text = format!("@{} {text}", self.persona.handle);
            }
            if self.rng.random_bool(0.45) {
                text.push(' ');
                let emoji = pick(&mut self.rng, v::EMOJI_NEGATIVE);
                for _ in 0..self.rng.random_range(1..=3) {
                    text.push_str(emoji);
                }
            }
        }
        let mut hashtags = vec![tag.to_owned()];
        if !news && self.rng.random_bool(0.3) {
            let extra = if self.rng.random_bool(0.5) {
                format!("resign{}", self.persona.last.to_ascii_lowercase())
            } else {
                pick_string(&mut self.rng, &self.persona.tags).clone()
            };
            hashtags.push(extra);
        }
        self.attach_hashtags(&mut text, &hashtags);
        let source_sentiment = self.has_source_sentiment(source).then(|| {
            round2((-0.8 + 0.12 * super::standard_normal(&mut self.rng)).clamp(-1.0, -0.2))
        });
        self.finish(
            source,
            author,
            reach,
            text,
            hashtags,
            event_time,
            source_sentiment,
            Some("en"),
        )
    }

    /// The intended stance; news is mostly neutral, reddit and twitter the most negative.
    fn stance(&mut self, source: Source) -> Stance {
        let (pos, neu) = match source {
            Source::News => (0.32, 0.48),
            Source::Twitter => (0.41, 0.23),
            Source::Facebook => (0.46, 0.21),
            Source::Instagram => (0.57, 0.23),
            Source::Reddit => (0.35, 0.27),
            Source::Tiktok => (0.48, 0.19),
            Source::Youtube => (0.45, 0.22),
            Source::Blog | Source::Other => (0.41, 0.29),
        };
        let u: f64 = self.rng.random();
        if u < pos {
            Stance::Positive
        } else if u < pos + neu {
            Stance::Neutral
        } else {
            Stance::Negative
        }
    }

    fn body(&mut self, source: Source, stance: Stance, topic: usize, spanish: bool) -> String {
        let templates = match (spanish, source, stance) {
            (true, _, Stance::Positive) => v::ES_POSITIVE,
            (true, _, Stance::Neutral) => v::ES_NEUTRAL,
            (true, _, Stance::Negative) => v::ES_NEGATIVE,
            (false, Source::News, Stance::Positive) => v::NEWS_POSITIVE,
            (false, Source::News, Stance::Neutral) => v::NEWS_NEUTRAL,
            (false, Source::News, Stance::Negative) => v::NEWS_NEGATIVE,
            (false, _, Stance::Positive) => v::POSITIVE,
            (false, _, Stance::Neutral) => v::NEUTRAL,
            (false, _, Stance::Negative) => v::NEGATIVE,
        };
        let template = pick(&mut self.rng, templates);
        // Shouting a word is a social-media habit, not a newsroom one.
        let shout = !matches!(source, Source::News | Source::Blog);
        let mut text = self.fill(template, stance, topic, None, shout);
        match source {
            Source::News if !spanish && self.rng.random_bool(0.35) => {
                let lede = pick(&mut self.rng, v::NEWS_LEDES);
                let lede = self.fill(lede, Stance::Neutral, topic, None, false);
                text = format!("{text}. {lede}");
            }
            Source::Blog if self.rng.random_bool(0.5) => {
                text = format!("{}{text}", pick(&mut self.rng, v::BLOG_PREFIXES));
            }
            _ => {}
        }
        text
    }

    /// Punctuation, openers, closers, emojis, emoticons and @mentions, by channel habits.
    fn decorate(&mut self, text: &mut String, source: Source, stance: Stance, spanish: bool) {
        if matches!(source, Source::News | Source::Blog) {
            return;
        }
        let r = &mut self.rng;
        if stance != Stance::Neutral && !text.ends_with(['?', '!', '.']) {
            let u: f64 = r.random();
            if u < 0.12 {
                text.push_str("!!!");
            } else if u < 0.35 {
                text.push('!');
            }
        }
        if stance != Stance::Neutral
            && matches!(source, Source::Tiktok | Source::Twitter)
            && r.random_bool(0.03)
        {
            *text = text.to_uppercase();
        }
        if !spanish {
            let (openers, p_open): (&[&str], f64) = match source {
                Source::Reddit => (v::REDDIT_OPENERS, 0.35),
                Source::Tiktok => (v::TIKTOK_OPENERS, 0.25),
                Source::Twitter | Source::Facebook => (v::SOCIAL_OPENERS, 0.08),
                _ => (&[], 0.0),
            };
            if r.random_bool(p_open) {
                let opener = pick(r, openers);
                // Mid-sentence after "Honestly, " or "tbh " (not after "PSA: "), names aside.
                let p = &self.persona;
                let proper = [
                    p.last, p.first, p.opponent, p.city, p.state, "Measure", "Prop", "Question",
                    "I ", "I'm", "¡", "¿",
                ];
                let shouted = text.chars().take(3).all(|c| !c.is_ascii_lowercase());
                if !opener.ends_with(": ")
                    && !shouted
                    && !proper.iter().any(|w| text.starts_with(w))
                {
                    decapitalize(text);
                }
                *text = format!("{opener}{text}");
            }
            let (closers, p_close): (&[&str], f64) = match source {
                Source::Reddit => (v::REDDIT_CLOSERS, 0.15),
                Source::Youtube => (v::YOUTUBE_CLOSERS, 0.15),
                _ => (&[], 0.0),
            };
            if r.random_bool(p_close) {
                text.push_str(pick(r, closers));
            }
        }
        let p_emoticon = match source {
            Source::Twitter | Source::Facebook | Source::Reddit | Source::Youtube => 0.04,
            _ => 0.0,
        };
        if stance != Stance::Neutral && r.random_bool(p_emoticon) {
            let pool = if stance == Stance::Positive {
                v::EMOTICON_POSITIVE
            } else {
                v::EMOTICON_NEGATIVE
            };
            text.push(' ');
            text.push_str(pick(r, pool));
        }
        let p_emoji = match source {
            Source::Tiktok | Source::Instagram => 0.6,
            Source::Facebook => 0.35,
            Source::Twitter => 0.3,
            Source::Youtube => 0.25,
            _ => 0.03,
        };
        if r.random_bool(p_emoji) {
            let pool = match stance {
                Stance::Positive => v::EMOJI_POSITIVE,
                Stance::Neutral => v::EMOJI_NEUTRAL,
                Stance::Negative => v::EMOJI_NEGATIVE,
            };
            let emoji = pick(r, pool);
            text.push(' ');
            for _ in 0..r.random_range(1..=3) {
                text.push_str(emoji);
            }
        }
        let p_mention = match source {
            Source::Twitter => 0.25,
            Source::Instagram => 0.15,
            Source::Tiktok => 0.10,
            Source::Facebook => 0.05,
            _ => 0.0,
        };
        if r.random_bool(p_mention) {
            let target = if r.random_bool(0.5) {
                self.persona.handle.clone()
            } else {
                let pool = &self.pools[source.index()];
                let other = &pool.authors[r.random_range(0..pool.authors.len())];
                other.handle.trim_start_matches('@').to_owned()
            };
            if r.random_bool(0.5) {
                *text = format!("@{target} {text}");
            } else {
                text.push_str(&format!(" cc @{target}"));
            }
        }
    }

    /// 0–3 hashtags, more on hashtag-heavy channels, from topical, campaign and election pools.
    fn hashtags(&mut self, source: Source, topic: usize) -> Vec<String> {
        let odds: [f64; 4] = match source {
            Source::Twitter => [0.30, 0.35, 0.22, 0.13],
            Source::Instagram => [0.10, 0.25, 0.30, 0.35],
            Source::Tiktok => [0.10, 0.30, 0.30, 0.30],
            Source::Facebook => [0.60, 0.25, 0.10, 0.05],
            Source::Youtube => [0.70, 0.20, 0.07, 0.03],
            Source::Blog => [0.80, 0.15, 0.05, 0.0],
            Source::News => [0.90, 0.10, 0.0, 0.0],
            Source::Reddit | Source::Other => [0.95, 0.05, 0.0, 0.0],
        };
        let n = Weighted::new(&odds).pick(&mut self.rng);
        let mut tags: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n * 3 {
            if tags.len() == n {
                break;
            }
            let u: f64 = self.rng.random();
            let tag = if u < 0.5 {
                pick(&mut self.rng, v::TOPICS[topic].hashtags).to_owned()
            } else if u < 0.8 {
                pick_string(&mut self.rng, &self.persona.tags).clone()
            } else {
                pick(&mut self.rng, v::GENERAL_HASHTAGS).to_owned()
            };
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags
    }

    /// Puts each hashtag in the text: inline when the word already appears, else at the end.
    fn attach_hashtags(&mut self, text: &mut String, tags: &[String]) {
        for tag in tags {
            if let Some(at) = find_word(text, tag).filter(|_| self.rng.random_bool(0.6)) {
                // ASCII lower-casing keeps byte offsets, so `at..at + len` is the word itself.
                text.replace_range(at..at + tag.len(), &format!("#{tag}"));
            } else {
                text.push_str(" #");
                text.push_str(tag);
            }
        }
    }

    /// A link pasted in the text: shortened on twitter, an article elsewhere.
    fn inline_link(&mut self, source: Source) -> Option<String> {
        let p = match source {
            Source::Twitter => 0.18,
            Source::Facebook => 0.12,
            Source::Reddit => 0.08,
            _ => 0.0,
        };
        if !self.rng.random_bool(p) {
            return None;
        }
        if source == Source::Twitter {
            return Some(format!("https://t.co/{}", alnum(&mut self.rng, 10)));
        }
        let outlet = pick_ref(&mut self.rng, v::NATIONAL_OUTLETS).2;
        Some(format!(
            "https://www.{outlet}/politics/{}",
            alnum(&mut self.rng, 8).to_ascii_lowercase()
        ))
    }

    fn has_source_sentiment(&mut self, source: Source) -> bool {
        // Listening vendors score the big networks and news; the rest come unscored.
        let p = match source {
            Source::Twitter | Source::Facebook | Source::Instagram | Source::News => 0.7,
            Source::Youtube => 0.3,
            _ => 0.0,
        };
        self.rng.random_bool(p)
    }

    /// The vendor's rough score: the post's stance plus a fair amount of noise.
    fn source_sentiment(&mut self, source: Source, stance: Stance) -> Option<f64> {
        if !self.has_source_sentiment(source) {
            return None;
        }
        let (mean, sd) = match stance {
            Stance::Positive => (0.55, 0.25),
            Stance::Neutral => (0.0, 0.15),
            Stance::Negative => (-0.55, 0.25),
        };
        Some(round2(
            (mean + sd * super::standard_normal(&mut self.rng)).clamp(-1.0, 1.0),
        ))
    }

    #[allow(clippy::too_many_arguments)] // one private assembly step; a struct would only rename them
    fn finish(
        &mut self,
        source: Source,
        author: PoolAuthor,
        reach: u64,
        content: String,
        hashtags: Vec<String>,
        event_time: DateTime<Utc>,
        source_sentiment: Option<f64>,
        language: Option<&'static str>,
    ) -> Mention {
        let (external_id, url) = self.external_id(source, &author, event_time, &content);
        Mention {
            external_id,
            source,
            content,
            author: Author {
                handle: author.handle,
                name: author.name,
                followers: author.followers,
                reach,
            },
            country: author.country.map(str::to_owned),
            region: author.region,
            language: Some(language.unwrap_or(author.language).to_owned()),
            hashtags,
            url: Some(url),
            event_time,
            source_sentiment,
        }
    }

    /// A platform-style id, unique per (org, source) within this generator, and its url.
    ///
    /// Ids are a keyed bijection of the per-source counter (so they cannot repeat), laid out
    /// like the platform's: time-ordered snowflakes for twitter, instagram and tiktok (the
    /// low 22–32 bits carry the permuted counter, so two ids could only meet if the same
    /// millisecond held two posts of one source 4 million posts apart), opaque ids elsewhere.
    /// The key includes the first delivery time, so a restarted generator starts afresh.
    fn external_id(
        &mut self,
        source: Source,
        author: &PoolAuthor,
        at: DateTime<Utc>,
        text: &str,
    ) -> (String, String) {
        let i = source.index();
        let n = self.counters[i];
        self.counters[i] += 1;
        let key = mix(self.id_keys[i], self.run_key.unwrap_or(0));
        let ms = at.timestamp_millis().max(0) as u64;
        let slug = slug(text);
        match source {
            Source::Twitter => {
                // Twitter snowflake: ms since 2010-11-04 in the high bits.
                let id = (ms.saturating_sub(1_288_834_974_657) << 22) | permute_bits(n, key, 22);
                let user = author.handle.trim_start_matches('@');
                (id.to_string(), format!("https://x.com/{user}/status/{id}"))
            }
            Source::Facebook => {
                let post = 1_000_000_000_000_000 + permute_bits(n, key, 52);
                let id = format!("{}_{post}", author.page_id);
                (
                    id,
                    format!("https://www.facebook.com/{}/posts/{post}", author.page_id),
                )
            }
            Source::Instagram => {
                // Instagram media id: ms since 2011-08-24 above 23 shard/sequence bits; the
                // public shortcode is its base64url rendering.
                let media = (ms.saturating_sub(1_314_220_021_721) << 23) | permute_bits(n, key, 23);
                let code = base64url(media, 0);
                (code.clone(), format!("https://www.instagram.com/p/{code}/"))
            }
            Source::News => {
                let id = format!("{:016x}", permute64(n, key));
                let date = at.date_naive();
                let url = format!(
                    "https://www.{}/{}/{:02}/{:02}/{slug}",
                    author.domain,
                    date.year(),
                    date.month(),
                    date.day()
                );
                (id, url)
            }
            Source::Reddit => {
                // Seven base-36 digits, like today's post ids.
                let id36 = base36(2_176_782_336 + permute_bits(n, key, 36));
                let sub = author.domain.as_str();
                (
                    format!("t3_{id36}"),
                    format!("https://www.reddit.com/r/{sub}/comments/{id36}/{slug}/"),
                )
            }
            Source::Tiktok => {
                // TikTok video id: unix seconds in the high 32 bits.
                let id = ((ms / 1000) << 32) | permute_bits(n, key, 32);
                (
                    id.to_string(),
                    format!("https://www.tiktok.com/{}/video/{id}", author.handle),
                )
            }
            Source::Youtube => {
                let id = base64url(permute64(n, key), 11);
                (id.clone(), format!("https://www.youtube.com/watch?v={id}"))
            }
            Source::Blog | Source::Other => {
                let id = format!("{:012x}", permute_bits(n, key, 48));
                (
                    id.clone(),
                    format!("https://{}/p/{slug}-{}", author.domain, &id[..6]),
                )
            }
        }
    }

    /// Fills a template's `{key}` placeholders.
    fn fill(
        &mut self,
        template: &str,
        stance: Stance,
        topic: usize,
        scandal: Option<usize>,
        shout: bool,
    ) -> String {
        let mut out = String::with_capacity(template.len() + 48);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let key = &rest[open + 1..open + close];
            let value = self.value(key, stance, topic, scandal, shout);
            out.push_str(&value);
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        // An empty booster leaves a double space behind; "the {topic}" may double the article.
        let mut text = out.split_whitespace().collect::<Vec<_>>().join(" ");
        for (doubled, single) in [
            ("the the ", "the "),
            ("The the ", "The "),
            ("'s the ", "'s "),
            (" de el ", " del "),
            (" a el ", " al "),
        ] {
            text = text.replace(doubled, single);
        }
        capitalize(&mut text);
        text
    }

    fn value(
        &mut self,
        key: &str,
        stance: Stance,
        topic: usize,
        scandal: Option<usize>,
        shout: bool,
    ) -> String {
        let p = &self.persona;
        let r = &mut self.rng;
        match key {
            "cand" => p.full_name(),
            "first" => p.first.to_owned(),
            "last" => p.last.to_owned(),
            "opp" => p.opponent.to_owned(),
            "office" => p.office.to_owned(),
            "office_es" => p.office_es.to_owned(),
            "measure" => p.measure.clone(),
            "city" => p.city.to_owned(),
            "state" => p.state.to_owned(),
            "topic" | "topic_cap" => {
                let mut t = pick(r, v::TOPICS[topic].nouns).to_owned();
                if key == "topic_cap" {
                    capitalize(&mut t);
                }
                t
            }
            "topic2" => {
                let other = (topic + 1 + r.random_range(0..v::TOPICS.len() - 1)) % v::TOPICS.len();
                pick(r, v::TOPICS[other].nouns).to_owned()
            }
            "topic_es" => pick(r, v::TOPICS[topic].nouns_es).to_owned(),
            "adj" | "adj_cap" => {
                let strong = r.random_bool(0.45);
                let pool = match (stance, strong) {
                    (Stance::Negative, true) => v::NEG_STRONG,
                    (Stance::Negative, false) => v::NEG_MILD,
                    (_, true) => v::POS_STRONG,
                    (_, false) => v::POS_MILD,
                };
                let mut word = pick(r, pool).to_owned();
                if shout && r.random_bool(0.1) {
                    word = word.to_uppercase();
                } else if key == "adj_cap" {
                    capitalize(&mut word);
                }
                word
            }
            "negn" => pick(r, v::NEG_NOUNS).to_owned(),
            "boost" => {
                if r.random_bool(0.7) {
                    pick(r, v::BOOSTERS).to_owned()
                } else {
                    String::new()
                }
            }
            "day" => pick(r, v::DAYS).to_owned(),
            "day_es" => pick(r, v::DAYS_ES).to_owned(),
            "time" => pick(r, v::TIMES).to_owned(),
            "pct" => r.random_range(38..52).to_string(),
            "pct2" => r.random_range(36..50).to_string(),
            "n" => r.random_range(2..9).to_string(),
            "scandal" | "scandal_cap" => {
                let mut s = v::SCANDALS[scandal.unwrap_or(0) % v::SCANDALS.len()]
                    .0
                    .to_owned();
                if key == "scandal_cap" {
                    capitalize(&mut s);
                }
                s
            }
            // A typo in a template shows up in the text instead of panicking the source.
            other => format!("{{{other}}}"),
        }
    }
}

/// Builds one source's author pool: handles in the platform's style, heavy-tailed followers,
/// a home location and language per author, and Zipf-like activity.
fn build_pool(rng: &mut SmallRng, source: Source, p: &Persona) -> AuthorPool {
    let size = match source {
        Source::Twitter => 900,
        Source::Facebook => 600,
        Source::Instagram => 450,
        Source::News => 0, // outlets: built below
        Source::Reddit => 500,
        Source::Tiktok => 450,
        Source::Youtube => 200,
        Source::Blog | Source::Other => 90,
    };
    let mut authors = if source == Source::News {
        outlets(rng, p)
    } else {
        Vec::with_capacity(size)
    };
    let mut seen = std::collections::HashSet::new();
    while authors.len() < size {
        let mut a = person(rng, source, p);
        if !seen.insert(a.handle.clone()) {
            // Two people picked the same handle: the later one adds digits, as on the platforms.
            a.handle = format!("{}{}", a.handle, rng.random_range(10..1000));
            if !seen.insert(a.handle.clone()) {
                continue;
            }
        }
        authors.push(a);
    }
    // Activity is Zipf-like over a random order, so prolific and famous are independent.
    let activity: Vec<f64> = (0..authors.len())
        .map(|i| 1.0 / ((i + 1) as f64).powf(0.8))
        .collect();
    AuthorPool {
        authors,
        activity: Weighted::new(&activity),
    }
}

/// An individual posting on a social channel.
fn person(rng: &mut SmallRng, source: Source, p: &Persona) -> PoolAuthor {
    let first = pick(rng, v::FIRST_NAMES);
    let last = pick(rng, v::LAST_NAMES);
    let (f, l) = (first.to_ascii_lowercase(), last.to_ascii_lowercase());
    let nn = rng.random_range(1..100);
    let display = format!("{first} {last}");
    let (handle, name, domain) = match source {
        Source::Twitter => {
            let h = match rng.random_range(0..5) {
                0 => format!("{first}{last}"),
                1 => format!("{f}_{l}{nn}"),
                2 => format!("{}{last}{nn}", &first[..1]),
                3 => format!(
                    "{}_{}{}",
                    pick(rng, v::REDDIT_ADJ),
                    pick(rng, v::REDDIT_NOUN),
                    nn
                ),
                _ => format!("{f}{}", rng.random_range(1000..99_999)),
            };
            // Twitter handles are at most 15 characters.
            (
                format!("@{}", h.chars().take(15).collect::<String>()),
                Some(display),
                String::new(),
            )
        }
        Source::Instagram | Source::Tiktok => {
            let h = match rng.random_range(0..4) {
                0 => format!("{f}.{l}"),
                1 => format!("{f}_{l}_"),
                2 => format!("{f}{l}{nn}"),
                _ => format!("{f}.{}", p.city.to_ascii_lowercase().replace(' ', "")),
            };
            (format!("@{h}"), Some(display), String::new())
        }
        Source::Facebook => (
            format!("{f}.{l}.{}", rng.random_range(1..40)),
            Some(display),
            String::new(),
        ),
        Source::Reddit => {
            let h = match rng.random_range(0..4) {
                0 => format!(
                    "{}-{}-{}",
                    pick(rng, v::REDDIT_ADJ),
                    pick(rng, v::REDDIT_NOUN),
                    rng.random_range(1000..9999)
                ),
                1 => format!(
                    "{}_{}_{}",
                    pick(rng, v::REDDIT_ADJ),
                    pick(rng, v::REDDIT_NOUN),
                    rng.random_range(10..9999)
                ),
                2 => format!("throwaway_{}", rng.random_range(1000..99_999)),
                _ => format!("{f}{l}{nn}"),
            };
            let city_sub: String = p.city.chars().filter(|c| !c.is_whitespace()).collect();
            let sub = match rng.random_range(0..4) {
                0 | 1 => city_sub,
                2 => p.state.replace(' ', ""),
                _ => pick(rng, v::SUBREDDITS).to_owned(),
            };
            (format!("u/{h}"), None, sub)
        }
        Source::Youtube => {
            let suffix = pick(rng, v::CREATOR_SUFFIXES);
            if rng.random_bool(0.3) {
                let city: String = p.city.chars().filter(|c| !c.is_whitespace()).collect();
                (
                    format!("@{city}{suffix}"),
                    Some(format!("{} {suffix}", p.city)),
                    String::new(),
                )
            } else {
                (
                    format!("@{first}{last}{suffix}"),
                    Some(format!("{display} {suffix}")),
                    String::new(),
                )
            }
        }
        Source::Blog | Source::News | Source::Other => {
            let host = match rng.random_range(0..3) {
                0 => format!("{f}{l}.substack.com"),
                1 => format!("{f}{l}.medium.com"),
                _ => format!("{f}{l}.blog"),
            };
            (host.clone(), Some(display), host)
        }
    };
    let (median, sigma) = match source {
        Source::Twitter => (320.0, 1.9),
        Source::Facebook => (280.0, 1.2),
        Source::Instagram => (550.0, 1.7),
        Source::Tiktok => (700.0, 2.1),
        Source::Youtube => (1_800.0, 1.9),
        Source::Reddit => (25.0, 1.4),
        _ => (900.0, 1.5),
    };
    let mut followers = lognormal(rng, median, sigma);
    // About one in a hundred is an influencer: Pareto-tailed audiences from 50k up.
    if source != Source::Reddit && rng.random_bool(0.012) {
        followers = 50_000.0 / (1.0 - rng.random::<f64>()).powf(1.0 / 1.1);
    }
    let (country, region, language) = location(rng, p);
    PoolAuthor {
        handle,
        name,
        followers: followers.clamp(0.0, 40_000_000.0).round() as u64,
        country,
        region,
        language,
        page_id: 100_000_000_000_000 + rng.random_range(0..900_000_000_000_000),
        domain,
    }
}

/// News outlets: local ones named after the race's city and state, national and foreign ones.
fn outlets(rng: &mut SmallRng, p: &Persona) -> Vec<PoolAuthor> {
    let mut out = Vec::new();
    let outlet = |name: String,
                  handle: String,
                  domain: String,
                  followers: f64,
                  country: &'static str,
                  region: Option<String>| PoolAuthor {
        handle: format!("@{handle}"),
        name: Some(name),
        followers: followers.round() as u64,
        country: Some(country),
        region,
        language: if country == "MX" { "es" } else { "en" },
        page_id: 0,
        domain,
    };
    for pattern in v::LOCAL_OUTLETS {
        let name = pattern
            .replace("{city}", p.city)
            .replace("{state}", p.state);
        let compact: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let followers = lognormal(rng, 45_000.0, 0.9);
        out.push(outlet(
            name,
            compact.clone(),
            format!("{}.com", compact.to_ascii_lowercase()),
            followers,
            "US",
            Some(p.state.to_owned()),
        ));
    }
    // Local TV stations: K/W call letters.
    for _ in 0..3 {
        let letters: String = std::iter::once(if rng.random_bool(0.5) { 'K' } else { 'W' })
            .chain((0..3).map(|_| char::from(b'A' + rng.random_range(0..26u8))))
            .collect();
        let channel = rng.random_range(2..14);
        let followers = lognormal(rng, 120_000.0, 0.7);
        out.push(outlet(
            format!("{letters} News {channel}"),
            format!("{letters}{channel}"),
            format!("{}{channel}.com", letters.to_ascii_lowercase()),
            followers,
            "US",
            Some(p.state.to_owned()),
        ));
    }
    for &(name, handle, domain) in v::NATIONAL_OUTLETS {
        let followers = lognormal(rng, 1_200_000.0, 0.9);
        out.push(outlet(
            name.to_owned(),
            handle.to_owned(),
            domain.to_owned(),
            followers,
            "US",
            None,
        ));
    }
    for &(name, handle, domain, country) in v::FOREIGN_OUTLETS {
        let followers = lognormal(rng, 600_000.0, 0.8);
        out.push(outlet(
            name.to_owned(),
            handle.to_owned(),
            domain.to_owned(),
            followers,
            country,
            None,
        ));
    }
    out
}

/// Where an author posts from, and in which language: mostly the race's own state.
fn location(
    rng: &mut SmallRng,
    p: &Persona,
) -> (Option<&'static str>, Option<String>, &'static str) {
    let u: f64 = rng.random();
    if u < 0.07 {
        // Many accounts share no location.
        let lang = if rng.random_bool(0.05) { "es" } else { "en" };
        return (None, None, lang);
    }
    if u < 0.87 {
        let region = if rng.random_bool(0.55) {
            p.state.to_owned()
        } else {
            let weights: Vec<f64> = v::US_STATES.iter().map(|s| s.1).collect();
            v::US_STATES[Weighted::new(&weights).pick(rng)].0.to_owned()
        };
        let lang = if rng.random_bool(0.07) { "es" } else { "en" };
        return (Some("US"), Some(region), lang);
    }
    let weights: Vec<f64> = v::FOREIGN.iter().map(|f| f.1).collect();
    let &(code, _, regions, es_share) = &v::FOREIGN[Weighted::new(&weights).pick(rng)];
    let region = regions.choose(rng).map(|r| (*r).to_owned());
    let lang = if rng.random_bool(es_share) {
        "es"
    } else {
        "en"
    };
    (Some(code), region, lang)
}

fn pick<'a>(rng: &mut impl Rng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

fn pick_ref<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    // Every list passed here is a non-empty constant.
    &items[rng.random_range(0..items.len())]
}

fn pick_string<'a>(rng: &mut impl Rng, items: &'a [String]) -> &'a String {
    // Every list passed here is non-empty (built in `Persona::new`).
    &items[rng.random_range(0..items.len())]
}

fn capitalize(s: &mut String) {
    if let Some(c) = s.chars().next().filter(char::is_ascii_lowercase) {
        s.replace_range(..1, &c.to_ascii_uppercase().to_string());
    }
}

fn decapitalize(s: &mut String) {
    if let Some(c) = s.chars().next().filter(char::is_ascii_uppercase) {
        s.replace_range(..1, &c.to_ascii_lowercase().to_string());
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Byte offset of `word` in `text` as a whole word (case-insensitive, ASCII).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(i) = lower[from..].find(word) {
        let at = from + i;
        let end = at + word.len();
        let before = at == 0
            || (!bytes[at - 1].is_ascii_alphanumeric() && !matches!(bytes[at - 1], b'#' | b'@'));
        let after = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if before && after {
            return Some(at);
        }
        from = end;
    }
    None
}

/// A url slug from the first words of a text.
fn slug(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .filter(|w| !w.starts_with(['#', '@']) && !w.starts_with("http"))
        .map(|w| {
            w.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_lowercase()
        })
        .filter(|w| !w.is_empty())
        .take(7)
        .collect();
    if words.is_empty() {
        "post".to_owned()
    } else {
        words.join("-")
    }
}

fn alnum(rng: &mut impl Rng, n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// A keyed bijection on `u64` (xor with the key, then splitmix64's invertible finaliser).
fn permute64(n: u64, key: u64) -> u64 {
    let mut z = n ^ key;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A keyed bijection on the low `bits` bits: odd multiplies and xor-shifts mod 2^bits are
/// invertible, so distinct `n < 2^bits` give distinct outputs.
fn permute_bits(n: u64, key: u64, bits: u32) -> u64 {
    let mask = (1u64 << bits) - 1;
    let mut z = (n ^ key) & mask;
    z = z.wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1) & mask;
    z ^= z >> (bits / 2);
    z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9 | 1) & mask;
    z ^= z >> (bits / 3);
    z
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Base64url digits of `n`, most significant first; `width` pads (YouTube ids are 11 long).
fn base64url(n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let mut n = n;
    loop {
        out.push(DIGITS[(n % 64) as usize]);
        n /= 64;
        if n == 0 {
            break;
        }
    }
    while out.len() < width {
        out.push(b'A');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::TimeZone;
    use warroom_engine::{sentiment_class, SentimentClass};

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 14, 17, 30, 0)
            .single()
            .expect("valid time")
    }

    fn org() -> OrgId {
        OrgId::new("harbor-campaign")
    }

    #[test]
    fn same_seed_same_output() {
        let mut a = MentionGenerator::new(&org(), 7);
        let mut b = MentionGenerator::new(&org(), 7);
        assert_eq!(a.generate(now(), 500, 0.1), b.generate(now(), 500, 0.1));
        assert_eq!(a.generate_crisis(now(), 100), b.generate_crisis(now(), 100));
        assert_eq!(a.generate(now(), 50, 0.0), b.generate(now(), 50, 0.0));
    }

    #[test]
    fn different_seed_or_org_differs() {
        let base = MentionGenerator::new(&org(), 7).generate(now(), 200, 0.1);
        let seed = MentionGenerator::new(&org(), 8).generate(now(), 200, 0.1);
        let other = MentionGenerator::new(&OrgId::new("metro-ballot"), 7).generate(now(), 200, 0.1);
        assert_ne!(base, seed);
        assert_ne!(base, other);
        let texts = |ms: &[Mention]| ms.iter().map(|m| m.content.clone()).collect::<Vec<_>>();
        assert_ne!(texts(&base), texts(&other));
    }

    #[test]
    fn external_ids_unique_over_100k() {
        let mut g = MentionGenerator::new(&org(), 42);
        let mut ids = HashSet::new();
        let mut n = 0;
        for tick in 0..100 {
            let at = now() + Duration::milliseconds(tick * 250);
            for m in g
                .generate(at, 990, 0.05)
                .into_iter()
                .chain(g.generate_crisis(at, 10))
            {
                assert!(
                    ids.insert((m.source, m.external_id.clone())),
                    "duplicate id {} on {:?}",
                    m.external_id,
                    m.source
                );
                n += 1;
            }
        }
        // Same instant, many mentions: still unique.
        for m in g.generate(now(), 10_000, 0.0) {
            assert!(ids.insert((m.source, m.external_id.clone())));
        }
        assert_eq!(n, 100_000);
    }

    #[test]
    fn restarted_generator_does_not_replay_ids() {
        let ids = |at: DateTime<Utc>| -> HashSet<(Source, String)> {
            let mut g = MentionGenerator::new(&org(), 42);
            g.generate(at, 5_000, 0.05)
                .into_iter()
                .map(|m| (m.source, m.external_id))
                .collect()
        };
        let first = ids(now());
        let again = ids(now() + Duration::minutes(10));
        assert!(first.intersection(&again).count() <= 1);
    }

    #[test]
    fn history_shares_the_race_and_authors_but_not_texts_or_ids() {
        let times: Vec<DateTime<Utc>> = (0..3_000)
            .map(|i| now() - Duration::hours(30) + Duration::seconds(i * 37))
            .collect();
        let history = MentionGenerator::for_history(&org(), 42, now()).generate_at(&times);
        assert_eq!(
            history,
            MentionGenerator::for_history(&org(), 42, now()).generate_at(&times),
            "deterministic per (org, seed, now)"
        );
        assert_eq!(history.len(), times.len());
        assert!(history.iter().zip(&times).all(|(m, t)| m.event_time == *t));
        let live = MentionGenerator::new(&org(), 42).generate(now(), 3_000, 0.0);
        let authors = |ms: &[Mention]| -> HashSet<String> {
            ms.iter().map(|m| m.author.handle.clone()).collect()
        };
        let shared = authors(&history).intersection(&authors(&live)).count();
        assert!(
            shared > 300,
            "the same author pools: {shared} handles in common"
        );
        // Its own random stream: not what the live generator would write for those times.
        let same_stream = MentionGenerator::new(&org(), 42).generate_at(&times);
        let repeated = history
            .iter()
            .zip(&same_stream)
            .filter(|(a, b)| a.content == b.content)
            .count();
        assert!(
            repeated < 60,
            "{repeated} of 3000 texts as the live stream's"
        );
        let ids: HashSet<(Source, &str)> = live
            .iter()
            .map(|m| (m.source, m.external_id.as_str()))
            .collect();
        assert!(history
            .iter()
            .all(|m| !ids.contains(&(m.source, m.external_id.as_str()))));
        // Twitter ids carry the event time, as the platform's do.
        let tweet = history
            .iter()
            .find(|m| m.source == Source::Twitter)
            .unwrap();
        let ms = (tweet.external_id.parse::<u64>().unwrap() >> 22) + 1_288_834_974_657;
        assert_eq!(ms as i64, tweet.event_time.timestamp_millis());
    }

    #[test]
    fn external_ids_look_like_the_platforms() {
        let mut g = MentionGenerator::new(&org(), 3);
        for m in g.generate(now(), 2_000, 0.0) {
            let id = &m.external_id;
            match m.source {
                Source::Twitter => assert!(
                    id.len() == 19 && id.bytes().all(|b| b.is_ascii_digit()),
                    "{id}"
                ),
                Source::Tiktok => assert!(
                    id.len() == 19 && id.bytes().all(|b| b.is_ascii_digit()),
                    "{id}"
                ),
                Source::Facebook => {
                    let (page, post) = id.split_once('_').expect("pageid_postid");
                    assert_eq!(page.len(), 15);
                    assert_eq!(post.len(), 16);
                }
                Source::Reddit => assert!(id.starts_with("t3_") && id.len() == 10, "{id}"),
                Source::Youtube => assert_eq!(id.len(), 11),
                Source::Instagram => assert!((10..=12).contains(&id.len()), "{id}"),
                _ => assert!(!id.is_empty()),
            }
            let url = m.url.expect("url");
            assert!(url.starts_with("https://"), "{url}");
        }
    }

    #[test]
    fn late_share_and_event_times() {
        let mut g = MentionGenerator::new(&org(), 11);
        let ms = g.generate(now(), 20_000, 0.1);
        let late = ms
            .iter()
            .filter(|m| now() - m.event_time >= Duration::minutes(1))
            .count();
        let share = late as f64 / ms.len() as f64;
        assert!((share - 0.1).abs() < 0.01, "late share {share}");
        assert!(ms.iter().all(|m| m.event_time <= now()));
        assert!(ms
            .iter()
            .all(|m| now() - m.event_time <= Duration::minutes(30)));
        let on_time: Vec<_> = ms
            .iter()
            .filter(|m| now() - m.event_time < Duration::minutes(1))
            .collect();
        let within_5s = on_time
            .iter()
            .filter(|m| now() - m.event_time <= Duration::seconds(5))
            .count();
        assert!(within_5s as f64 / on_time.len() as f64 > 0.8);
        assert!(g
            .generate(now(), 1_000, 0.0)
            .iter()
            .all(|m| now() - m.event_time < Duration::minutes(2)));
        assert!(g
            .generate_crisis(now(), 1_000)
            .iter()
            .all(|m| m.event_time <= now()));
    }

    #[test]
    fn hashtags_appear_in_text() {
        let mut g = MentionGenerator::new(&org(), 5);
        let mut ms = g.generate(now(), 5_000, 0.05);
        ms.extend(g.generate_crisis(now(), 500));
        let mut counts = [0usize; 4];
        for m in &ms {
            assert!(m.hashtags.len() <= 3);
            counts[m.hashtags.len().min(3)] += 1;
            let tokens: HashSet<String> = m
                .content
                .split_whitespace()
                .map(|t| {
                    t.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                        .to_ascii_lowercase()
                })
                .collect();
            for tag in &m.hashtags {
                assert_eq!(tag, &tag.to_lowercase());
                assert!(!tag.starts_with('#'));
                assert!(
                    tokens.contains(&format!("#{tag}")),
                    "#{tag} not in {:?}",
                    m.content
                );
            }
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    }

    #[test]
    fn crisis_shares_one_hashtag_and_sticks() {
        let mut g = MentionGenerator::new(&org(), 9);
        let burst = g.generate_crisis(now(), 300);
        let tag = burst[0].hashtags[0].clone();
        assert!(burst.iter().all(|m| m.hashtags.contains(&tag)));
        let later = g.generate_crisis(now() + Duration::minutes(5), 50);
        assert!(later.iter().all(|m| m.hashtags.contains(&tag)));
        let loud = burst
            .iter()
            .filter(|m| {
                matches!(
                    m.source,
                    Source::Twitter | Source::Tiktok | Source::Reddit | Source::News
                )
            })
            .count();
        assert!(loud as f64 / burst.len() as f64 > 0.75);
    }

    #[test]
    fn realistic_shape() {
        let mut g = MentionGenerator::new(&org(), 13);
        let ms = g.generate(now(), 20_000, 0.0);
        let mut by_source = [0usize; Source::COUNT];
        for m in &ms {
            by_source[m.source.index()] += 1;
        }
        assert!(
            SOURCE_WEIGHTS
                .iter()
                .all(|(s, _)| by_source[s.index()] > 200),
            "{by_source:?}"
        );
        // Heavy tail: the top 1 % of posts carry a large share of the reach.
        let mut reach: Vec<u64> = ms.iter().map(|m| m.author.reach).collect();
        reach.sort_unstable_by(|a, b| b.cmp(a));
        let total: u64 = reach.iter().sum();
        let top: u64 = reach[..reach.len() / 100].iter().sum();
        assert!(
            top as f64 / total as f64 > 0.3,
            "top-1% reach share {}",
            top as f64 / total as f64
        );
        let us = ms
            .iter()
            .filter(|m| m.country.as_deref() == Some("US"))
            .count() as f64
            / ms.len() as f64;
        assert!((0.7..0.92).contains(&us), "US share {us}");
        let es = ms
            .iter()
            .filter(|m| m.language.as_deref() == Some("es"))
            .count() as f64
            / ms.len() as f64;
        assert!((0.03..0.15).contains(&es), "es share {es}");
        assert!(ms.iter().any(|m| m.source_sentiment.is_some()));
        assert!(ms
            .iter()
            .filter(|m| m.source == Source::Reddit)
            .all(|m| m.author.handle.starts_with("u/")));
    }

    /// Needs the real VADER in `warroom_streams::sentiment` (a placeholder returns 0 for all).
    #[test]
    fn sentiment_distribution_matches_targets() {
        let analyzer = warroom_streams::sentiment::analyzer();
        let mut g = MentionGenerator::new(&org(), 21);
        let ms = g.generate(now(), 10_000, 0.0);
        let mut counts = [0usize; 3];
        let mut strong = 0;
        for m in &ms {
            let c = analyzer.polarity_scores(&m.content).compound;
            counts[match SentimentClass::of(c) {
                SentimentClass::Positive => 0,
                SentimentClass::Neutral => 1,
                SentimentClass::Negative => 2,
            }] += 1;
            if c.abs() > 0.6 {
                strong += 1;
            }
        }
        let share = |i: usize| counts[i] as f64 / ms.len() as f64;
        assert!((0.35..=0.45).contains(&share(0)), "positive {}", share(0));
        assert!((0.25..=0.35).contains(&share(1)), "neutral {}", share(1));
        assert!((0.25..=0.35).contains(&share(2)), "negative {}", share(2));
        assert!(strong > ms.len() / 10, "magnitudes should spread");
        let crisis = g.generate_crisis(now(), 2_000);
        let very = crisis
            .iter()
            .filter(|m| {
                analyzer.polarity_scores(&m.content).compound < sentiment_class::STRONGLY_NEGATIVE
            })
            .count();
        assert!(
            very as f64 / crisis.len() as f64 >= 0.9,
            "strongly negative crisis share {}",
            very as f64 / crisis.len() as f64
        );
    }

    /// Writes generated texts to `/tmp/mock-mentions.jsonl` to score them with the reference
    /// VADER (`vaderSentiment==3.3.2`): `cargo test -p warroom-actors dump_texts -- --ignored`.
    #[test]
    #[ignore]
    fn dump_texts() {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(
            std::fs::File::create("/tmp/mock-mentions.jsonl").expect("create"),
        );
        let mut full =
            std::io::BufWriter::new(std::fs::File::create("/tmp/mock-full.jsonl").expect("create"));
        for (i, org) in ["harbor-campaign", "metro-ballot", "acme-2026"]
            .into_iter()
            .enumerate()
        {
            let mut g = MentionGenerator::new(&OrgId::new(org), 100 + i as u64);
            for m in g.generate(now(), 4_000, 0.05) {
                if i == 0 {
                    writeln!(full, "{}", serde_json::to_string(&m).expect("json")).expect("write");
                }
                let line = serde_json::json!({"kind": "normal", "source": m.source.as_str(), "lang": m.language, "text": m.content});
                writeln!(out, "{line}").expect("write");
            }
            for k in 0..4 {
                for m in g.generate_crisis(now() + Duration::hours(k), 250) {
                    let line = serde_json::json!({"kind": "crisis", "source": m.source.as_str(), "lang": m.language, "text": m.content});
                    writeln!(out, "{line}").expect("write");
                }
            }
        }
    }
}

//! Event-time buckets and sliding-window KPIs for one organisation.
//!
//! # Time and windows
//!
//! Mentions are bucketed by the minute of their `event_time` (`floor(ms / 60 000)`).
//! Processing time (`now_ms`, passed in by the caller) never goes backwards: every call
//! moves an internal clock to `max(clock, now_ms)`, and an earlier `now_ms` is read as
//! the clock. Let `e` be the clock's minute and `H` its hour.
//!
//! * **15m, 1h, 24h** are minute-exact: the `Window::minutes()` minute buckets ending
//!   with `e` (the current, partial minute included).
//! * **7d** is hour-aligned: the current (partial) hour and the 168 hours before it, so
//!   it always covers at least 7 days and at most 7 days + 1 hour. This is the retention:
//!   an event whose hour is before `H - 168` is [`Applied::TooLate`] — counted in
//!   [`StreamCounters::too_late`], never applied. (A minute-exact 7-day edge would need
//!   minute buckets for 7 days, about 2 MiB per organisation.)
//!
//! An event whose minute is before `e` updates the bucket it belongs to and is
//! [`Applied::Late`] (counted in `late_applied`, and like every applied mention in
//! `mentions_applied`). An event in the future (clock skew; ingest rejects more than
//! `max_future_skew`) is counted in the current minute `e`.
//!
//! Volume series: one point per minute for 15m (15 points) and 1h (60 points); 24
//! points of 60 minutes for 24h, aligned to the window's end (the last point ends with
//! the current minute, `at` is each slot's first minute); one point per clock hour for
//! 7d (169 points, the first one the oldest hour). The counts of a series always add up
//! to `mention_count`.
//!
//! # What is exact and what is approximate
//!
//! Exact (integer counts, `f64` sums): mention count, average sentiment, the
//! negative/positive/neutral shares, strongly negative count, per-source counts and
//! averages, volume series, counters. Top influencers are exact too (see
//! [`TopReach`]). Top countries and trending hashtags come from Space-Saving sketches of
//! `sketch_capacity` keys ([`SpaceSaving`]): counts never under-estimate, and every key
//! above `N / sketch_capacity` of a window's `N` occurrences is present; a window whose
//! keys fit in the sketches is exact. The top lists (countries, hashtags, influencers) of
//! 15m and 1h come from minute-level sketches and cover exactly the window; those of 24h
//! and 7d come from hour-level sketches and cover the clock hours that overlap the
//! window — for 24h, up to 59 minutes before its start.
//!
//! # Layout and memory bound
//!
//! Rings indexed by `minute mod len` / `hour mod len`, each slot tagged with the minute or
//! hour it holds, so a stale slot reads as empty and is overwritten in place:
//!
//! | ring | slots | per slot | total |
//! |---|---|---|---|
//! | minute heads (count, sentiment sum) | 1 440 | 24 B | 34 KiB |
//! | minute details (classes, 9 sources) | 1 440 | 168 B | 236 KiB |
//! | hour buckets (head + details + sketch pointer) | 169 | 200 B | 33 KiB |
//! | minute sketch pointers (last hour) | 60 | 16 B | 1 KiB |
//!
//! That is ≈ 305 KiB per organisation that has received a mention, allocated on the
//! first mention (an organisation without any mention costs ≈ 200 B) and released again
//! by [`OrgWindows::advance`] once every bucket has left the retention.
//!
//! Sketches are allocated lazily, only for buckets that received a mention: one set
//! (countries and hashtags: `sketch_capacity` keys each; influencers: `top_k` authors)
//! per minute of the last hour (60) and per hour of the retention (169), plus one merged
//! set per window cached for snapshots (4). A sketch key costs 48 B plus its string, an
//! author about 80 B plus the handle, so the worst case — every sketch full of distinct
//! keys — is `(60 + 169 + 4) × (2 × sketch_capacity × (48 B + key) + top_k × (80 B +
//! handle))` on top of the rings: measured at 2.6 MiB with the defaults (64, 10) and
//! 20-byte keys. Typical figures: ≈ 0.35 MiB with a few dozen countries and hashtags
//! (most sketches far from full); ≈ 1.6 MiB at 20 mentions/s with 200 distinct hashtags
//! and 5 000 authors (hashtag sketches full). [`OrgWindows::heap_bytes`] reports the
//! current figure.
//!
//! # Cost
//!
//! `apply` updates two scalar buckets and two sketch sets (and, for a late event, the
//! cached window sketches it falls in). `snapshot` sums at most ~140 buckets of scalars
//! (24h: whole hours from the hour ring plus the minutes at the edges), reads at most
//! 1 440 minute heads for the 24h series, and merges two sketch sets: the cached merge of
//! the window's closed buckets and the current bucket. The caches are rebuilt by
//! [`OrgWindows::advance`] when the current minute (15m, 1h) or hour (24h, 7d) changes;
//! a snapshot whose cache is stale (no `advance` since the bucket changed) is still
//! correct, merging every bucket of the window instead.

use chrono::{DateTime, Utc};
use warroom_engine::config::EngineConfig;
use warroom_engine::{
    sentiment_class, CountryCount, Influencer, KpiSnapshot, Mention, ScoredMention, SentimentClass,
    Source, SourceShare, StreamCounters, TrendingTerm, VolumePoint, Window,
};

use crate::sketch::{SpaceSaving, TopReach};

const MINUTE_MS: i64 = 60_000;
const MINUTES_PER_HOUR: i64 = 60;
/// Minute buckets kept: the 24 h window.
pub const MINUTE_SLOTS: usize = 24 * 60;
/// Minute-level sketch sets kept: the 1 h window.
pub const MINUTE_TOP_SLOTS: usize = 60;
/// Hour buckets kept: the current hour and the 168 before it (the retention).
pub const HOUR_SLOTS: usize = 7 * 24 + 1;
/// Hashtags of one mention that are counted (ingest validation enforces the same cap).
const MAX_HASHTAGS_PER_MENTION: usize = warroom_engine::validate::MAX_HASHTAGS;
/// Tag of a slot that holds nothing.
const EMPTY: i64 = i64::MIN;

/// Sizes of the sketches, from [`EngineConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowParams {
    /// Keys per Space-Saving sketch (countries, hashtags) per bucket.
    pub sketch_capacity: usize,
    /// Items in top lists (countries, influencers, trending).
    pub top_k: usize,
}

impl WindowParams {
    /// Takes `sketch_capacity` and `top_k` from the engine configuration.
    pub fn from_config(config: &EngineConfig) -> Self {
        Self {
            sketch_capacity: config.sketch_capacity,
            top_k: config.top_k,
        }
    }
}

/// What [`OrgWindows::apply`] did with a mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Applied {
    /// Its minute is the current one (or in the future, counted as the current one).
    OnTime,
    /// Its minute had closed; the bucket it belongs to was updated.
    Late,
    /// Older than the retention: counted, not applied.
    TooLate,
}

/// One source's part of a bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct SourceStat {
    count: u64,
    sum: f64,
}

/// Count, sentiment sum and sentiment classes: all a volume point needs, kept apart from
/// the per-source figures so the volume series read a compact ring.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Head {
    count: u64,
    sum: f64,
    negative: u64,
    positive: u64,
    strongly_negative: u64,
}

impl Head {
    fn record(&mut self, compound: f64) {
        self.count += 1;
        self.sum += compound;
        match SentimentClass::of(compound) {
            SentimentClass::Negative => self.negative += 1,
            SentimentClass::Positive => self.positive += 1,
            SentimentClass::Neutral => {}
        }
        if compound < sentiment_class::STRONGLY_NEGATIVE {
            self.strongly_negative += 1;
        }
    }

    fn add(&mut self, other: &Head) {
        self.count += other.count;
        self.sum += other.sum;
        self.negative += other.negative;
        self.positive += other.positive;
        self.strongly_negative += other.strongly_negative;
    }
}

/// The rest of a bucket's exact aggregates: its sources.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Detail {
    sources: [SourceStat; Source::COUNT],
}

impl Detail {
    fn record(&mut self, source: Source, compound: f64) {
        let s = &mut self.sources[source.index()];
        s.count += 1;
        s.sum += compound;
    }

    fn add(&mut self, other: &Detail) {
        for (a, b) in self.sources.iter_mut().zip(&other.sources) {
            a.count += b.count;
            a.sum += b.sum;
        }
    }
}

/// A minute's head, tagged with its minute.
#[derive(Debug, Clone, Copy)]
struct MinuteHead {
    minute: i64,
    head: Head,
}

/// The approximate (sketched) part of a bucket.
#[derive(Debug, Clone)]
struct Tops {
    countries: SpaceSaving,
    hashtags: SpaceSaving,
    influencers: TopReach,
}

impl Tops {
    fn new(params: &WindowParams) -> Self {
        Self {
            countries: SpaceSaving::new(params.sketch_capacity),
            hashtags: SpaceSaving::new(params.sketch_capacity),
            influencers: TopReach::new(params.top_k),
        }
    }

    fn record(&mut self, m: &Mention, compound: f64) {
        if let Some(country) = m.country.as_deref().filter(|c| !c.is_empty()) {
            self.countries.insert(country);
        }
        for tag in m.hashtags.iter().take(MAX_HASHTAGS_PER_MENTION) {
            if !tag.is_empty() {
                self.hashtags.insert(tag);
            }
        }
        // Sources that give no per-mention reach still give followers: rank by those.
        let reach = if m.author.reach > 0 {
            m.author.reach
        } else {
            m.author.followers
        };
        if reach > 0 && !m.author.handle.is_empty() {
            self.influencers.offer(
                m.source,
                &m.author.handle,
                reach,
                m.author.followers,
                compound,
            );
        }
    }

    /// Empties the sketches, keeping their allocations for the slot's next bucket.
    fn clear(&mut self) {
        self.countries.clear();
        self.hashtags.clear();
        self.influencers.clear();
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.countries.heap_bytes()
            + self.hashtags.heap_bytes()
            + self.influencers.heap_bytes()
    }
}

/// An hour bucket: exact aggregates plus its sketches.
#[derive(Debug, Clone)]
struct HourSlot {
    hour: i64,
    head: Head,
    detail: Detail,
    tops: Option<Box<Tops>>,
}

/// A minute's sketches (kept for the last hour only).
#[derive(Debug, Clone)]
struct TopSlot {
    minute: i64,
    tops: Option<Box<Tops>>,
}

/// Bucket granularity of a window's top lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Minute,
    Hour,
}

/// Which buckets a window's top lists cover: `first..=current`, at `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TopRange {
    level: Level,
    first: i64,
    current: i64,
}

impl TopRange {
    fn of(window: Window, end_minute: i64) -> Self {
        let hour = end_minute.div_euclid(MINUTES_PER_HOUR);
        match window {
            Window::M15 | Window::H1 => TopRange {
                level: Level::Minute,
                first: end_minute - window.minutes() + 1,
                current: end_minute,
            },
            Window::H24 => TopRange {
                level: Level::Hour,
                first: (end_minute - window.minutes() + 1).div_euclid(MINUTES_PER_HOUR),
                current: hour,
            },
            Window::D7 => TopRange {
                level: Level::Hour,
                first: hour - (HOUR_SLOTS as i64 - 1),
                current: hour,
            },
        }
    }
}

/// The merged sketches of a window's closed buckets (`first..current`, current excluded).
#[derive(Debug, Clone)]
struct TopCache {
    range: TopRange,
    tops: Tops,
}

/// Sliding-window state of one organisation: event-time buckets, sketches and counters.
#[derive(Debug, Clone)]
pub struct OrgWindows {
    params: WindowParams,
    /// Latest processing time seen (ms since epoch); `EMPTY` before the first call.
    clock_ms: i64,
    /// Newest minute any applied mention went to (to release idle organisations).
    newest_minute: i64,
    minute_heads: Vec<MinuteHead>,
    minute_details: Vec<Detail>,
    minute_tops: Vec<TopSlot>,
    hours: Vec<HourSlot>,
    caches: [Option<TopCache>; 4],
    counters: StreamCounters,
}

fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS)
}

fn hour_of(minute: i64) -> i64 {
    minute.div_euclid(MINUTES_PER_HOUR)
}

fn ring_index(tag: i64, len: usize) -> usize {
    // rem_euclid of a positive length is in 0..len, so the cast cannot truncate.
    tag.rem_euclid(len as i64) as usize
}

fn time_of_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A slot of a volume series from its head.
fn volume_point(at: DateTime<Utc>, head: &Head) -> VolumePoint {
    VolumePoint {
        at,
        count: head.count,
        avg_sentiment: avg(head),
        negative: head.negative,
        positive: head.positive,
        strongly_negative: head.strongly_negative,
    }
}

fn time_of_minute(minute: i64) -> DateTime<Utc> {
    time_of_ms(minute.saturating_mul(MINUTE_MS))
}

fn avg(head: &Head) -> Option<f64> {
    (head.count > 0).then(|| head.sum / head.count as f64)
}

impl OrgWindows {
    /// Empty state; the rings are allocated on the first applied mention.
    pub fn new(params: WindowParams) -> Self {
        Self {
            params,
            clock_ms: EMPTY,
            newest_minute: EMPTY,
            minute_heads: Vec::new(),
            minute_details: Vec::new(),
            minute_tops: Vec::new(),
            hours: Vec::new(),
            caches: [None, None, None, None],
            counters: StreamCounters::default(),
        }
    }

    /// The sketch sizes in use.
    pub fn params(&self) -> WindowParams {
        self.params
    }

    /// Applies one scored mention; now_ms = processing time (ms since epoch).
    pub fn apply(&mut self, m: &ScoredMention, now_ms: i64) -> Applied {
        self.observe(now_ms);
        let clock_minute = minute_of(self.clock_ms);
        let clock_hour = hour_of(clock_minute);
        // Clock skew: a mention from the future counts in the current minute.
        let minute = minute_of(m.mention.event_time.timestamp_millis()).min(clock_minute);
        let hour = hour_of(minute);
        if hour < clock_hour - (HOUR_SLOTS as i64 - 1) {
            self.counters.too_late += 1;
            return Applied::TooLate;
        }
        self.ensure_rings();
        // VADER's compound is always finite; a non-finite score from elsewhere would
        // poison every average for a week, so it counts as neutral.
        let compound = if m.sentiment.compound.is_finite() {
            m.sentiment.compound
        } else {
            0.0
        };
        let source = m.mention.source;
        let params = self.params;

        if minute > clock_minute - MINUTE_SLOTS as i64 {
            let i = ring_index(minute, MINUTE_SLOTS);
            if self.minute_heads[i].minute != minute {
                // The slot held a minute that left the 24 h ring (writes only happen
                // within it, so a different tag is always older).
                self.minute_heads[i] = MinuteHead {
                    minute,
                    head: Head::default(),
                };
                self.minute_details[i] = Detail::default();
            }
            self.minute_heads[i].head.record(compound);
            self.minute_details[i].record(source, compound);
        }

        let slot = &mut self.hours[ring_index(hour, HOUR_SLOTS)];
        if slot.hour != hour {
            slot.hour = hour;
            slot.head = Head::default();
            slot.detail = Detail::default();
            if let Some(t) = slot.tops.as_mut() {
                t.clear();
            }
        }
        slot.head.record(compound);
        slot.detail.record(source, compound);
        slot.tops
            .get_or_insert_with(|| Box::new(Tops::new(&params)))
            .record(&m.mention, compound);

        if minute > clock_minute - MINUTE_TOP_SLOTS as i64 {
            let slot = &mut self.minute_tops[ring_index(minute, MINUTE_TOP_SLOTS)];
            if slot.minute != minute {
                slot.minute = minute;
                if let Some(t) = slot.tops.as_mut() {
                    t.clear();
                }
            }
            slot.tops
                .get_or_insert_with(|| Box::new(Tops::new(&params)))
                .record(&m.mention, compound);
        }

        self.counters.mentions_applied += 1;
        self.newest_minute = self.newest_minute.max(minute);
        if minute < clock_minute {
            // A late mention in a closed bucket also belongs to the cached merges that
            // cover that bucket (a Space-Saving insert into a merged sketch keeps its
            // guarantees); caches of another clock bucket are stale and left alone.
            for window in Window::ALL {
                let want = TopRange::of(window, clock_minute);
                if let Some(cache) = self.caches[window.index()].as_mut() {
                    let bucket = match want.level {
                        Level::Minute => minute,
                        Level::Hour => hour,
                    };
                    if cache.range == want && bucket >= want.first && bucket < want.current {
                        cache.tops.record(&m.mention, compound);
                    }
                }
            }
            self.counters.late_applied += 1;
            Applied::Late
        } else {
            Applied::OnTime
        }
    }

    /// Moves processing time on: evicts what fell out of the 7-day retention.
    ///
    /// Also releases the minute sketches older than an hour, releases every ring of an
    /// organisation whose data all left the retention, and rebuilds the cached window
    /// merges whose current bucket changed (so that snapshots stay cheap).
    pub fn advance(&mut self, now_ms: i64) {
        self.observe(now_ms);
        let clock_minute = minute_of(self.clock_ms);
        let clock_hour = hour_of(clock_minute);
        if self.hours.is_empty() {
            return;
        }
        if hour_of(self.newest_minute) < clock_hour - (HOUR_SLOTS as i64 - 1) {
            // Everything left the retention: back to the unallocated state.
            self.minute_heads = Vec::new();
            self.minute_details = Vec::new();
            self.minute_tops = Vec::new();
            self.hours = Vec::new();
            self.caches = [None, None, None, None];
            return;
        }
        for slot in &mut self.minute_tops {
            if slot.minute <= clock_minute - MINUTE_TOP_SLOTS as i64 {
                slot.minute = EMPTY;
                slot.tops = None;
            }
        }
        for slot in &mut self.hours {
            if slot.hour < clock_hour - (HOUR_SLOTS as i64 - 1) {
                slot.hour = EMPTY;
                slot.head = Head::default();
                slot.detail = Detail::default();
                slot.tops = None;
            }
        }
        for window in Window::ALL {
            let want = TopRange::of(window, clock_minute);
            let fresh = self.caches[window.index()]
                .as_ref()
                .is_some_and(|c| c.range == want);
            if !fresh {
                let closed = TopRange {
                    current: want.current - 1,
                    ..want
                };
                let tops = self.merge_tops(closed);
                self.caches[window.index()] = Some(TopCache { range: want, tops });
            }
        }
    }

    /// KPIs of one window ending at now_ms.
    pub fn snapshot(&self, window: Window, now_ms: i64) -> KpiSnapshot {
        let end_ms = now_ms.max(self.clock_ms);
        let end = minute_of(end_ms);
        let (head, detail, volume, resolution) = match window {
            Window::M15 | Window::H1 => {
                let first = end - window.minutes() + 1;
                let (head, detail) = self.minute_range(first, end);
                let volume = (first..=end)
                    .map(|m| volume_point(time_of_minute(m), &self.minute_head(m)))
                    .collect();
                (head, detail, volume, 60)
            }
            Window::H24 => {
                let first = end - window.minutes() + 1;
                let (head, detail) = self.minute_range(first, end);
                let volume = (0..24)
                    .map(|i| {
                        let start = first + i * MINUTES_PER_HOUR;
                        let mut h = Head::default();
                        for m in start..start + MINUTES_PER_HOUR {
                            h.add(&self.minute_head(m));
                        }
                        volume_point(time_of_minute(start), &h)
                    })
                    .collect();
                (head, detail, volume, 3600)
            }
            Window::D7 => {
                let last = hour_of(end);
                let mut head = Head::default();
                let mut detail = Detail::default();
                let mut volume = Vec::with_capacity(HOUR_SLOTS);
                for h in last - (HOUR_SLOTS as i64 - 1)..=last {
                    let (h_head, h_detail) = match self.hour_slot(h) {
                        Some(slot) => (slot.head, slot.detail),
                        None => (Head::default(), Detail::default()),
                    };
                    head.add(&h_head);
                    detail.add(&h_detail);
                    volume.push(volume_point(time_of_minute(h * MINUTES_PER_HOUR), &h_head));
                }
                (head, detail, volume, 3600)
            }
        };

        let total = head.count;
        let share = |n: u64| {
            if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            }
        };
        let neutral = total - head.negative - head.positive;
        let mut by_source: Vec<SourceShare> = Source::ALL
            .into_iter()
            .filter_map(|source| {
                let s = detail.sources[source.index()];
                (s.count > 0).then(|| SourceShare {
                    source,
                    count: s.count,
                    share: share(s.count),
                    avg_sentiment: Some(s.sum / s.count as f64),
                })
            })
            .collect();
        by_source.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.source.cmp(&b.source)));

        let (top_countries, top_influencers, trending) = self.top_lists(window, end);

        KpiSnapshot {
            window,
            as_of: time_of_ms(end_ms),
            mention_count: total,
            avg_sentiment: avg(&head),
            negative_share: share(head.negative),
            positive_share: share(head.positive),
            neutral_share: share(neutral),
            strongly_negative: head.strongly_negative,
            volume,
            volume_resolution_secs: resolution,
            by_source,
            top_countries,
            top_influencers,
            trending,
        }
    }

    /// Counters about the data itself (`campaign_reports` stays 0: campaigns live in
    /// [`crate::campaign::CampaignBook`]).
    pub fn counters(&self) -> StreamCounters {
        self.counters
    }

    /// Mentions per minute for the last `minutes` minutes ending at now (oldest first) — for the crisis detector.
    ///
    /// At most the 1 440 minutes of the minute ring; a longer request is shortened.
    pub fn minute_counts(&self, now_ms: i64, minutes: usize) -> Vec<u64> {
        let end = minute_of(now_ms.max(self.clock_ms));
        let n = minutes.min(MINUTE_SLOTS) as i64;
        (end - n + 1..=end)
            .map(|m| self.minute_head(m).count)
            .collect()
    }

    /// Strongly negative (compound < -0.8) mentions in the last `minutes` minutes.
    ///
    /// At most the 1 440 minutes of the minute ring; a longer request is shortened.
    pub fn strongly_negative(&self, now_ms: i64, minutes: usize) -> u64 {
        let end = minute_of(now_ms.max(self.clock_ms));
        let n = minutes.min(MINUTE_SLOTS) as i64;
        (end - n + 1..=end)
            .filter_map(|m| self.minute_index(m))
            .map(|i| self.minute_heads[i].head.strongly_negative)
            .sum()
    }

    /// Approximate heap bytes held by this organisation's state (rings and sketches).
    pub fn heap_bytes(&self) -> usize {
        let rings = self.minute_heads.capacity() * std::mem::size_of::<MinuteHead>()
            + self.minute_details.capacity() * std::mem::size_of::<Detail>()
            + self.minute_tops.capacity() * std::mem::size_of::<TopSlot>()
            + self.hours.capacity() * std::mem::size_of::<HourSlot>();
        let minute_sketches: usize = self
            .minute_tops
            .iter()
            .filter_map(|s| s.tops.as_ref())
            .map(|t| t.heap_bytes())
            .sum();
        let hour_sketches: usize = self
            .hours
            .iter()
            .filter_map(|s| s.tops.as_ref())
            .map(|t| t.heap_bytes())
            .sum();
        let caches: usize = self
            .caches
            .iter()
            .flatten()
            .map(|c| c.tops.heap_bytes())
            .sum();
        rings + minute_sketches + hour_sketches + caches
    }

    fn observe(&mut self, now_ms: i64) {
        self.clock_ms = self.clock_ms.max(now_ms);
    }

    fn ensure_rings(&mut self) {
        if !self.hours.is_empty() {
            return;
        }
        let empty_head = MinuteHead {
            minute: EMPTY,
            head: Head::default(),
        };
        self.minute_heads = vec![empty_head; MINUTE_SLOTS];
        self.minute_details = vec![Detail::default(); MINUTE_SLOTS];
        self.minute_tops = (0..MINUTE_TOP_SLOTS)
            .map(|_| TopSlot {
                minute: EMPTY,
                tops: None,
            })
            .collect();
        self.hours = (0..HOUR_SLOTS)
            .map(|_| HourSlot {
                hour: EMPTY,
                head: Head::default(),
                detail: Detail::default(),
                tops: None,
            })
            .collect();
    }

    /// The ring index holding `minute`, if the ring holds it.
    fn minute_index(&self, minute: i64) -> Option<usize> {
        let i = ring_index(minute, MINUTE_SLOTS);
        self.minute_heads
            .get(i)
            .filter(|h| h.minute == minute)
            .map(|_| i)
    }

    fn minute_head(&self, minute: i64) -> Head {
        self.minute_index(minute)
            .map_or_else(Head::default, |i| self.minute_heads[i].head)
    }

    fn hour_slot(&self, hour: i64) -> Option<&HourSlot> {
        self.hours
            .get(ring_index(hour, HOUR_SLOTS))
            .filter(|s| s.hour == hour)
    }

    fn tops_at(&self, level: Level, bucket: i64) -> Option<&Tops> {
        match level {
            Level::Minute => self
                .minute_tops
                .get(ring_index(bucket, MINUTE_TOP_SLOTS))
                .filter(|s| s.minute == bucket)
                .and_then(|s| s.tops.as_deref()),
            Level::Hour => self.hour_slot(bucket).and_then(|s| s.tops.as_deref()),
        }
    }

    /// Exact aggregates of the minutes `first..=last`.
    ///
    /// Whole clock hours inside the range are read from the hour ring: an hour bucket
    /// holds exactly the mentions of its minute buckets when all its minutes lie within
    /// 24 h of the clock (a mention reaches the minute ring iff its minute was within
    /// 24 h of the clock when applied, and the clock only moves forward).
    fn minute_range(&self, first: i64, last: i64) -> (Head, Detail) {
        let mut head = Head::default();
        let mut detail = Detail::default();
        let mut m = first;
        while m <= last {
            if m.rem_euclid(MINUTES_PER_HOUR) == 0 && m + MINUTES_PER_HOUR - 1 <= last {
                if let Some(slot) = self.hour_slot(hour_of(m)) {
                    head.add(&slot.head);
                    detail.add(&slot.detail);
                }
                m += MINUTES_PER_HOUR;
                continue;
            }
            if let Some(i) = self.minute_index(m) {
                head.add(&self.minute_heads[i].head);
                detail.add(&self.minute_details[i]);
            }
            m += 1;
        }
        (head, detail)
    }

    /// Merges the sketches of every bucket in `range` (from scratch).
    fn merge_tops(&self, range: TopRange) -> Tops {
        let parts: Vec<&Tops> = (range.first..=range.current)
            .filter_map(|b| self.tops_at(range.level, b))
            .collect();
        let capacity = self.params.sketch_capacity;
        let mut influencers = TopReach::new(self.params.top_k);
        for p in &parts {
            influencers.merge(&p.influencers);
        }
        Tops {
            countries: SpaceSaving::merge_all(capacity, parts.iter().map(|p| &p.countries)),
            hashtags: SpaceSaving::merge_all(capacity, parts.iter().map(|p| &p.hashtags)),
            influencers,
        }
    }

    /// Top countries, influencers and hashtags of `window` ending at minute `end`.
    fn top_lists(
        &self,
        window: Window,
        end: i64,
    ) -> (Vec<CountryCount>, Vec<Influencer>, Vec<TrendingTerm>) {
        let range = TopRange::of(window, end);
        let k = self.params.top_k;
        let capacity = self.params.sketch_capacity;
        let current = self.tops_at(range.level, range.current);
        let cache = self.caches[window.index()]
            .as_ref()
            .filter(|c| c.range == range);
        let (countries, hashtags, influencers) = match cache {
            Some(cache) => {
                // Fast path: the cached merge of the closed buckets plus the current one.
                let mut influencers = cache.tops.influencers.clone();
                let mut countries = vec![&cache.tops.countries];
                let mut hashtags = vec![&cache.tops.hashtags];
                if let Some(cur) = current {
                    influencers.merge(&cur.influencers);
                    countries.push(&cur.countries);
                    hashtags.push(&cur.hashtags);
                }
                (
                    SpaceSaving::merged_top(capacity, countries, k),
                    SpaceSaving::merged_top(capacity, hashtags, k),
                    influencers,
                )
            }
            None => {
                let parts: Vec<&Tops> = (range.first..=range.current)
                    .filter_map(|b| self.tops_at(range.level, b))
                    .collect();
                let mut influencers = TopReach::new(k);
                for p in &parts {
                    influencers.merge(&p.influencers);
                }
                (
                    SpaceSaving::merged_top(capacity, parts.iter().map(|p| &p.countries), k),
                    SpaceSaving::merged_top(capacity, parts.iter().map(|p| &p.hashtags), k),
                    influencers,
                )
            }
        };
        (
            countries
                .into_iter()
                .map(|(country, count)| CountryCount { country, count })
                .collect(),
            influencers.top(k),
            hashtags
                .into_iter()
                .map(|(term, count)| TrendingTerm { term, count })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_engine::{Author, OrgId, SentimentScores};

    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600_000;

    fn mention(
        event_ms: i64,
        country: &str,
        tags: &[&str],
        handle: &str,
        reach: u64,
    ) -> ScoredMention {
        ScoredMention {
            org: OrgId::new("t"),
            mention: Mention {
                external_id: String::new(),
                source: Source::Twitter,
                content: String::new(),
                author: Author {
                    handle: handle.to_owned(),
                    name: None,
                    followers: 0,
                    reach,
                },
                country: Some(country.to_owned()),
                region: None,
                language: None,
                hashtags: tags.iter().map(|t| (*t).to_owned()).collect(),
                url: None,
                event_time: DateTime::from_timestamp_millis(event_ms).unwrap(),
                source_sentiment: None,
            },
            sentiment: SentimentScores {
                compound: -0.3,
                ..SentimentScores::default()
            },
            ingested_at_us: 0,
        }
    }

    fn defaults() -> WindowParams {
        WindowParams {
            sketch_capacity: 64,
            top_k: 10,
        }
    }

    #[test]
    fn an_organisation_without_mentions_allocates_nothing() {
        let mut w = OrgWindows::new(defaults());
        w.advance(T0);
        assert_eq!(w.heap_bytes(), 0);
        let snap = w.snapshot(Window::D7, T0);
        assert_eq!(snap.mention_count, 0);
        assert_eq!(snap.volume.len(), HOUR_SLOTS);
        assert_eq!(snap.avg_sentiment, None);
    }

    #[test]
    fn steady_state_stays_well_under_one_mebibyte() {
        // Seven days and an hour of 4 mentions a minute from 8 countries, 30 hashtags and
        // 200 authors: every ring slot and sketch in use.
        let mut w = OrgWindows::new(defaults());
        let countries = ["US", "GB", "DE", "FR", "CA", "MX", "BR", "IN"];
        let tags: Vec<String> = (0..30).map(|i| format!("tag{i}")).collect();
        let minutes = 7 * 24 * 60 + 60;
        for i in 0..minutes * 4 {
            let now = T0 + i * 15_000;
            let t = [tags[(i % 30) as usize].as_str()];
            let handle = format!("@user{}", i % 200);
            w.apply(
                &mention(
                    now,
                    countries[(i % 8) as usize],
                    &t,
                    &handle,
                    10 + (i % 97) as u64,
                ),
                now,
            );
            if i % 4 == 3 {
                w.advance(now);
            }
        }
        let bytes = w.heap_bytes();
        assert!(bytes < 1024 * 1024, "{bytes} bytes");
        assert!(bytes > 300 * 1024, "the rings alone are ~305 KiB: {bytes}");
    }

    #[test]
    fn worst_case_is_bounded_by_the_documented_figure() {
        // Every mention brings a new country, two new hashtags and a new author, for the
        // whole retention: every sketch is full.
        let mut w = OrgWindows::new(defaults());
        let per_minute = 70;
        let mut n = 0u64;
        let start = T0;
        let end = T0 + (HOUR_SLOTS as i64) * 60 * MINUTE_MS;
        let mut now = start;
        while now < end {
            // 70 a minute in the last hour (full minute sketches), 70 an hour before it
            // (full hour sketches).
            let last_hour = end - now <= 61 * MINUTE_MS;
            let count = if last_hour || now % (60 * MINUTE_MS) == 0 {
                per_minute
            } else {
                0
            };
            for _ in 0..count {
                n += 1;
                let (c, t1, t2, h) = (
                    format!("c{n}"),
                    format!("t{n}a"),
                    format!("t{n}b"),
                    format!("@u{n}"),
                );
                w.apply(&mention(now, &c, &[&t1, &t2], &h, n), now);
            }
            w.advance(now);
            now += MINUTE_MS;
        }
        let bytes = w.heap_bytes();
        assert!(
            bytes < 5 * 1024 * 1024 / 2,
            "documented worst case ~2.6 MiB with longer keys, got {bytes}"
        );
        assert!(bytes > 1024 * 1024, "every sketch should be full: {bytes}");
    }

    #[test]
    fn idle_organisations_release_their_rings() {
        let mut w = OrgWindows::new(defaults());
        w.apply(&mention(T0, "US", &["a"], "@a", 5), T0);
        assert!(w.heap_bytes() > 0);
        w.advance(T0 + 2 * 60 * MINUTE_MS);
        assert!(w.heap_bytes() > 0, "still within the retention");
        assert_eq!(
            w.snapshot(Window::D7, T0 + 2 * 60 * MINUTE_MS)
                .mention_count,
            1
        );
        w.advance(T0 + (HOUR_SLOTS as i64 + 1) * 60 * MINUTE_MS);
        assert_eq!(w.heap_bytes(), 0);
        assert_eq!(
            w.snapshot(Window::D7, T0 + (HOUR_SLOTS as i64 + 1) * 60 * MINUTE_MS)
                .mention_count,
            0
        );
        assert_eq!(
            w.counters().mentions_applied,
            1,
            "counters survive the release"
        );
    }

    #[test]
    fn minute_sketches_older_than_an_hour_are_released() {
        let mut w = OrgWindows::new(defaults());
        for i in 0..120 {
            let now = T0 + i * MINUTE_MS;
            w.apply(&mention(now, "US", &["a"], "@a", 5), now);
            w.advance(now);
        }
        let live = w.minute_tops.iter().filter(|s| s.tops.is_some()).count();
        assert_eq!(live, MINUTE_TOP_SLOTS);
        let now = T0 + 200 * MINUTE_MS;
        w.advance(now);
        assert!(w.minute_tops.iter().all(|s| s.tops.is_none()));
        assert_eq!(w.snapshot(Window::H1, now).top_countries, vec![]);
        let day = w.snapshot(Window::H24, now);
        assert_eq!(day.mention_count, 120);
        assert_eq!(day.top_countries[0].count, 120);
    }

    #[test]
    fn snapshots_after_advance_use_the_cache_and_agree_with_a_full_merge() {
        let mut cached = OrgWindows::new(defaults());
        for i in 0..300 {
            let now = T0 + i * 20_000;
            let tags = [["x", "y", "z"][(i % 3) as usize]];
            cached.apply(
                &mention(
                    now - (i % 7) * 50_000,
                    "US",
                    &tags,
                    &format!("@{}", i % 13),
                    i as u64,
                ),
                now,
            );
            cached.advance(now);
        }
        let now = T0 + 300 * 20_000;
        cached.advance(now);
        let mut uncached = cached.clone();
        uncached.caches = [None, None, None, None];
        for window in Window::ALL {
            let range = TopRange::of(window, minute_of(now));
            assert!(cached.caches[window.index()]
                .as_ref()
                .is_some_and(|c| c.range == range));
            assert_eq!(
                cached.snapshot(window, now),
                uncached.snapshot(window, now),
                "{window:?}"
            );
        }
    }
}

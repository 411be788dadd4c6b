//! Bounded heavy hitters: a mergeable Space-Saving sketch and a top-N-by-reach list.
//!
//! # [`SpaceSaving`]
//!
//! Space-Saving (Metwally, Agrawal, El Abbadi 2005) keeps at most `capacity` monitored
//! keys, each with an over-estimated count and the error it may carry. A key that is not
//! monitored is charged the sketch's *floor*: the largest count an unmonitored key can
//! have. The sketch keeps these invariants, for `N` the total weight inserted:
//!
//! * a monitored key's `count` is never below its true count, and `count - error` never
//!   above it;
//! * an unmonitored key's true count is at most `floor`;
//! * `floor <= (N - Σ(count - floor)) / capacity <= N / capacity`, so every key whose true
//!   count exceeds `N / capacity` is monitored (the heavy-hitter guarantee).
//!
//! Inserting is classic Space-Saving: a new key when the sketch is full replaces the
//! minimum entry and inherits its count as error; the floor becomes that minimum.
//! Merging is the Misra–Gries merge of Agarwal et al. ("Mergeable summaries", 2012) in
//! Space-Saving form: counts above each sketch's floor are added, the floors are added,
//! and when more than `capacity` keys remain the `(capacity + 1)`-th largest excess is
//! subtracted from every key (and added to the floor). Both operations preserve the
//! invariants above (the potential `N - Σ(count - floor) - capacity·floor` never drops
//! below zero), so a merged sketch can take further inserts and merges. A sketch whose
//! floor is zero has never evicted anything and is exact.
//!
//! Memory: at most `capacity` entries, each a hash, a count, an error and the key
//! string (about 48 B plus the key).
//!
//! # [`TopReach`]
//!
//! The `n` authors with the largest reach, keeping each author's maximum. With a total
//! order on `(reach, source, handle)` the top `n` of a union is contained in the union of
//! the parts' top `n`, so merging is exact, not approximate. Memory: at most `n` entries.

use std::cmp::Ordering;
use std::collections::HashMap;

use warroom_engine::{Influencer, Source};

/// One monitored key of a [`SpaceSaving`] sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Over-estimate of the key's count (never below the true count).
    pub count: u64,
    /// How much of `count` may be over-estimation: `count - error` is a lower bound.
    pub error: u64,
}

impl Counter {
    /// A guaranteed lower bound of the key's true count.
    pub fn lower_bound(&self) -> u64 {
        self.count - self.error
    }
}

/// FNV-1a: tiny, fast on short keys and the same in every sketch and process, so the
/// stored hashes can be compared across sketches.
fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A bounded, mergeable Space-Saving top-k counter over short string keys.
///
/// Stored as parallel arrays (hash, count, error, key) of at most `capacity` entries:
/// a lookup scans the hashes (contiguous `u64`, about as fast as a hash map for 64
/// keys), an eviction scans the counts and overwrites the minimum in place, reusing its
/// key buffer. The first minimum in insertion order is evicted, so results do not depend
/// on hashing seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceSaving {
    capacity: usize,
    floor: u64,
    total: u64,
    hashes: Vec<u64>,
    counts: Vec<u64>,
    errors: Vec<u64>,
    keys: Vec<String>,
}

impl SpaceSaving {
    /// An empty sketch monitoring at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            floor: 0,
            total: 0,
            // No pre-allocation: most buckets see few distinct keys.
            hashes: Vec::new(),
            counts: Vec::new(),
            errors: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// The most keys this sketch monitors.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keys currently monitored.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Total weight inserted (exact).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The largest true count an unmonitored key can have (≤ total / capacity).
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Whether every count is exact (nothing was ever evicted or merged away).
    pub fn is_exact(&self) -> bool {
        self.floor == 0
    }

    /// Forgets everything, keeping the allocations.
    pub fn clear(&mut self) {
        self.floor = 0;
        self.total = 0;
        self.hashes.clear();
        self.counts.clear();
        self.errors.clear();
        self.keys.clear();
    }

    fn find(&self, hash: u64, key: &str) -> Option<usize> {
        let mut from = 0;
        while let Some(offset) = self.hashes[from..].iter().position(|&h| h == hash) {
            let i = from + offset;
            if self.keys[i] == key {
                return Some(i);
            }
            from = i + 1;
        }
        None
    }

    /// The counter of a monitored key.
    pub fn get(&self, key: &str) -> Option<Counter> {
        self.find(key_hash(key), key).map(|i| Counter {
            count: self.counts[i],
            error: self.errors[i],
        })
    }

    /// An upper bound of `key`'s true count: its counter, or the floor when unmonitored.
    pub fn estimate(&self, key: &str) -> u64 {
        self.get(key).map_or(self.floor, |c| c.count)
    }

    /// Counts one occurrence of `key`.
    pub fn insert(&mut self, key: &str) {
        self.add(key, 1);
    }

    /// Counts `weight` occurrences of `key`.
    pub fn add(&mut self, key: &str, weight: u64) {
        if weight == 0 {
            return;
        }
        self.total += weight;
        let hash = key_hash(key);
        if let Some(i) = self.find(hash, key) {
            self.counts[i] += weight;
            return;
        }
        if self.keys.len() < self.capacity {
            self.hashes.push(hash);
            self.counts.push(self.floor + weight);
            self.errors.push(self.floor);
            self.keys.push(key.to_owned());
            return;
        }
        // Full: the minimum is evicted. Its count becomes the floor (it may have been
        // that frequent) and the newcomer inherits it as error. `capacity >= 1` and the
        // sketch is full, so a minimum exists.
        let Some((i, &min)) = self.counts.iter().enumerate().min_by_key(|(_, c)| **c) else {
            return;
        };
        self.floor = self.floor.max(min);
        self.hashes[i] = hash;
        self.counts[i] = self.floor + weight;
        self.errors[i] = self.floor;
        self.keys[i].clear();
        self.keys[i].push_str(key);
    }

    /// Merges `other` into this sketch (the result summarises both streams).
    pub fn merge(&mut self, other: &SpaceSaving) {
        if other.total == 0 {
            return;
        }
        if self.total == 0 && self.capacity == other.capacity {
            self.clone_from(other);
            return;
        }
        let (floor, rows) = merge_rows(&[&*self, other]);
        *self = SpaceSaving::from_rows(self.capacity, floor, self.total + other.total, rows);
    }

    /// Merges any number of sketches in one pass into a new sketch of `capacity`.
    pub fn merge_all<'a>(
        capacity: usize,
        parts: impl IntoIterator<Item = &'a SpaceSaving>,
    ) -> Self {
        let parts: Vec<&SpaceSaving> = parts.into_iter().filter(|p| p.total > 0).collect();
        let total = parts.iter().map(|p| p.total).sum();
        let (floor, rows) = merge_rows(&parts);
        SpaceSaving::from_rows(capacity.max(1), floor, total, rows)
    }

    /// The top `n` (as [`SpaceSaving::top`]) of the merge of `parts` into `capacity`,
    /// without building the merged sketch (allocates only the `n` returned keys).
    pub fn merged_top<'a>(
        capacity: usize,
        parts: impl IntoIterator<Item = &'a SpaceSaving>,
        n: usize,
    ) -> Vec<(String, u64)> {
        let parts: Vec<&SpaceSaving> = parts.into_iter().filter(|p| p.total > 0).collect();
        let (floor, rows) = merge_rows(&parts);
        let (floor, rows) = reduce(rows, floor, capacity.max(1));
        top_of(
            rows.into_iter()
                .map(|r| (r.key, r.excess + floor))
                .collect(),
            n,
        )
    }

    /// The `n` keys with the largest counts, largest first (ties by key), with their
    /// upper-bound counts.
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        top_of(
            self.keys
                .iter()
                .map(String::as_str)
                .zip(self.counts.iter().copied())
                .collect(),
            n,
        )
    }

    /// Every monitored key with its counter, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Counter)> + '_ {
        self.keys
            .iter()
            .zip(self.counts.iter().zip(&self.errors))
            .map(|(k, (&count, &error))| (k.as_str(), Counter { count, error }))
    }

    /// Approximate heap bytes held (arrays plus key strings).
    pub fn heap_bytes(&self) -> usize {
        self.hashes.capacity() * 8
            + self.counts.capacity() * 8
            + self.errors.capacity() * 8
            + self.keys.capacity() * std::mem::size_of::<String>()
            + self.keys.iter().map(|k| k.capacity().max(8)).sum::<usize>()
    }

    fn from_rows(capacity: usize, floor: u64, total: u64, rows: Vec<Row<'_>>) -> Self {
        let (floor, rows) = reduce(rows, floor, capacity);
        let mut s = SpaceSaving {
            capacity,
            floor,
            total,
            hashes: Vec::with_capacity(rows.len()),
            counts: Vec::with_capacity(rows.len()),
            errors: Vec::with_capacity(rows.len()),
            keys: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            let count = row.excess + floor;
            // Each part's lower bound is at most its count, so the sum is at most the
            // merged count; min() only keeps `error` well-defined if that ever broke.
            let lower = row.lower.min(count);
            s.hashes.push(row.hash);
            s.counts.push(count);
            s.errors.push(count - lower);
            s.keys.push(row.key.to_owned());
        }
        s
    }
}

/// A key during a merge: its count above each part's floor, summed, and the sum of its
/// lower bounds.
struct Row<'a> {
    key: &'a str,
    hash: u64,
    excess: u64,
    lower: u64,
}

/// The union of `parts` as rows, and the sum of their floors.
fn merge_rows<'a>(parts: &[&'a SpaceSaving]) -> (u64, Vec<Row<'a>>) {
    let floor = parts.iter().map(|p| p.floor).sum();
    let rows_of = |p: &'a SpaceSaving| {
        p.iter().zip(&p.hashes).map(move |((key, c), &hash)| Row {
            key,
            hash,
            // Every monitored count is ≥ its sketch's floor (inserted at floor + weight,
            // merged at excess + floor, and the floor only rises to an evicted minimum),
            // so this cannot underflow; saturate anyway.
            excess: c.count.saturating_sub(p.floor),
            lower: c.lower_bound(),
        })
    };
    match parts {
        [] => (0, Vec::new()),
        [only] => (floor, rows_of(only).collect()),
        [a, b] => {
            // Two parts (the snapshot fast path): look b's keys up in a's hash array.
            let mut rows: Vec<Row<'a>> = rows_of(a).collect();
            for row in rows_of(b) {
                match a.find(row.hash, row.key) {
                    Some(i) => {
                        rows[i].excess += row.excess;
                        rows[i].lower += row.lower;
                    }
                    None => rows.push(row),
                }
            }
            (floor, rows)
        }
        _ => {
            let size: usize = parts.iter().map(|p| p.len()).sum();
            let mut index: HashMap<&str, usize, ahash::RandomState> =
                HashMap::with_capacity_and_hasher(size, ahash::RandomState::default());
            let mut rows: Vec<Row<'a>> = Vec::with_capacity(size);
            for part in parts {
                for row in rows_of(part) {
                    match index.get(row.key) {
                        Some(&i) => {
                            rows[i].excess += row.excess;
                            rows[i].lower += row.lower;
                        }
                        None => {
                            index.insert(row.key, rows.len());
                            rows.push(row);
                        }
                    }
                }
            }
            (floor, rows)
        }
    }
}

/// The Misra–Gries size reduction: keeps at most `capacity` rows, raising the floor.
fn reduce(mut rows: Vec<Row<'_>>, mut floor: u64, capacity: usize) -> (u64, Vec<Row<'_>>) {
    rows.retain(|r| r.excess > 0);
    if rows.len() > capacity {
        // Subtract the (capacity + 1)-th largest excess from all: at least capacity + 1
        // keys lose it, so the potential grows and the floor bound still holds. A kept
        // key's count (excess + floor) does not change.
        let cut = rows
            .select_nth_unstable_by(capacity, |a, b| b.excess.cmp(&a.excess))
            .1
            .excess;
        floor += cut;
        rows.retain(|r| r.excess > cut);
        for row in &mut rows {
            row.excess -= cut;
        }
    }
    (floor, rows)
}

/// The `n` largest counts, largest first, ties by key.
fn top_of(mut all: Vec<(&str, u64)>, n: usize) -> Vec<(String, u64)> {
    let by_rank = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    if n == 0 {
        return Vec::new();
    }
    if all.len() > n {
        all.select_nth_unstable_by(n - 1, by_rank);
        all.truncate(n);
    }
    all.sort_unstable_by(by_rank);
    all.into_iter().map(|(k, c)| (k.to_owned(), c)).collect()
}

/// One author in a [`TopReach`] list.
#[derive(Debug, Clone, PartialEq)]
struct ReachEntry {
    handle: String,
    source: Source,
    reach: u64,
    followers: u64,
    sentiment: f64,
}

/// Rank order: larger reach first, then source, then handle (a total order on the
/// identity, which makes merging exact).
fn rank(a: (u64, Source, &str), b: (u64, Source, &str)) -> Ordering {
    b.0.cmp(&a.0)
        .then_with(|| a.1.cmp(&b.1))
        .then_with(|| a.2.cmp(b.2))
}

impl ReachEntry {
    fn key(&self) -> (u64, Source, &str) {
        (self.reach, self.source, &self.handle)
    }
}

/// The `n` authors with the largest reach, each with their largest-reach mention. Exact
/// under inserts and merges; bounded to `n` entries.
#[derive(Debug, Clone, PartialEq)]
pub struct TopReach {
    n: usize,
    entries: Vec<ReachEntry>,
    /// Index of the lowest-ranked entry, maintained while the list is full.
    worst: usize,
}

impl TopReach {
    /// An empty list keeping at most `n` authors.
    pub fn new(n: usize) -> Self {
        Self {
            n,
            entries: Vec::new(),
            worst: 0,
        }
    }

    /// Authors kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no author is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.worst = 0;
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= self.n
    }

    fn update_worst(&mut self) {
        if self.is_full() {
            self.worst = self
                .entries
                .iter()
                .enumerate()
                .max_by(|a, b| rank(a.1.key(), b.1.key()))
                .map_or(0, |(i, _)| i);
        }
    }

    /// Offers one mention by `(source, handle)` with its reach.
    pub fn offer(
        &mut self,
        source: Source,
        handle: &str,
        reach: u64,
        followers: u64,
        sentiment: f64,
    ) {
        if self.n == 0 {
            return;
        }
        // The common case once full: below the worst kept reach. Neither a new author
        // nor a kept one (whose reach is at least the worst) can change.
        if self.is_full() && reach < self.entries[self.worst].reach {
            return;
        }
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.source == source && e.handle == handle)
        {
            // Keep the author's maximum; on a tie the first mention seen stays.
            let e = &mut self.entries[i];
            if reach > e.reach {
                e.reach = reach;
                e.followers = followers;
                e.sentiment = sentiment;
                if i == self.worst {
                    self.update_worst();
                }
            }
            return;
        }
        if !self.is_full() {
            self.entries.push(ReachEntry {
                handle: handle.to_owned(),
                source,
                reach,
                followers,
                sentiment,
            });
            self.update_worst();
            return;
        }
        // Full: replace the lowest-ranked entry if the candidate ranks above it. An author
        // dropped here ranked below n others, whose reach can only grow, so it can never
        // belong to the top n again with a value up to the one it had.
        let worst = &mut self.entries[self.worst];
        if rank((reach, source, handle), worst.key()) == Ordering::Less {
            worst.handle.clear();
            worst.handle.push_str(handle);
            worst.source = source;
            worst.reach = reach;
            worst.followers = followers;
            worst.sentiment = sentiment;
            self.update_worst();
        }
    }

    /// Merges `other` into this list (exact).
    pub fn merge(&mut self, other: &TopReach) {
        for e in &other.entries {
            self.offer(e.source, &e.handle, e.reach, e.followers, e.sentiment);
        }
    }

    /// The best `n` authors, largest reach first.
    pub fn top(&self, n: usize) -> Vec<Influencer> {
        let mut sorted: Vec<&ReachEntry> = self.entries.iter().collect();
        sorted.sort_unstable_by(|a, b| rank(a.key(), b.key()));
        sorted
            .into_iter()
            .take(n)
            .map(|e| Influencer {
                handle: e.handle.clone(),
                source: e.source,
                reach: e.reach,
                followers: e.followers,
                sentiment: e.sentiment,
            })
            .collect()
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<ReachEntry>()
            + self
                .entries
                .iter()
                .map(|e| e.handle.capacity().max(8))
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn exact(stream: &[u8]) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for k in stream {
            *m.entry(format!("k{k}")).or_insert(0) += 1;
        }
        m
    }

    fn sketch_of(capacity: usize, stream: &[u8]) -> SpaceSaving {
        let mut s = SpaceSaving::new(capacity);
        for k in stream {
            s.insert(&format!("k{k}"));
        }
        s
    }

    /// Checks every Space-Saving guarantee of `s` against the exact counts.
    fn check_guarantees(s: &SpaceSaving, truth: &BTreeMap<String, u64>) {
        let n: u64 = truth.values().sum();
        assert_eq!(s.total(), n, "total is exact");
        assert!(
            s.len() <= s.capacity(),
            "bounded: {} > {}",
            s.len(),
            s.capacity()
        );
        assert!(
            s.floor() * s.capacity() as u64 <= n,
            "floor {} exceeds N/capacity = {n}/{}",
            s.floor(),
            s.capacity()
        );
        for (key, counter) in s.iter() {
            let t = truth.get(key).copied().unwrap_or(0);
            assert!(
                counter.count >= t,
                "{key}: count {} under-estimates {t}",
                counter.count
            );
            assert!(
                counter.lower_bound() <= t,
                "{key}: lower bound {} above {t}",
                counter.lower_bound()
            );
        }
        for (key, &t) in truth {
            assert!(
                s.estimate(key) >= t,
                "{key}: estimate {} under-estimates {t}",
                s.estimate(key)
            );
            if t * s.capacity() as u64 > n {
                assert!(
                    s.get(key).is_some(),
                    "heavy hitter {key} ({t} of {n}) missing"
                );
            }
        }
    }

    #[test]
    fn exact_while_below_capacity() {
        let s = sketch_of(8, &[1, 2, 2, 3, 3, 3]);
        assert!(s.is_exact());
        assert_eq!(s.top(2), vec![("k3".to_owned(), 3), ("k2".to_owned(), 2)]);
        assert_eq!(s.estimate("k9"), 0);
    }

    #[test]
    fn eviction_replaces_the_minimum_and_raises_the_floor() {
        let mut s = SpaceSaving::new(2);
        s.insert("a");
        s.insert("a");
        s.insert("b");
        s.insert("c"); // evicts b (count 1)
        assert_eq!(s.floor(), 1);
        assert_eq!(s.get("b"), None);
        assert_eq!(s.get("c"), Some(Counter { count: 2, error: 1 }));
        assert_eq!(s.get("a"), Some(Counter { count: 2, error: 0 }));
        assert!(!s.is_exact());
    }

    #[test]
    fn top_orders_by_count_then_key_and_truncates() {
        let s = sketch_of(16, &[5, 4, 4, 3, 3, 1, 1, 1]);
        let top: Vec<_> = s.top(3).into_iter().map(|(k, _)| k).collect();
        assert_eq!(top, vec!["k1", "k3", "k4"]);
        assert!(s.top(0).is_empty());
        assert_eq!(s.top(100).len(), 4);
    }

    #[test]
    fn merging_exact_sketches_is_exact_when_it_fits() {
        let mut a = sketch_of(8, &[1, 1, 2]);
        let b = sketch_of(8, &[2, 3]);
        a.merge(&b);
        assert!(a.is_exact());
        assert_eq!(a.estimate("k1"), 2);
        assert_eq!(a.estimate("k2"), 2);
        assert_eq!(a.estimate("k3"), 1);
        assert_eq!(a.total(), 5);
    }

    #[test]
    fn merge_with_empty_is_identity() {
        let a = sketch_of(4, &[1, 2, 3, 4, 5, 5, 5]);
        let mut b = a.clone();
        b.merge(&SpaceSaving::new(4));
        assert_eq!(a, b);
        let mut e = SpaceSaving::new(4);
        e.merge(&a);
        assert_eq!(e, a);
    }

    #[test]
    fn top_reach_keeps_max_per_author_and_the_best_n() {
        let mut t = TopReach::new(2);
        t.offer(Source::Twitter, "@a", 10, 1, 0.1);
        t.offer(Source::Twitter, "@a", 5, 1, 0.2); // lower: ignored
        t.offer(Source::Twitter, "@b", 20, 2, -0.5);
        t.offer(Source::News, "@a", 15, 3, 0.0); // a different author (other source)
        let top = t.top(10);
        assert_eq!(top.len(), 2);
        assert_eq!((top[0].handle.as_str(), top[0].reach), ("@b", 20));
        assert_eq!(
            (top[1].handle.as_str(), top[1].source, top[1].reach),
            ("@a", Source::News, 15)
        );
        t.offer(Source::Twitter, "@a", 30, 9, 0.9);
        let top = t.top(1);
        assert_eq!(
            (top[0].handle.as_str(), top[0].reach, top[0].followers),
            ("@a", 30, 9)
        );
    }

    fn brute_top_reach(items: &[(u8, u8, u16)], n: usize) -> Vec<(Source, String, u64)> {
        let mut best: BTreeMap<(Source, String), u64> = BTreeMap::new();
        for &(s, h, r) in items {
            let key = (Source::ALL[s as usize % 3], format!("@{h}"));
            let e = best.entry(key).or_insert(0);
            *e = (*e).max(u64::from(r));
        }
        let mut v: Vec<(Source, String, u64)> =
            best.into_iter().map(|((s, h), r)| (s, h, r)).collect();
        v.sort_by(|a, b| {
            b.2.cmp(&a.2)
                .then_with(|| a.0.cmp(&b.0))
                .then_with(|| a.1.cmp(&b.1))
        });
        v.truncate(n);
        v
    }

    proptest! {
        #[test]
        fn space_saving_guarantees_hold_for_skewed_streams(
            stream in prop::collection::vec(prop_oneof![3 => 0u8..4, 1 => 0u8..200], 0..600),
            capacity in 1usize..24,
        ) {
            let s = sketch_of(capacity, &stream);
            check_guarantees(&s, &exact(&stream));
        }

        #[test]
        fn merged_sketches_keep_the_guarantees(
            parts in prop::collection::vec(
                prop::collection::vec(prop_oneof![2 => 0u8..5, 1 => 0u8..100], 0..200), 1..8),
            capacity in 1usize..16,
            extra in prop::collection::vec(0u8..100, 0..50),
        ) {
            let sketches: Vec<SpaceSaving> = parts.iter().map(|p| sketch_of(capacity, p)).collect();
            let all: Vec<u8> = parts.concat();
            // One-pass merge.
            let merged = SpaceSaving::merge_all(capacity, &sketches);
            check_guarantees(&merged, &exact(&all));
            // Pairwise fold, then further inserts into the merged sketch.
            let mut folded = SpaceSaving::new(capacity);
            for s in &sketches {
                folded.merge(s);
            }
            check_guarantees(&folded, &exact(&all));
            for k in &extra {
                folded.insert(&format!("k{k}"));
            }
            let mut everything = all.clone();
            everything.extend_from_slice(&extra);
            check_guarantees(&folded, &exact(&everything));
        }

        #[test]
        fn top_reach_is_exact_under_offers_and_merges(
            items in prop::collection::vec((0u8..3, 0u8..30, 0u16..1000), 0..200),
            split in 0usize..200,
            n in 1usize..8,
        ) {
            let split = split.min(items.len());
            let mut a = TopReach::new(n);
            let mut b = TopReach::new(n);
            for &(s, h, r) in &items[..split] {
                a.offer(Source::ALL[s as usize % 3], &format!("@{h}"), u64::from(r), 0, 0.0);
            }
            for &(s, h, r) in &items[split..] {
                b.offer(Source::ALL[s as usize % 3], &format!("@{h}"), u64::from(r), 0, 0.0);
            }
            a.merge(&b);
            prop_assert!(a.len() <= n);
            let got: Vec<(Source, String, u64)> =
                a.top(n).into_iter().map(|i| (i.source, i.handle, i.reach)).collect();
            prop_assert_eq!(got, brute_top_reach(&items, n));
        }
    }
}

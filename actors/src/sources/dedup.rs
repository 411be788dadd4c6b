//! Bounded de-duplication of `(source, external_id)` per organisation.
//!
//! Two generations of 64-bit key hashes: lookups check both, inserts go to the current
//! one, and when it holds half the capacity the older generation is forgotten. Memory is
//! therefore bounded by `capacity` hashes (about 16 bytes each with the table), and an id
//! is remembered for at least `capacity / 2` later insertions. Beyond that horizon the
//! store's unique constraint (issue 4) is the authority. Hash collisions at 64 bits are
//! negligible (about 3·10⁻⁸ for a million ids) and could only make a record look like a
//! duplicate, never duplicate a record.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// The keys are already well-mixed hashes; hashing them again would be wasted work.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeySet = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// A bounded set of recently seen keys.
pub struct Dedup {
    current: KeySet,
    previous: KeySet,
    generation_size: usize,
}

impl Dedup {
    /// Remembers at most `capacity` keys (at least 2).
    pub fn new(capacity: usize) -> Self {
        Self {
            current: KeySet::default(),
            previous: KeySet::default(),
            generation_size: (capacity / 2).max(1),
        }
    }

    /// Whether `key` was seen (without inserting it).
    pub fn contains(&self, key: u64) -> bool {
        self.current.contains(&key) || self.previous.contains(&key)
    }

    /// Inserts `key`; returns false when it was already there (a duplicate).
    pub fn insert(&mut self, key: u64) -> bool {
        if self.contains(key) {
            return false;
        }
        if self.current.len() >= self.generation_size {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key);
        true
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The de-duplication key of a record: a stable 64-bit hash of its kind and id.
pub fn key(kind: &str, external_id: &str) -> u64 {
    // FNV-1a over kind, a separator and the id, finished with a 64-bit mixer
    // (splitmix64) so that similar ids spread over the table.
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for b in kind
        .bytes()
        .chain(std::iter::once(0xff))
        .chain(external_id.bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_detected_within_the_horizon() {
        let mut dedup = Dedup::new(100);
        for i in 0..50 {
            assert!(dedup.insert(key("twitter", &i.to_string())));
        }
        for i in 0..50 {
            assert!(!dedup.insert(key("twitter", &i.to_string())), "{i}");
        }
        assert!(dedup.insert(key("facebook", "0")), "same id, other source");
    }

    #[test]
    fn memory_is_bounded() {
        let mut dedup = Dedup::new(1000);
        for i in 0..100_000 {
            dedup.insert(key("news", &i.to_string()));
            assert!(dedup.len() <= 1000);
        }
        // The most recent half-capacity is always remembered.
        for i in 99_500..100_000 {
            assert!(dedup.contains(key("news", &i.to_string())));
        }
    }
}

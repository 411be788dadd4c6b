//! Synthetic mention records with ids unique to a run.

use std::sync::atomic::{AtomicU64, Ordering};

use warroom_engine::model::{Author, Source};
use warroom_engine::wire::MentionRecord;

/// Texts mixing positive, neutral and negative sentiment so the pipeline does real work.
const TEXTS: [&str; 12] = [
    "Great turnout at the rally tonight, really inspiring speech!",
    "The new transit plan looks solid and well funded.",
    "Not sure what to think about the budget proposal yet.",
    "Polling station on 5th street opens at 7am.",
    "This is a disaster, the candidate completely dodged the question.",
    "Terrible answer on housing, very disappointing debate performance.",
    "Love the focus on schools and parks in this campaign #vote",
    "Town hall meeting moved to Thursday, details on the website.",
    "Awful traffic near the venue, organisers should have planned better.",
    "Happy to volunteer this weekend, the team is fantastic!",
    "Mixed feelings about the levy but the schools need repairs.",
    "Corruption allegations are serious and deserve a clear response.",
];

/// A strongly negative text (VADER compound -0.97, below the crisis detector's -0.8):
/// a burst of these raises a `negative_surge` crisis.
pub const CRISIS_TEXT: &str =
    "This is a disgusting, horrible, corrupt disaster!!! Absolutely the worst, I hate it.";

const SOURCES: [Source; 6] = [
    Source::Twitter,
    Source::Facebook,
    Source::Instagram,
    Source::Reddit,
    Source::News,
    Source::Tiktok,
];

/// A run id: distinct per process start, short, and safe in URLs and ids.
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Mix in the pid so two runs started in the same nanosecond still differ.
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
    format!("{:x}", mixed & 0xffff_ffff_ffff)
}

/// Makes batches of records whose external ids are `lt<run id>-<counter>`.
#[derive(Debug)]
pub struct RecordFactory {
    prefix: String,
    counter: AtomicU64,
}

impl RecordFactory {
    /// A factory for `run_id`.
    pub fn new(run_id: &str) -> Self {
        Self {
            prefix: format!("lt{run_id}-"),
            counter: AtomicU64::new(0),
        }
    }

    /// The external-id prefix; a mention-stream frame containing `"<prefix>` in its
    /// text carries one of this run's mentions.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A batch of `n` new records stamped now.
    pub fn batch(&self, n: usize) -> Vec<MentionRecord> {
        self.make(n, None)
    }

    /// A batch of `n` new strongly negative records ([`CRISIS_TEXT`]) stamped now.
    pub fn crisis_batch(&self, n: usize) -> Vec<MentionRecord> {
        self.make(n, Some(CRISIS_TEXT))
    }

    fn make(&self, n: usize, text: Option<&str>) -> Vec<MentionRecord> {
        let first = self.counter.fetch_add(n as u64, Ordering::Relaxed);
        let now = chrono::Utc::now();
        (first..first + n as u64)
            .map(|i| {
                let k = i as usize;
                MentionRecord {
                    external_id: format!("{}{i}", self.prefix),
                    source: SOURCES[k % SOURCES.len()],
                    content: text.unwrap_or(TEXTS[k % TEXTS.len()]).to_owned(),
                    author: Author {
                        handle: format!("@lt_user{}", k % 997),
                        name: None,
                        followers: (k % 50_000) as u64,
                        reach: (k % 120_000) as u64,
                    },
                    country: Some("US".to_owned()),
                    region: None,
                    language: Some("en".to_owned()),
                    hashtags: None,
                    url: None,
                    event_time: now,
                    source_sentiment: None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_prefixed() {
        let f = RecordFactory::new("abc");
        let a = f.batch(3);
        let b = f.batch(2);
        let ids: Vec<_> = a.iter().chain(&b).map(|r| r.external_id.clone()).collect();
        assert_eq!(ids, ["ltabc-0", "ltabc-1", "ltabc-2", "ltabc-3", "ltabc-4"]);
        assert!(ids.iter().all(|id| id.starts_with(f.prefix())));
        assert_ne!(new_run_id(), "");
        let c = f.crisis_batch(2);
        assert_eq!(c[0].external_id, "ltabc-5");
        assert!(c.iter().all(|r| r.content == CRISIS_TEXT));
    }
}

//! VADER sentiment (placeholder API; being implemented).
use warroom_engine::SentimentScores;

/// A VADER analyzer: lexicon and rules of vaderSentiment 3.3.2.
#[derive(Debug, Default)]
pub struct SentimentAnalyzer;

impl SentimentAnalyzer {
    /// Builds the analyzer from the embedded lexicons.
    pub fn new() -> Self {
        Self
    }

    /// Scores a text exactly as `SentimentIntensityAnalyzer().polarity_scores(text)` does.
    pub fn polarity_scores(&self, _text: &str) -> SentimentScores {
        SentimentScores::default()
    }
}

/// The process-wide analyzer (the lexicon is built once).
pub fn analyzer() -> &'static SentimentAnalyzer {
    static ANALYZER: std::sync::OnceLock<SentimentAnalyzer> = std::sync::OnceLock::new();
    ANALYZER.get_or_init(SentimentAnalyzer::new)
}

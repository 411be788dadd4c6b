//! The Rust VADER port against the Python reference (vaderSentiment 3.3.2).
//!
//! `fixtures/vader_reference.jsonl` is produced by `fixtures/make_vader_reference.py`; every
//! line must match exactly: neg/neu/pos/compound equal as doubles (the reference already
//! rounded them with `round(x, 3)` / `round(x, 4)`, and so does the port).

use serde::Deserialize;
use warroom_streams::sentiment::analyzer;

const FIXTURE: &str = include_str!("fixtures/vader_reference.jsonl");

#[derive(Deserialize)]
struct Row {
    text: String,
}

/// The four scores, parsed from the line's own decimal text with Rust's correctly rounded
/// `f64::from_str` (independent of serde_json's float parsing precision).
fn expected_scores(line: &str) -> [f64; 4] {
    let at = line.rfind("\"neg\": ").expect("line has a neg key");
    let tail = line[at..].trim_end_matches('}');
    let mut out = [f64::NAN; 4];
    for (slot, (field, key)) in out
        .iter_mut()
        .zip(tail.split(", ").zip(["neg", "neu", "pos", "compound"]))
    {
        let (name, value) = field.split_once(": ").expect("key: value");
        assert_eq!(
            name,
            format!("\"{key}\""),
            "unexpected field order in {line}"
        );
        *slot = value.parse().expect("a float");
    }
    out
}

#[test]
fn matches_python_reference_exactly() {
    let analyzer = analyzer();
    let mut total = 0;
    let mut mismatches = Vec::new();
    for line in FIXTURE.lines().filter(|l| !l.is_empty()) {
        total += 1;
        let row: Row = serde_json::from_str(line).expect("valid fixture line");
        let expected = expected_scores(line);
        let s = analyzer.polarity_scores(&row.text);
        let got = [s.neg, s.neu, s.pos, s.compound];
        if got != expected {
            let shown: String = row.text.chars().take(300).collect();
            mismatches.push(format!(
                "{shown:?}\n    expected {expected:?}\n    got      {got:?}"
            ));
        }
    }
    assert!(total >= 3000, "fixture too small: {total} texts");
    assert!(
        mismatches.is_empty(),
        "{} of {total} texts differ from vaderSentiment 3.3.2; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!("{total} texts, 0 mismatches");
}

//! Property-based fuzz tests of what a client controls (issue 15): the ingest body framing
//! (JSON array, object, NDJSON), the record parsers and validators, and WebSocket client
//! commands. Whatever the bytes, the answer is a clear error or valid records, never a
//! panic. `scripts/fuzz.sh` runs the same properties for millions of cases.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use warroom_engine::validate::{
    campaign_from_record, mention_from_record, parse_records, split_records, TimeBounds,
};
use warroom_engine::wire::{CampaignMetricRecord, ClientCommand, MentionRecord};

fn bounds() -> TimeBounds {
    TimeBounds {
        max_future_skew: Duration::minutes(5),
        max_age: Duration::days(30),
    }
}

fn now() -> DateTime<Utc> {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

/// Runs a body through the whole ingest front end; checks that every issue names a
/// record of the body and says something.
fn ingest_front_end(body: &[u8]) -> Result<(), String> {
    let raw = split_records(body).map_err(|e| e.0)?;
    for kind in ["mentions", "campaigns"] {
        let mut issues = Vec::new();
        let outcome = if kind == "mentions" {
            parse_records::<MentionRecord>(&raw).map(|records| {
                records
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, r)| mention_from_record(i, r, now(), bounds(), &mut issues))
                    .count()
            })
        } else {
            parse_records::<CampaignMetricRecord>(&raw).map(|records| {
                records
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, r)| campaign_from_record(i, r, now(), bounds(), &mut issues))
                    .count()
            })
        };
        if let Err(parse_issues) = outcome {
            issues.extend(parse_issues);
        }
        for issue in &issues {
            if issue.index >= raw.len() || issue.reason.is_empty() {
                return Err(format!("issue without a record or a reason: {issue:?}"));
            }
        }
    }
    Ok(())
}

/// A JSON value of any shape, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        Just(json!("-0001-01-01T00:00:00Z")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("2026-11-22T09:59:00Z")),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A mention or campaign record whose known fields hold values of any shape.
fn record_like() -> impl Strategy<Value = Value> {
    let fields = [
        "external_id",
        "source",
        "content",
        "author",
        "event_time",
        "country",
        "url",
        "hashtags",
        "source_sentiment",
        "platform",
        "campaign_id",
        "campaign_name",
        "date",
        "impressions",
        "clicks",
        "spend",
        "conversions",
    ];
    prop::collection::vec((prop::sample::select(fields.to_vec()), any_json()), 0..10).prop_map(
        |pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
    )
}

proptest! {
    #[test]
    fn any_bytes_are_refused_or_accepted_without_panicking(
        body in prop::collection::vec(any::<u8>(), 0..2_048),
    ) {
        let _ = ingest_front_end(&body);
    }

    #[test]
    fn json_of_any_shape_in_any_framing_is_handled(
        records in prop::collection::vec(prop_oneof![record_like(), any_json()], 1..8),
        framing in 0u8..3,
    ) {
        let body = match framing {
            0 => Value::from(records.clone()).to_string(),
            1 => records.iter().map(Value::to_string).collect::<Vec<_>>().join("\n"),
            _ => records[0].to_string(),
        };
        if let Err(message) = ingest_front_end(body.as_bytes()) {
            // A framing error is fine (e.g. NDJSON of scalars); a bad issue is not.
            prop_assert!(!message.starts_with("issue without"), "{}", message);
        }
    }

    #[test]
    fn client_commands_of_any_text_parse_or_fail_cleanly(
        text in prop_oneof![".{0,200}", any_json().prop_map(|v| v.to_string())],
    ) {
        let _ = serde_json::from_str::<ClientCommand>(&text);
        let typed = format!(r#"{{"type":"subscribe","org":{text}}}"#);
        let _ = serde_json::from_str::<ClientCommand>(&typed);
    }
}

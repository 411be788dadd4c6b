//! Validation of ingest requests: body framing (JSON array or NDJSON), per-record parsing,
//! and the domain rules that turn wire records into [`Mention`]s and [`CampaignMetric`]s.
//!
//! Every record is checked before anything is applied, so a request is all-or-nothing.

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::error::ValidationIssue;
use crate::model::{CampaignMetric, Mention};
use crate::wire::{Amount, CampaignMetricRecord, MentionRecord};

/// Longest accepted `external_id` / `campaign_id`.
pub const MAX_ID_LEN: usize = 256;
/// Longest accepted mention text, in bytes.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// Largest count accepted (databases store signed 64-bit integers).
pub const MAX_COUNT: u64 = i64::MAX as u64;
/// Most hashtags kept per mention.
pub const MAX_HASHTAGS: usize = 32;
/// Longest hashtag.
pub const MAX_HASHTAG_LEN: usize = 100;
/// Longest accepted mention URL.
pub const MAX_URL_LEN: usize = 2048;

/// The officially assigned ISO 3166-1 alpha-2 codes (249), plus `XK` (Kosovo, a
/// user-assigned code that platforms report).
const COUNTRY_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ \
EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// Whether `code` (upper case) is an assigned ISO 3166-1 alpha-2 country code.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && COUNTRY_CODES.split(' ').any(|c| c == code)
}

/// Whether `url` is an absolute `http` or `https` URL a dashboard may link to: no other
/// scheme (`javascript:`, `data:`), no whitespace or control characters, at most
/// [`MAX_URL_LEN`] bytes.
pub fn is_link_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return false;
    };
    url.len() <= MAX_URL_LEN
        && !rest.is_empty()
        && !rest.starts_with('/')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Why a body could not even be split into records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FramingError(pub String);

/// Splits a body into raw records: a JSON array (`[...]`), a single JSON object, or NDJSON
/// (one object per line; blank lines ignored).
pub fn split_records(body: &[u8]) -> Result<Vec<&RawValue>, FramingError> {
    let text =
        std::str::from_utf8(body).map_err(|e| FramingError(format!("body is not UTF-8: {e}")))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(FramingError("body is empty".into()));
    }
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<&RawValue>>(text)
            .map_err(|e| FramingError(format!("body is not a valid JSON array: {e}")));
    }
    // NDJSON; a single object is the one-line case.
    let mut out = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let raw: &RawValue = serde_json::from_str(line)
            .map_err(|e| FramingError(format!("line {} is not valid JSON: {e}", line_no + 1)))?;
        out.push(raw);
    }
    Ok(out)
}

/// Parses every raw record as `T`, collecting one issue per record that does not parse.
pub fn parse_records<T: DeserializeOwned>(
    raw: &[&RawValue],
) -> Result<Vec<T>, Vec<ValidationIssue>> {
    let mut records = Vec::with_capacity(raw.len());
    let mut issues = Vec::new();
    for (index, value) in raw.iter().enumerate() {
        match serde_json::from_str::<T>(value.get()) {
            Ok(record) => records.push(record),
            Err(e) => issues.push(ValidationIssue::record(index, e.to_string())),
        }
    }
    if issues.is_empty() {
        Ok(records)
    } else {
        Err(issues)
    }
}

fn check_id(index: usize, field: &str, id: &str, issues: &mut Vec<ValidationIssue>) {
    if id.trim().is_empty() {
        issues.push(ValidationIssue::field(index, field, "must not be empty"));
    } else if id.len() > MAX_ID_LEN {
        issues.push(ValidationIssue::field(
            index,
            field,
            format!("longer than {MAX_ID_LEN} bytes"),
        ));
    } else if id.chars().any(char::is_control) {
        issues.push(ValidationIssue::field(
            index,
            field,
            "must not contain control characters",
        ));
    }
}

/// Extracts `#hashtags` from text, lower-cased, without the `#`.
pub fn extract_hashtags(text: &str) -> Vec<String> {
    let mut tags = Vec::new();
    for word in text.split(|c: char| c.is_whitespace()) {
        if let Some(rest) = word.strip_prefix('#') {
            let tag: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .flat_map(char::to_lowercase)
                .collect();
            if !tag.is_empty() && tag.len() <= MAX_HASHTAG_LEN && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.len() == MAX_HASHTAGS {
            break;
        }
    }
    tags
}

/// How far from now an event may have happened: at most `max_future_skew` ahead (clock
/// skew) and at most `max_age` ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    /// Largest accepted time in the future.
    pub max_future_skew: Duration,
    /// Oldest accepted event, back from now.
    pub max_age: Duration,
}

impl TimeBounds {
    /// From `[engine] max_future_skew` and `max_event_age`.
    pub fn from_config(engine: &crate::config::EngineConfig) -> Self {
        let convert =
            |d: std::time::Duration, fallback: Duration| Duration::from_std(d).unwrap_or(fallback);
        Self {
            max_future_skew: convert(engine.max_future_skew, Duration::minutes(5)),
            max_age: convert(engine.max_event_age, Duration::days(30)),
        }
    }
}

/// Turns a mention record into a [`Mention`], or says what is wrong with it.
pub fn mention_from_record(
    index: usize,
    record: MentionRecord,
    now: DateTime<Utc>,
    bounds: TimeBounds,
    issues: &mut Vec<ValidationIssue>,
) -> Option<Mention> {
    let before = issues.len();
    check_id(index, "external_id", &record.external_id, issues);
    if record.content.trim().is_empty() {
        issues.push(ValidationIssue::field(
            index,
            "content",
            "must not be empty",
        ));
    } else if record.content.len() > MAX_CONTENT_BYTES {
        issues.push(ValidationIssue::field(
            index,
            "content",
            format!("longer than {MAX_CONTENT_BYTES} bytes"),
        ));
    }
    if record.content.contains('\0') || record.author.handle.contains('\0') {
        issues.push(ValidationIssue::field(
            index,
            "content",
            "must not contain NUL characters",
        ));
    }
    if record.author.followers > MAX_COUNT || record.author.reach > MAX_COUNT {
        issues.push(ValidationIssue::field(
            index,
            "author",
            "followers and reach must be below 2^63",
        ));
    }
    if record.author.handle.len() > MAX_ID_LEN {
        issues.push(ValidationIssue::field(index, "author.handle", "too long"));
    }
    if record.event_time > now + bounds.max_future_skew {
        issues.push(ValidationIssue::field(
            index,
            "event_time",
            format!(
                "is in the future by more than {}s",
                bounds.max_future_skew.num_seconds()
            ),
        ));
    } else if record.event_time < now - bounds.max_age {
        issues.push(ValidationIssue::field(
            index,
            "event_time",
            format!(
                "is older than {} days (engine.max_event_age)",
                bounds.max_age.num_days()
            ),
        ));
    }
    let country = match record.country.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) if is_country_code(&c.to_ascii_uppercase()) => Some(c.to_ascii_uppercase()),
        Some(_) => {
            issues.push(ValidationIssue::field(
                index,
                "country",
                "must be an assigned ISO 3166-1 alpha-2 code",
            ));
            None
        }
    };
    let url = record.url.filter(|u| !u.trim().is_empty());
    if url.as_deref().is_some_and(|u| !is_link_url(u)) {
        issues.push(ValidationIssue::field(
            index,
            "url",
            format!("must be an absolute http(s) URL of at most {MAX_URL_LEN} bytes"),
        ));
    }
    if let Some(score) = record.source_sentiment {
        if !score.is_finite() || !(-1.0..=1.0).contains(&score) {
            issues.push(ValidationIssue::field(
                index,
                "source_sentiment",
                "must be between -1 and 1",
            ));
        }
    }
    let hashtags = match record.hashtags {
        None => extract_hashtags(&record.content),
        Some(tags) => {
            if tags.len() > MAX_HASHTAGS {
                issues.push(ValidationIssue::field(
                    index,
                    "hashtags",
                    format!("more than {MAX_HASHTAGS}"),
                ));
            }
            let mut clean = Vec::with_capacity(tags.len());
            for tag in tags {
                let tag = tag.trim().trim_start_matches('#').to_lowercase();
                if tag.is_empty() || tag.len() > MAX_HASHTAG_LEN {
                    issues.push(ValidationIssue::field(
                        index,
                        "hashtags",
                        "each must be 1-100 characters",
                    ));
                    break;
                }
                if !clean.contains(&tag) {
                    clean.push(tag);
                }
            }
            clean
        }
    };
    if issues.len() > before {
        return None;
    }
    Some(Mention {
        external_id: record.external_id,
        source: record.source,
        content: record.content,
        author: record.author,
        country,
        region: record.region.filter(|r| !r.trim().is_empty()),
        language: record.language.filter(|l| !l.trim().is_empty()),
        hashtags,
        url,
        event_time: record.event_time,
        source_sentiment: record.source_sentiment,
    })
}

/// Converts an amount in currency units to exact micro-units.
pub fn amount_to_micros(amount: &Amount) -> Result<i64, String> {
    match amount {
        Amount::Number(n) => {
            if !n.is_finite() || *n < 0.0 || *n >= 1e12 {
                return Err("must be a non-negative amount below 10^12".into());
            }
            Ok((n * 1_000_000.0).round() as i64)
        }
        Amount::Text(s) => decimal_to_micros(s),
    }
}

/// Parses a non-negative decimal string (`"12.345678"`) to micro-units without rounding error.
/// Exactly the pattern the OpenAPI document gives: no sign, no white space, no exponent.
pub fn decimal_to_micros(text: &str) -> Result<i64, String> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > 6 || whole.len() > 12 {
        return Err(format!(
            "{text:?} is not a decimal amount with at most 6 decimals"
        ));
    }
    let whole: i64 = whole.parse().map_err(|e| format!("{e}"))?;
    let mut frac_micros: i64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        frac_micros += i64::from(b - b'0') * 10_i64.pow(5 - i as u32);
    }
    Ok(whole * 1_000_000 + frac_micros)
}

/// Turns a campaign record into a [`CampaignMetric`], or says what is wrong with it.
pub fn campaign_from_record(
    index: usize,
    record: CampaignMetricRecord,
    now: DateTime<Utc>,
    bounds: TimeBounds,
    issues: &mut Vec<ValidationIssue>,
) -> Option<CampaignMetric> {
    let before = issues.len();
    check_id(index, "campaign_id", &record.campaign_id, issues);
    if record.impressions > MAX_COUNT
        || record.clicks > MAX_COUNT
        || record.reach.is_some_and(|r| r > MAX_COUNT)
    {
        issues.push(ValidationIssue::field(
            index,
            "impressions",
            "counts must be below 2^63",
        ));
    }
    if record
        .campaign_name
        .as_deref()
        .is_some_and(|n| n.contains('\0'))
    {
        issues.push(ValidationIssue::field(
            index,
            "campaign_name",
            "must not contain NUL characters",
        ));
    }
    let spend = amount_to_micros(&record.spend)
        .map_err(|e| issues.push(ValidationIssue::field(index, "spend", e)))
        .ok();
    let budget = match &record.daily_budget {
        None => None,
        Some(amount) => amount_to_micros(amount)
            .map_err(|e| issues.push(ValidationIssue::field(index, "daily_budget", e)))
            .ok(),
    };
    let conversions = record.conversions.unwrap_or(0.0);
    if !conversions.is_finite() || conversions < 0.0 {
        issues.push(ValidationIssue::field(
            index,
            "conversions",
            "must be a non-negative number",
        ));
    }
    if record.date < (now - bounds.max_age).date_naive() {
        issues.push(ValidationIssue::field(
            index,
            "date",
            format!(
                "is older than {} days (engine.max_event_age)",
                bounds.max_age.num_days()
            ),
        ));
    }
    if record.date > (now + Duration::days(1)).date_naive() {
        issues.push(ValidationIssue::field(index, "date", "is in the future"));
    }
    let currency = record.currency.unwrap_or_else(|| "USD".to_owned());
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        issues.push(ValidationIssue::field(
            index,
            "currency",
            "must be an ISO 4217 code such as USD",
        ));
    }
    if issues.len() > before {
        return None;
    }
    Some(CampaignMetric {
        platform: record.platform,
        campaign_name: record
            .campaign_name
            .unwrap_or_else(|| record.campaign_id.clone()),
        campaign_id: record.campaign_id,
        date: record.date,
        impressions: record.impressions,
        reach: record.reach,
        clicks: record.clicks,
        spend_micros: spend.unwrap_or_default(),
        conversions,
        daily_budget_micros: budget,
        currency,
        reported_at: record.reported_at.unwrap_or(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arrays_objects_and_ndjson() {
        assert_eq!(split_records(b"[{\"a\":1},{\"a\":2}]").unwrap().len(), 2);
        assert_eq!(split_records(b"{\"a\":1}\n\n{\"a\":2}\n").unwrap().len(), 2);
        assert_eq!(split_records(b"  {\"a\":1}").unwrap().len(), 1);
        assert!(split_records(b"").is_err());
        assert!(split_records(b"[{\"a\":1},").is_err());
        let err = split_records(b"{\"a\":1}\n{nope}\n").unwrap_err();
        assert!(err.0.contains("line 2"), "{err}");
    }

    #[test]
    fn decimal_amounts_are_exact() {
        assert_eq!(decimal_to_micros("12.34").unwrap(), 12_340_000);
        assert_eq!(decimal_to_micros("0.000001").unwrap(), 1);
        assert_eq!(decimal_to_micros("7").unwrap(), 7_000_000);
        assert!(decimal_to_micros("-1").is_err());
        assert!(decimal_to_micros("1.0000001").is_err());
        assert!(decimal_to_micros("1e3").is_err());
        assert!(
            decimal_to_micros(" 1").is_err(),
            "no white space, as documented"
        );
        assert_eq!(amount_to_micros(&Amount::Number(0.1)).unwrap(), 100_000);
    }

    #[test]
    fn hashtags_are_extracted_and_normalised() {
        assert_eq!(
            extract_hashtags("Vote #Harbor2026 now! #harbor2026 #Jobs, #"),
            vec!["harbor2026".to_string(), "jobs".to_string()]
        );
    }

    fn record() -> MentionRecord {
        serde_json::from_str(
            r#"{"external_id":"x1","source":"twitter","content":"I love it #Go",
                "event_time":"2026-11-22T10:00:00Z","country":"us"}"#,
        )
        .unwrap()
    }

    #[test]
    fn a_valid_mention_is_normalised() {
        let now = "2026-11-22T10:01:00Z".parse().unwrap();
        let mut issues = vec![];
        let m = mention_from_record(0, record(), now, bounds(), &mut issues).unwrap();
        assert!(issues.is_empty());
        assert_eq!(m.country.as_deref(), Some("US"));
        assert_eq!(m.hashtags, vec!["go"]);
    }

    fn bounds() -> TimeBounds {
        TimeBounds {
            max_future_skew: Duration::minutes(5),
            max_age: Duration::days(30),
        }
    }

    #[test]
    fn an_event_older_than_the_bound_is_refused_and_one_just_inside_it_is_not() {
        let now: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
        for (event_time, accepted) in [
            ("2026-10-23T10:00:01Z", true),
            ("2026-10-23T09:59:59Z", false),
            ("-0001-01-01T00:00:00Z", false),
        ] {
            let mut r = record();
            r.event_time = event_time.parse().unwrap();
            let mut issues = vec![];
            let m = mention_from_record(0, r, now, bounds(), &mut issues);
            assert_eq!(m.is_some(), accepted, "{event_time}: {issues:?}");
            if !accepted {
                assert_eq!(issues[0].field.as_deref(), Some("event_time"));
                assert!(
                    issues[0].reason.contains("older than 30 days"),
                    "{issues:?}"
                );
            }
        }
    }

    #[test]
    fn a_campaign_day_older_than_the_bound_is_refused() {
        let now: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
        let record = |date: &str| -> CampaignMetricRecord {
            serde_json::from_value(serde_json::json!({
                "platform": "meta", "campaign_id": "c1", "campaign_name": "Awareness",
                "date": date, "impressions": 10, "clicks": 1, "spend": 2.5,
            }))
            .unwrap()
        };
        let mut issues = vec![];
        assert!(
            campaign_from_record(0, record("2026-10-23"), now, bounds(), &mut issues).is_some()
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert!(
            campaign_from_record(1, record("2026-10-22"), now, bounds(), &mut issues).is_none()
        );
        assert_eq!(issues[0].field.as_deref(), Some("date"));
        assert!(
            issues[0].reason.contains("older than 30 days"),
            "{issues:?}"
        );
    }

    #[test]
    fn unassigned_countries_and_links_that_are_not_http_are_refused() {
        let now = "2026-11-22T10:01:00Z".parse().unwrap();
        for (country, url) in [
            ("zz", None),
            ("US", Some("javascript:alert(1)")),
            ("US", Some("data:text/html,<script>")),
            ("US", Some("https:///no-host")),
            ("US", Some("https://example.org/a b")),
        ] {
            let mut r = record();
            r.country = Some(country.into());
            r.url = url.map(str::to_owned);
            let mut issues = vec![];
            assert!(
                mention_from_record(0, r, now, bounds(), &mut issues).is_none(),
                "{country} {url:?}"
            );
        }
        let mut r = record();
        r.country = Some("xk".into());
        r.url = Some("HTTPS://example.org/post?id=1".into());
        let mut issues = vec![];
        let m = mention_from_record(0, r, now, bounds(), &mut issues).unwrap();
        assert_eq!(m.country.as_deref(), Some("XK"));
        assert!(is_country_code("GB") && !is_country_code("UK") && !is_country_code("G"));
    }

    #[test]
    fn every_problem_of_a_mention_is_reported() {
        let now = "2026-11-22T09:00:00Z".parse().unwrap();
        let mut r = record();
        r.external_id = String::new();
        r.country = Some("USA".into());
        r.url = Some("javascript:void(0)".into());
        r.source_sentiment = Some(3.0);
        let mut issues = vec![];
        assert!(mention_from_record(4, r, now, bounds(), &mut issues).is_none());
        let fields: Vec<_> = issues.iter().map(|i| i.field.clone().unwrap()).collect();
        assert_eq!(
            fields,
            [
                "external_id",
                "event_time",
                "country",
                "url",
                "source_sentiment"
            ]
        );
        assert!(issues.iter().all(|i| i.index == 4));
    }
}

//! Meta Marketing API (Graph API): campaign-level insights of one ad account, one row
//! per campaign and day (`time_increment=1`), pages followed with the `after` cursor
//! until `paging.next` is absent. Every number arrives as a string; `spend` is converted
//! to micro-units exactly; conversions are summed from the `actions` list.
//!
//! Throttling: error codes 4, 17, 32, 613 and 80000–80099 (in a 400/403 body) are the
//! vendor saying "slow down"; `x-business-use-case-usage`'s
//! `estimated_time_to_regain_access` (minutes) is honoured as the retry delay. On success
//! the usage headers (`x-app-usage`, `x-ad-account-usage`, `x-business-use-case-usage`)
//! are read, and at `usage_throttle_percent` the connector stops paging and pauses.
//!
//! The cursor is the last day read; a poll re-reads `lookback_days` (Meta restates recent
//! days) and, after downtime, from the cursor on (at most 30 days back).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;
use warroom_engine::connectors::{MetaAccount, MetaSettings, Secret};
use warroom_engine::validate::decimal_to_micros;
use warroom_engine::{CampaignMetric, Platform};

use super::error::{excerpt, ConnectorError};
use super::http::{parse_json, Http};
use super::lenient::{at, count, first, float, text};
use super::{Connector, Poll};

/// The furthest back a poll resumes after downtime.
const MAX_CATCH_UP_DAYS: i64 = 30;

/// Insights fields requested.
const FIELDS: &str =
    "campaign_id,campaign_name,impressions,reach,clicks,spend,ctr,cpc,cpm,actions,account_currency";

/// `action_type`s counted as conversions.
fn is_conversion(action_type: &str) -> bool {
    action_type.starts_with("offsite_conversion")
        || action_type.starts_with("onsite_conversion.lead")
        || matches!(
            action_type,
            "lead" | "purchase" | "complete_registration" | "omni_purchase" | "submit_application"
        )
}

/// The Meta connector of one organisation.
pub struct Meta {
    http: Http,
    settings: MetaSettings,
    ad_account_id: String,
    access_token: Secret,
}

impl Meta {
    /// A connector for `account`.
    pub fn new(http: Http, settings: MetaSettings, account: &MetaAccount) -> Self {
        Self {
            http,
            settings,
            ad_account_id: account.ad_account_id.clone(),
            access_token: account.access_token.clone(),
        }
    }
}

/// The day range of a poll: `lookback_days` up to today, or from the cursor's day when
/// that is earlier (bounded).
pub fn day_range(
    cursor: Option<&str>,
    today: NaiveDate,
    lookback_days: u32,
) -> (NaiveDate, NaiveDate) {
    let lookback = today - chrono::Duration::days(i64::from(lookback_days.max(1)) - 1);
    let floor = today - chrono::Duration::days(MAX_CATCH_UP_DAYS);
    let since = cursor
        .and_then(|c| NaiveDate::parse_from_str(c, "%Y-%m-%d").ok())
        .map_or(lookback, |c| c.min(lookback).max(floor));
    (since, today)
}

#[async_trait::async_trait]
impl Connector for Meta {
    fn vendor(&self) -> &'static str {
        "meta"
    }

    async fn poll(
        &mut self,
        cursor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Poll, ConnectorError> {
        let (since, until) = day_range(cursor, now.date_naive(), self.settings.lookback_days);
        let url = format!(
            "{}/{}/{}/insights",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.api_version,
            self.ad_account_id
        );
        let time_range =
            serde_json::json!({"since": since.to_string(), "until": until.to_string()}).to_string();
        let mut poll = Poll::default();
        let mut after: Option<String> = None;
        for _ in 0..self.settings.max_pages {
            let mut query = vec![
                ("level", "campaign".to_owned()),
                ("time_increment", "1".to_owned()),
                ("fields", FIELDS.to_owned()),
                ("time_range", time_range.clone()),
                ("limit", "500".to_owned()),
            ];
            if let Some(after) = &after {
                query.push(("after", after.clone()));
            }
            let token = self.access_token.clone();
            let url = url.clone();
            // The token goes in a header, never in a URL that could be logged.
            let build = move |client: &reqwest::Client| {
                client.get(&url).query(&query).bearer_auth(token.expose())
            };
            let key = format!(
                "metaInsights:{}:{since}:{until}:{}",
                self.ad_account_id,
                after.as_deref().unwrap_or("")
            );
            let response = self.http.send_cached(&key, &build, &classify).await?;
            let usage = usage_percent(&response.headers);
            poll.usage_percent = poll.usage_percent.max(usage);
            let body = parse_json(&response.body)?;
            let rows = at(&body, &["data"])
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ConnectorError::Malformed("no \"data\" array in the insights response".into())
                })?;
            for row in rows {
                match map_row(row, now) {
                    Ok(metric) => poll.metrics.push(metric),
                    Err(reason) => poll.rejected.push(reason),
                }
            }
            // Stop when Meta says there is no next page (the cursor alone is not enough:
            // it is also present on the last page).
            let next = at(&body, &["paging", "next"]).is_some();
            after = at(&body, &["paging", "cursors", "after"]).and_then(text);
            if usage.is_some_and(|u| u >= self.settings.usage_throttle_percent) {
                poll.pause =
                    Some(regain_access(&response.headers).unwrap_or(self.settings.poll_interval));
                tracing::warn!(
                    usage = usage.unwrap_or(0),
                    "Meta usage near its limit; pausing"
                );
                // A partial read: the cursor stays where it was, so the days are re-read.
                poll.cursor = cursor.map(str::to_owned);
                return Ok(poll);
            }
            if !next || after.is_none() {
                poll.cursor = Some(until.to_string());
                return Ok(poll);
            }
        }
        // More pages than allowed: what was read is kept, the range is read again.
        poll.cursor = cursor.map(str::to_owned);
        Ok(poll)
    }
}

/// Maps one insights row.
pub fn map_row(row: &Value, now: DateTime<Utc>) -> Result<CampaignMetric, String> {
    let campaign_id = first(row, &["campaign_id"])
        .and_then(text)
        .ok_or("insights row without campaign_id")?;
    let date = first(row, &["date_start"])
        .and_then(Value::as_str)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| format!("campaign {campaign_id}: no readable date_start"))?;
    let spend_micros = match first(row, &["spend"]) {
        None => 0,
        Some(Value::String(s)) => {
            decimal_to_micros(s).map_err(|e| format!("campaign {campaign_id}: spend {e}"))?
        }
        Some(Value::Number(n)) => decimal_to_micros(&n.to_string())
            .map_err(|e| format!("campaign {campaign_id}: spend {e}"))?,
        Some(other) => {
            return Err(format!(
                "campaign {campaign_id}: spend {other} is not an amount"
            ))
        }
    };
    let conversions = at(row, &["actions"])
        .and_then(Value::as_array)
        .map(|actions| {
            actions
                .iter()
                .filter(|a| {
                    a.get("action_type")
                        .and_then(Value::as_str)
                        .is_some_and(is_conversion)
                })
                .filter_map(|a| a.get("value").and_then(float))
                .sum()
        })
        .unwrap_or(0.0);
    Ok(CampaignMetric {
        platform: Platform::Meta,
        campaign_name: first(row, &["campaign_name"])
            .and_then(text)
            .unwrap_or_else(|| campaign_id.clone()),
        campaign_id,
        date,
        impressions: first(row, &["impressions"]).and_then(count).unwrap_or(0),
        reach: first(row, &["reach"]).and_then(count),
        clicks: first(row, &["clicks"]).and_then(count).unwrap_or(0),
        spend_micros,
        conversions,
        daily_budget_micros: None,
        currency: first(row, &["account_currency"])
            .and_then(text)
            .unwrap_or_else(|| "USD".to_owned()),
        reported_at: now,
    })
}

/// Meta's error body: throttling codes become [`ConnectorError::Throttled`], an invalid
/// token (190) [`ConnectorError::Unauthorized`].
fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<ConnectorError> {
    let parsed: Value = serde_json::from_slice(body).ok()?;
    let code = at(&parsed, &["error", "code"]).and_then(count)?;
    let message = at(&parsed, &["error", "message"])
        .and_then(text)
        .unwrap_or_else(|| excerpt(body, 200));
    let detail = format!("({status}) code {code}: {message}");
    if matches!(code, 4 | 17 | 32 | 613) || (80_000..80_100).contains(&code) {
        let retry_after = regain_access(headers).or_else(|| {
            headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| super::backoff::parse_retry_after(v, Utc::now()))
        });
        return Some(ConnectorError::Throttled {
            retry_after,
            detail,
        });
    }
    (code == 190).then_some(ConnectorError::Unauthorized(detail))
}

fn header_json(headers: &HeaderMap, name: &str) -> Option<Value> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok())
}

/// The highest percentage any usage header reports.
pub fn usage_percent(headers: &HeaderMap) -> Option<u32> {
    let mut highest: Option<f64> = None;
    let mut take = |v: &Value| {
        for key in [
            "call_count",
            "total_cputime",
            "total_time",
            "acc_id_util_pct",
        ] {
            if let Some(p) = v.get(key).and_then(float) {
                highest = Some(highest.map_or(p, |h: f64| h.max(p)));
            }
        }
    };
    for name in ["x-app-usage", "x-ad-account-usage"] {
        if let Some(v) = header_json(headers, name) {
            take(&v);
        }
    }
    if let Some(Value::Object(by_business)) = header_json(headers, "x-business-use-case-usage") {
        for entries in by_business.values() {
            for entry in entries.as_array().into_iter().flatten() {
                take(entry);
            }
        }
    }
    highest.map(|p| p.clamp(0.0, 1000.0) as u32)
}

/// `estimated_time_to_regain_access` (minutes), the longest of all entries.
fn regain_access(headers: &HeaderMap) -> Option<Duration> {
    let Some(Value::Object(by_business)) = header_json(headers, "x-business-use-case-usage") else {
        return None;
    };
    by_business
        .values()
        .flat_map(|entries| entries.as_array().into_iter().flatten())
        .filter_map(|e| e.get("estimated_time_to_regain_access").and_then(count))
        .max()
        .filter(|m| *m > 0)
        .map(|m| Duration::from_secs(m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    const SAMPLE: &str = include_str!("testdata/meta-insights.json");

    #[test]
    fn documented_row_maps_with_exact_spend() {
        let body: Value = serde_json::from_str(SAMPLE).unwrap();
        let now: DateTime<Utc> = "2025-04-06T12:00:00Z".parse().unwrap();
        let mut row = body["data"][0].clone();
        let m = map_row(&row, now).unwrap();
        assert_eq!(m.campaign_id, "123");
        assert_eq!(m.campaign_name, "Spring GOTV");
        assert_eq!(m.date, NaiveDate::from_ymd_opt(2025, 4, 6).unwrap());
        assert_eq!(m.impressions, 361_324);
        assert_eq!(m.reach, Some(120_000));
        assert_eq!(m.clicks, 7346);
        assert_eq!(m.spend_micros, 5_339_500_000);
        assert_eq!(m.conversions, 0.0, "link_click is not a conversion");
        row["actions"] = json!([{"action_type": "lead", "value": "3"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "2"},
            {"action_type": "link_click", "value": "5120"}]);
        assert_eq!(map_row(&row, now).unwrap().conversions, 5.0);
        // Drift: numbers as numbers, missing optionals, unknown fields.
        let row = json!({"campaign_id": 9, "date_start": "2025-04-06", "spend": 1.25, "new": [1]});
        let m = map_row(&row, now).unwrap();
        assert_eq!(
            (
                m.campaign_id.as_str(),
                m.spend_micros,
                m.impressions,
                m.reach
            ),
            ("9", 1_250_000, 0, None)
        );
        assert!(map_row(&json!({"date_start": "2025-04-06"}), now).is_err());
        assert!(map_row(
            &json!({"campaign_id": "1", "date_start": "2025-04-06", "spend": "-3"}),
            now
        )
        .is_err());
    }

    #[test]
    fn throttling_codes_and_usage_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(r#"{"123":[{"type":"ads_insights","call_count":95,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":2}]}"#),
        );
        headers.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":28,"total_time":25,"total_cputime":25}"#),
        );
        assert_eq!(usage_percent(&headers), Some(95));
        for code in [4, 17, 32, 613, 80000, 80004] {
            let body = json!({"error": {"message": "too many", "code": code}}).to_string();
            match classify(StatusCode::BAD_REQUEST, &headers, body.as_bytes()) {
                Some(ConnectorError::Throttled { retry_after, .. }) => {
                    assert_eq!(retry_after, Some(Duration::from_secs(120)))
                }
                other => panic!("code {code}: {other:?}"),
            }
        }
        let body = json!({"error": {"message": "expired", "code": 190}}).to_string();
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes()),
            Some(ConnectorError::Unauthorized(_))
        ));
        let body = json!({"error": {"message": "bad field", "code": 100}}).to_string();
        assert!(classify(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes()).is_none());
    }

    #[test]
    fn day_ranges_cover_lookback_and_downtime() {
        let today = NaiveDate::from_ymd_opt(2026, 9, 10).unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(day_range(None, today, 3), (d("2026-09-08"), today));
        assert_eq!(
            day_range(Some("2026-09-10"), today, 3),
            (d("2026-09-08"), today)
        );
        assert_eq!(
            day_range(Some("2026-09-01"), today, 3),
            (d("2026-09-01"), today)
        );
        assert_eq!(
            day_range(Some("2025-01-01"), today, 3),
            (d("2026-08-11"), today)
        );
    }
}

//! Google Ads API: GAQL over `customers/{id}/googleAds:searchStream`, authorised with an
//! OAuth2 access token from the refresh-token grant (token endpoint configurable) plus
//! the `developer-token` and, for manager accounts, `login-customer-id` headers. The
//! answer is a JSON array of batches; int64 values (`impressions`, `clicks`,
//! `costMicros`) are strings and are read as integers, so spend stays exact.
//! The cursor is the last day read, as for Meta.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use warroom_engine::connectors::{GoogleAdsAccount, GoogleAdsSettings, Secret};
use warroom_engine::{CampaignMetric, Platform};

use super::error::ConnectorError;
use super::http::{generic, parse_json, Http};
use super::lenient::{at, count, float, text};
use super::meta::day_range;
use super::token::{self, AccessToken};
use super::{Connector, Poll};

/// The Google Ads connector of one organisation.
pub struct GoogleAds {
    http: Http,
    settings: GoogleAdsSettings,
    account: GoogleAdsAccount,
    token: Option<AccessToken>,
}

impl GoogleAds {
    /// A connector for `account`.
    pub fn new(http: Http, settings: GoogleAdsSettings, account: &GoogleAdsAccount) -> Self {
        Self {
            http,
            settings,
            account: account.clone(),
            token: None,
        }
    }

    async fn bearer(&mut self) -> Result<Secret, ConnectorError> {
        if let Some(token) = self.token.as_ref().filter(|t| t.fresh(Instant::now())) {
            return Ok(token.value.clone());
        }
        let grant = token::refresh(
            &self.http,
            &self.settings.token_url,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &self.account.client_id),
                ("client_secret", self.account.client_secret.expose()),
                ("refresh_token", self.account.refresh_token.expose()),
            ],
            Duration::from_secs(3600),
        )
        .await?;
        let value = grant.token.value.clone();
        self.token = Some(grant.token);
        Ok(value)
    }
}

/// The GAQL query of a day range.
pub fn query(since: NaiveDate, until: NaiveDate) -> String {
    format!(
        "SELECT campaign.id, campaign.name, segments.date, metrics.impressions, metrics.clicks, \
         metrics.cost_micros, metrics.conversions, customer.currency_code FROM campaign \
         WHERE segments.date BETWEEN '{since}' AND '{until}'"
    )
}

#[async_trait::async_trait]
impl Connector for GoogleAds {
    fn vendor(&self) -> &'static str {
        "google_ads"
    }

    async fn poll(
        &mut self,
        cursor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Poll, ConnectorError> {
        let (since, until) = day_range(cursor, now.date_naive(), self.settings.lookback_days);
        let url = format!(
            "{}/{}/customers/{}/googleAds:searchStream",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.api_version,
            self.account.customer_id
        );
        let body = serde_json::json!({ "query": query(since, until) });
        let mut refreshed = false;
        let response = loop {
            let bearer = self.bearer().await?;
            let developer_token = self.account.developer_token.clone();
            let login = self.account.login_customer_id.clone();
            let (url, body) = (url.clone(), body.clone());
            let build = move |client: &reqwest::Client| {
                let request = client
                    .post(&url)
                    .bearer_auth(bearer.expose())
                    .header("developer-token", developer_token.expose())
                    .json(&body);
                match &login {
                    Some(login) => request.header("login-customer-id", login),
                    None => request,
                }
            };
            let key = format!("googleAds:{}:{since}:{until}", self.account.customer_id);
            match self.http.send_cached(&key, &build, &generic).await {
                Ok(response) => break response,
                Err(ConnectorError::Unauthorized(_)) if !refreshed => {
                    refreshed = true;
                    self.token = None;
                }
                Err(error) => return Err(error),
            }
        };
        let parsed = parse_json(&response.body)?;
        let batches = parsed.as_array().ok_or_else(|| {
            ConnectorError::Malformed("searchStream answer is not an array of batches".into())
        })?;
        let mut poll = Poll::default();
        for batch in batches {
            if let Some(error) = at(batch, &["error"]) {
                // An error inside the stream: the rest of the answer is not to be trusted.
                return Err(ConnectorError::Server {
                    status: 200,
                    detail: format!(
                        "error in the stream: {}",
                        super::error::excerpt(error.to_string().as_bytes(), 300)
                    ),
                    retry_after: None,
                });
            }
            for row in at(batch, &["results"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match map_row(row, now) {
                    Ok(metric) => poll.metrics.push(metric),
                    Err(reason) => poll.rejected.push(reason),
                }
            }
        }
        poll.cursor = Some(until.to_string());
        Ok(poll)
    }
}

/// Maps one searchStream row.
pub fn map_row(row: &Value, now: DateTime<Utc>) -> Result<CampaignMetric, String> {
    let campaign_id = at(row, &["campaign", "id"])
        .and_then(text)
        .ok_or("row without campaign.id")?;
    let date = at(row, &["segments", "date"])
        .and_then(Value::as_str)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| format!("campaign {campaign_id}: no readable segments.date"))?;
    let spend_micros = match at(row, &["metrics", "costMicros"]) {
        None => 0,
        Some(value) => micros(value).ok_or_else(|| {
            format!("campaign {campaign_id}: costMicros {value} is not an integer")
        })?,
    };
    Ok(CampaignMetric {
        platform: Platform::GoogleAds,
        campaign_name: at(row, &["campaign", "name"])
            .and_then(text)
            .unwrap_or_else(|| campaign_id.clone()),
        campaign_id,
        date,
        impressions: at(row, &["metrics", "impressions"])
            .and_then(count)
            .unwrap_or(0),
        reach: None,
        clicks: at(row, &["metrics", "clicks"]).and_then(count).unwrap_or(0),
        spend_micros,
        conversions: at(row, &["metrics", "conversions"])
            .and_then(float)
            .unwrap_or(0.0)
            .max(0.0),
        daily_budget_micros: None,
        currency: at(row, &["customer", "currencyCode"])
            .and_then(text)
            .unwrap_or_else(|| "USD".to_owned()),
        reported_at: now,
    })
}

/// An int64 micros value, as a string (documented) or an integral JSON number; never
/// through a float.
fn micros(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .filter(|m| *m >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("testdata/google-ads-searchstream.json");

    #[test]
    fn documented_batch_maps_with_exact_micros() {
        let body: Value = serde_json::from_str(SAMPLE).unwrap();
        let now: DateTime<Utc> = "2026-09-02T12:00:00Z".parse().unwrap();
        let m = map_row(&body[0]["results"][0], now).unwrap();
        assert_eq!(m.campaign_id, "55");
        assert_eq!(m.campaign_name, "GOTV Search");
        assert_eq!(m.date, NaiveDate::from_ymd_opt(2026, 9, 2).unwrap());
        assert_eq!((m.impressions, m.clicks), (1000, 80));
        assert_eq!(m.spend_micros, 2_500_000_000);
        assert_eq!(m.conversions, 4.0);
        // Exact beyond f64's 2^53: a float round trip would change the last digits.
        let row = json!({"campaign": {"id": "1"}, "segments": {"date": "2026-09-02"},
            "metrics": {"costMicros": "9007199254740993"}});
        assert_eq!(
            map_row(&row, now).unwrap().spend_micros,
            9_007_199_254_740_993
        );
        let row = json!({"campaign": {"id": "1"}, "segments": {"date": "2026-09-02"},
            "metrics": {"costMicros": "1.5"}});
        assert!(map_row(&row, now).is_err());
        // Missing optional metrics are zero.
        let row = json!({"campaign": {"id": "2"}, "segments": {"date": "2026-09-02"}, "extra": 1});
        let m = map_row(&row, now).unwrap();
        assert_eq!((m.impressions, m.clicks, m.spend_micros), (0, 0, 0));
    }

    #[test]
    fn the_query_names_the_documented_fields() {
        let d = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
        let q = query(d, d);
        for field in [
            "campaign.id",
            "campaign.name",
            "segments.date",
            "metrics.impressions",
            "metrics.clicks",
            "metrics.cost_micros",
            "metrics.conversions",
        ] {
            assert!(q.contains(field), "{field}");
        }
        assert!(q.contains("BETWEEN '2026-09-01' AND '2026-09-01'"));
    }
}

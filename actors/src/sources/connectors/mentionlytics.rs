//! Mentionlytics API v2: mentions, read with a one-hour Bearer token renewed with the
//! refresh token, pages of `per_page` from `page_no` 0, between `startDate` and `endDate`
//! (YYYYMMDD). The cursor is the publication time of the newest mention acknowledged;
//! the next poll re-reads from that day on and skips what is older (re-sent mentions
//! are de-duplicated by their Mentionlytics id at ingest).
//!
//! Fields drift (see `/work/shared/vendor`): `id` as a number or a string, the text in
//! `description`/`text`/`content`/`title`, `followers_count`/`mRank` as numbers, strings
//! or `null`, `country` as a code, a name or `null`, and `profile_meta` as a JSON *string*
//! holding a `location`. Unknown fields are ignored; a mention without an id, a date or
//! any text is rejected (counted), never the whole page.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;
use warroom_engine::connectors::{MentionlyticsAccount, MentionlyticsSettings, Secret};
use warroom_engine::validate::{mention_from_record, TimeBounds};
use warroom_engine::wire::MentionRecord;
use warroom_engine::{Author, Mention, Source};

use super::error::ConnectorError;
use super::http::{generic, parse_json, Http};
use super::lenient::{at, count, embedded_object, first, float, text};
use super::token::{self, AccessToken};
use super::{Connector, Poll};

/// The Mentionlytics connector of one organisation.
pub struct Mentionlytics {
    http: Http,
    settings: MentionlyticsSettings,
    refresh_token: Secret,
    token: Option<AccessToken>,
    bounds: TimeBounds,
}

impl Mentionlytics {
    /// A connector for `account`.
    pub fn new(
        http: Http,
        settings: MentionlyticsSettings,
        account: &MentionlyticsAccount,
        bounds: TimeBounds,
    ) -> Self {
        Self {
            http,
            settings,
            refresh_token: account.refresh_token.clone(),
            // A configured token's age is unknown: it is used until the vendor answers 401.
            token: account.access_token.clone().map(|value| AccessToken {
                value,
                renew_at: Instant::now() + Duration::from_secs(3600),
            }),
            bounds,
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
                ("refresh_token", self.refresh_token.expose()),
            ],
            Duration::from_secs(3600),
        )
        .await?;
        if let Some(rotated) = grant.refresh_token {
            self.refresh_token = rotated;
        }
        let value = grant.token.value.clone();
        self.token = Some(grant.token);
        Ok(value)
    }

    async fn page(
        &mut self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        page: u32,
    ) -> Result<Value, ConnectorError> {
        let mut refreshed = false;
        loop {
            let bearer = self.bearer().await?;
            let url = format!("{}/mentions", self.settings.base_url.trim_end_matches('/'));
            let query = vec![
                ("startDate", since.format("%Y%m%d").to_string()),
                ("endDate", now.format("%Y%m%d").to_string()),
                ("page_no", page.to_string()),
                ("per_page", self.settings.per_page.to_string()),
            ];
            let build = move |client: &reqwest::Client| {
                client.get(&url).query(&query).bearer_auth(bearer.expose())
            };
            match self.http.send(&build, &generic).await {
                Ok(response) => return parse_json(&response.body),
                // Expired or revoked: renew once, then it is a failure.
                Err(ConnectorError::Unauthorized(_)) if !refreshed => {
                    refreshed = true;
                    self.token = None;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[async_trait::async_trait]
impl Connector for Mentionlytics {
    fn vendor(&self) -> &'static str {
        "mentionlytics"
    }

    async fn poll(
        &mut self,
        cursor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Poll, ConnectorError> {
        let since = cursor
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|c| c.with_timezone(&Utc))
            .unwrap_or_else(|| {
                now - chrono::Duration::from_std(self.settings.initial_lookback)
                    .unwrap_or_else(|_| chrono::Duration::hours(1))
            });
        let mut poll = Poll::default();
        let mut newest = since;
        let mut complete = false;
        for page in 0..self.settings.max_pages {
            let body = self.page(since, now, page).await?;
            let items = mentions_of(&body)?;
            let full_page = items.len() >= self.settings.per_page as usize;
            complete = !full_page;
            for item in items {
                match map_mention(item, now, self.bounds) {
                    Ok(mention) if mention.event_time >= since => {
                        newest = newest.max(mention.event_time);
                        poll.mentions.push(mention);
                    }
                    Ok(_) => {}
                    Err(reason) => poll.rejected.push(reason),
                }
            }
            if !full_page {
                break;
            }
        }
        if complete {
            poll.cursor = Some(newest.to_rfc3339());
        } else {
            // More than max_pages × per_page mentions since the cursor: what was read is
            // ingested, but the cursor stays, so nothing unread is skipped by moving it.
            tracing::warn!(
                max_pages = self.settings.max_pages,
                per_page = self.settings.per_page,
                "Mentionlytics has more mentions than one poll reads; raise max_pages or per_page"
            );
            poll.cursor = cursor.map(str::to_owned);
        }
        Ok(poll)
    }
}

/// The mention list of a response: `{"mentions": [...]}` (documented), `{"data": [...]}`
/// or a bare array.
pub fn mentions_of(body: &Value) -> Result<&Vec<Value>, ConnectorError> {
    match body {
        Value::Array(items) => Ok(items),
        Value::Object(_) => first(body, &["mentions", "data"])
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ConnectorError::Malformed("no \"mentions\" array in the response".into())
            }),
        _ => Err(ConnectorError::Malformed(
            "the response is not an object".into(),
        )),
    }
}

/// Maps one vendor mention to the engine's [`Mention`] (validated like an API record).
pub fn map_mention(
    item: &Value,
    now: DateTime<Utc>,
    bounds: TimeBounds,
) -> Result<Mention, String> {
    let id = first(item, &["id", "mention_id"])
        .and_then(text)
        .ok_or("mention without an id")?;
    let event_time = first(item, &["pub_date", "published_at", "date", "created_at"])
        .and_then(Value::as_str)
        .and_then(parse_time)
        .ok_or_else(|| format!("mention {id}: no readable pub_date"))?;
    let content = first(
        item,
        &["description", "text", "content", "message", "title"],
    )
    .and_then(text)
    .ok_or_else(|| format!("mention {id}: no text"))?;
    let channel = first(
        item,
        &["channel", "source", "source_name", "platform", "network"],
    )
    .and_then(Value::as_str)
    .unwrap_or_default();
    let followers = first(item, &["followers_count", "followers"])
        .and_then(count)
        .unwrap_or(0);
    let author = Author {
        handle: first(
            item,
            &["screen_name", "profile_username", "username", "uid"],
        )
        .and_then(text)
        .unwrap_or_else(|| "unknown".to_owned()),
        name: first(item, &["profile_name", "name"]).and_then(text),
        followers,
        reach: first(item, &["reach"]).and_then(count).unwrap_or(followers),
    };
    let location = at(item, &["profile_meta"])
        .and_then(embedded_object)
        .and_then(|meta| meta.get("location").and_then(text));
    // `country` is sometimes an ISO code, sometimes a name: only a code is a country.
    let country_field = at(item, &["country"]).and_then(text);
    let (country, region) = match country_field {
        Some(c) if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
            (Some(c.to_ascii_uppercase()), location)
        }
        Some(name) => (None, location.or(Some(name))),
        None => (None, location),
    };
    let language = first(item, &["language", "lang"])
        .and_then(text)
        .filter(|l| l.len() == 2);
    let record = MentionRecord {
        external_id: id.clone(),
        source: source_of(channel),
        content,
        author,
        country,
        region,
        language,
        hashtags: None,
        url: first(item, &["url", "link", "permalink"]).and_then(text),
        event_time,
        source_sentiment: at(item, &["sentiment"]).and_then(sentiment_of),
    };
    let mut issues = Vec::new();
    mention_from_record(0, record, now, bounds, &mut issues).ok_or_else(|| {
        let reasons: Vec<String> = issues
            .iter()
            .map(|i| format!("{}: {}", i.field.as_deref().unwrap_or("record"), i.reason))
            .collect();
        format!("mention {id}: {}", reasons.join("; "))
    })
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
        return Some(Utc.from_utc_datetime(&t));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
}

fn source_of(channel: &str) -> Source {
    let channel = channel.to_ascii_lowercase();
    let has = |word: &str| channel.contains(word);
    if has("twitter") || channel == "x" {
        Source::Twitter
    } else if has("facebook") {
        Source::Facebook
    } else if has("instagram") {
        Source::Instagram
    } else if has("reddit") {
        Source::Reddit
    } else if has("tiktok") {
        Source::Tiktok
    } else if has("youtube") {
        Source::Youtube
    } else if has("blog") {
        Source::Blog
    } else if has("news") || has("web") {
        Source::News
    } else {
        Source::Other
    }
}

/// `positive`/`negative`/`neutral`, or a score: within -1..1 as is, else by its sign.
fn sentiment_of(value: &Value) -> Option<f64> {
    if let Some(word) = value.as_str() {
        match word.trim().to_ascii_lowercase().as_str() {
            "positive" => return Some(1.0),
            "negative" => return Some(-1.0),
            "neutral" => return Some(0.0),
            _ => {}
        }
    }
    float(value).map(|f| {
        if (-1.0..=1.0).contains(&f) {
            f
        } else {
            f.signum()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("testdata/mentionlytics-mentions.json");

    fn now() -> DateTime<Utc> {
        "2026-09-02T12:00:00Z".parse().unwrap()
    }

    /// The bounds these mapping tests run with: the vendor's documented sample is dated
    /// years back, so the age bound (tested in `warroom_engine::validate`) is wide here.
    fn skew() -> TimeBounds {
        TimeBounds {
            max_future_skew: chrono::Duration::minutes(5),
            max_age: chrono::Duration::days(100 * 365),
        }
    }

    #[test]
    fn documented_sample_without_text_is_rejected_not_fatal() {
        let body: Value = serde_json::from_str(SAMPLE).unwrap();
        let items = mentions_of(&body).unwrap();
        assert_eq!(items.len(), 1);
        let err = map_mention(&items[0], now(), skew()).unwrap_err();
        assert!(
            err.contains("1000886319") && err.contains("no text"),
            "{err}"
        );
    }

    #[test]
    fn documented_sample_with_text_maps_every_field() {
        let mut body: Value = serde_json::from_str(SAMPLE).unwrap();
        body["mentions"][0]["description"] = json!("Great turnout at the rally! #GOTV");
        body["mentions"][0]["sentiment"] = json!("positive");
        body["mentions"][0]["channel"] = json!("Twitter");
        let m = map_mention(&mentions_of(&body).unwrap()[0], now(), skew()).unwrap();
        assert_eq!(m.external_id, "1000886319");
        assert_eq!(m.source, Source::Twitter);
        assert_eq!(m.author.handle, "example");
        assert_eq!(m.author.name.as_deref(), Some("Example Person"));
        assert_eq!(m.author.followers, 85);
        assert_eq!(m.country, None);
        assert_eq!(m.region.as_deref(), Some("Clare, Ireland"));
        assert_eq!(m.source_sentiment, Some(1.0));
        assert_eq!(m.hashtags, vec!["gotv".to_owned()]);
        assert_eq!(
            m.event_time,
            "2019-01-24T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn drifting_fields_are_read_leniently() {
        let item = json!({
            "id": "abc-1", "pub_date": "2026-09-02 10:00:00", "text": "Vote no",
            "followers_count": "1200", "mRank": "7", "country": "ie",
            "profile_meta": {"location": "Dublin"}, "sentiment": -3,
            "brand_new_field": {"nested": true}, "source": "news_site"
        });
        let m = map_mention(&item, now(), skew()).unwrap();
        assert_eq!(m.external_id, "abc-1");
        assert_eq!(m.author.followers, 1200);
        assert_eq!(m.author.reach, 1200);
        assert_eq!(m.country.as_deref(), Some("IE"));
        assert_eq!(m.region.as_deref(), Some("Dublin"));
        assert_eq!(m.source_sentiment, Some(-1.0));
        assert_eq!(m.source, Source::News);
        // Missing optionals, null followers, a country name, garbage profile_meta.
        let item = json!({"id": 5, "pub_date": "2026-09-02T10:00:00Z", "title": "hi",
            "followers_count": null, "country": "Ireland", "profile_meta": "{broken"});
        let m = map_mention(&item, now(), skew()).unwrap();
        assert_eq!(m.author.followers, 0);
        assert_eq!(m.author.handle, "unknown");
        assert_eq!(m.country, None);
        assert_eq!(m.region.as_deref(), Some("Ireland"));
        assert_eq!(m.source, Source::Other);
    }

    #[test]
    fn unusable_mentions_are_rejected_with_a_reason() {
        assert!(map_mention(
            &json!({"pub_date": "2026-09-02T10:00:00Z", "text": "x"}),
            now(),
            skew()
        )
        .unwrap_err()
        .contains("without an id"));
        assert!(map_mention(
            &json!({"id": 1, "pub_date": "yesterday", "text": "x"}),
            now(),
            skew()
        )
        .unwrap_err()
        .contains("pub_date"));
        // Far in the future: refused by the same validation as the ingest API.
        assert!(map_mention(
            &json!({"id": 1, "pub_date": "2027-01-01T00:00:00Z", "text": "x"}),
            now(),
            skew()
        )
        .unwrap_err()
        .contains("future"));
        assert!(matches!(
            mentions_of(&json!({"items": []})),
            Err(ConnectorError::Malformed(_))
        ));
        assert!(matches!(
            mentions_of(&json!("x")),
            Err(ConnectorError::Malformed(_))
        ));
    }
}

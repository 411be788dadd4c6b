//! The archive's Arrow schemas, and the conversion of domain rows into record batches.
//!
//! Each table has one *logical* schema (what an export file holds, and what a reader of
//! the hive-partitioned tree sees once the partition columns are added back) and one
//! *file* schema: the logical one without the hive partition keys. Partition keys live
//! only in the directory names, as Hive, Spark, DuckDB and pyarrow expect; a column
//! present both in the path and in the file makes Spark refuse the table and pyarrow
//! fail to unify a dictionary column with a path string.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, DictionaryArray, Float64Array, Int64Array, ListBuilder,
    RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use warroom_engine::model::{
    sentiment_class, CampaignMetric, OrgId, ScoredMention, SentimentClass, Source,
};

use super::{ArchiveError, Table};

/// Time zone of every timestamp column: instants, stored as UTC microseconds.
pub const TIMESTAMP_TZ: &str = "UTC";
/// Precision of the money columns (`spend`, `daily_budget`).
pub const MONEY_PRECISION: u8 = 18;
/// Scale of the money columns: micro-units, exactly as [`CampaignMetric`] carries them.
pub const MONEY_SCALE: i8 = 6;
/// Largest absolute micro-unit amount that fits `Decimal128(18, 6)`.
const MONEY_MAX_MICROS: i64 = 999_999_999_999_999_999;

/// Name of the hive partition column holding the organisation.
pub const ORG_COLUMN: &str = "org_id";
/// Name of the hive partition column holding the day (UTC).
pub const DATE_COLUMN: &str = "date";

/// The per-source count column of `kpi_buckets` for a source: `source_twitter`, ….
pub fn source_column(source: Source) -> String {
    format!("source_{}", source.as_str())
}

/// One minute of one organisation's mention KPIs: the row type of `kpi_buckets`.
///
/// These are the additive counters the sliding windows are made of, so any window can be
/// rebuilt (or recomputed offline) by summing buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiBucketRow {
    /// The organisation.
    pub org: OrgId,
    /// Start of the minute (event time, UTC).
    pub minute: DateTime<Utc>,
    /// Mentions in the minute.
    pub mention_count: u64,
    /// Sum of their VADER compound scores (average = sum / count).
    pub sentiment_sum: f64,
    /// Mentions with compound ≥ 0.05.
    pub positive: u64,
    /// Mentions between the two thresholds.
    pub neutral: u64,
    /// Mentions with compound ≤ -0.05.
    pub negative: u64,
    /// Mentions with compound < -0.8 (the seed's crisis signal).
    pub strongly_negative: u64,
    /// Mentions per source, indexed by [`Source::index`].
    pub by_source: [u64; Source::COUNT],
}

impl KpiBucketRow {
    /// An empty bucket for the minute containing `at`.
    pub fn new(org: OrgId, at: DateTime<Utc>) -> Self {
        // Truncation can only fail for instants at the very edge of chrono's range;
        // keeping `at` then is harmless.
        let minute = at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at);
        Self {
            org,
            minute,
            mention_count: 0,
            sentiment_sum: 0.0,
            positive: 0,
            neutral: 0,
            negative: 0,
            strongly_negative: 0,
            by_source: [0; Source::COUNT],
        }
    }

    /// Counts one scored mention into the bucket (the caller picks the bucket).
    pub fn record(&mut self, source: Source, compound: f64) {
        self.mention_count += 1;
        self.sentiment_sum += compound;
        match SentimentClass::of(compound) {
            SentimentClass::Positive => self.positive += 1,
            SentimentClass::Neutral => self.neutral += 1,
            SentimentClass::Negative => self.negative += 1,
        }
        if compound < sentiment_class::STRONGLY_NEGATIVE {
            self.strongly_negative += 1;
        }
        self.by_source[source.index()] += 1;
    }
}

fn dict_utf8() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMP_TZ.into()))
}

fn money() -> DataType {
    DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE)
}

fn hashtags() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// The logical (export) schema of a table; see `docs/archive.md` for each column.
pub fn logical_schema(table: Table) -> SchemaRef {
    let org = Field::new(ORG_COLUMN, dict_utf8(), false);
    let fields = match table {
        Table::Mentions => vec![
            org,
            Field::new("source", dict_utf8(), false),
            Field::new("external_id", DataType::Utf8, false),
            Field::new("content", DataType::Utf8, false),
            Field::new("author_handle", DataType::Utf8, false),
            Field::new("author_name", DataType::Utf8, true),
            Field::new("author_followers", DataType::Int64, false),
            Field::new("author_reach", DataType::Int64, false),
            Field::new("country", dict_utf8(), true),
            Field::new("region", dict_utf8(), true),
            Field::new("language", dict_utf8(), true),
            Field::new("hashtags", hashtags(), false),
            Field::new("url", DataType::Utf8, true),
            Field::new("event_time", timestamp(), false),
            Field::new("ingested_at", timestamp(), false),
            Field::new("sentiment_compound", DataType::Float64, false),
            Field::new("sentiment_pos", DataType::Float64, false),
            Field::new("sentiment_neu", DataType::Float64, false),
            Field::new("sentiment_neg", DataType::Float64, false),
            Field::new("source_sentiment", DataType::Float64, true),
        ],
        Table::CampaignData => vec![
            org,
            Field::new("platform", dict_utf8(), false),
            Field::new("campaign_id", dict_utf8(), false),
            Field::new("campaign_name", dict_utf8(), false),
            Field::new(DATE_COLUMN, DataType::Date32, false),
            Field::new("impressions", DataType::Int64, false),
            Field::new("reach", DataType::Int64, true),
            Field::new("clicks", DataType::Int64, false),
            Field::new("spend", money(), false),
            Field::new("conversions", DataType::Float64, false),
            Field::new("daily_budget", money(), true),
            Field::new("currency", dict_utf8(), false),
            Field::new("reported_at", timestamp(), false),
        ],
        Table::KpiBuckets => {
            let mut fields = vec![
                org,
                Field::new("minute", timestamp(), false),
                Field::new("mention_count", DataType::Int64, false),
                Field::new("sentiment_sum", DataType::Float64, false),
                Field::new("positive", DataType::Int64, false),
                Field::new("neutral", DataType::Int64, false),
                Field::new("negative", DataType::Int64, false),
                Field::new("strongly_negative", DataType::Int64, false),
            ];
            fields.extend(
                Source::ALL
                    .into_iter()
                    .map(|s| Field::new(source_column(s), DataType::Int64, false)),
            );
            fields
        }
    };
    Arc::new(Schema::new(fields))
}

/// Whether a logical column of `table` is a hive partition key (kept in the path only).
pub fn is_partition_column(table: Table, name: &str) -> bool {
    name == ORG_COLUMN || (table == Table::CampaignData && name == DATE_COLUMN)
}

/// The schema of the data files under `<root>/<table>/`: the logical one less the
/// partition keys.
pub fn file_schema(table: Table) -> SchemaRef {
    let logical = logical_schema(table);
    let fields: Vec<Field> = logical
        .fields()
        .iter()
        .filter(|f| !is_partition_column(table, f.name()))
        .map(|f| f.as_ref().clone())
        .collect();
    Arc::new(Schema::new(fields))
}

/// Counts are unsigned in the model and signed in the files: Spark and Hive have no
/// unsigned integers. Counts never approach 2^63; saturating keeps a corrupt input from
/// failing a whole batch.
fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn money_array(values: impl IntoIterator<Item = Option<i64>>) -> Result<ArrayRef, ArchiveError> {
    let array: Decimal128Array = values.into_iter().map(|v| v.map(i128::from)).collect();
    Ok(Arc::new(
        array.with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)?,
    ))
}

fn timestamps(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values).with_timezone(TIMESTAMP_TZ))
}

fn dict<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<DictionaryArray<Int32Type>>())
}

/// A constant `org_id` column of `len` rows (one dictionary entry).
pub(crate) fn org_column(org: &OrgId, len: usize) -> ArrayRef {
    let keys = arrow::array::Int32Array::from(vec![0; len]);
    let values = Arc::new(StringArray::from(vec![org.as_str()]));
    Arc::new(DictionaryArray::<Int32Type>::new(keys, values))
}

/// Days since the Unix epoch, as `Date32` stores them.
pub(crate) fn date32(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    // A NaiveDate spans ±262,143 years, so the day count always fits in an i32.
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}

/// A constant `date` column of `len` rows.
pub(crate) fn date_column(date: NaiveDate, len: usize) -> ArrayRef {
    Arc::new(Date32Array::from(vec![date32(date); len]))
}

/// Mentions of one partition as a batch of the `mentions` file schema.
pub(crate) fn mentions_batch(rows: &[&ScoredMention]) -> Result<RecordBatch, ArchiveError> {
    let mut tags = ListBuilder::new(StringBuilder::new())
        .with_field(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    for r in rows {
        for tag in &r.mention.hashtags {
            tags.values().append_value(tag);
        }
        tags.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        dict(rows.iter().map(|r| Some(r.mention.source.as_str()))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.mention.external_id),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.mention.content),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.mention.author.handle),
        )),
        Arc::new(
            rows.iter()
                .map(|r| r.mention.author.name.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| count(r.mention.author.followers)),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| count(r.mention.author.reach)),
        )),
        dict(rows.iter().map(|r| r.mention.country.as_deref())),
        dict(rows.iter().map(|r| r.mention.region.as_deref())),
        dict(rows.iter().map(|r| r.mention.language.as_deref())),
        Arc::new(tags.finish()),
        Arc::new(
            rows.iter()
                .map(|r| r.mention.url.as_deref())
                .collect::<StringArray>(),
        ),
        timestamps(rows.iter().map(|r| r.mention.event_time.timestamp_micros())),
        timestamps(rows.iter().map(|r| r.ingested_at_us)),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.sentiment.compound),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.sentiment.pos),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.sentiment.neu),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.sentiment.neg),
        )),
        Arc::new(
            rows.iter()
                .map(|r| r.mention.source_sentiment)
                .collect::<Float64Array>(),
        ),
    ];
    Ok(RecordBatch::try_new(file_schema(Table::Mentions), columns)?)
}

/// Campaign reports of one partition (one org, one day) as a batch of the
/// `campaign_data` file schema. Money outside `Decimal128(18, 6)` is rejected, never
/// rounded.
pub(crate) fn campaign_batch(rows: &[&CampaignMetric]) -> Result<RecordBatch, ArchiveError> {
    for r in rows {
        let fits = |m: i64| m.unsigned_abs() <= MONEY_MAX_MICROS.unsigned_abs();
        if !fits(r.spend_micros) || !r.daily_budget_micros.is_none_or(fits) {
            return Err(ArchiveError::InvalidRow {
                table: Table::CampaignData,
                reason: format!(
                    "campaign {} on {}: amount does not fit Decimal128(18, 6)",
                    r.campaign_id, r.date
                ),
            });
        }
    }
    let columns: Vec<ArrayRef> = vec![
        dict(rows.iter().map(|r| Some(r.platform.as_str()))),
        dict(rows.iter().map(|r| Some(r.campaign_id.as_str()))),
        dict(rows.iter().map(|r| Some(r.campaign_name.as_str()))),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| count(r.impressions)),
        )),
        Arc::new(
            rows.iter()
                .map(|r| r.reach.map(count))
                .collect::<Int64Array>(),
        ),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| count(r.clicks)),
        )),
        money_array(rows.iter().map(|r| Some(r.spend_micros)))?,
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.conversions),
        )),
        money_array(rows.iter().map(|r| r.daily_budget_micros))?,
        dict(rows.iter().map(|r| Some(r.currency.as_str()))),
        timestamps(rows.iter().map(|r| r.reported_at.timestamp_micros())),
    ];
    Ok(RecordBatch::try_new(
        file_schema(Table::CampaignData),
        columns,
    )?)
}

/// KPI buckets of one partition as a batch of the `kpi_buckets` file schema.
pub(crate) fn kpi_batch(rows: &[&KpiBucketRow]) -> Result<RecordBatch, ArchiveError> {
    let counts = |f: &dyn Fn(&KpiBucketRow) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| count(f(r))),
        ))
    };
    let mut columns: Vec<ArrayRef> = vec![
        timestamps(rows.iter().map(|r| r.minute.timestamp_micros())),
        counts(&|r| r.mention_count),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.sentiment_sum),
        )),
        counts(&|r| r.positive),
        counts(&|r| r.neutral),
        counts(&|r| r.negative),
        counts(&|r| r.strongly_negative),
    ];
    for source in Source::ALL {
        columns.push(counts(&|r| r.by_source[source.index()]));
    }
    Ok(RecordBatch::try_new(
        file_schema(Table::KpiBuckets),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_schemas_drop_only_the_partition_keys() {
        for table in Table::ALL {
            let logical = logical_schema(table);
            let file = file_schema(table);
            let dropped: Vec<&str> = logical
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .filter(|n| file.field_with_name(n).is_err())
                .collect();
            let expected: &[&str] = if table == Table::CampaignData {
                &["org_id", "date"]
            } else {
                &["org_id"]
            };
            assert_eq!(dropped, expected, "{table}");
        }
    }

    #[test]
    fn kpi_bucket_truncates_to_the_minute_and_classifies() {
        let at = DateTime::parse_from_rfc3339("2024-05-01T10:11:12.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut row = KpiBucketRow::new(OrgId::new("a"), at);
        assert_eq!(row.minute.to_rfc3339(), "2024-05-01T10:11:00+00:00");
        row.record(Source::Reddit, -0.9);
        row.record(Source::Reddit, 0.0);
        row.record(Source::News, 0.5);
        assert_eq!(row.mention_count, 3);
        assert_eq!((row.positive, row.neutral, row.negative), (1, 1, 1));
        assert_eq!(row.strongly_negative, 1);
        assert_eq!(row.by_source[Source::Reddit.index()], 2);
        assert!((row.sentiment_sum + 0.4).abs() < 1e-12);
    }

    #[test]
    fn money_out_of_range_is_an_error_not_a_panic() {
        let metric = CampaignMetric {
            platform: warroom_engine::model::Platform::Meta,
            campaign_id: "c".into(),
            campaign_name: "n".into(),
            date: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
            impressions: 1,
            reach: None,
            clicks: 1,
            spend_micros: 1_000_000_000_000_000_000,
            conversions: 0.0,
            daily_budget_micros: None,
            currency: "USD".into(),
            reported_at: Utc::now(),
        };
        assert!(matches!(
            campaign_batch(&[&metric]),
            Err(ArchiveError::InvalidRow { .. })
        ));
        let ok = CampaignMetric {
            spend_micros: MONEY_MAX_MICROS,
            ..metric
        };
        let batch = campaign_batch(&[&ok]).unwrap();
        assert_eq!(batch.num_rows(), 1);
    }
}

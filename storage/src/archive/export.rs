//! [`export`]: one organisation's rows of one table over a time range, streamed from the
//! archive's partitions into a single Parquet, CSV or JSON file.
//!
//! Memory stays bounded whatever the range: files are read one at a time, a row group
//! at a time, in batches of [`READ_BATCH_ROWS`]; the output is written batch by batch
//! (a Parquet output buffers at most one row group before flushing it). Row groups
//! whose time statistics fall outside the range are skipped without being read.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use arrow::error::ArrowError;
use arrow::json::writer::{JsonArray, LineDelimited};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use warroom_engine::model::{CampaignMetric, OrgId, ScoredMention};

use super::layout::{data_files, partitions};
use super::schema::{
    campaign_batch, date32, date_column, is_partition_column, kpi_batch, logical_schema,
    mentions_batch, org_column, KpiBucketRow, DATE_COLUMN, ORG_COLUMN,
};
use super::{checked_org, ArchiveError, Table};

/// Rows per batch read from the archive.
pub const READ_BATCH_ROWS: usize = 8 * 1024;
/// Rows per row group of a Parquet export.
const EXPORT_ROW_GROUP_ROWS: usize = 64 * 1024;
/// How CSV and JSON write instants: RFC 3339 in UTC with microseconds.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// One Parquet file with the table's logical schema, zstd-compressed.
    Parquet,
    /// RFC 4180 CSV with a header row; `hashtags` as a JSON array in one field.
    Csv,
    /// Newline-delimited JSON: one object per row, every column present (null when
    /// absent). Streams line by line, so the natural choice for large exports.
    Json,
    /// One JSON array of the same objects as [`ExportFormat::Json`].
    JsonArray,
}

impl ExportFormat {
    /// Parses `parquet`, `csv`, `json` / `ndjson` or `json-array`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "parquet" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            "json" | "ndjson" | "jsonl" => Some(Self::Json),
            "json-array" => Some(Self::JsonArray),
            _ => None,
        }
    }

    /// The HTTP content type of the output.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Parquet => "application/vnd.apache.parquet",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/x-ndjson",
            Self::JsonArray => "application/json",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Json => "ndjson",
            Self::JsonArray => "json",
        }
    }
}

/// Which rows to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    /// The table.
    pub table: Table,
    /// The organisation: only its partitions are opened, so another organisation's rows
    /// cannot appear.
    pub org: OrgId,
    /// Start of the range, inclusive.
    pub from: DateTime<Utc>,
    /// End of the range, exclusive.
    ///
    /// `mentions` and `kpi_buckets` rows are selected by `event_time` / `minute` in
    /// `[from, to)`; `campaign_data` rows, which cover whole days, by a `date` whose day
    /// overlaps the range.
    pub to: DateTime<Utc>,
}

/// What an export did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Rows written.
    pub rows: u64,
    /// Archive files opened.
    pub files: u64,
    /// Row groups read.
    pub row_groups_read: u64,
    /// Row groups skipped by their time statistics.
    pub row_groups_skipped: u64,
    /// Bytes written to the output.
    pub bytes: u64,
}

/// Writes one organisation's rows of one table for a time range to `out`, in `format`,
/// streaming (see the module docs); returns what it wrote. Blocking: run it on a
/// blocking thread. `out` is flushed at the end, not closed.
///
/// Rows come in partition-day order, and within a day in the order they were archived
/// (not sorted by time: late events were archived late). An empty range yields a valid
/// empty file (Parquet with the schema and no rows, a CSV header, `[]`, or nothing for
/// NDJSON). A write error of `out` is [`ArchiveError::Output`], so a caller can tell a
/// client that went away from a broken archive.
pub fn export<W: Write + Send>(
    root: &Path,
    query: &ExportQuery,
    format: ExportFormat,
    out: W,
) -> Result<ExportStats, ArchiveError> {
    checked_org(&query.org)?;
    if query.from >= query.to {
        return Err(ArchiveError::InvalidRange {
            from: query.from,
            to: query.to,
        });
    }
    let out = CountingWriter::new(out);
    let failure = Arc::clone(&out.failure);
    let bytes = Arc::clone(&out.bytes);
    let result = run(root, query, format, out);
    // An error of the destination surfaces as an Arrow or Parquet error wrapping it;
    // report what really happened.
    if let Some((kind, message)) = failure.get() {
        return Err(ArchiveError::Output(io::Error::new(*kind, message.clone())));
    }
    let mut stats = result?;
    stats.bytes = bytes.load(Ordering::Relaxed);
    Ok(stats)
}

fn run<W: Write + Send>(
    root: &Path,
    query: &ExportQuery,
    format: ExportFormat,
    out: CountingWriter<W>,
) -> Result<ExportStats, ArchiveError> {
    let schema = logical_schema(query.table);
    let mut sink = Sink::new(format, &schema, query, out)?;
    let mut stats = ExportStats::default();
    let first = query.from.date_naive();
    let last = (query.to - TimeDelta::microseconds(1)).date_naive();
    for (date, dir) in partitions(root, query.table, &query.org, first, last)? {
        for path in data_files(&dir)? {
            stats.files += 1;
            read_file(&path, date, query, &schema, &mut stats, &mut sink)?;
        }
    }
    sink.finish()?;
    Ok(stats)
}

/// Streams the rows of one archive file that fall in the range into the sink.
fn read_file<W: Write + Send>(
    path: &Path,
    date: NaiveDate,
    query: &ExportQuery,
    schema: &SchemaRef,
    stats: &mut ExportStats,
    sink: &mut Sink<W>,
) -> Result<(), ArchiveError> {
    let file = File::open(path).map_err(ArchiveError::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(READ_BATCH_ROWS);
    let (from, to) = (query.from.timestamp_micros(), query.to.timestamp_micros());
    let time_leaf = query.table.time_column().and_then(|name| {
        builder
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().string() == name)
    });
    let mut keep = Vec::new();
    for (i, group) in builder.metadata().row_groups().iter().enumerate() {
        let stats_range = time_leaf
            .and_then(|leaf| group.column(leaf).statistics())
            .and_then(|s| match s {
                Statistics::Int64(s) => Some((*s.min_opt()?, *s.max_opt()?)),
                _ => None,
            });
        match stats_range {
            Some((min, max)) if max < from || min >= to => stats.row_groups_skipped += 1,
            _ => keep.push(i),
        }
    }
    if keep.is_empty() {
        return Ok(());
    }
    stats.row_groups_read += keep.len() as u64;
    let reader = builder.with_row_groups(keep).build()?;
    for batch in reader {
        let batch = batch?;
        let batch = match query.table.time_column() {
            Some(column) => filter_time(&batch, column, from, to, path)?,
            None => batch,
        };
        if batch.num_rows() == 0 {
            continue;
        }
        let batch = to_logical(&batch, query, date, schema, path)?;
        stats.rows += batch.num_rows() as u64;
        sink.write(&batch)?;
    }
    Ok(())
}

/// Keeps the rows whose `column` lies in `[from, to)`.
fn filter_time(
    batch: &RecordBatch,
    column: &str,
    from: i64,
    to: i64,
    path: &Path,
) -> Result<RecordBatch, ArchiveError> {
    let times = batch
        .column_by_name(column)
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| ArchiveError::Schema {
            path: path.to_owned(),
            reason: format!("no timestamp column {column}"),
        })?;
    let mask: BooleanArray = times
        .iter()
        .map(|t| Some(t.is_some_and(|t| (from..to).contains(&t))))
        .collect();
    match mask.true_count() {
        n if n == batch.num_rows() => Ok(batch.clone()),
        _ => Ok(filter_record_batch(batch, &mask)?),
    }
}

/// Turns a batch of a file into one of the logical schema: partition keys come back as
/// constant columns; a nullable column missing from an older file reads as nulls.
fn to_logical(
    batch: &RecordBatch,
    query: &ExportQuery,
    date: NaiveDate,
    schema: &SchemaRef,
    path: &Path,
) -> Result<RecordBatch, ArchiveError> {
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name().as_str();
        let column = if is_partition_column(query.table, name) {
            if name == ORG_COLUMN {
                org_column(&query.org, rows)
            } else {
                debug_assert_eq!(name, DATE_COLUMN);
                date_column(date, rows)
            }
        } else {
            match batch.column_by_name(name) {
                Some(c) if c.data_type() == field.data_type() => Arc::clone(c),
                Some(c) => {
                    return Err(ArchiveError::Schema {
                        path: path.to_owned(),
                        reason: format!(
                            "column {name} is {}, expected {}",
                            c.data_type(),
                            field.data_type()
                        ),
                    })
                }
                None if field.is_nullable() => new_null_array(field.data_type(), rows),
                None => {
                    return Err(ArchiveError::Schema {
                        path: path.to_owned(),
                        reason: format!("column {name} is missing"),
                    })
                }
            }
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// A single export file written from rows the caller supplies, batch by batch: how
/// `warroom export` and the export endpoints write what they read from the store (the
/// system of record), with the same schemas and formats as [`export`]. Blocking: run it
/// on a blocking thread. Rows must belong to the query's organisation; the caller
/// selects the range.
pub struct ExportWriter<W: Write + Send> {
    query: ExportQuery,
    sink: Sink<W>,
    rows: u64,
    bytes: Arc<AtomicU64>,
    failure: Arc<OnceLock<(io::ErrorKind, String)>>,
}

impl<W: Write + Send> ExportWriter<W> {
    /// Starts an export of `query` in `format` into `out` (an empty-but-valid file if no
    /// rows follow). Refuses an unsafe organisation id or an empty range.
    pub fn new(query: &ExportQuery, format: ExportFormat, out: W) -> Result<Self, ArchiveError> {
        checked_org(&query.org)?;
        if query.from >= query.to {
            return Err(ArchiveError::InvalidRange {
                from: query.from,
                to: query.to,
            });
        }
        let out = CountingWriter::new(out);
        let bytes = Arc::clone(&out.bytes);
        let failure = Arc::clone(&out.failure);
        let schema = logical_schema(query.table);
        let sink = Sink::new(format, &schema, query, out);
        let sink = Self::output_error(&failure, sink)?;
        Ok(Self {
            query: query.clone(),
            sink,
            rows: 0,
            bytes,
            failure,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends mentions (table `mentions`).
    pub fn write_mentions(&mut self, rows: &[ScoredMention]) -> Result<(), ArchiveError> {
        let rows: Vec<&ScoredMention> = rows.iter().collect();
        self.write_file_batch(Table::Mentions, rows.len(), || mentions_batch(&rows), None)
    }

    /// Appends campaign reports (table `campaign_data`).
    pub fn write_campaign(&mut self, rows: &[CampaignMetric]) -> Result<(), ArchiveError> {
        let refs: Vec<&CampaignMetric> = rows.iter().collect();
        let dates: Vec<i32> = rows.iter().map(|r| date32(r.date)).collect();
        self.write_file_batch(
            Table::CampaignData,
            refs.len(),
            || campaign_batch(&refs),
            Some(dates),
        )
    }

    /// Appends KPI minute buckets (table `kpi_buckets`).
    pub fn write_kpi_buckets(&mut self, rows: &[KpiBucketRow]) -> Result<(), ArchiveError> {
        let rows: Vec<&KpiBucketRow> = rows.iter().collect();
        self.write_file_batch(Table::KpiBuckets, rows.len(), || kpi_batch(&rows), None)
    }

    fn write_file_batch(
        &mut self,
        table: Table,
        len: usize,
        batch: impl FnOnce() -> Result<RecordBatch, ArchiveError>,
        dates: Option<Vec<i32>>,
    ) -> Result<(), ArchiveError> {
        if table != self.query.table {
            return Err(ArchiveError::Config(format!(
                "{table} rows written to an export of {}",
                self.query.table
            )));
        }
        if len == 0 {
            return Ok(());
        }
        let file = batch()?;
        let schema = logical_schema(table);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let name = field.name().as_str();
            let column = if name == ORG_COLUMN {
                org_column(&self.query.org, len)
            } else if is_partition_column(table, name) {
                Arc::new(arrow::array::Date32Array::from(
                    dates.clone().unwrap_or_default(),
                ))
            } else {
                match file.column_by_name(name) {
                    Some(c) => Arc::clone(c),
                    None => {
                        return Err(ArchiveError::Config(format!(
                            "{table} has no column {name}"
                        )))
                    }
                }
            };
            columns.push(column);
        }
        let logical = RecordBatch::try_new(schema, columns)?;
        let written = self.sink.write(&logical);
        Self::output_error(&self.failure, written)?;
        self.rows += len as u64;
        Ok(())
    }

    /// Finishes the file (footer, flush) and says what was written.
    pub fn finish(self) -> Result<ExportStats, ArchiveError> {
        let finished = self.sink.finish();
        Self::output_error(&self.failure, finished)?;
        Ok(ExportStats {
            rows: self.rows,
            bytes: self.bytes.load(Ordering::Relaxed),
            ..ExportStats::default()
        })
    }

    /// A failing destination surfaces wrapped in an Arrow or Parquet error; report it as
    /// what it is.
    fn output_error<T>(
        failure: &OnceLock<(io::ErrorKind, String)>,
        result: Result<T, ArchiveError>,
    ) -> Result<T, ArchiveError> {
        if let Some((kind, message)) = failure.get() {
            return Err(ArchiveError::Output(io::Error::new(*kind, message.clone())));
        }
        result
    }
}

/// Where batches go, by format.
enum Sink<W: Write + Send> {
    Parquet(ArrowWriter<CountingWriter<W>>),
    Csv(arrow::csv::Writer<CountingWriter<W>>),
    Json(arrow::json::Writer<CountingWriter<W>, LineDelimited>),
    JsonArray(arrow::json::Writer<CountingWriter<W>, JsonArray>),
}

impl<W: Write + Send> Sink<W> {
    fn new(
        format: ExportFormat,
        schema: &SchemaRef,
        query: &ExportQuery,
        out: CountingWriter<W>,
    ) -> Result<Self, ArchiveError> {
        let json = || {
            arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .with_timestamp_format(TIMESTAMP_FORMAT.to_owned())
        };
        Ok(match format {
            ExportFormat::Parquet => {
                let level = ZstdLevel::try_new(3)?;
                let mut props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(level))
                    .set_max_row_group_row_count(Some(EXPORT_ROW_GROUP_ROWS))
                    .set_key_value_metadata(Some(vec![
                        KeyValue::new("warroom.table".into(), query.table.as_str().to_owned()),
                        KeyValue::new("warroom.org_id".into(), query.org.as_str().to_owned()),
                        KeyValue::new("warroom.from".into(), query.from.to_rfc3339()),
                        KeyValue::new("warroom.to".into(), query.to.to_rfc3339()),
                    ]));
                for column in ["external_id", "content", "url"] {
                    props = props.set_column_dictionary_enabled(ColumnPath::from(column), false);
                }
                Sink::Parquet(ArrowWriter::try_new(
                    out,
                    Arc::clone(schema),
                    Some(props.build()),
                )?)
            }
            ExportFormat::Csv => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_timestamp_format(TIMESTAMP_FORMAT.to_owned())
                    .build(out);
                // The header is written with the first batch; an empty one makes sure an
                // empty export still has it.
                writer.write(&text_batch(
                    &RecordBatch::new_empty(Arc::clone(schema)),
                    true,
                )?)?;
                Sink::Csv(writer)
            }
            ExportFormat::Json => Sink::Json(json().build::<_, LineDelimited>(out)),
            ExportFormat::JsonArray => Sink::JsonArray(json().build::<_, JsonArray>(out)),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), ArchiveError> {
        match self {
            Sink::Parquet(w) => w.write(batch)?,
            Sink::Csv(w) => w.write(&text_batch(batch, true)?)?,
            Sink::Json(w) => w.write(&text_batch(batch, false)?)?,
            Sink::JsonArray(w) => w.write(&text_batch(batch, false)?)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<(), ArchiveError> {
        let mut out = match self {
            Sink::Parquet(w) => w.into_inner()?,
            Sink::Csv(w) => w.into_inner(),
            Sink::Json(mut w) => {
                w.finish()?;
                w.into_inner()
            }
            Sink::JsonArray(mut w) => {
                w.finish()?;
                w.into_inner()
            }
        };
        out.flush().map_err(ArchiveError::Output)
    }
}

/// Prepares a batch for the text formats: instants lose their time-zone tag (the
/// values are UTC already; arrow can only format named zones with its `chrono-tz`
/// feature, and the format string appends the `Z`), and for CSV the hashtag list
/// becomes one JSON-array field.
fn text_batch(batch: &RecordBatch, csv: bool) -> Result<RecordBatch, ArchiveError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
                let Some(times) = column.as_primitive_opt::<TimestampMicrosecondType>() else {
                    return Err(ArrowError::CastError(format!(
                        "{} is not a timestamp",
                        field.name()
                    ))
                    .into());
                };
                let naive = times.clone().with_timezone_opt(None::<String>);
                fields.push(
                    field
                        .as_ref()
                        .clone()
                        .with_data_type(naive.data_type().clone()),
                );
                columns.push(Arc::new(naive));
            }
            DataType::Utf8 if csv => {
                let Some(text) = column.as_string_opt::<i32>() else {
                    return Err(
                        ArrowError::CastError(format!("{} is not text", field.name())).into(),
                    );
                };
                fields.push(field.as_ref().clone());
                columns.push(Arc::new(formula_safe(text)));
            }
            DataType::List(_) if csv => {
                fields.push(Field::new(
                    field.name(),
                    DataType::Utf8,
                    field.is_nullable(),
                ));
                columns.push(Arc::new(list_as_json(column.as_ref())?));
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(Arc::clone(column));
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Text a spreadsheet would run as a formula (a cell starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return, as OWASP's CSV-injection advice lists), prefixed with `'` so
/// it is shown as text: a mention's content is written by anyone on the internet.
fn formula_safe(column: &StringArray) -> StringArray {
    column
        .iter()
        .map(|cell| {
            cell.map(|text| {
                if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                    format!("'{text}")
                } else {
                    text.to_owned()
                }
            })
        })
        .collect()
}

/// A `list<utf8>` column as JSON array text (`["a","b"]`), one per row.
fn list_as_json(column: &dyn Array) -> Result<StringArray, ArchiveError> {
    let list = column
        .as_list_opt::<i32>()
        .ok_or_else(|| ArrowError::CastError("hashtags is not a list".into()))?;
    let mut out = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        if list.is_null(i) {
            out.push(None);
            continue;
        }
        let values = list.value(i);
        let strings = values
            .as_string_opt::<i32>()
            .ok_or_else(|| ArrowError::CastError("hashtags are not strings".into()))?;
        let items: Vec<Option<&str>> = strings.iter().collect();
        let text =
            serde_json::to_string(&items).map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        out.push(Some(text));
    }
    Ok(StringArray::from(out))
}

/// Counts bytes written, and remembers the first error of the destination.
struct CountingWriter<W> {
    inner: W,
    bytes: Arc<AtomicU64>,
    failure: Arc<OnceLock<(io::ErrorKind, String)>>,
}

impl<W> CountingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            bytes: Arc::new(AtomicU64::new(0)),
            failure: Arc::new(OnceLock::new()),
        }
    }

    fn record<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            let _ = self.failure.set((e.kind(), e.to_string()));
        }
        result
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(buf);
        let n = self.record(result)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.inner.flush();
        self.record(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_name_themselves() {
        for (name, format) in [
            ("parquet", ExportFormat::Parquet),
            ("csv", ExportFormat::Csv),
            ("json", ExportFormat::Json),
            ("json-array", ExportFormat::JsonArray),
        ] {
            assert_eq!(ExportFormat::parse(name), Some(format));
        }
        assert_eq!(ExportFormat::parse("xlsx"), None);
        assert_eq!(ExportFormat::Json.content_type(), "application/x-ndjson");
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_written_as_text_in_csv() {
        let column = StringArray::from(vec![
            Some("=cmd|' /C calc'!A0"),
            Some("+1"),
            Some("-2+3"),
            Some("@SUM(A1)"),
            Some("\tx"),
            Some("\rx"),
            Some("great rally"),
            None,
        ]);
        let safe: Vec<Option<String>> = formula_safe(&column)
            .iter()
            .map(|c| c.map(str::to_owned))
            .collect();
        assert_eq!(
            safe,
            vec![
                Some("'=cmd|' /C calc'!A0".to_owned()),
                Some("'+1".to_owned()),
                Some("'-2+3".to_owned()),
                Some("'@SUM(A1)".to_owned()),
                Some("'\tx".to_owned()),
                Some("'\rx".to_owned()),
                Some("great rally".to_owned()),
                None,
            ]
        );
    }

    #[test]
    fn hashtags_become_json_text_in_csv() {
        let mut builder = arrow::array::ListBuilder::new(arrow::array::StringBuilder::new());
        builder.values().append_value("vote");
        builder.values().append_value("a\"b");
        builder.append(true);
        builder.append(true);
        let text = list_as_json(&builder.finish()).unwrap();
        assert_eq!(text.value(0), r#"["vote","a\"b"]"#);
        assert_eq!(text.value(1), "[]");
    }

    #[test]
    fn a_reversed_range_is_refused() {
        let now = Utc::now();
        let query = ExportQuery {
            table: Table::Mentions,
            org: OrgId::new("a"),
            from: now,
            to: now,
        };
        let err = export(
            Path::new("/nonexistent"),
            &query,
            ExportFormat::Csv,
            Vec::new(),
        );
        assert!(matches!(err, Err(ArchiveError::InvalidRange { .. })));
    }

    #[test]
    fn an_unsafe_org_is_refused() {
        let now = Utc::now();
        let query = ExportQuery {
            table: Table::Mentions,
            org: OrgId::new("../etc"),
            from: now,
            to: now + TimeDelta::hours(1),
        };
        let err = export(Path::new("/tmp"), &query, ExportFormat::Csv, Vec::new());
        assert!(matches!(err, Err(ArchiveError::InvalidOrg(_))));
    }
}

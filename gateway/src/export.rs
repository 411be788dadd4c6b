//! `POST /api/v1/reports/export/{parquet,csv,json,ndjson}`: one organisation's rows of one
//! table over a time range, read from the database (the system of record) and streamed
//! as a single file.
//!
//! Everything that can be refused is checked before the first byte: the body, the table,
//! the range and its length (`[export] max_range`), and the first page of the database
//! read, so "database unavailable" is a JSON 503 rather than a broken file. After that
//! the body is chunked and memory stays constant (a page of rows and a 64 KiB buffer at
//! a time); a database error mid-way aborts the response, so the client sees an
//! incomplete transfer, never a truncated file that looks whole.

use std::io::{self, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::mpsc;
use warroom_storage::archive::{ExportFormat, ExportQuery, Table};
use warroom_storage::store_export::{stream_export, StoreRows};

use crate::error::ApiError;
use crate::extract::{OrgScope, RequestMeta, Scoped};
use crate::state::AppState;

/// Bytes gathered before a chunk is sent.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks queued between the encoder and the socket.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// The table.
    #[schema(value_type = crate::openapi::params::ExportTable)]
    table: String,
    /// Start, inclusive (RFC 3339).
    #[schema(format = DateTime)]
    from: String,
    /// End, exclusive (RFC 3339): after `from`, and at most `export.max_range` after it
    /// (400 `invalid_range` or `range_too_long` otherwise).
    #[schema(format = DateTime)]
    to: String,
}

fn format_of(name: &str) -> Option<ExportFormat> {
    match name {
        "parquet" => Some(ExportFormat::Parquet),
        "csv" => Some(ExportFormat::Csv),
        "json" => Some(ExportFormat::JsonArray),
        "ndjson" => Some(ExportFormat::Json),
        _ => None,
    }
}

fn instant(field: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_request(
                "invalid_time",
                format!("{field} must be an RFC 3339 instant such as 2024-05-01T00:00:00Z: {e}"),
            )
        })
}

/// Parses and checks the request against the configured limits.
fn query_of(
    state: &AppState,
    org: warroom_engine::OrgId,
    body: &[u8],
) -> Result<ExportQuery, ApiError> {
    let request: ExportRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("expected {{\"table\", \"from\", \"to\"}}: {e}"),
        )
    })?;
    let table = Table::parse(&request.table).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_table",
            format!(
                "unknown table {:?}; one of mentions, campaign_data, kpi_buckets",
                request.table
            ),
        )
    })?;
    let from = instant("from", &request.from)?;
    let to = instant("to", &request.to)?;
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_range",
            "from must be before to",
        ));
    }
    let max = state.runtime.config().export.max_range;
    let span = (to - from).to_std().unwrap_or_default();
    if span > max {
        return Err(ApiError::bad_request(
            "range_too_long",
            format!(
                "an export covers at most {}; split the range",
                humanize(max)
            ),
        ));
    }
    Ok(ExportQuery {
        table,
        org,
        from,
        to,
    })
}

fn humanize(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(86_400) {
        format!("{} days", secs / 86_400)
    } else {
        format!("{secs} seconds")
    }
}

/// The file name offered to the client: organisation, table and range.
fn file_name(query: &ExportQuery, format: ExportFormat) -> String {
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    format!(
        "{}-{}-{}-{}.{}",
        query.org,
        query.table,
        stamp(query.from),
        stamp(query.to),
        format.extension()
    )
}

/// `POST /api/v1/reports/export/{format}` (every role may read; each export is audited).
#[utoipa::path(
    post,
    path = "/api/v1/reports/export/{format}",
    tag = "reports",
    summary = "Exports one table of the organisation over a time range as one streamed file",
    params(("format" = crate::openapi::params::ExportFormatName, Path, description = "parquet, csv, json (one array) or ndjson")),
    request_body(content = ExportRequest),
    responses(
        (status = 200, description = "the file, streamed (Content-Disposition names it)"),
        (status = 400, description = "bad table, range or body", body = crate::openapi::ErrorResponse),
        (status = 404, description = "unknown format", body = crate::openapi::ErrorResponse),
        (status = 503, description = "database unavailable; Retry-After", body = crate::openapi::ErrorResponse)
    ),
)]
pub async fn export(
    State(state): State<Arc<AppState>>,
    scope: OrgScope,
    meta: RequestMeta,
    Path(format): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Scoped(org, principal, _) = scope;
    let format = format_of(&format).ok_or_else(|| {
        ApiError::not_found(
            "unknown_format",
            format!("no export format {format:?}; one of parquet, csv, json, ndjson"),
        )
    })?;
    let query = query_of(&state, org, &body)?;
    state
        .auth
        .audit(meta.audit_entry(
            &principal,
            "report.export",
            "export",
            Some(query.table.to_string()),
            serde_json::json!({
                "format": format.extension(),
                "data_mode": state.runtime.data_mode().as_str(),
                "from": query.from,
                "to": query.to,
            }),
        ))
        .await;
    let store = Arc::clone(state.runtime.store());
    let page_rows = state.runtime.config().export.page_rows;
    // Only the current data mode's rows: an export never mixes mock and live records.
    let mut rows = StoreRows::new(store, query.clone(), state.runtime.data_mode(), page_rows)
        .map_err(|e| ApiError::bad_request("invalid_export", e.to_string()))?;
    let first = rows.next_page().await.map_err(|e| {
        if e.is_transient() {
            ApiError::unavailable("storage_unavailable", "the database is unavailable", 2)
        } else {
            tracing::error!(error = %e, "export read failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "export_failed",
                "the export could not be read",
            )
        }
    })?;

    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let abort = tx.clone();
    let out = ChunkWriter {
        tx,
        buf: Vec::with_capacity(CHUNK_BYTES),
    };
    let org = query.org.clone();
    let table = query.table;
    tokio::spawn(async move {
        match stream_export(rows, first, format, out, |_| {}).await {
            Ok(stats) => {
                tracing::info!(%org, %table, rows = stats.rows, bytes = stats.bytes, "export streamed");
            }
            Err(e) => {
                tracing::warn!(%org, %table, error = %e, "export aborted");
                // Ends the body with an error: the transfer is incomplete, not short.
                let _ = abort.send(Err(io::Error::other("export aborted"))).await;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let disposition = format!("attachment; filename=\"{}\"", file_name(&query, format));
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A blocking writer that sends 64 KiB chunks to the response body.
struct ChunkWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        // Runs on the encoder's blocking thread: waiting here is the backpressure of a
        // slow client.
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_file_names() {
        assert_eq!(format_of("json"), Some(ExportFormat::JsonArray));
        assert_eq!(format_of("ndjson"), Some(ExportFormat::Json));
        assert_eq!(format_of("xlsx"), None);
        let query = ExportQuery {
            table: Table::Mentions,
            org: warroom_engine::OrgId::new("demo"),
            from: "2024-05-01T00:00:00Z".parse().unwrap(),
            to: "2024-05-02T00:00:00Z".parse().unwrap(),
        };
        assert_eq!(
            file_name(&query, ExportFormat::Parquet),
            "demo-mentions-20240501T000000Z-20240502T000000Z.parquet"
        );
    }
}

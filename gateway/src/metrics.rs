//! `GET /metrics`: the engine's counters and gauges in the Prometheus text exposition
//! format (version 0.0.4), at the root, outside `/api/v1`. No authentication; with
//! `metrics.loopback_only` (the default) only clients connecting from a loopback address
//! get it, others 403. A small hand-written encoder: every value is already an atomic
//! the engine keeps, so a metrics crate would only add a second registry.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use warroom_actors::metrics::{HistogramSnapshot, Rejection};
use warroom_actors::runtime::supervisor::ChildState;
use warroom_engine::HealthStatus;

use crate::error::ApiError;
use crate::extract::RequestMeta;
use crate::state::AppState;

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Builds a text exposition: one `# HELP` and `# TYPE` per family, then its samples.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

impl Exposition {
    /// Starts a family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    /// One sample.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// A histogram family.
    pub fn histogram(&mut self, name: &str, help: &str, h: &HistogramSnapshot) -> &mut Self {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (bound, count) in &h.buckets {
            self.sample(&bucket, &[("le", &number(*bound))], *count as f64);
        }
        self.sample(&bucket, &[("le", "+Inf")], h.count as f64);
        self.sample(&format!("{name}_sum"), &[], h.sum);
        self.sample(&format!("{name}_count"), &[], h.count as f64)
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn status_value(status: HealthStatus) -> f64 {
    match status {
        HealthStatus::Ok => 0.0,
        HealthStatus::Degraded => 1.0,
        HealthStatus::Down => 2.0,
    }
}

/// The live archive's counters and lag.
fn render_archive(e: &mut Exposition, runtime: &warroom_actors::runtime::Runtime) {
    use warroom_storage::archive::Table;
    let task = runtime.archive();
    let s = task.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    e.single(
        "warroom_archive_up",
        "gauge",
        "1 while the live Parquet archive task runs, 0 when it is off or restarting.",
        f64::from(u8::from(s.running.load(Ordering::Relaxed))),
    );
    e.family(
        "warroom_archive_rows_total",
        "counter",
        "Rows archived (published with a completed checkpoint), by table.",
    );
    for table in Table::ALL {
        e.sample(
            "warroom_archive_rows_total",
            &[("table", table.as_str())],
            load(&s.table(table).rows_archived),
        );
    }
    e.family(
        "warroom_archive_lag_rows",
        "gauge",
        "Sequence numbers committed to the database and not archived yet, by table (an upper bound on rows).",
    );
    for table in Table::ALL {
        e.sample(
            "warroom_archive_lag_rows",
            &[("table", table.as_str())],
            s.table(table).rows_behind() as f64,
        );
    }
    if let Some(lag) = s.lag_seconds(runtime.clock().now()) {
        e.single(
            "warroom_archive_lag_seconds",
            "gauge",
            "Seconds since the last instant whose committed rows are all archived and visible.",
            lag,
        );
    }
    e.single(
        "warroom_archive_files_published_total",
        "counter",
        "Parquet files the live archive published.",
        load(&s.files_published),
    );
    e.single(
        "warroom_archive_checkpoints_total",
        "counter",
        "Checkpoints (files published and watermarks saved).",
        load(&s.checkpoints),
    );
    e.single(
        "warroom_archive_failures_total",
        "counter",
        "Archive polls, checkpoints or opens that failed (retried).",
        load(&s.failures),
    );
    e.single(
        "warroom_archive_restarts_total",
        "counter",
        "Times the archive task died and was started again.",
        load(&s.restarts),
    );
}

/// Renders every metric of the engine.
pub fn render(state: &AppState) -> String {
    let runtime = &state.runtime;
    let m = runtime.metrics();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let mut e = Exposition::default();

    e.single(
        "warroom_ingest_requests_accepted_total",
        "counter",
        "Ingest requests answered 202 (REST and incoming webhooks).",
        load(&m.ingest_requests_accepted),
    );
    e.single(
        "warroom_ingest_records_accepted_total",
        "counter",
        "Records in accepted ingest requests.",
        load(&m.ingest_records_accepted),
    );
    e.single(
        "warroom_mock_backfills_running",
        "gauge",
        "Mock history backfills running (first start in MOCK mode, [mock] backfill).",
        m.mock_backfills_running.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "warroom_mock_backfill_mentions_total",
        "counter",
        "Mentions the mock history backfills had acknowledged.",
        load(&m.mock_backfill_mentions),
    );
    e.single(
        "warroom_mock_backfill_campaign_reports_total",
        "counter",
        "Campaign reports the mock history backfills had acknowledged.",
        load(&m.mock_backfill_campaign_reports),
    );
    e.family(
        "warroom_ingest_requests_rejected_total",
        "counter",
        "Ingest requests refused, by reason (invalid: 4xx, unavailable: 503, failed: 500).",
    );
    for (i, reason) in Rejection::ALL.iter().enumerate() {
        e.sample(
            "warroom_ingest_requests_rejected_total",
            &[("reason", reason.as_str())],
            load(&m.ingest_rejected[i]),
        );
    }

    let stats = runtime.stats();
    e.single(
        "warroom_mentions_applied_total",
        "counter",
        "Mentions applied to the windows by the stream operators.",
        load(&stats.mentions_applied),
    );
    e.single(
        "warroom_mentions_too_late_total",
        "counter",
        "Mentions older than every window, counted and dropped by the operators.",
        load(&stats.mentions_too_late),
    );
    e.single(
        "warroom_campaign_reports_total",
        "counter",
        "Campaign reports applied by the operators.",
        load(&stats.campaign_reports),
    );
    e.single(
        "warroom_ingest_in_flight",
        "gauge",
        "Records handed to the operators and not yet applied.",
        stats.in_flight.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "warroom_ingest_in_flight_limit",
        "gauge",
        "engine.max_in_flight: above it ingest answers 503.",
        runtime.config().engine.max_in_flight as f64,
    );

    e.single(
        "warroom_frames_pushed_total",
        "counter",
        "WebSocket frames queued to sockets (one per subscriber reached).",
        load(&m.frames_pushed),
    );
    e.single(
        "warroom_websocket_sessions",
        "gauge",
        "WebSocket sessions open.",
        m.sockets_open.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "warroom_websocket_sessions_opened_total",
        "counter",
        "WebSocket sessions opened since start.",
        load(&m.sockets_opened),
    );

    let persist = runtime.persist_stats();
    e.single(
        "warroom_persist_queue_depth",
        "gauge",
        "Records waiting for the write-behind commit.",
        persist.queued.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "warroom_persist_queue_limit",
        "gauge",
        "database.max_queued: above it ingest answers 503.",
        runtime.config().database.max_queued as f64,
    );
    e.single(
        "warroom_persist_records_committed_total",
        "counter",
        "Records committed to the database.",
        load(&persist.committed),
    );
    e.single(
        "warroom_persist_commits_total",
        "counter",
        "Group commits (batches) to the database.",
        load(&persist.batches),
    );
    e.single(
        "warroom_persist_failures_total",
        "counter",
        "Failed write attempts.",
        load(&persist.failures),
    );
    e.histogram(
        "warroom_persist_commit_seconds",
        "Duration of successful group commits.",
        &persist.commit_latency.snapshot(),
    );

    render_archive(&mut e, runtime);

    e.family(
        "warroom_org_mailbox_depth",
        "gauge",
        "Updates waiting in each organisation actor's mailbox.",
    );
    for (org, depth) in runtime.org_backlogs() {
        e.sample(
            "warroom_org_mailbox_depth",
            &[("org", org.as_str())],
            depth as f64,
        );
    }

    let children = runtime.children().snapshot();
    e.family(
        "warroom_child_state",
        "gauge",
        "Supervised children (sources, organisation actors): 1 for the current state.",
    );
    for (name, status) in &children {
        for (state, label) in [
            (ChildState::Running, "running"),
            (ChildState::Restarting, "restarting"),
            (ChildState::Failed, "failed"),
        ] {
            e.sample(
                "warroom_child_state",
                &[("child", name), ("state", label)],
                f64::from(u8::from(status.state == state)),
            );
        }
    }
    e.family(
        "warroom_child_restarts_total",
        "counter",
        "Restarts of each supervised child.",
    );
    for (name, status) in &children {
        e.sample(
            "warroom_child_restarts_total",
            &[("child", name)],
            status.restarts as f64,
        );
    }

    let hooks = runtime.webhooks();
    let hs = hooks.stats();
    e.single(
        "warroom_webhook_queue_depth",
        "gauge",
        "Outgoing webhook events waiting for the dispatcher.",
        hooks.depth() as f64,
    );
    e.single(
        "warroom_webhook_queue_capacity",
        "gauge",
        "webhooks.queue_capacity.",
        hooks.capacity() as f64,
    );
    e.single(
        "warroom_webhook_deliveries_pending",
        "gauge",
        "Outgoing deliveries started and not finished (including those waiting to retry).",
        hs.pending.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "warroom_webhook_events_enqueued_total",
        "counter",
        "Events queued for outgoing webhooks.",
        load(&hs.enqueued),
    );
    e.single(
        "warroom_webhook_events_dropped_total",
        "counter",
        "Events dropped because the webhook queue was full.",
        load(&hs.dropped),
    );
    e.family(
        "warroom_webhook_deliveries_total",
        "counter",
        "Outgoing deliveries finished, by outcome.",
    );
    e.sample(
        "warroom_webhook_deliveries_total",
        &[("outcome", "delivered")],
        load(&hs.delivered),
    );
    e.sample(
        "warroom_webhook_deliveries_total",
        &[("outcome", "abandoned")],
        load(&hs.gave_up),
    );
    e.sample(
        "warroom_webhook_deliveries_total",
        &[("outcome", "cancelled")],
        load(&hs.cancelled),
    );
    e.single(
        "warroom_webhook_deliveries_resumed_total",
        "counter",
        "Pending outgoing deliveries taken over from the outbox at start.",
        load(&hs.resumed),
    );
    e.single(
        "warroom_webhook_failed_attempts_total",
        "counter",
        "Outgoing delivery attempts that failed (each retry counts).",
        load(&hs.failed_attempts),
    );
    e.family(
        "warroom_webhooks_received_total",
        "counter",
        "Incoming webhooks, by result.",
    );
    for (result, counter) in [
        ("accepted", &m.webhooks_received),
        ("duplicate", &m.webhooks_duplicate),
        ("unauthorized", &m.webhooks_unauthorized),
    ] {
        e.sample(
            "warroom_webhooks_received_total",
            &[("result", result)],
            load(counter),
        );
    }

    let lag = runtime.event_loop_lag();
    e.single(
        "warroom_event_loop_lag_seconds",
        "gauge",
        "How late the event-loop probe last woke up.",
        lag.last().as_secs_f64(),
    );
    e.single(
        "warroom_event_loop_lag_max_seconds",
        "gauge",
        "The largest event-loop lag since start.",
        lag.max().as_secs_f64(),
    );

    let health = runtime.health();
    e.family(
        "warroom_health_status",
        "gauge",
        "Health of each part and overall (0 ok, 1 degraded, 2 down).",
    );
    e.sample(
        "warroom_health_status",
        &[("part", "overall")],
        status_value(health.status),
    );
    for (part, h) in &health.services {
        e.sample(
            "warroom_health_status",
            &[("part", part)],
            status_value(h.status),
        );
    }
    e.single(
        "warroom_uptime_seconds",
        "gauge",
        "Seconds since the engine started.",
        health.uptime_secs as f64,
    );
    e.finish()
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    summary = "Prometheus text-format counters and gauges (loopback clients only by default)",
    responses(
        (status = 200, description = "text/plain; version=0.0.4", body = String),
        (status = 403, description = "client not allowed by metrics settings", body = crate::openapi::ErrorResponse)
    ),
    security(()),
)]
pub async fn metrics(
    State(state): State<Arc<AppState>>,
    meta: RequestMeta,
) -> Result<Response, ApiError> {
    let config = &state.runtime.config().metrics;
    if !config.enabled {
        return Err(ApiError::not_found(
            "not_found",
            "metrics are disabled (metrics.enabled)",
        ));
    }
    // Without connection info (router tests) there is no remote peer to refuse.
    if config.loopback_only && meta.ip.is_some_and(|ip| !ip.to_canonical().is_loopback()) {
        return Err(ApiError::forbidden(
            "metrics_loopback_only",
            "metrics are served to loopback clients only (metrics.loopback_only)",
        ));
    }
    let mut response = render(&state).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_infinities_spelled() {
        let mut e = Exposition::default();
        e.family("x_total", "counter", "x.")
            .sample("x_total", &[("a", "q\"b\\n\nc")], 1.5)
            .sample("x_total", &[], f64::INFINITY);
        let text = e.finish();
        assert!(
            text.contains("x_total{a=\"q\\\"b\\\\n\\nc\"} 1.5\n"),
            "{text}"
        );
        assert!(text.contains("x_total +Inf\n"));
        assert!(text.starts_with("# HELP x_total x.\n# TYPE x_total counter\n"));
    }
}

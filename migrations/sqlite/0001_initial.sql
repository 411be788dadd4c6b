-- War Room schema for embedded SQLite: the same tables, columns and keys as
-- migrations/postgres/0001_initial.sql (read its header for the design), in SQLite types.
--
-- Type mapping, and why:
--   * STRICT tables: SQLite then rejects a value of the wrong type instead of storing it.
--   * Times are INTEGER microseconds since the Unix epoch (UTC), the same precision as
--     TIMESTAMPTZ. Integers compare and index in time order; RFC 3339 text would not
--     (its fraction has a variable number of digits).
--   * Dates are TEXT 'YYYY-MM-DD' (fixed width, so text order is date order).
--   * UUIDs are TEXT in hyphenated form; the application generates them (SQLite has no
--     gen_random_uuid()).
--   * JSON is TEXT (the JSON1 functions read it); booleans are INTEGER 0/1.
--   * The full-text GIN and JSONB GIN indexes have no SQLite counterpart; content search
--     is a substring match here (see storage/src/sql/mod.rs).
-- Default times are now() in microseconds: (julianday(now) - Unix epoch in days) * 86400e6.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    settings    TEXT,
    created_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    updated_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
) STRICT;

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    org_id         TEXT REFERENCES organizations (id),
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL DEFAULT 'user'
                   CHECK (role IN ('platform_admin', 'admin', 'manager', 'user', 'readonly')),
    active         INTEGER NOT NULL DEFAULT 1,
    last_login_at  INTEGER,
    created_at     INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    updated_at     INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    CHECK ((role = 'platform_admin') = (org_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX idx_users_org ON users (org_id);

CREATE TABLE refresh_tokens (
    id           TEXT PRIMARY KEY,
    org_id       TEXT REFERENCES organizations (id),
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id    TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    issued_at    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    replaced_by  TEXT REFERENCES refresh_tokens (id),
    revoked_at   INTEGER,
    ip_address   TEXT,
    user_agent   TEXT
) STRICT;
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE api_keys (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    name                 TEXT NOT NULL,
    key_prefix           TEXT NOT NULL,
    key_hash             TEXT NOT NULL UNIQUE,
    role                 TEXT NOT NULL DEFAULT 'readonly'
                         CHECK (role IN ('admin', 'manager', 'user', 'readonly')),
    rate_limit_per_hour  INTEGER NOT NULL DEFAULT 1000 CHECK (rate_limit_per_hour > 0),
    created_by           TEXT REFERENCES users (id),
    created_at           INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    last_used_at         INTEGER,
    expires_at           INTEGER,
    revoked_at           INTEGER
) STRICT;
CREATE INDEX idx_api_keys_org ON api_keys (org_id);
CREATE INDEX idx_api_keys_prefix ON api_keys (key_prefix);
CREATE INDEX idx_api_keys_created_by ON api_keys (created_by);

CREATE TABLE crisis_events (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    kind             TEXT NOT NULL,
    severity         INTEGER NOT NULL CHECK (severity >= 1 AND severity <= 10),
    status           TEXT NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'acknowledged', 'resolved')),
    detected_at      INTEGER NOT NULL,
    acknowledged_at  INTEGER,
    resolved_at      INTEGER,
    resolution       TEXT,
    metadata         TEXT,
    created_by       TEXT REFERENCES users (id),
    created_at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    updated_at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
) STRICT;
CREATE INDEX idx_crisis_events_org_detected ON crisis_events (org_id, detected_at DESC);
CREATE INDEX idx_crisis_events_open ON crisis_events (org_id) WHERE status <> 'resolved';
CREATE INDEX idx_crisis_events_user ON crisis_events (created_by);

-- `id INTEGER PRIMARY KEY` is the rowid: appends are cheap and (event_time, id) is the
-- keyset cursor, as on Postgres.
CREATE TABLE mentions (
    id                INTEGER PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations (id),
    source            TEXT NOT NULL,
    external_id       TEXT NOT NULL,
    content           TEXT NOT NULL,
    author_handle     TEXT NOT NULL,
    author_name       TEXT,
    author_followers  INTEGER NOT NULL DEFAULT 0,
    author_reach      INTEGER NOT NULL DEFAULT 0,
    country           TEXT,
    region            TEXT,
    language          TEXT,
    hashtags          TEXT NOT NULL DEFAULT '[]',
    url               TEXT,
    sentiment_score   REAL NOT NULL,
    sentiment_pos     REAL NOT NULL,
    sentiment_neu     REAL NOT NULL,
    sentiment_neg     REAL NOT NULL,
    source_sentiment  REAL,
    event_time        INTEGER NOT NULL,
    ingested_at       INTEGER NOT NULL,
    crisis_event_id   TEXT REFERENCES crisis_events (id),
    metadata          TEXT,
    created_at        INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    CONSTRAINT mentions_natural_key UNIQUE (org_id, source, external_id)
) STRICT;
CREATE INDEX idx_mentions_org_event_time ON mentions (org_id, event_time DESC, id DESC);
CREATE INDEX idx_mentions_crisis_event ON mentions (crisis_event_id) WHERE crisis_event_id IS NOT NULL;

CREATE TABLE campaigns (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    platform             TEXT NOT NULL,
    campaign_id          TEXT NOT NULL,
    name                 TEXT NOT NULL,
    currency             TEXT NOT NULL DEFAULT 'USD',
    daily_budget_micros  INTEGER,
    created_at           INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    updated_at           INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    CONSTRAINT campaigns_natural_key UNIQUE (org_id, platform, campaign_id)
) STRICT;

CREATE TABLE campaign_data (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    platform             TEXT NOT NULL,
    campaign_id          TEXT NOT NULL,
    campaign_name        TEXT NOT NULL,
    date_recorded        TEXT NOT NULL,
    impressions          INTEGER NOT NULL,
    clicks               INTEGER NOT NULL,
    spend_micros         INTEGER NOT NULL,
    conversions          REAL NOT NULL,
    reach                INTEGER,
    daily_budget_micros  INTEGER,
    currency             TEXT NOT NULL,
    reported_at          INTEGER NOT NULL,
    metrics              TEXT NOT NULL,
    created_at           INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    CONSTRAINT campaign_data_report_key
        UNIQUE (org_id, platform, campaign_id, date_recorded, reported_at)
) STRICT;
CREATE INDEX idx_campaign_data_date ON campaign_data (org_id, date_recorded DESC);

CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    crisis_event_id  TEXT REFERENCES crisis_events (id),
    kind             TEXT NOT NULL,
    severity         INTEGER NOT NULL CHECK (severity >= 1 AND severity <= 10),
    status           TEXT NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'acknowledged', 'resolved')),
    title            TEXT NOT NULL,
    message          TEXT,
    metadata         TEXT,
    created_at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    acknowledged_at  INTEGER,
    acknowledged_by  TEXT REFERENCES users (id),
    resolved_at      INTEGER,
    resolved_by      TEXT REFERENCES users (id)
) STRICT;
CREATE INDEX idx_alerts_org_created ON alerts (org_id, created_at DESC);
CREATE INDEX idx_alerts_crisis_event ON alerts (crisis_event_id);
CREATE INDEX idx_alerts_acknowledged_by ON alerts (acknowledged_by);
CREATE INDEX idx_alerts_resolved_by ON alerts (resolved_by);

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    filename      TEXT NOT NULL,
    file_path     TEXT NOT NULL,
    content_type  TEXT,
    size_bytes    INTEGER,
    ai_summary    TEXT,
    processed_at  INTEGER,
    uploaded_by   TEXT REFERENCES users (id),
    created_at    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
) STRICT;
CREATE INDEX idx_documents_org_created ON documents (org_id, created_at DESC);
CREATE INDEX idx_documents_uploaded_by ON documents (uploaded_by);

CREATE TABLE reports (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    report_type     TEXT NOT NULL,
    generated_data  TEXT NOT NULL,
    generated_at    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    generated_by    TEXT REFERENCES users (id)
) STRICT;
CREATE INDEX idx_reports_org_generated ON reports (org_id, generated_at DESC);
CREATE INDEX idx_reports_generated_by ON reports (generated_by);

CREATE TABLE performance_logs (
    id                TEXT PRIMARY KEY,
    org_id            TEXT REFERENCES organizations (id),
    service_name      TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    response_time_ms  INTEGER,
    status_code       INTEGER,
    timestamp         INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    metadata          TEXT
) STRICT;
CREATE INDEX idx_performance_logs_timestamp ON performance_logs (timestamp DESC);
CREATE INDEX idx_performance_logs_org ON performance_logs (org_id, timestamp DESC);

CREATE TABLE audit_logs (
    id             TEXT PRIMARY KEY,
    org_id         TEXT REFERENCES organizations (id),
    user_id        TEXT REFERENCES users (id),
    api_key_id     TEXT REFERENCES api_keys (id),
    action         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT,
    details        TEXT,
    ip_address     TEXT,
    user_agent     TEXT,
    timestamp      INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
) STRICT;
CREATE INDEX idx_audit_logs_org_timestamp ON audit_logs (org_id, timestamp DESC);
CREATE INDEX idx_audit_logs_user ON audit_logs (user_id);
CREATE INDEX idx_audit_logs_api_key ON audit_logs (api_key_id);
CREATE INDEX idx_audit_logs_action ON audit_logs (action, timestamp DESC);

CREATE TABLE system_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    updated_by  TEXT REFERENCES users (id)
) STRICT;

CREATE TABLE kpi_minute_buckets (
    org_id             TEXT NOT NULL REFERENCES organizations (id),
    minute             INTEGER NOT NULL,
    mention_count      INTEGER NOT NULL,
    sentiment_sum      REAL NOT NULL,
    positive           INTEGER NOT NULL,
    neutral            INTEGER NOT NULL,
    negative           INTEGER NOT NULL,
    strongly_negative  INTEGER NOT NULL,
    by_source          TEXT NOT NULL,
    sketches           TEXT NOT NULL,
    updated_at         INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    PRIMARY KEY (org_id, minute)
) STRICT, WITHOUT ROWID;

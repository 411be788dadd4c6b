-- War Room schema for PostgreSQL (13 or later: gen_random_uuid() is built in).
--
-- Source: the seed's schema (001_…, section 3.1), its audit trail (5.2) and indexes (7.1),
-- plus multi-tenancy. Every tenant row carries `org_id`, a foreign key to `organizations`,
-- and every tenant index starts with `org_id` so that one organisation's queries never
-- scan another's rows. Differences from the seed, and why:
--   * mentions.id is a BIGINT identity, not a random UUID: appends stay at the right edge
--     of the primary-key B-tree at high insert rates, and (event_time, id) is a stable
--     keyset cursor for paging. The natural key is UNIQUE (org_id, source, external_id),
--     which is what makes re-ingestion idempotent.
--   * mentions.sentiment_score is DOUBLE PRECISION (VADER compound, -1..1) rather than
--     DECIMAL(3,2), which cannot even hold 1.00 and would round every score.
--   * author and location are typed columns (filtered and ranked on); `metadata` JSONB
--     keeps anything a connector delivers beyond the model.
--   * the seed's generic audit_trigger() is not installed: it cannot know the acting user,
--     IP or organisation, and on mentions it would double every write. The application
--     writes audit_logs rows itself (issue 5).
--   * documents is created without the seed's VECTOR(1536) column (pgvector is not
--     available here); embeddings come with the document-intelligence issue as a later
--     migration.
-- Money is integer micro-units (exact); times are TIMESTAMPTZ (microsecond precision).

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY CHECK (id ~ '^[a-z0-9_-]{1,64}$'),
    name        TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    settings    JSONB,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- org_id is NULL only for the platform administrator, who manages organisations.
CREATE TABLE users (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         TEXT REFERENCES organizations (id),
    email          VARCHAR(255) NOT NULL,
    password_hash  VARCHAR(255) NOT NULL,
    role           VARCHAR(50) NOT NULL DEFAULT 'user'
                   CHECK (role IN ('platform_admin', 'admin', 'manager', 'user', 'readonly')),
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    last_login_at  TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CHECK ((role = 'platform_admin') = (org_id IS NULL))
);
-- One account per address on the whole platform, whatever its case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX idx_users_org ON users (org_id);

-- Refresh tokens (issue 5): stored hashed, rotated on every use; reusing a rotated token
-- revokes its whole family.
CREATE TABLE refresh_tokens (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       TEXT REFERENCES organizations (id),
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id    UUID NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    issued_at    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    replaced_by  UUID REFERENCES refresh_tokens (id),
    revoked_at   TIMESTAMPTZ,
    ip_address   INET,
    user_agent   TEXT
);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_expires ON refresh_tokens (expires_at);

-- API keys (issue 5): shown once, stored hashed, scoped to an organisation and a role.
CREATE TABLE api_keys (
    id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    name                 TEXT NOT NULL,
    key_prefix           TEXT NOT NULL,
    key_hash             TEXT NOT NULL UNIQUE,
    role                 VARCHAR(50) NOT NULL DEFAULT 'readonly'
                         CHECK (role IN ('admin', 'manager', 'user', 'readonly')),
    rate_limit_per_hour  INTEGER NOT NULL DEFAULT 1000 CHECK (rate_limit_per_hour > 0),
    created_by           UUID REFERENCES users (id),
    created_at           TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_used_at         TIMESTAMPTZ,
    expires_at           TIMESTAMPTZ,
    revoked_at           TIMESTAMPTZ
);
CREATE INDEX idx_api_keys_org ON api_keys (org_id);
CREATE INDEX idx_api_keys_prefix ON api_keys (key_prefix);
CREATE INDEX idx_api_keys_created_by ON api_keys (created_by);

CREATE TABLE crisis_events (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    kind             VARCHAR(50) NOT NULL,
    severity         INTEGER NOT NULL CHECK (severity >= 1 AND severity <= 10),
    status           VARCHAR(20) NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'acknowledged', 'resolved')),
    detected_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    acknowledged_at  TIMESTAMPTZ,
    resolved_at      TIMESTAMPTZ,
    resolution       TEXT,
    metadata         JSONB,
    created_by       UUID REFERENCES users (id),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_crisis_events_org_detected ON crisis_events (org_id, detected_at DESC);
-- Recovery loads the crises that are not resolved yet: a small partial index.
CREATE INDEX idx_crisis_events_open ON crisis_events (org_id) WHERE status <> 'resolved';
CREATE INDEX idx_crisis_events_user ON crisis_events (created_by);
CREATE INDEX idx_crisis_events_metadata ON crisis_events USING GIN (metadata);

CREATE TABLE mentions (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations (id),
    source            VARCHAR(100) NOT NULL,
    external_id       TEXT NOT NULL,
    content           TEXT NOT NULL,
    author_handle     TEXT NOT NULL,
    author_name       TEXT,
    author_followers  BIGINT NOT NULL DEFAULT 0,
    author_reach      BIGINT NOT NULL DEFAULT 0,
    country           VARCHAR(2),
    region            TEXT,
    language          VARCHAR(16),
    hashtags          JSONB NOT NULL DEFAULT '[]',
    url               TEXT,
    sentiment_score   DOUBLE PRECISION NOT NULL,
    sentiment_pos     DOUBLE PRECISION NOT NULL,
    sentiment_neu     DOUBLE PRECISION NOT NULL,
    sentiment_neg     DOUBLE PRECISION NOT NULL,
    source_sentiment  DOUBLE PRECISION,
    event_time        TIMESTAMPTZ NOT NULL,
    ingested_at       TIMESTAMPTZ NOT NULL,
    crisis_event_id   UUID REFERENCES crisis_events (id),
    metadata          JSONB,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT mentions_natural_key UNIQUE (org_id, source, external_id)
);
-- The seed's time-series index (created_at DESC), per tenant and on event time, which is
-- what windows, recovery and paging read; id breaks ties for the keyset cursor.
CREATE INDEX idx_mentions_org_event_time ON mentions (org_id, event_time DESC, id DESC);
CREATE INDEX idx_mentions_content_search ON mentions USING GIN (to_tsvector('english', content));
CREATE INDEX idx_mentions_crisis_event ON mentions (crisis_event_id) WHERE crisis_event_id IS NOT NULL;
CREATE INDEX idx_mentions_metadata ON mentions USING GIN (metadata);
CREATE INDEX idx_mentions_hashtags ON mentions USING GIN (hashtags jsonb_path_ops);

-- A campaign as the platforms name it; one row per (org, platform, campaign).
CREATE TABLE campaigns (
    id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    platform             VARCHAR(50) NOT NULL,
    campaign_id          VARCHAR(255) NOT NULL,
    name                 TEXT NOT NULL,
    currency             VARCHAR(3) NOT NULL DEFAULT 'USD',
    daily_budget_micros  BIGINT,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT campaigns_natural_key UNIQUE (org_id, platform, campaign_id)
);

-- One row per platform report: platforms restate the running day until it closes, so a
-- day can have several reports; readers take the latest reported_at. Re-sending the same
-- report is ignored by the unique key.
CREATE TABLE campaign_data (
    id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    platform             VARCHAR(50) NOT NULL,
    campaign_id          VARCHAR(255) NOT NULL,
    campaign_name        TEXT NOT NULL,
    date_recorded        DATE NOT NULL,
    impressions          BIGINT NOT NULL,
    clicks               BIGINT NOT NULL,
    spend_micros         BIGINT NOT NULL,
    conversions          DOUBLE PRECISION NOT NULL,
    reach                BIGINT,
    daily_budget_micros  BIGINT,
    currency             VARCHAR(3) NOT NULL,
    reported_at          TIMESTAMPTZ NOT NULL,
    metrics              JSONB NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT campaign_data_report_key
        UNIQUE (org_id, platform, campaign_id, date_recorded, reported_at)
);
CREATE INDEX idx_campaign_data_date ON campaign_data (org_id, date_recorded DESC);
CREATE INDEX idx_campaign_metrics ON campaign_data USING GIN (metrics);

CREATE TABLE alerts (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    crisis_event_id  UUID REFERENCES crisis_events (id),
    kind             VARCHAR(50) NOT NULL,
    severity         INTEGER NOT NULL CHECK (severity >= 1 AND severity <= 10),
    status           VARCHAR(20) NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'acknowledged', 'resolved')),
    title            TEXT NOT NULL,
    message          TEXT,
    metadata         JSONB,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    acknowledged_at  TIMESTAMPTZ,
    acknowledged_by  UUID REFERENCES users (id),
    resolved_at      TIMESTAMPTZ,
    resolved_by      UUID REFERENCES users (id)
);
CREATE INDEX idx_alerts_org_created ON alerts (org_id, created_at DESC);
CREATE INDEX idx_alerts_crisis_event ON alerts (crisis_event_id);
CREATE INDEX idx_alerts_acknowledged_by ON alerts (acknowledged_by);
CREATE INDEX idx_alerts_resolved_by ON alerts (resolved_by);

CREATE TABLE documents (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    filename      VARCHAR(255) NOT NULL,
    file_path     VARCHAR(500) NOT NULL,
    content_type  TEXT,
    size_bytes    BIGINT,
    ai_summary    TEXT,
    processed_at  TIMESTAMPTZ,
    uploaded_by   UUID REFERENCES users (id),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_documents_org_created ON documents (org_id, created_at DESC);
CREATE INDEX idx_documents_uploaded_by ON documents (uploaded_by);

CREATE TABLE reports (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    report_type     VARCHAR(100) NOT NULL,
    generated_data  JSONB NOT NULL,
    generated_at    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    generated_by    UUID REFERENCES users (id)
);
CREATE INDEX idx_reports_org_generated ON reports (org_id, generated_at DESC);
CREATE INDEX idx_reports_generated_by ON reports (generated_by);

-- org_id is NULL for requests that belong to no organisation (health, login).
CREATE TABLE performance_logs (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            TEXT REFERENCES organizations (id),
    service_name      VARCHAR(100) NOT NULL,
    endpoint          VARCHAR(200) NOT NULL,
    response_time_ms  INTEGER,
    status_code       INTEGER,
    timestamp         TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    metadata          JSONB
);
CREATE INDEX idx_performance_logs_timestamp ON performance_logs (timestamp DESC);
CREATE INDEX idx_performance_logs_org ON performance_logs (org_id, timestamp DESC);

-- Seed 5.2 plus the organisation (NULL for platform-level actions such as the global
-- data mode) and the API key that acted, when it was not a user.
CREATE TABLE audit_logs (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         TEXT REFERENCES organizations (id),
    user_id        UUID REFERENCES users (id),
    api_key_id     UUID REFERENCES api_keys (id),
    action         VARCHAR(100) NOT NULL,
    resource_type  VARCHAR(50) NOT NULL,
    resource_id    VARCHAR(255),
    details        JSONB,
    ip_address     INET,
    user_agent     TEXT,
    timestamp      TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_audit_logs_org_timestamp ON audit_logs (org_id, timestamp DESC);
CREATE INDEX idx_audit_logs_user ON audit_logs (user_id);
CREATE INDEX idx_audit_logs_api_key ON audit_logs (api_key_id);
CREATE INDEX idx_audit_logs_action ON audit_logs (action, timestamp DESC);

-- Platform-wide settings, such as the data mode (seed section 6: `system:data_mode`).
CREATE TABLE system_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_by  UUID REFERENCES users (id)
);

-- One row per organisation and event-time minute: the additive aggregates a sliding
-- window is rebuilt from after a restart, plus that minute's top-k sketches (opaque JSON
-- owned by the stream operators). Writers replace the whole row, so rewriting is
-- idempotent. `minute` is the start of the minute (the store checks it is whole).
CREATE TABLE kpi_minute_buckets (
    org_id             TEXT NOT NULL REFERENCES organizations (id),
    minute             TIMESTAMPTZ NOT NULL,
    mention_count      BIGINT NOT NULL,
    sentiment_sum      DOUBLE PRECISION NOT NULL,
    positive           BIGINT NOT NULL,
    neutral            BIGINT NOT NULL,
    negative           BIGINT NOT NULL,
    strongly_negative  BIGINT NOT NULL,
    by_source          JSONB NOT NULL,
    sketches           JSONB NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (org_id, minute)
);

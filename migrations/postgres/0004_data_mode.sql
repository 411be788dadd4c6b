-- Data modes and the outgoing webhook outbox (issue 6).
--
-- Every stored record that feeds windows or KPIs says which data mode (MOCK or LIVE) it
-- was ingested under, so recovery rebuilds only the current mode's windows and KPI reads
-- never mix the two. Rows stored before this migration were written when only the mock
-- generators existed (LIVE connectors arrived with this issue), so they default to 'MOCK'.

ALTER TABLE mentions
    ADD COLUMN data_mode VARCHAR(4) NOT NULL DEFAULT 'MOCK'
        CONSTRAINT mentions_data_mode_check CHECK (data_mode IN ('MOCK', 'LIVE'));
-- Recovery and bucket recomputation read one organisation's mentions of one mode by
-- event time.
CREATE INDEX idx_mentions_org_mode_event_time ON mentions (org_id, data_mode, event_time, id);

ALTER TABLE campaign_data
    ADD COLUMN data_mode VARCHAR(4) NOT NULL DEFAULT 'MOCK'
        CONSTRAINT campaign_data_data_mode_check CHECK (data_mode IN ('MOCK', 'LIVE'));

-- A minute has one bucket per mode: the key gains the mode.
ALTER TABLE kpi_minute_buckets
    ADD COLUMN data_mode VARCHAR(4) NOT NULL DEFAULT 'MOCK'
        CONSTRAINT kpi_minute_buckets_data_mode_check CHECK (data_mode IN ('MOCK', 'LIVE'));
ALTER TABLE kpi_minute_buckets DROP CONSTRAINT kpi_minute_buckets_pkey;
ALTER TABLE kpi_minute_buckets ADD PRIMARY KEY (org_id, data_mode, minute);

-- Outgoing webhook deliveries not finished yet: written before a delivery's first
-- attempt, updated after each attempt, and marked delivered or abandoned at the end. On
-- start the engine re-delivers every pending row (at its next_attempt_at), so queued
-- deliveries and pending retries survive a restart. `id` is the delivery id the receiver
-- sees in X-Warroom-Delivery; `body` is the exact JSON sent on every attempt.
CREATE TABLE webhook_outbox (
    id               UUID PRIMARY KEY,
    webhook_id       UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    event            TEXT NOT NULL,
    body             TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'pending'
        CONSTRAINT webhook_outbox_status_check CHECK (status IN ('pending', 'delivered', 'abandoned')),
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_webhook_outbox_pending ON webhook_outbox (next_attempt_at) WHERE status = 'pending';

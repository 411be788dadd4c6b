-- Webhooks (issue 6): outgoing endpoints configured by an organisation's admins, their
-- delivery log, and the delivery ids of incoming webhooks already applied (idempotency).

-- The secret signs outgoing deliveries (HMAC-SHA256), so it is kept, not hashed; it is
-- shown once when the endpoint is created and never returned again.
CREATE TABLE webhooks (
    id          UUID PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    url         TEXT NOT NULL,
    events      TEXT[] NOT NULL,
    secret      TEXT NOT NULL,
    created_by  UUID REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_webhooks_org ON webhooks (org_id, created_at);

-- One row per delivery attempt.
CREATE TABLE webhook_deliveries (
    id               UUID PRIMARY KEY,
    webhook_id       UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    event            TEXT NOT NULL,
    delivery_id      UUID NOT NULL,
    attempt          INTEGER NOT NULL,
    outcome          TEXT NOT NULL,
    response_status  INTEGER,
    error            TEXT,
    attempted_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_webhook_deliveries_hook ON webhook_deliveries (webhook_id, attempted_at DESC);

-- Incoming deliveries already applied, kept a little longer than the timestamp tolerance
-- (an older delivery is refused by its timestamp anyway).
CREATE TABLE webhook_receipts (
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    service      TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, service, delivery_id)
);
CREATE INDEX idx_webhook_receipts_received ON webhook_receipts (received_at);

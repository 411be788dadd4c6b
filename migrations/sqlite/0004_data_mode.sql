-- Data modes and the outgoing webhook outbox (issue 6); see the Postgres file for the
-- reasoning. Rows stored before this migration default to 'MOCK'.

ALTER TABLE mentions
    ADD COLUMN data_mode TEXT NOT NULL DEFAULT 'MOCK' CHECK (data_mode IN ('MOCK', 'LIVE'));
CREATE INDEX idx_mentions_org_mode_event_time ON mentions (org_id, data_mode, event_time, id);

ALTER TABLE campaign_data
    ADD COLUMN data_mode TEXT NOT NULL DEFAULT 'MOCK' CHECK (data_mode IN ('MOCK', 'LIVE'));

-- SQLite cannot change a primary key in place: the bucket table is rebuilt with the mode
-- in its key (existing rows become MOCK buckets). It keeps the archive's `seq` (0003):
-- rows keep their numbers, and the index and the triggers that number new and changed
-- rows (dropped with the old table) are created again, keyed by the mode too.
CREATE TABLE kpi_minute_buckets_by_mode (
    org_id             TEXT NOT NULL REFERENCES organizations (id),
    data_mode          TEXT NOT NULL DEFAULT 'MOCK' CHECK (data_mode IN ('MOCK', 'LIVE')),
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
    seq                INTEGER,
    PRIMARY KEY (org_id, data_mode, minute)
) STRICT, WITHOUT ROWID;
INSERT INTO kpi_minute_buckets_by_mode (org_id, data_mode, minute, mention_count, sentiment_sum,
    positive, neutral, negative, strongly_negative, by_source, sketches, updated_at, seq)
    SELECT org_id, 'MOCK', minute, mention_count, sentiment_sum, positive, neutral, negative,
    strongly_negative, by_source, sketches, updated_at, seq FROM kpi_minute_buckets;
DROP TABLE kpi_minute_buckets;
ALTER TABLE kpi_minute_buckets_by_mode RENAME TO kpi_minute_buckets;
CREATE UNIQUE INDEX idx_kpi_minute_buckets_seq ON kpi_minute_buckets (seq);
CREATE TRIGGER kpi_minute_buckets_take_seq AFTER INSERT ON kpi_minute_buckets
WHEN NEW.seq IS NULL
BEGIN
    UPDATE archive_sequences SET value = value + 1 WHERE name = 'kpi_minute_buckets';
    UPDATE kpi_minute_buckets
        SET seq = (SELECT value FROM archive_sequences WHERE name = 'kpi_minute_buckets')
        WHERE org_id = NEW.org_id AND data_mode = NEW.data_mode AND minute = NEW.minute;
END;
CREATE TRIGGER kpi_minute_buckets_retake_seq
AFTER UPDATE OF mention_count, sentiment_sum, positive, neutral, negative, strongly_negative
ON kpi_minute_buckets
WHEN OLD.mention_count <> NEW.mention_count
  OR OLD.positive <> NEW.positive
  OR OLD.neutral <> NEW.neutral
  OR OLD.negative <> NEW.negative
  OR OLD.strongly_negative <> NEW.strongly_negative
  OR abs(OLD.sentiment_sum - NEW.sentiment_sum) > 1e-9 * max(1.0, abs(OLD.sentiment_sum))
BEGIN
    UPDATE archive_sequences SET value = value + 1 WHERE name = 'kpi_minute_buckets';
    UPDATE kpi_minute_buckets
        SET seq = (SELECT value FROM archive_sequences WHERE name = 'kpi_minute_buckets')
        WHERE org_id = NEW.org_id AND data_mode = NEW.data_mode AND minute = NEW.minute;
END;

CREATE TABLE webhook_outbox (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    event            TEXT NOT NULL,
    body             TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'abandoned')),
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX idx_webhook_outbox_pending ON webhook_outbox (next_attempt_at) WHERE status = 'pending';

-- Live Parquet archive (issue 4, point 6): the same sequence numbers as
-- migrations/postgres/0003_archive.sql, so the archive task can tail each table
-- (`seq > watermark`).
--
--   * mentions: `id INTEGER PRIMARY KEY` is the rowid, which grows (max + 1) as long as
--     mentions are never deleted (nothing deletes them); nothing to add.
--   * campaign_data and kpi_minute_buckets get `seq`, set by triggers from a counter in
--     `archive_sequences` (a counter, not max(seq) + 1, so a number is never reused).
--     A rewritten KPI minute takes a new number only when its counts changed.
--
-- Existing rows are numbered in the order they were written.
--
-- SQLite commits one write transaction at a time (and the store has one writer
-- connection), so numbers become visible in the order they were taken.

CREATE TABLE archive_sequences (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) STRICT;

ALTER TABLE campaign_data ADD COLUMN seq INTEGER;
UPDATE campaign_data SET seq = numbered.n
    FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM campaign_data) AS numbered
    WHERE numbered.id = campaign_data.id;
INSERT INTO archive_sequences (name, value)
    SELECT 'campaign_data', COALESCE(MAX(seq), 0) FROM campaign_data;
CREATE UNIQUE INDEX idx_campaign_data_seq ON campaign_data (seq);

CREATE TRIGGER campaign_data_take_seq AFTER INSERT ON campaign_data
WHEN NEW.seq IS NULL
BEGIN
    UPDATE archive_sequences SET value = value + 1 WHERE name = 'campaign_data';
    UPDATE campaign_data
        SET seq = (SELECT value FROM archive_sequences WHERE name = 'campaign_data')
        WHERE id = NEW.id;
END;

ALTER TABLE kpi_minute_buckets ADD COLUMN seq INTEGER;
UPDATE kpi_minute_buckets SET seq = numbered.n
    FROM (SELECT org_id, minute, row_number() OVER (ORDER BY updated_at, org_id, minute) AS n
          FROM kpi_minute_buckets) AS numbered
    WHERE numbered.org_id = kpi_minute_buckets.org_id
      AND numbered.minute = kpi_minute_buckets.minute;
INSERT INTO archive_sequences (name, value)
    SELECT 'kpi_minute_buckets', COALESCE(MAX(seq), 0) FROM kpi_minute_buckets;
CREATE UNIQUE INDEX idx_kpi_minute_buckets_seq ON kpi_minute_buckets (seq);

CREATE TRIGGER kpi_minute_buckets_take_seq AFTER INSERT ON kpi_minute_buckets
WHEN NEW.seq IS NULL
BEGIN
    UPDATE archive_sequences SET value = value + 1 WHERE name = 'kpi_minute_buckets';
    UPDATE kpi_minute_buckets
        SET seq = (SELECT value FROM archive_sequences WHERE name = 'kpi_minute_buckets')
        WHERE org_id = NEW.org_id AND minute = NEW.minute;
END;

-- The tolerance on the float sum: a recomputation in another order may differ in its last
-- bits, which is not a change worth a restatement (mentions are insert-only, so a real
-- change always changes a count).
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
        WHERE org_id = NEW.org_id AND minute = NEW.minute;
END;

-- Live Parquet archive (issue 4, point 6): every archived table gets a sequence number
-- that only grows, so the archive task can tail it (`seq > watermark`).
--
--   * mentions: its BIGINT identity `id` already is one; nothing to add.
--   * campaign_data: its ids are random UUIDs, so it gets `seq` from its own sequence.
--   * kpi_minute_buckets: rows are rewritten in place (recomputed by the KPI flush), so
--     `seq` is taken again whenever a rewrite changes the counts (see the upsert in
--     storage/src/sql/postgres.rs): a changed minute is archived again as a restatement.
--
-- Sequence values are taken when a row is written, not when its transaction commits, so
-- two concurrent writers could commit out of order and a reader could see seq 11 before
-- seq 10 exists. The writers of these tables take the shared advisory lock
-- `pg_advisory_xact_lock_shared(<archive lock>)` in the same statement, and the archive
-- takes it exclusively while it reads the highest committed `seq`: at that instant no
-- writer is between taking a number and committing, so every row at or below the value
-- read is visible (storage/src/sql/postgres.rs, `archive_high_water`).
-- Existing rows are numbered in table order.

CREATE SEQUENCE campaign_data_seq;
ALTER TABLE campaign_data ADD COLUMN seq BIGINT NOT NULL DEFAULT nextval('campaign_data_seq');
ALTER SEQUENCE campaign_data_seq OWNED BY campaign_data.seq;
CREATE UNIQUE INDEX idx_campaign_data_seq ON campaign_data (seq);

CREATE SEQUENCE kpi_minute_buckets_seq;
ALTER TABLE kpi_minute_buckets
    ADD COLUMN seq BIGINT NOT NULL DEFAULT nextval('kpi_minute_buckets_seq');
ALTER SEQUENCE kpi_minute_buckets_seq OWNED BY kpi_minute_buckets.seq;
CREATE UNIQUE INDEX idx_kpi_minute_buckets_seq ON kpi_minute_buckets (seq);

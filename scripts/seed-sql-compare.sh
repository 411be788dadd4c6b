#!/usr/bin/env bash
# seed-sql-compare.sh: the seed's dashboard KPI query on PostgreSQL versus the engine's
# GET /api/v1/metrics/dashboard, over the same data set.
#
# What it does, all on loopback:
#   1. builds `warroom` and `examples/dataset.rs` (release);
#   2. generates N realistic mock mentions (one organisation's MentionGenerator, seed 42,
#      event times spread evenly over the last 7 days minus an hour) as NDJSON for the
#      engine and CSV for Postgres, scored with the engine's VADER (the seed's
#      DECIMAL(3,2) sentiment_score: compound rounded to 2 decimals);
#   3. creates database $DB on 127.0.0.1:$PGPORT (trust auth), the seed's schema
#      (section 3.1: users, crisis_events, mentions), loads the rows with \copy, then
#      creates the seed's indexes on mentions (section 7.1: created_at DESC, the GIN
#      full-text index on content, crisis_event_id, GIN on metadata) and VACUUM ANALYZEs;
#   4. times the seed's dashboard query (section 7.2) $SQL_RUNS times with psql \timing
#      (client round trip) and once with EXPLAIN (ANALYZE, BUFFERS); reports the median;
#   5. starts `warroom serve` with one organisation, no mock mention feed and its SQLite
#      store in the temporary directory (ingest is acknowledged after commit), ingests the
#      same mentions with POST /api/v1/ingest/mentions in batches of $BATCH (waiting out
#      503 + Retry-After), waits until the 7d KPIs hold all N, then times
#      $HTTP_RUNS GET /api/v1/metrics/dashboard requests on one keep-alive connection
#      (curl %{time_total}); reports median and p90;
#   6. prints both answers (mentions_24h, avg_sentiment, active_crises) and timings, then
#      drops the database, stops the server and removes its temporary files.
#
# Usage:  scripts/seed-sql-compare.sh [N]            (default N=1000000)
# Environment (all optional):
#   PGUSER (postgres, falls back to root)  PGPORT (5432)  DB (warroom_bench)
#   SQL_RUNS (11)  HTTP_RUNS (200)  BATCH (5000)  KEEP=1 keeps the temporary directory
#   CARGO_TARGET_DIR (target/)  SKIP_BUILD=1 uses the binaries already built
#
# Notes: mentions_24h differs slightly between the two because each side evaluates
# "now" at its own query time; Postgres averages the 2-decimal scores, the engine the
# full-precision compound. crisis_event_id is NULL for every row (no crisis in the data
# set) and the organisation's negative-surge threshold is raised so that the engine does
# not raise one either: both answer active_crises = 0.
set -euo pipefail

N=${1:-1000000}
PGHOST=127.0.0.1
PGPORT=${PGPORT:-5432}
DB=${DB:-warroom_bench}
SQL_RUNS=${SQL_RUNS:-11}
HTTP_RUNS=${HTTP_RUNS:-200}
BATCH=${BATCH:-5000}
ORG=harbor-city
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export PGHOST PGPORT

if [[ -z ${PGUSER:-} ]]; then
    if psql -X -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then PGUSER=postgres; else PGUSER=root; fi
fi
export PGUSER

WORK=$(mktemp -d /tmp/seed-sql-compare.XXXXXX)
SERVER_PID=
DB_CREATED=

cleanup() {
    local status=$?
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n $DB_CREATED ]]; then
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    fi
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

secs() { printf '%.2f' "$(echo "$(date +%s.%N) - $1" | bc)"; }
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
# Median (and p90) of one number per line on stdin.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p90() { sort -g | awk '{a[NR]=$1} END {i=int(NR*0.9+0.5); if (i<1) i=1; print a[i]}'; }

# 1. Build.
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building warroom and the dataset example (release)"
    (cd "$ROOT" && cargo build --release -q -p warroom --bin warroom --example dataset)
fi
WARROOM=$TARGET/release/warroom
DATASET=$TARGET/release/examples/dataset

# 2. Data set: both files describe the same mentions.
END_MS=$(($(date +%s%N) / 1000000))
log "generating $N mentions"
t0=$(date +%s.%N)
"$DATASET" --count "$N" --end-ms "$END_MS" --org "$ORG" \
    --ndjson "$WORK/mentions.ndjson" --csv "$WORK/mentions.csv" 2>"$WORK/dataset.txt"
log "generated in $(secs "$t0") s: $(cat "$WORK/dataset.txt")"

# 3. Postgres: the seed's schema, the data, the seed's indexes.
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
DB_CREATED=1
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DB")
"${PSQL[@]}" <<'SQL'
-- Seed 001, section 3.1 (the tables `mentions` depends on).
CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email VARCHAR(255) UNIQUE NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role VARCHAR(50) DEFAULT 'user',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
CREATE TABLE crisis_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    severity INTEGER CHECK (severity >= 1 AND severity <= 10),
    status VARCHAR(20) DEFAULT 'active' CHECK (status IN ('active', 'acknowledged', 'resolved')),
    detected_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    resolved_at TIMESTAMP WITH TIME ZONE,
    metadata JSONB,
    created_by UUID REFERENCES users(id)
);
CREATE TABLE mentions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    source VARCHAR(100) NOT NULL,
    content TEXT NOT NULL,
    sentiment_score DECIMAL(3,2),
    location JSONB,
    influencer_data JSONB,
    crisis_event_id UUID REFERENCES crisis_events(id),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    metadata JSONB
);
SQL
log "loading into Postgres ($PGUSER@$PGHOST:$PGPORT/$DB)"
t0=$(date +%s.%N)
"${PSQL[@]}" -c "\\copy mentions (source, content, sentiment_score, location, influencer_data, created_at, metadata) FROM '$WORK/mentions.csv' WITH (FORMAT csv)"
LOAD_S=$(secs "$t0")
log "loaded in $LOAD_S s; creating the seed's indexes"
t0=$(date +%s.%N)
"${PSQL[@]}" <<'SQL'
-- Seed 001, section 7.1: the indexes on `mentions`.
CREATE INDEX idx_mentions_created_at ON mentions (created_at DESC);
CREATE INDEX idx_mentions_content_search ON mentions USING GIN (to_tsvector('english', content));
CREATE INDEX idx_mentions_crisis_event ON mentions (crisis_event_id);
CREATE INDEX idx_mentions_metadata ON mentions USING GIN (metadata);
VACUUM ANALYZE mentions;
SQL
INDEX_S=$(secs "$t0")
log "indexes and VACUUM ANALYZE in $INDEX_S s; table $("${PSQL[@]}" -Atc "SELECT pg_size_pretty(pg_total_relation_size('mentions'))") with indexes"

# 4. The seed's dashboard query, section 7.2, verbatim.
QUERY="SELECT
  COUNT(*) FILTER (WHERE created_at >= NOW() - INTERVAL '24 hours') as mentions_24h,
  AVG(sentiment_score) as avg_sentiment,
  COUNT(DISTINCT crisis_event_id) FILTER (WHERE crisis_event_id IS NOT NULL) as active_crises
FROM mentions
WHERE created_at >= NOW() - INTERVAL '7 days';"
log "timing the seed query ($SQL_RUNS runs)"
{
    echo '\timing on'
    for _ in $(seq "$SQL_RUNS"); do echo "$QUERY"; done
} | "${PSQL[@]}" -At >"$WORK/sql.txt"
SQL_ANSWER=$(grep -v '^Time:' "$WORK/sql.txt" | tail -1 | sed 's/\(\.[0-9]\{8\}\)[0-9]*/\1/')
grep '^Time:' "$WORK/sql.txt" | awk '{print $2}' >"$WORK/sql-ms.txt"
SQL_FIRST=$(head -1 "$WORK/sql-ms.txt")
SQL_MEDIAN=$(tail -n +2 "$WORK/sql-ms.txt" | median)
SQL_MIN=$(sort -g "$WORK/sql-ms.txt" | head -1)
"${PSQL[@]}" -c "EXPLAIN (ANALYZE, BUFFERS) $QUERY" >"$WORK/explain.txt"
EXPLAIN_MS=$(awk '/Execution Time/ {print $3}' "$WORK/explain.txt")

# 5. The engine: one organisation, no mock mention feed.
cat >"$WORK/warroom.toml" <<TOML
[server]
bind = "127.0.0.1:0"
max_records_per_request = 10000

[log]
filter = "warn"

# The engine's own system of record (acknowledges ingest after commit): a SQLite file in
# the temporary directory, so nothing is left behind and no earlier data is recovered.
[database]
url = "sqlite://$WORK/warroom.db"

[[orgs]]
id = "$ORG"
name = "Seed SQL comparison"
mentions_per_second = 0.0
negative_threshold = 1000000000
TOML
log "starting warroom serve"
"$WARROOM" --config "$WORK/warroom.toml" serve 2>"$WORK/server.log" &
SERVER_PID=$!
BASE=
for _ in $(seq 100); do
    BASE=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$WORK/server.log" | head -1)
    [[ -n $BASE ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
done
[[ -n $BASE ]] || { echo "the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }
log "server at $BASE (pid $SERVER_PID); ingesting in batches of $BATCH"

split -l "$BATCH" -d -a 5 "$WORK/mentions.ndjson" "$WORK/chunk."
RETRIES=0
t0=$(date +%s.%N)
for chunk in "$WORK"/chunk.*; do
    while :; do
        code=$(curl -sS -o "$WORK/resp.json" -D "$WORK/resp.headers" -w '%{http_code}' \
            -H "X-Warroom-Org: $ORG" -H 'Content-Type: application/x-ndjson' \
            --data-binary "@$chunk" "$BASE/api/v1/ingest/mentions")
        if [[ $code == 202 ]]; then break; fi
        if [[ $code == 503 ]]; then
            RETRIES=$((RETRIES + 1))
            wait_s=$(awk -F': *' 'tolower($1)=="retry-after" {gsub(/\r/, "", $2); print $2}' "$WORK/resp.headers")
            sleep "${wait_s:-1}"
            continue
        fi
        echo "ingest answered $code: $(head -c 500 "$WORK/resp.json")" >&2
        exit 1
    done
done
INGEST_S=$(secs "$t0")
rm -f "$WORK"/chunk.*
log "ingested in $INGEST_S s ($RETRIES × 503); waiting for the KPIs"
DASH="$BASE/api/v1/metrics/dashboard?org=$ORG"
for _ in $(seq 600); do
    seen=$(curl -sS "$DASH&window=7d" | jq '.kpis.mention_count')
    [[ $seen == "$N" ]] && break
    sleep 0.2
done
[[ $seen == "$N" ]] || { echo "KPIs show $seen of $N mentions" >&2; exit 1; }
KPI_S=$(secs "$t0")
log "KPIs hold all $N mentions $KPI_S s after the first request; timing the dashboard ($HTTP_RUNS requests)"

# One curl process, one keep-alive connection; -o applies to one URL each.
URLS=()
for _ in $(seq "$HTTP_RUNS"); do URLS+=(-o /dev/null "$DASH"); done
curl -sS -w '%{time_total}\n' "${URLS[@]}" >"$WORK/http-s.txt"
HTTP_MEDIAN=$(median <"$WORK/http-s.txt" | awk '{printf "%.3f", $1 * 1000}')
HTTP_P90=$(p90 <"$WORK/http-s.txt" | awk '{printf "%.3f", $1 * 1000}')
HTTP_BYTES=$(curl -sS "$DASH" | wc -c)
ENGINE_ANSWER=$(curl -sS "$DASH" | jq -r '"\(.mentions_24h)|\(.avg_sentiment)|\(.active_crises)"')
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")

# 6. Report.
cat <<REPORT

== seed dashboard query vs engine, N=$N mentions over 7 days ==
data set:    $(cat "$WORK/dataset.txt")
postgres:    load (\\copy) ${LOAD_S} s, seed indexes + VACUUM ANALYZE ${INDEX_S} s
             answer mentions_24h|avg_sentiment|active_crises = $SQL_ANSWER
             psql \\timing: first ${SQL_FIRST} ms, median of the next $((SQL_RUNS - 1)) ${SQL_MEDIAN} ms, min ${SQL_MIN} ms
             EXPLAIN ANALYZE execution time ${EXPLAIN_MS} ms
engine:      ingest ${INGEST_S} s ($RETRIES × 503), KPIs complete ${KPI_S} s after the first request
             answer mentions_24h|avg_sentiment|active_crises = $ENGINE_ANSWER
             GET /api/v1/metrics/dashboard (${HTTP_BYTES} bytes): median ${HTTP_MEDIAN} ms, p90 ${HTTP_P90} ms over $HTTP_RUNS requests
             server RSS $((RSS_KB / 1024)) MiB
REPORT
echo
echo "EXPLAIN (ANALYZE, BUFFERS):"
cat "$WORK/explain.txt"

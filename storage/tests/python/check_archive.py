"""Reads War Room archive files with DuckDB and pyarrow and checks them against what
the Rust test wrote.

Run by storage/tests/archive.rs (test `duckdb_and_pyarrow_read_the_archive`) as
`python check_archive.py EXPECT.json`; EXPECT.json names the archive root, the export
files and the expected counts and sums. Exits non-zero with a message on the first
mismatch.
"""

import json
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def check(what, got, want):
    if got != want:
        sys.exit(f"MISMATCH {what}: got {got!r}, want {want!r}")
    print(f"ok {what}: {got!r}")


def rows(con, sql):
    return con.execute(sql).fetchall()


def one(con, sql):
    return rows(con, sql)[0]


def duckdb_checks(spec):
    con = duckdb.connect()
    exp, want = spec["exports"], spec["expected"]
    root = Path(spec["archive_root"])
    org = spec["org"]

    # The exported single files.
    m = f"read_parquet('{exp['mentions']}')"
    check("duckdb export mentions rows", one(con, f"select count(*) from {m}")[0],
          want["mentions_rows"])
    per_source = dict(rows(con, f"select source, count(*) from {m} group by source"))
    check("duckdb export mentions per source", per_source, want["mentions_per_source"])
    check("duckdb export mentions orgs", rows(con, f"select distinct org_id from {m}"),
          [(org,)])
    types = dict((r[0], r[1]) for r in rows(con, f"describe select * from {m}"))
    check("duckdb type event_time", types["event_time"], "TIMESTAMP WITH TIME ZONE")
    check("duckdb type hashtags", types["hashtags"], "VARCHAR[]")
    check("duckdb type source", types["source"], "VARCHAR")
    check("duckdb type author_followers", types["author_followers"], "BIGINT")
    check("duckdb type sentiment_compound", types["sentiment_compound"], "DOUBLE")
    tags = one(con, f"select sum(len(hashtags)) from {m}")[0]
    check("duckdb export hashtags total", int(tags), want["hashtags_total"])
    span = one(con, f"select min(epoch_us(event_time)), max(epoch_us(event_time)) from {m}")
    if not (want["from_us"] <= span[0] and span[1] < want["to_us"]):
        sys.exit(f"MISMATCH duckdb event_time range: {span} outside [{want['from_us']}, {want['to_us']})")
    print("ok duckdb export event_time within range")

    c = f"read_parquet('{exp['campaign_data']}')"
    spend = one(con, f"select sum(spend) from {c}")[0]
    check("duckdb export total spend (exact)", spend, Decimal(want["spend_total"]))
    ctypes = dict((r[0], r[1]) for r in rows(con, f"describe select * from {c}"))
    check("duckdb type spend", ctypes["spend"], "DECIMAL(18,6)")
    check("duckdb type date", ctypes["date"], "DATE")
    check("duckdb type reported_at", ctypes["reported_at"], "TIMESTAMP WITH TIME ZONE")
    check("duckdb export campaign rows", one(con, f"select count(*) from {c}")[0],
          want["campaign_rows"])

    k = f"read_parquet('{exp['kpi_buckets']}')"
    check("duckdb export kpi mention sum",
          int(one(con, f"select sum(mention_count) from {k}")[0]), want["mentions_rows"])
    check("duckdb export kpi source_reddit sum",
          int(one(con, f"select sum(source_reddit) from {k}")[0]),
          want["mentions_per_source"].get("reddit", 0))

    # The hive-partitioned tree.
    hm = f"read_parquet('{root}/mentions/*/*/*.parquet', hive_partitioning=true)"
    check("duckdb hive mentions rows per org",
          dict(rows(con, f"select org_id, count(*) from {hm} group by org_id")),
          want["archive_mentions_per_org"])
    htypes = dict((r[0], r[1]) for r in rows(con, f"describe select * from {hm}"))
    check("duckdb hive type date", htypes["date"], "DATE")
    check("duckdb hive type org_id", htypes["org_id"], "VARCHAR")
    check("duckdb hive type event_time", htypes["event_time"], "TIMESTAMP WITH TIME ZONE")
    hc = f"read_parquet('{root}/campaign_data/*/*/*.parquet', hive_partitioning=true)"
    check("duckdb hive spend of org (exact)",
          one(con, f"select sum(spend) from {hc} where org_id = '{org}'")[0],
          Decimal(want["archive_spend_of_org"]))
    check("duckdb hive campaign days",
          one(con, f"select count(distinct date) from {hc} where org_id = '{org}'")[0],
          want["archive_campaign_days_of_org"])


def pyarrow_checks(spec):
    exp, want = spec["exports"], spec["expected"]
    root = Path(spec["archive_root"])
    org = spec["org"]
    dict_str = pa.dictionary(pa.int32(), pa.string())

    m = pq.read_table(exp["mentions"])
    check("pyarrow export mentions rows", m.num_rows, want["mentions_rows"])
    check("pyarrow type event_time", m.schema.field("event_time").type, pa.timestamp("us", tz="UTC"))
    check("pyarrow type source", m.schema.field("source").type, dict_str)
    check("pyarrow type org_id", m.schema.field("org_id").type, dict_str)
    check("pyarrow type hashtags", pa.types.is_list(m.schema.field("hashtags").type)
          and m.schema.field("hashtags").type.value_type == pa.string(), True)
    counts = {}
    for s in m.column("source").to_pylist():
        counts[s] = counts.get(s, 0) + 1
    check("pyarrow export mentions per source", counts, want["mentions_per_source"])

    c = pq.read_table(exp["campaign_data"])
    check("pyarrow type spend", c.schema.field("spend").type, pa.decimal128(18, 6))
    check("pyarrow type date", c.schema.field("date").type, pa.date32())
    check("pyarrow export total spend (exact)", sum(c.column("spend").to_pylist(), Decimal(0)),
          Decimal(want["spend_total"]))

    k = pq.read_table(exp["kpi_buckets"])
    check("pyarrow type minute", k.schema.field("minute").type, pa.timestamp("us", tz="UTC"))
    check("pyarrow export kpi mention sum", sum(k.column("mention_count").to_pylist()),
          want["mentions_rows"])

    part = ds.partitioning(pa.schema([("org_id", pa.string()), ("date", pa.date32())]), flavor="hive")
    hm = ds.dataset(root / "mentions", format="parquet", partitioning=part)
    per_org = {}
    for o in hm.to_table(columns=["org_id"]).column("org_id").to_pylist():
        per_org[o] = per_org.get(o, 0) + 1
    check("pyarrow hive mentions rows per org", per_org, want["archive_mentions_per_org"])
    hc = ds.dataset(root / "campaign_data", format="parquet", partitioning=part)
    t = hc.to_table(filter=ds.field("org_id") == org)
    check("pyarrow hive spend of org (exact)", sum(t.column("spend").to_pylist(), Decimal(0)),
          Decimal(want["archive_spend_of_org"]))
    # Default discovery (hive inferred) must read the tree too.
    check("pyarrow read_table(tree) kpi rows", pq.read_table(root / "kpi_buckets").num_rows,
          want["archive_kpi_rows"])


def main():
    spec = json.loads(Path(sys.argv[1]).read_text())
    print(f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}")
    duckdb_checks(spec)
    pyarrow_checks(spec)
    print("all checks passed")


if __name__ == "__main__":
    main()

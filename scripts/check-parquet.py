#!/usr/bin/env python3
"""Checks a `--parquet DIR` against the JSONL (and SQLite) outputs of the same replay.

usage: check-parquet.py PARQUET_DIR OUT_DIR [SQLITE_DB]

- pyarrow reads every dataset (hive partitions): its rows equal the JSONL's, every column;
- DuckDB's read_parquet(..., hive_partitioning=true) row counts and payload bytes per device
  equal the JSONL's;
- DuckDB's answers to "bytes to WhatsApp per device per hour", "distinct JA4 per device" and
  "endpoints contacted during calls" equal SQLite's (docs/queries.md).
Exits non-zero on the first difference. Used by tests/parquet_output.rs.
"""
import json
import os
import sqlite3
import sys
from collections import Counter, defaultdict

import duckdb
import pyarrow.dataset as ds

WHOLE_SECONDS = {"not_before", "not_after", "hour"}
JSON_TEXT = {"activities"}


def norm(name, v):
    """A pyarrow value as the JSONL writes it (None: field left out)."""
    if v is None:
        return None
    if hasattr(v, "timestamp"):
        us = (v - v.replace(year=1970, month=1, day=1, hour=0, minute=0, second=0, microsecond=0))
        us = us.days * 86_400_000_000 + us.seconds * 1_000_000 + us.microseconds
        return us // 1_000_000 if name in WHOLE_SECONDS else us / 1e6
    if name in JSON_TEXT:
        return json.loads(v)
    if isinstance(v, list):
        return [norm(name, x) for x in v]
    if isinstance(v, dict):
        return {k: n for k, n in ((k, norm(k, x)) for k, x in v.items()) if n is not None}
    return v


def canon(v):
    if isinstance(v, float):
        return "%.15e" % v
    if isinstance(v, list):
        return [canon(x) for x in v]
    if isinstance(v, dict):
        return {k: canon(x) for k, x in sorted(v.items())}
    return v


def key(row):
    return json.dumps(canon(row), sort_keys=True)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    pq, out = sys.argv[1], sys.argv[2]
    db = sys.argv[3] if len(sys.argv) > 3 else None
    want = defaultdict(list)
    for line in open(os.path.join(out, "flows.jsonl")):
        want["flows"].append(json.loads(line))
    for line in open(os.path.join(out, "events.jsonl")):
        e = json.loads(line)
        want["events/" + e.pop("kind")].append(e)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, rows in sorted(want.items()):
        path = os.path.join(pq, name)
        if not os.path.isdir(path):
            fail(f"{name}: no dataset")
        table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
        got = [norm("", {k: v for k, v in r.items() if k != "date"}) for r in table.to_pylist()]
        if Counter(map(key, got)) != Counter(map(key, rows)):
            missing = set(map(key, rows)) - set(map(key, got))
            fail(f"{name}: pyarrow rows differ, e.g. {sorted(missing)[:1]}")
        glob = os.path.join(path, "**", "*.parquet")
        (n,) = con.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = true)", [glob]
        ).fetchone()
        if n != len(rows):
            fail(f"{name}: DuckDB counts {n}, JSONL {len(rows)}")
        # The partition column is the UTC date of ts.
        (bad,) = con.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = true) "
            "WHERE CAST(date AS DATE) <> CAST(ts AT TIME ZONE 'UTC' AS DATE)",
            [glob],
        ).fetchone()
        if bad:
            fail(f"{name}: {bad} rows in the wrong date partition")
        print(f"{name}: {n} rows")

    flows_glob = os.path.join(pq, "flows", "**", "*.parquet")
    per_device = defaultdict(lambda: [0, 0])
    for f in want["flows"]:
        d = per_device[f.get("device")]
        d[0] += f["orig_bytes"]
        d[1] += f["resp_bytes"]
    got = {
        dev: [up, down]
        for dev, up, down in con.execute(
            "SELECT device, sum(orig_bytes), sum(resp_bytes) FROM read_parquet(?, hive_partitioning = true) GROUP BY device",
            [flows_glob],
        ).fetchall()
    }
    if got != dict(per_device):
        fail(f"bytes per device: DuckDB {got}, JSONL {dict(per_device)}")
    print(f"bytes per device: {len(got)} devices agree")

    if db:
        question = "bytes to WhatsApp per device per hour"
        lite = sqlite3.connect(db).execute(
            "SELECT device, hour, count(*), sum(orig_bytes), sum(resp_bytes) FROM flows "
            "WHERE service = 'whatsapp' GROUP BY device, hour ORDER BY device, hour"
        ).fetchall()
        duck = con.execute(
            "SELECT device, epoch(date_trunc('hour', ts))::BIGINT AS hour, count(*), "
            "sum(orig_bytes), sum(resp_bytes) FROM read_parquet(?, hive_partitioning = true) "
            "WHERE service = 'whatsapp' GROUP BY device, hour ORDER BY device, hour",
            [flows_glob],
        ).fetchall()
        if [tuple(r) for r in lite] != [tuple(r) for r in duck]:
            fail(f"{question}: SQLite {lite[:3]}…, DuckDB {duck[:3]}…")
        print(f"{question}: {len(duck)} rows, DuckDB = SQLite")
        question = "distinct JA4 per device"
        lite = sqlite3.connect(db).execute(
            "SELECT device, count(DISTINCT ja4) FROM flows WHERE ja4 IS NOT NULL "
            "GROUP BY device ORDER BY device"
        ).fetchall()
        duck = con.execute(
            "SELECT device, count(DISTINCT ja4) FROM read_parquet(?, hive_partitioning = true) "
            "WHERE ja4 IS NOT NULL GROUP BY device ORDER BY device",
            [flows_glob],
        ).fetchall()
        if [tuple(r) for r in lite] != [tuple(r) for r in duck] or not duck:
            fail(f"{question}: SQLite {lite}, DuckDB {duck}")
        print(f"{question}: {len(duck)} devices, DuckDB = SQLite")
        question = "endpoints contacted during calls"
        lite = sqlite3.connect(db).execute(SQLITE_CALL_ENDPOINTS).fetchall()
        activity_glob = os.path.join(pq, "events", "activity", "**", "*.parquet")
        duck = []
        if os.path.isdir(os.path.join(pq, "events", "activity")):
            duck = con.execute(DUCKDB_CALL_ENDPOINTS, [activity_glob, flows_glob]).fetchall()
        calls = [e for e in want["events/activity"] if e["activity"] == "call"]
        # NULL endpoints sort differently in the two engines: compare as sorted text.
        if sorted(map(repr, lite)) != sorted(map(repr, duck)) or (calls and not duck):
            fail(f"{question}: SQLite {lite[:3]}, DuckDB {duck[:3]}")
        print(f"{question}: {len(calls)} calls, {len(duck)} endpoints, DuckDB = SQLite")


# Flows of the calling device that overlap the call (answer to hang-up), per remote endpoint.
# The same text is in docs/queries.md.
SQLITE_CALL_ENDPOINTS = """
WITH calls AS (
  SELECT device, ts, json_extract(json, '$.end') AS "end" FROM events
  WHERE kind = 'activity' AND json_extract(json, '$.activity') = 'call')
SELECT c.device, c.ts AS call_start, f.proto, f.resp_h, f.resp_p, f.service, f.endpoint,
       count(*) AS flows, sum(f.orig_bytes + f.resp_bytes) AS bytes
FROM calls c JOIN flows f
  ON f.device = c.device AND f.ts <= c."end" AND f.ts + f.duration >= c.ts
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""
DUCKDB_CALL_ENDPOINTS = """
WITH calls AS (
  SELECT device, ts, "end" FROM read_parquet(?, hive_partitioning = true)
  WHERE activity = 'call')
SELECT c.device, epoch_us(c.ts) / 1e6 AS call_start, f.proto, f.resp_h, f.resp_p, f.service, f.endpoint,
       count(*) AS flows, sum(f.orig_bytes + f.resp_bytes) AS bytes
FROM calls c JOIN read_parquet(?, hive_partitioning = true) f
  ON f.device = c.device AND f.ts <= c."end" AND epoch_us(f.ts) / 1e6 + f.duration >= epoch_us(c.ts) / 1e6
GROUP BY ALL
"""


if __name__ == "__main__":
    main()

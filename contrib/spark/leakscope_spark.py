#!/usr/bin/env python3
"""Replays a corpus of captures with leakscope on a Spark cluster; writes one Parquet lake.

    spark-submit [--files /path/to/leakscope] leakscope_spark.py CORPUS OUT [options] [-- REPLAY_ARGS]

CORPUS holds capture groups: every entry at --depth (default 1: the entries of CORPUS) is one
group, either a directory (one capture's rotated files, replayed as one run in leakscope's
order: sorted by path) or a single capture file. A group is never split, so flows that cross
rotated files stay whole and everything leakscope learns per device (DNS names, call sockets,
sessions) is learnt as in a plain `leakscope replay GROUP`.

OUT gets one dataset per record kind, like `leakscope replay --parquet` (flows/, events/dns/,
events/activity/, ...), each with a `capture` column (the group's path relative to CORPUS) and
hive partitions by UTC date (`--partition-by-capture`: capture=…/date=…); and `groups/`, one
row per group: status (ok, damaged, empty, failed), exit code, stderr tail, packets, records per
dataset, seconds, the replay's manifest. A group that fails is reported there; the others are
written. `--summary FILE` also writes that table as JSON on the driver.

How it scales: one Spark task per group (largest first) runs the leakscope binary on the
group's files (local or shared paths directly; others, e.g. s3a:// or hdfs://, are copied to
the task's local disk with pyarrow.fs first) and moves its Parquet output to a staging
directory, one partition `g=<group>a<task attempt>` per kind. The driver then reads the
staging datasets with Spark (only the attempts that reported success, so a retried or
speculative task cannot double a group), adds `capture` with a broadcast join and writes the
final datasets. No record passes through the driver or through Python: leakscope writes
columnar files, the JVM reads and rewrites them in parallel.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

CAPTURE_NAME = re.compile(r"\.(pcap|pcapng|cap|ntar|dmp)(\.gz)?$", re.IGNORECASE)
SUMMARY_LINE = re.compile(
    r"(\d+) file\(s\), (\d+) packets .*?, (\d+) flow records .*?, (\d+) evicted, "
    r"(\d+) decode errors, (\d+) damaged input"
)
STDERR_TAIL = 2000


def parse_args(argv):
    replay_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, replay_args = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(
        prog="leakscope_spark.py", description=__doc__.split("\n\n")[0],
        epilog="Arguments after `--` are passed to every `leakscope replay` (e.g. --flows-only).",
    )
    p.add_argument("corpus", help="corpus root (local path, file://, hdfs://, s3a://, ...)")
    p.add_argument("out", help="output root for the datasets and groups/")
    p.add_argument("--depth", type=int, default=1,
                   help="depth of the groups below CORPUS (2: CORPUS/STUDY/PHONE); default 1")
    p.add_argument("--leakscope", default=None,
                   help="binary on the workers (default: the file shipped with --files, else PATH)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds one group may take; past it the replay is killed (failed)")
    p.add_argument("--staging", default=None, help="staging directory (default OUT/_staging)")
    p.add_argument("--local-tmp", default=None,
                   help="task scratch directory (default: the worker's temporary directory)")
    p.add_argument("--partition-by-capture", action="store_true",
                   help="partition by capture, then date (default: date only, capture sorted)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--summary", default=None, help="also write the groups as JSON to this local file")
    p.add_argument("--keep-staging", action="store_true", help="do not delete the staging dir")
    p.add_argument("--sql", default=None,
                   help="SQL file run on the lake when written: statements each after a "
                        "`-- name: NAME` line, results to OUT/queries/NAME/ as JSON lines")
    p.add_argument("--log-level", default="WARN", help="Spark's log level (default WARN)")
    p.add_argument("--fail-on-bad-groups", action="store_true",
                   help="exit 3 when any group is not ok (default 0: the groups table says it)")
    args = p.parse_args(argv)
    args.replay_args = replay_args
    return args


# ---------------------------------------------------------------------------------------------
# Executors: one group per task.


def is_local(uri):
    return urllib.parse.urlparse(uri).scheme in ("", "file")


def local_path(uri):
    u = urllib.parse.urlparse(uri)
    return urllib.parse.unquote(u.path) if u.scheme == "file" else uri


def remote_fs(uri):
    """pyarrow's filesystem for a non-local URI (Hadoop's s3a:// is pyarrow's s3://)."""
    from pyarrow import fs

    u = urllib.parse.urlparse(uri)
    if u.scheme in ("s3a", "s3n"):
        uri = "s3" + uri[len(u.scheme):]
    return fs.FileSystem.from_uri(uri)


def find_binary(option):
    """The leakscope binary on this worker: --leakscope, the file shipped with --files, PATH."""
    from pyspark import SparkFiles

    candidates = []
    if option:
        candidates.append(option)
        if not os.path.isabs(option):
            candidates.append(SparkFiles.get(os.path.basename(option)))
    else:
        candidates.append(SparkFiles.get("leakscope"))
        candidates.append(shutil.which("leakscope"))
    for c in candidates:
        if c and os.path.isfile(c):
            if not os.access(c, os.X_OK):
                # --files may drop the executable bit.
                try:
                    os.chmod(c, 0o755)
                except OSError:
                    pass
            return c
    raise FileNotFoundError(f"leakscope binary not found (tried {candidates})")


def fetch_group(group, dest):
    """Copies a remote group below dest, keeping its relative path; returns that path."""
    from pyarrow import fs

    src_fs, src = remote_fs(group["uri"])
    target = os.path.join(dest, group["capture"])
    os.makedirs(target if group["is_dir"] else os.path.dirname(target), exist_ok=True)
    # A directory is copied recursively, a file as itself.
    fs.copy_files(src, target, source_filesystem=src_fs,
                  destination_filesystem=fs.LocalFileSystem())
    return target


def datasets_in(pq):
    """leakscope's datasets under a --parquet dir: flows, events/KIND."""
    found = []
    if os.path.isdir(os.path.join(pq, "flows")):
        found.append("flows")
    events = os.path.join(pq, "events")
    if os.path.isdir(events):
        found += ["events/" + k for k in sorted(os.listdir(events))]
    return found


def publish(pq, kinds, staging, key):
    """Moves each dataset to STAGING/KIND/g=KEY/ (a rename on one filesystem)."""
    for kind in kinds:
        src = os.path.join(pq, kind)
        if is_local(staging):
            dst = os.path.join(local_path(staging), kind, "g=" + key)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.move(src, dst)
        else:
            from pyarrow import fs

            dst_fs, dst = remote_fs(staging.rstrip("/") + "/" + kind + "/g=" + key)
            fs.copy_files(src, dst, source_filesystem=fs.LocalFileSystem(),
                          destination_filesystem=dst_fs)


def replay_group(group, cfg):
    """Runs `leakscope replay` on one group; returns its row of the groups table."""
    from pyspark import TaskContext

    tc = TaskContext.get()
    key = f"{group['idx']}a{tc.taskAttemptId() if tc else 0}"
    row = dict(group, key=key, status="failed", exit_code=None, error=None, stderr_tail=None,
               packets=None, flow_records=None, damaged_inputs=None, decode_errors=None,
               seconds=None, manifest=None, datasets=[])
    work = tempfile.mkdtemp(prefix="leakscope-spark-", dir=cfg["local_tmp"])
    start = time.monotonic()
    try:
        binary = find_binary(cfg["leakscope"])
        if is_local(group["uri"]):
            cwd = local_path(cfg["corpus"])
        else:
            cwd = os.path.join(work, "in")
            fetch_group(group, cwd)
        # Run from the corpus root with the relative path, so flows' `source` names the file
        # inside the corpus wherever the task ran.
        rel = group["capture"]
        arg = rel if not rel.startswith("-") else "./" + rel
        out, pq = os.path.join(work, "out"), os.path.join(work, "pq")
        cmd = [binary, "replay", "-q", "--log-format", "text", "--out", out, "--parquet", pq,
               *cfg["replay_args"], arg]
        try:
            proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=cfg["timeout"])
        except subprocess.TimeoutExpired as e:
            row["error"] = f"timeout after {cfg['timeout']} s"
            row["stderr_tail"] = (e.stderr or b"").decode("utf-8", "replace")[-STDERR_TAIL:]
            return row
        stderr = proc.stderr.decode("utf-8", "replace")
        row["exit_code"] = proc.returncode
        row["stderr_tail"] = stderr[-STDERR_TAIL:]
        m = None
        for m in SUMMARY_LINE.finditer(stderr):
            pass
        if m:
            files, packets, flows, _evicted, decode, damaged = map(int, m.groups())
            row.update(packets=packets, flow_records=flows, decode_errors=decode,
                       damaged_inputs=damaged)
        try:
            with open(os.path.join(out, "manifest.json")) as f:
                row["manifest"] = f.read()
        except OSError:
            pass
        # leakscope exits 1 on a damaged input after keeping the packets before the fault: the
        # records are sound, the group is flagged. Any other failure keeps nothing.
        if proc.returncode == 0 and m:
            row["status"] = "empty" if files == 0 else "ok"
        elif proc.returncode == 1 and m and damaged > 0 and packets > 0:
            row["status"] = "damaged"
        else:
            row["error"] = f"leakscope exited with {proc.returncode}"
            return row
        row["datasets"] = datasets_in(pq)
        publish(pq, row["datasets"], cfg["staging"], key)
        return row
    except Exception as e:  # reported in the groups table, never fails the job
        row["status"] = "failed"
        row["error"] = f"{type(e).__name__}: {e}"
        return row
    finally:
        row["seconds"] = round(time.monotonic() - start, 3)
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Driver.


def list_groups(spark, corpus, depth):
    """Groups at `depth` below corpus via Hadoop's FileSystem (the cluster's own credentials and
    schemes). Hidden entries (., _) are skipped like Spark does; other files that are not
    captures by name are returned apart."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    root = jvm.org.apache.hadoop.fs.Path(corpus)
    fs = root.getFileSystem(conf)
    root = fs.makeQualified(root)
    base = root.toString().rstrip("/")
    groups, ignored = [], []

    def walk(path, level):
        for st in sorted(fs.listStatus(path), key=lambda s: s.getPath().getName()):
            p = st.getPath()
            name = p.getName()
            if name.startswith(".") or name.startswith("_"):
                continue
            rel = p.toString()[len(base) + 1:]
            if st.isDirectory() and level < depth:
                walk(p, level + 1)
            elif st.isDirectory():
                cs = fs.getContentSummary(p)
                groups.append(dict(capture=rel, uri=p.toString(), is_dir=True,
                                   files=cs.getFileCount(), bytes=cs.getLength()))
            elif CAPTURE_NAME.search(name):
                groups.append(dict(capture=rel, uri=p.toString(), is_dir=False, files=1,
                                   bytes=st.getLen()))
            else:
                ignored.append(rel)

    walk(root, 1)
    # Largest first: the longest tasks start early, the short ones fill the gaps.
    groups.sort(key=lambda g: (-g["bytes"], g["capture"]))
    for i, g in enumerate(groups):
        g["idx"] = i
    return base, groups, ignored


def hadoop_fs(spark, uri):
    p = spark._jvm.org.apache.hadoop.fs.Path(uri)
    return p, p.getFileSystem(spark._jsc.hadoopConfiguration())


def staged_kinds(spark, staging):
    """Datasets present in the staging dir: flows, events/KIND."""
    kinds = []
    path, fs = hadoop_fs(spark, staging)
    if not fs.exists(path):
        return kinds
    for st in fs.listStatus(path):
        name = st.getPath().getName()
        if name == "flows":
            kinds.append("flows")
        elif name == "events":
            kinds += ["events/" + s.getPath().getName() for s in fs.listStatus(st.getPath())]
    return sorted(kinds)


def groups_schema():
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField("capture", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("exit_code", T.IntegerType()),
        T.StructField("error", T.StringType()),
        T.StructField("stderr_tail", T.StringType()),
        T.StructField("files", T.LongType()),
        T.StructField("bytes", T.LongType()),
        T.StructField("packets", T.LongType()),
        T.StructField("flow_records", T.LongType()),
        T.StructField("decode_errors", T.LongType()),
        T.StructField("damaged_inputs", T.LongType()),
        T.StructField("seconds", T.DoubleType()),
        T.StructField("datasets", T.ArrayType(T.StringType())),
        T.StructField("manifest", T.StringType()),
        T.StructField("uri", T.StringType()),
        T.StructField("key", T.StringType()),
    ])


def run_sql(spark, out, kinds, path):
    """Runs the named statements of `path` on views of the lake (`flows`, `groups`, and each
    `events/KIND` as `KIND`); each result is written as JSON lines (µs timestamps, nulls kept)
    to OUT/queries/NAME/, by the executors."""
    for kind in kinds:
        spark.read.parquet(f"{out}/{kind}").createOrReplaceTempView(kind.split("/")[-1])
    spark.read.parquet(f"{out}/groups").createOrReplaceTempView("groups")
    text = open(path).read()
    for name, stmt in re.findall(r"^-- name: *(\S+)\n(.*?)(?=^-- name:|\Z)", text, re.M | re.S):
        (spark.sql(stmt.strip().rstrip(";")).coalesce(1).write
         .option("timestampFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")
         .option("ignoreNullFields", "false")
         .json(f"{out}/queries/{name}"))


def main(argv):
    args = parse_args(argv)
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = SparkSession.builder.appName("leakscope-corpus").getOrCreate()
    # Timestamps as Parquet TIMESTAMP(µs, UTC) like leakscope's, not the legacy INT96.
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    sc = spark.sparkContext
    sc.setLogLevel(args.log_level)

    out = args.out.rstrip("/")
    out_path, out_fs = hadoop_fs(spark, out)
    if out_fs.exists(out_path):
        if not args.overwrite:
            sys.exit(f"leakscope_spark: {out} exists (use --overwrite to replace it)")
        out_fs.delete(out_path, True)
    staging = (args.staging or out + "/_staging").rstrip("/")
    t0 = time.monotonic()
    corpus, groups, ignored = list_groups(spark, args.corpus, args.depth)
    t_listed = time.monotonic()
    note = f", {len(ignored)} other file(s) ignored: {ignored[:3]}" if ignored else ""
    print(f"leakscope_spark: {len(groups)} group(s) in {corpus}{note}", file=sys.stderr)

    cfg = dict(corpus=corpus, leakscope=args.leakscope, timeout=args.timeout,
               staging=staging, local_tmp=args.local_tmp, replay_args=args.replay_args)
    # One partition per group: Spark hands the next group to whichever core is free.
    rows = (sc.parallelize(groups, max(1, len(groups)))
            .map(lambda g: replay_group(g, cfg))
            .map(lambda r: {k: r.get(k) for k in groups_schema().fieldNames()}))
    # Run the replays once and keep their rows on storage, not in a cache: a cached partition
    # lost with an executor would be recomputed (replayed again, under a new attempt key)
    # after the staging directory was listed, and its records would be missed.
    spark.createDataFrame(rows, groups_schema()).write.parquet(f"{staging}/_groups")
    table = spark.read.parquet(f"{staging}/_groups")
    t_replayed = time.monotonic()

    good = (table.where(F.col("status").isin("ok", "damaged"))
            .select(F.col("key").alias("g"), "capture"))
    parts = ["capture", "date"] if args.partition_by_capture else ["date"]

    def write(kind):
        df = (spark.read.parquet(f"{staging}/{kind}")
              .join(F.broadcast(good), "g")  # only the attempts that reported success
              .drop("g"))
        cols = [c for c in df.columns if c not in ("capture", "date")]
        # Spread by (date, capture) so one busy day is not one task; sorted by capture so
        # each file's row groups carry narrow capture statistics for pruning.
        (df.select("capture", *cols, "date")
         .repartition("date", "capture")
         .sortWithinPartitions("date", "capture", "ts")
         .write.partitionBy(*parts)
         .option("maxRecordsPerFile", 4 << 20)
         .parquet(f"{out}/{kind}"))

    kinds = staged_kinds(spark, staging)
    # A dozen small jobs: run them side by side so the cluster is not idle between them.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, kinds))

    if kinds:
        # Records per capture and dataset, from what was written: one job over the capture
        # columns of every dataset.
        per = None
        for kind in kinds:
            d = spark.read.parquet(f"{out}/{kind}").select("capture", F.lit(kind).alias("dataset"))
            per = d if per is None else per.unionByName(d)
        records = (per.groupBy("capture", "dataset").count()
                   .groupBy("capture")
                   .agg(F.map_from_entries(F.collect_list(F.struct("dataset", "count")))
                        .alias("records")))
        table = table.join(records, "capture", "left")
    else:
        table = table.withColumn("records", F.lit(None).cast("map<string,bigint>"))
    final = table.drop("key").orderBy("capture")
    final.coalesce(1).write.parquet(f"{out}/groups")
    t_written = time.monotonic()

    if args.sql:
        run_sql(spark, out, kinds, args.sql)
    groups_out = spark.read.parquet(f"{out}/groups").drop("manifest")
    if args.summary:
        # One row per group, a few KiB each: the report, not the data.
        rows = [r.asDict(recursive=True) for r in groups_out.orderBy("capture").collect()]
        with open(args.summary, "w") as f:
            timings = {"list": t_listed - t0, "replay": t_replayed - t_listed,
                       "write": t_written - t_replayed}
            json.dump({"corpus": corpus, "out": out, "ignored": ignored,
                       "seconds": {k: round(v, 3) for k, v in timings.items()},
                       "groups": rows}, f, indent=1, default=str)
    if not args.keep_staging:
        sp, sfs = hadoop_fs(spark, staging)
        sfs.delete(sp, True)
    bad_rows = groups_out.where(~F.col("status").isin("ok", "empty"))
    bad = bad_rows.count()
    for g in bad_rows.orderBy("capture").limit(20).collect():
        tail = (g["stderr_tail"] or g["error"] or "").strip().splitlines()[-1:]
        print(f"leakscope_spark: {g['capture']}: {g['status']} (exit {g['exit_code']}): "
              f"{tail[0] if tail else ''}", file=sys.stderr)
    print(f"leakscope_spark: {len(groups)} group(s), {bad} not ok; datasets in {out} "
          f"(list {t_listed - t0:.1f} s, replay {t_replayed - t_listed:.1f} s, "
          f"write {t_written - t_replayed:.1f} s)", file=sys.stderr)
    spark.stop()
    if bad and args.fail_on_bad_groups:
        sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Batch benchmark: `mlsysc build` against the same pipeline written for DuckDB, on generated data.

Reproduce (from the repository root; needs `pip install duckdb pyarrow numpy psutil`; about 5 minutes
on 2 cores plus a minute the first time to generate the data):

    cargo build --release -p mlsysc && python3 benches/batch_vs_duckdb.py --json batch.json

What it does:
  1. Generates seeded data (numpy): --events card payments (default 10M) over the 90 days
     2026-01-01 .. 2026-03-31 for --users users (default 100k, activity log-normally skewed),
     columns txn_id, user_id, amount (float64), country, event_time, as Parquet partitioned
     `dt=YYYY-MM-DD/part-0.parquet`; and chargebacks for 1% of the payments (is_fraud, reported_at
     1-45 days later; a tenth of them reported a second time with the opposite verdict). The data is
     cached under ~/.cache/mlsys-bench/ keyed by the parameters, so reruns skip this step.
  2. Times the release `mlsysc build` of benches/batch_project (the entity group `user_activity v1`:
     count and sum over 7d every 1h, avg and max over 30d every 1d; the row-level group
     `txn_signals v1`; the point-in-time training set of `fraud_detector`, the last 9 days, with the
     chargeback label) from a clean store: per-stage seconds from its summary, wall and CPU time and
     peak RSS of the process (GNU time), and the CPU time and peak RSS sampled during each stage
     (psutil). `mlsysc build` then also fills the online store and trains the model; those two
     stages are reported on their own (DuckDB has no counterpart here).
  3. Times the same pipeline in DuckDB (threads = --threads, memory_limit = --duckdb-memory), each step
     in its own Python process so that its peak RSS is its own: load (validated, with each row's file
     and row number), the change-point table (per (user, tile) partial aggregates, window values at
     every instant where a window gains or loses a tile, RANGE frames over tile indexes), the
     row-level table and the training set (ASOF JOIN on the change points, latest chargeback per
     txn_id, default false), each written as Parquet partitioned by dt.
  4. Compares the outputs unless --no-verify: rows present on one side only, and per column the
     values that differ; for a sample of differing float sums, which engine gives the exactly
     rounded sum (Python's math.fsum over the window's raw amounts).
  5. Runs mlsysc again with each --memory-limits value (MiB, default 128 and 64) and reports whether
     it completes, its time and peak RSS, or its error; DuckDB runs with the same memory_limit.
  6. Prints the table (and writes it as JSON with --json).

Timings are wall seconds with --threads threads on each side; CPU seconds are shown too, since on a
shared machine they move less than wall time (the load average is printed).

Smaller, quick run: `python3 benches/batch_vs_duckdb.py --events 200000 --users 5000`.
The mlsysc binary is $CARGO_TARGET_DIR/release/mlsysc (default target/), or --mlsysc PATH.
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "benches" / "batch_project"
CACHE = Path.home() / ".cache" / "mlsys-bench"

# Fixed by the project's model (benches/batch_project/model.mlsys): the data covers these 90 days.
START_DATE = "2026-01-01"
DAYS = 90
SNAPSHOT = ("2026-03-23", "2026-03-29")
HOLDOUT = ("2026-03-30", "2026-03-31")
HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "CA"]
COUNTRY_SHARES = [0.60, 0.08, 0.07, 0.06, 0.06, 0.05, 0.04, 0.04]
GENERATOR_VERSION = 1
MIB = 1 << 20


# ---------------------------------------------------------------------------------------------
# 1. Data


def data_dir(events, users, seed):
    return CACHE / f"data-e{events}-u{users}-s{seed}-g{GENERATOR_VERSION}"


def generate(events, users, seed):
    """The cached data set (generated on first use, atomically)."""
    target = data_dir(events, users, seed)
    if (target / "COMPLETE").exists():
        return target
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    started = time.perf_counter()
    print(f"generating {events:,} events for {users:,} users into {target} ...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="data-staging-", dir=CACHE))
    rng = np.random.default_rng(seed)
    start_us = int(np.datetime64(START_DATE, "us").astype(np.int64))

    # Skewed activity: log-normal user weights (the busiest 1% of users make ~13% of the payments,
    # the busiest 10% ~46%; at 10M events the median user has 49 payments, the busiest 6,308).
    weights = rng.lognormal(0.0, 1.2, users)
    user = rng.choice(users, size=events, p=weights / weights.sum())
    # Event times: a uniform day, a time of day peaking in the afternoon (a fifth uniform).
    day = rng.integers(0, DAYS, events)
    afternoon = np.mod(rng.normal(14.0, 4.0, events), 24.0) * HOUR_US
    uniform = rng.random(events) * DAY_US
    time_of_day = np.where(rng.random(events) < 0.8, afternoon, uniform).astype(np.int64)
    event_us = start_us + day * DAY_US + np.clip(time_of_day, 0, DAY_US - 1)
    order = np.argsort(event_us, kind="stable")
    event_us, user = event_us[order], user[order]
    amount = np.round(rng.lognormal(3.3, 1.1, events), 2)
    country = rng.choice(len(COUNTRIES), size=events, p=COUNTRY_SHARES)

    def ids(prefix, numbers, width):
        text = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width=width, padding="0")
        return pc.binary_join_element_wise(pa.scalar(prefix), text, "")

    txn_id = ids("t", np.arange(events), 10)
    table = pa.table({
        "txn_id": txn_id,
        "user_id": ids("u", user, 7),
        "amount": pa.array(amount, pa.float64()),
        "country": pa.DictionaryArray.from_arrays(pa.array(country, pa.int32()), COUNTRIES).cast(pa.string()),
        "event_time": pa.array(event_us, pa.timestamp("us", tz="UTC")),
    })
    bounds = np.searchsorted(event_us, start_us + np.arange(DAYS + 1) * DAY_US)
    for index in range(DAYS):
        name = str(np.datetime64(START_DATE) + index)
        part = staging / "transactions" / f"dt={name}"
        part.mkdir(parents=True)
        pq.write_table(table.slice(bounds[index], bounds[index + 1] - bounds[index]), part / "part-0.parquet",
                       compression="snappy", row_group_size=1 << 20)

    # Chargebacks for 1% of the payments; a tenth reported again later with the opposite verdict.
    reported = rng.choice(events, size=max(events // 100, 1), replace=False)
    first_at = event_us[reported] + rng.integers(DAY_US, 45 * DAY_US, reported.size)
    first_fraud = rng.random(reported.size) < 0.8
    again = rng.random(reported.size) < 0.1
    second_at = first_at[again] + rng.integers(HOUR_US, 20 * DAY_US, int(again.sum()))
    cb_txn = np.concatenate([reported, reported[again]])
    cb_fraud = np.concatenate([first_fraud, ~first_fraud[again]])
    cb_at = np.concatenate([first_at, second_at])
    shuffle = rng.permutation(cb_txn.size)
    chargebacks = pa.table({
        "txn_id": pc.take(txn_id, pa.array(cb_txn[shuffle])),
        "is_fraud": pa.array(cb_fraud[shuffle]),
        "reported_at": pa.array(cb_at[shuffle], pa.timestamp("us", tz="UTC")),
    })
    (staging / "chargebacks").mkdir()
    pq.write_table(chargebacks, staging / "chargebacks" / "part-0.parquet", compression="snappy")
    (staging / "COMPLETE").write_text(json.dumps({"events": events, "users": users, "seed": seed,
                                                  "chargebacks": chargebacks.num_rows}))
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    print(f"  generated in {time.perf_counter() - started:.1f}s", flush=True)
    return target


def raw_sizes(directory):
    """Bytes of the Parquet files, and of the events as Arrow arrays in memory."""
    import pyarrow.parquet as pq

    files = sorted((directory / "transactions").glob("dt=*/part-0.parquet"))
    on_disk = sum(path.stat().st_size for path in files)
    in_memory = sum(pq.read_table(path).nbytes for path in files)
    return on_disk, in_memory


# ---------------------------------------------------------------------------------------------
# Measuring a child process


class Measured:
    """A command run to completion: wall seconds, exit code, output, peak RSS and CPU seconds (GNU
    time when present, else psutil) and psutil samples [(seconds since start, RSS bytes, CPU s)]."""

    def __init__(self, command, cwd, interval=0.02):
        import psutil

        time_file = None
        if os.access("/usr/bin/time", os.X_OK):
            time_file = tempfile.NamedTemporaryFile(mode="r", suffix=".time")
            command = ["/usr/bin/time", "-f", "%M %U %S", "-o", time_file.name, *command]
        self.samples = []
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        output = {}

        def drain(name, stream):
            output[name] = stream.read()

        readers = [threading.Thread(target=drain, args=(name, stream))
                   for name, stream in (("stdout", process.stdout), ("stderr", process.stderr))]
        for reader in readers:
            reader.start()
        watched = None
        while process.poll() is None:
            try:
                if watched is None:
                    parent = psutil.Process(process.pid)
                    children = parent.children() if time_file else []
                    watched = children[0] if children else (None if time_file else parent)
                if watched is not None:
                    cpu = watched.cpu_times()
                    self.samples.append((time.perf_counter() - started, watched.memory_info().rss,
                                         cpu.user + cpu.system))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
            time.sleep(interval)
        self.seconds = time.perf_counter() - started
        for reader in readers:
            reader.join()
        self.returncode = process.returncode
        self.stdout, self.stderr = output.get("stdout", ""), output.get("stderr", "")
        self.peak = max((rss for _, rss, _ in self.samples), default=0)
        self.cpu_seconds = self.samples[-1][2] if self.samples else None
        if time_file:
            lines = time_file.read().strip().splitlines()
            time_file.close()
            # GNU time: peak RSS in KiB, user and system CPU seconds (after a possible "Command exited
            # with non-zero status" line).
            fields = lines[-1].split() if lines else []
            if len(fields) == 3:
                self.peak = int(fields[0]) * 1024
                self.cpu_seconds = float(fields[1]) + float(fields[2])

    def peak_between(self, start, end):
        inside = [rss for at, rss, _ in self.samples if start <= at <= end]
        return max(inside, default=None)

    def cpu_between(self, start, end):
        """CPU seconds used in [start, end] (the process's total when end is its end)."""

        def at(instant):
            if instant >= self.seconds and self.cpu_seconds is not None:
                return self.cpu_seconds
            before = [cpu for when, _, cpu in self.samples if when <= instant]
            return before[-1] if before else 0.0

        return at(end) - at(start)


# ---------------------------------------------------------------------------------------------
# 2. mlsysc


def make_project(workdir, name, data):
    project = workdir / name
    project.mkdir(parents=True)
    for path in sorted(PROJECT.glob("*.mlsys")):
        shutil.copy(path, project / path.name)
    (project / "data").symlink_to(data, target_is_directory=True)
    return project


def parse_summary(stdout):
    """Per-stage seconds and rows from the `mlsysc build` summary."""
    summary = {"features": {}, "training": {}, "online": {}, "models": {}}
    section = None
    for line in stdout.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] in ("source", "feature", "training", "online", "model"):
            section = fields[0]
            continue
        match = re.match(r"build \d+ finished in ([0-9.]+)s", line)
        if match:
            summary["build_seconds"] = float(match.group(1))
        elif section == "source" and len(fields) == 7:
            summary.setdefault("sources", {})[fields[0]] = {"rows_read": int(fields[4]), "accepted": int(fields[5]),
                                                             "quarantined": int(fields[6])}
        elif section == "feature" and "@v" in fields[0]:
            summary["features"][fields[0]] = {"rows": int(fields[-2]), "seconds": float(fields[-1])}
        elif section == "training" and len(fields) >= 6:
            summary["training"][fields[0]] = {"id": fields[1], "snapshot": int(fields[-4]), "holdout": int(fields[-3]),
                                              "unlabeled": int(fields[-2]), "seconds": float(fields[-1])}
        elif section == "online" and len(fields) == 4:
            summary["online"][fields[0]] = {"entities": fields[1], "seconds": float(fields[-1])}
        elif section == "model" and (match := re.match(
                r"(\S+)\s+v\d+\s+(\S+ [-0-9.e]+)\s+(?:none|v\d+ [-0-9.e]+)\s+([0-9.]+)\s", line)):
            summary["models"][match.group(1)] = {"holdout": match.group(2), "seconds": float(match.group(3))}
    return summary


def run_mlsysc(binary, workdir, name, data, memory_limit=None):
    project = make_project(workdir, name, data)
    command = [str(binary), "build", str(project)]
    if memory_limit is not None:
        command += ["--memory-limit", str(memory_limit)]
    print(f"  $ {' '.join(command)}", flush=True)
    run = Measured(command, cwd=project)
    result = {"command": " ".join(command), "exit": run.returncode, "seconds": run.seconds,
              "cpu_seconds": run.cpu_seconds, "peak_rss_mib": run.peak / MIB, "project": project}
    if run.returncode != 0:
        result["error"] = (run.stderr.strip() or run.stdout.strip())[-4000:]
        return result
    summary = parse_summary(run.stdout)
    result["summary"] = summary
    result["run_output"] = run.stdout
    # Stage windows, counted back from the end of the process (the stages run in this order).
    # The stages after the training sets (online materialization, model training) have no DuckDB
    # counterpart here; they are timed and reported on their own.
    stages = [("entity table", summary["features"].get("user_activity@v1", {}).get("seconds", 0.0)),
              ("row-level table", summary["features"].get("txn_signals@v1", {}).get("seconds", 0.0)),
              ("training set", summary["training"].get("fraud_detector", {}).get("seconds", 0.0)),
              ("online store", sum(table["seconds"] for table in summary["online"].values())),
              ("model training", sum(model["seconds"] for model in summary["models"].values()))]
    end = run.seconds
    windows = {}
    for stage, seconds in reversed(stages):
        windows[stage] = (end - seconds, end)
        end -= seconds
    windows["ingest"] = (0.0, end)
    result["stage_seconds"] = dict(stages)
    result["stage_seconds"]["ingest"] = summary.get("build_seconds", run.seconds) - sum(seconds for _, seconds in stages)
    result["stage_peak_rss_mib"] = {stage: (None if (peak := run.peak_between(*window)) is None else peak / MIB)
                                    for stage, window in windows.items()}
    result["stage_cpu_seconds"] = {stage: run.cpu_between(*window) for stage, window in windows.items()}
    return result


# ---------------------------------------------------------------------------------------------
# 3. DuckDB: each step is a child process running this file with --duckdb-step


def split_condition(split):
    first, last = SNAPSHOT if split == "snapshot" else HOLDOUT
    return f"e.event_time >= TIMESTAMPTZ '{first} 00:00:00+00' AND e.event_time < TIMESTAMPTZ '{last} 00:00:00+00' + INTERVAL 1 DAY"


DUCKDB_STEPS = {
    # Read the raw files, keep the valid rows (non-null declared columns, the row in its own dt
    # partition) with their lineage (file, 1-based row), as mlsysc's ingestion does.
    "ingest": ["""
CREATE OR REPLACE TABLE transactions AS
SELECT txn_id, user_id, amount, country, event_time, filename AS _file, file_row_number + 1 AS _row, dt
FROM read_parquet('data/transactions/*/*.parquet', hive_partitioning = true, hive_types_autocast = false,
                  filename = true, file_row_number = true)
WHERE txn_id IS NOT NULL AND user_id IS NOT NULL AND amount IS NOT NULL AND country IS NOT NULL
  AND event_time IS NOT NULL AND strftime(event_time, '%Y-%m-%d') = dt
""", """
CREATE OR REPLACE TABLE chargebacks AS
SELECT txn_id, is_fraud, reported_at FROM read_parquet('data/chargebacks/*.parquet')
WHERE txn_id IS NOT NULL AND is_fraud IS NOT NULL AND reported_at IS NOT NULL
"""],
    # The change points of user_activity v1: per (user, 1h tile) and (user, 1d tile) partial
    # aggregates; the instants where a tile enters a window (its end) or leaves it (its end + W); the
    # 7d values at every instant and the 30d values once per (user, day of an instant), each over the
    # tiles [T - W, T) by a RANGE frame over tile indexes; joined back per instant.
    "entity table": [f"""
COPY (
  WITH hourly AS (
    SELECT user_id, epoch_us(event_time) // {HOUR_US} AS h, count(*) AS n, sum(amount) AS s
    FROM transactions GROUP BY ALL
  ), daily AS (
    SELECT user_id, epoch_us(event_time) // {DAY_US} AS d, count(*) AS n, sum(amount) AS s, max(amount) AS m
    FROM transactions GROUP BY ALL
  ), instants AS (
    SELECT DISTINCT user_id, t FROM (
      SELECT user_id, (h + 1) * {HOUR_US} AS t FROM hourly
      UNION ALL SELECT user_id, (h + 1 + 168) * {HOUR_US} FROM hourly
      UNION ALL SELECT user_id, (d + 1) * {DAY_US} FROM daily
      UNION ALL SELECT user_id, (d + 1 + 30) * {DAY_US} FROM daily)
  ), hours AS (
    SELECT user_id, t, coalesce(sum(n) OVER w, 0)::BIGINT AS txn_count_7d, sum(s) OVER w AS amount_sum_7d
    FROM (SELECT user_id, h, NULL::BIGINT AS t, n, s FROM hourly
          UNION ALL SELECT user_id, t // {HOUR_US}, t, NULL, NULL FROM instants)
    WINDOW w AS (PARTITION BY user_id ORDER BY h RANGE BETWEEN 168 PRECEDING AND 1 PRECEDING)
    QUALIFY t IS NOT NULL
  ), days AS (
    SELECT user_id, d, sum(s) OVER w / sum(n) OVER w AS avg_amount_30d, max(m) OVER w AS max_amount_30d
    FROM (SELECT user_id, d, false AS probe, n, s, m FROM daily
          UNION ALL SELECT DISTINCT user_id, t // {DAY_US}, true, NULL::BIGINT, NULL::DOUBLE, NULL::DOUBLE
                    FROM instants)
    WINDOW w AS (PARTITION BY user_id ORDER BY d RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING)
    QUALIFY probe
  )
  SELECT hours.user_id, make_timestamp(t)::TIMESTAMPTZ AS valid_from, txn_count_7d, amount_sum_7d,
         avg_amount_30d, max_amount_30d, strftime(make_timestamp(t), '%Y-%m-%d') AS dt
  FROM hours JOIN days ON days.user_id = hours.user_id AND days.d = hours.t // {DAY_US}
) TO 'out/features/user_activity' (FORMAT parquet, PARTITION_BY (dt))
"""],
    # txn_signals v1: one row per payment.
    "row-level table": ["""
COPY (
  SELECT _file, _row, event_time, ln(1 + amount) AS amount_log, country <> 'US' AS "foreign",
         hour(event_time) < 6 AS night, dt
  FROM transactions
) TO 'out/features/txn_signals' (FORMAT parquet, PARTITION_BY (dt))
"""],
    # The point-in-time training set: examples of each split in time order, the change point in
    # force at the example's time (ASOF), the latest chargeback (ties: true wins), default false.
    "training set": [f"""
CREATE OR REPLACE TEMP TABLE labels AS
SELECT txn_id, is_fraud FROM chargebacks
QUALIFY row_number() OVER (PARTITION BY txn_id ORDER BY reported_at DESC, is_fraud DESC) = 1
"""] + [f"""
COPY (
  SELECT e._file, e._row, e.event_time, e.user_id, coalesce(l.is_fraud, false) AS is_fraud,
         ln(1 + e.amount) AS "txn_signals@v1.amount_log", e.country <> 'US' AS "txn_signals@v1.foreign",
         hour(e.event_time) < 6 AS "txn_signals@v1.night",
         coalesce(f.txn_count_7d, 0) AS "user_activity@v1.txn_count_7d",
         f.amount_sum_7d AS "user_activity@v1.amount_sum_7d", f.avg_amount_30d AS "user_activity@v1.avg_amount_30d",
         f.max_amount_30d AS "user_activity@v1.max_amount_30d", e.dt
  FROM transactions e
  ASOF LEFT JOIN read_parquet('out/features/user_activity/*/*.parquet', hive_partitioning = false) f
    ON e.user_id = f.user_id AND e.event_time >= f.valid_from
  LEFT JOIN labels l ON l.txn_id = e.txn_id
  WHERE {split_condition(split)}
  ORDER BY e.event_time, e._file, e._row
) TO 'out/training/{split}' (FORMAT parquet, PARTITION_BY (dt))
""" for split in ("snapshot", "holdout")],
}

# Rows each step produced (counted after timing).
DUCKDB_COUNTS = {
    "ingest": "SELECT count(*) FROM transactions",
    "entity table": "SELECT count(*) FROM read_parquet('out/features/user_activity/*/*.parquet')",
    "row-level table": "SELECT count(*) FROM read_parquet('out/features/txn_signals/*/*.parquet')",
    "training set": "SELECT count(*) FROM read_parquet('out/training/*/*/*.parquet')",
}


def connect(database, threads, memory_mib):
    import duckdb

    connection = duckdb.connect(str(database))
    connection.execute(f"SET threads = {threads}")
    connection.execute(f"SET memory_limit = '{memory_mib}MiB'")
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET temp_directory = 'duckdb_spill'")
    return connection


def duckdb_step(arguments):
    """Child process: one timed step; prints one JSON line."""
    import resource

    def cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    connection = connect(arguments.database, arguments.threads, arguments.duckdb_memory)
    started, cpu_started = time.perf_counter(), cpu()
    try:
        for statement in DUCKDB_STEPS[arguments.duckdb_step]:
            connection.execute(statement)
    except Exception as error:  # reported by the parent
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        return 1
    seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
    rows = connection.execute(DUCKDB_COUNTS[arguments.duckdb_step]).fetchone()[0]
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "rows": rows}))
    return 0


def run_duckdb(workdir, name, data, threads, memory_mib):
    """Every step in order, each in its own process, into a fresh database file."""
    directory = workdir / name
    for sub in ("features", "training"):
        (directory / "out" / sub).mkdir(parents=True)
    (directory / "data").symlink_to(data, target_is_directory=True)
    results = {}
    for step in DUCKDB_STEPS:
        command = [sys.executable, str(Path(__file__).resolve()), "--duckdb-step", step, "--database",
                   "bench.duckdb", "--threads", str(threads), "--duckdb-memory", str(memory_mib)]
        print(f"  duckdb {step} (threads={threads}, memory_limit={memory_mib}MiB)", flush=True)
        run = Measured(command, cwd=directory)
        lines = run.stdout.strip().splitlines()
        try:
            report = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            report = {"error": (run.stderr.strip() or "no output")[-4000:]}
        report.update(wall_seconds=run.seconds, process_cpu_seconds=run.cpu_seconds, peak_rss_mib=run.peak / MIB)
        results[step] = report
        if "error" in report:
            break
    return directory, results


# ---------------------------------------------------------------------------------------------
# 4. Comparing the outputs


def delta_files(table):
    """The data files of a Delta table written by one clean build (its adds; refuses removes)."""
    adds = []
    for log in sorted((table / "_delta_log").glob("*.json")):
        for line in log.read_text().splitlines():
            action = json.loads(line)
            if "remove" in action:
                raise RuntimeError(f"{table}: the log removes files; compare only clean builds")
            if "add" in action:
                adds.append(str(table / action["add"]["path"]))
    return adds


def exact_sum_check(connection, data, sample=200):
    """For a sample of change points where the two engines' amount_sum_7d differ, the exactly rounded
    sum of the window's amounts (Python's math.fsum) and which engine equals it."""
    import math

    connection.execute(f"""
        CREATE TEMP TABLE differing AS
        SELECT * FROM (
          SELECT user_id, epoch_us(valid_from) AS t, a.amount_sum_7d AS mlsysc, b.amount_sum_7d AS duckdb
          FROM a JOIN b USING (user_id, valid_from)
          WHERE a.amount_sum_7d IS DISTINCT FROM b.amount_sum_7d)
        USING SAMPLE reservoir({sample} ROWS) REPEATABLE (1)
    """)
    rows = connection.execute(f"""
        SELECT d.mlsysc, d.duckdb, list(e.amount)
        FROM differing d JOIN read_parquet('{data}/transactions/*/*.parquet') e
          ON e.user_id = d.user_id AND epoch_us(e.event_time) >= (d.t // {HOUR_US} - 168) * {HOUR_US}
         AND epoch_us(e.event_time) < (d.t // {HOUR_US}) * {HOUR_US}
        GROUP BY d.user_id, d.t, d.mlsysc, d.duckdb
    """).fetchall()
    exact = [math.fsum(amounts) for _, _, amounts in rows]
    return {"sampled": len(rows),
            "mlsysc_exact": sum(ours == value for (ours, _, _), value in zip(rows, exact)),
            "duckdb_exact": sum(theirs == value for (_, theirs, _), value in zip(rows, exact))}


def verify(store, duck_dir, data, threads):
    """Joins each mlsysc table with DuckDB's: rows on one side only, and per column the values that
    differ (and the largest relative difference of the numeric ones)."""
    import duckdb

    connection = duckdb.connect()
    connection.execute(f"SET threads = {threads}")
    connection.execute("SET TimeZone = 'UTC'")

    def view(name, files, pattern=None):
        source = f"'{pattern}'" if pattern else "[" + ", ".join(f"'{path}'" for path in files) + "]"
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({source}, hive_partitioning = true, "
                           "hive_types_autocast = false)")

    def differences(left, right, on, numeric, other=()):
        checks = []
        for name in [*numeric, *other]:
            checks.append(f'count(*) FILTER (WHERE a."{name}" IS DISTINCT FROM b."{name}")')
        for name in numeric:
            checks.append(f'max(abs(a."{name}" - b."{name}") / greatest(abs(a."{name}"), 1e-300))')
        matched = " AND ".join(f'b."{key}" IS NOT NULL' for key in on)
        row = connection.execute(f"""
            SELECT count(*) FILTER (WHERE b."{on[0]}" IS NULL), count(*) FILTER (WHERE a."{on[0]}" IS NULL),
                   count(*) FILTER (WHERE a."{on[0]}" IS NOT NULL AND {matched}), {", ".join(checks)}
            FROM {left} a FULL OUTER JOIN {right} b ON {" AND ".join(f'a."{key}" = b."{key}"' for key in on)}
        """).fetchone()
        columns = [*numeric, *other]
        result = {"only_mlsysc": row[0], "only_duckdb": row[1], "matched": row[2],
                  "differing": dict(zip(columns, row[3:3 + len(columns)])),
                  "max_relative_difference": dict(zip(numeric, row[3 + len(columns):]))}
        return result

    windowed = ["txn_count_7d", "amount_sum_7d", "avg_amount_30d", "max_amount_30d"]
    view("a", delta_files(store / "features" / "user_activity" / "v1"))
    view("b", [], f"{duck_dir}/out/features/user_activity/*/*.parquet")
    result = {"entity table": differences("a", "b", ["user_id", "valid_from"], windowed)}
    result["entity table"]["exact_sum_check"] = exact_sum_check(connection, data)
    view("ra", delta_files(store / "features" / "txn_signals" / "v1"))
    view("rb", [], f"{duck_dir}/out/features/txn_signals/*/*.parquet")
    result["row-level table"] = differences("ra", "rb", ["_file", "_row"], ["amount_log"],
                                            ["event_time", "foreign", "night", "dt"])
    model = store / "training" / "fraud_detector"
    sets = sorted(model.iterdir()) if model.is_dir() else []
    if not sets:
        return result
    view("ta", [path for split in ("snapshot", "holdout") for path in delta_files(sets[-1] / split)])
    view("tb", [], f"{duck_dir}/out/training/*/*/*.parquet")
    result["training set"] = differences(
        "ta", "tb", ["_file", "_row"],
        [*(f"user_activity@v1.{name}" for name in windowed), "txn_signals@v1.amount_log"],
        ["is_fraud", "txn_signals@v1.foreign", "txn_signals@v1.night", "user_id", "event_time", "dt"])
    return result


# ---------------------------------------------------------------------------------------------
# Report


def mib(value):
    return "-" if value is None else f"{value:,.0f}"


def secs(value):
    return "-" if value is None else f"{value:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="payments to generate (default 10M)")
    parser.add_argument("--users", type=int, default=100_000, help="users (default 100k)")
    parser.add_argument("--seed", type=int, default=7, help="data seed (default 7)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="DuckDB threads (default: all cores, as DataFusion in mlsysc uses)")
    parser.add_argument("--duckdb-memory", type=int, default=4096, metavar="MIB",
                        help="DuckDB memory_limit in MiB (default 4096, mlsysc's default budget)")
    parser.add_argument("--memory-limits", default="128,64", metavar="MIB,...",
                        help="extra mlsysc (and DuckDB) runs with these memory limits (default 128,64; '' for none)")
    parser.add_argument("--mlsysc", type=Path, help="the mlsysc binary (default $CARGO_TARGET_DIR/release/mlsysc)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--no-verify", action="store_true", help="skip comparing the two engines' outputs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects and databases")
    parser.add_argument("--duckdb-step", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.duckdb_step:
        return duckdb_step(arguments)
    if arguments.events < 1 or arguments.users < 1:
        parser.error("--events and --users must be at least 1")
    limits = [int(value) for value in arguments.memory_limits.split(",") if value.strip()]

    binary = arguments.mlsysc or Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "mlsysc"
    if not binary.is_file():
        sys.exit(f"error: {binary} not found; build it with `cargo build --release -p mlsysc` "
                 "(with the same CARGO_TARGET_DIR) or pass --mlsysc")
    try:
        import duckdb
        import numpy  # noqa: F401
        import psutil  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as error:
        sys.exit(f"error: {error.name} is missing; `pip install duckdb pyarrow numpy psutil`")
    check = subprocess.run([str(binary), "check", str(PROJECT)], capture_output=True, text=True)
    if check.returncode != 0:
        sys.exit(f"error: benches/batch_project does not check clean:\n{check.stdout}{check.stderr}")

    data = generate(arguments.events, arguments.users, arguments.seed)
    generated = json.loads((data / "COMPLETE").read_text())
    on_disk, in_memory = raw_sizes(data)
    print(f"data: {arguments.events:,} events ({on_disk / MIB:,.0f} MiB Parquet, {in_memory / MIB:,.0f} MiB as "
          f"Arrow), {generated['chargebacks']:,} chargeback rows, {arguments.users:,} users", flush=True)

    CACHE.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))
    try:
        print("mlsysc build (default memory budget):", flush=True)
        ours = run_mlsysc(binary, workdir, "mlsys", data)
        if ours["exit"] != 0:
            sys.exit(f"error: mlsysc build failed (exit {ours['exit']}):\n{ours['error']}")
        if "fraud_detector" not in ours["summary"]["training"]:
            sys.exit(f"error: {binary} built no training set (a binary older than the training stage?):\n"
                     + ours["run_output"])
        print("DuckDB:", flush=True)
        duck_dir, duck = run_duckdb(workdir, "duckdb", data, arguments.threads, arguments.duckdb_memory)
        failed = [step for step, report in duck.items() if "error" in report]
        if failed:
            sys.exit(f"error: DuckDB step {failed[0]} failed:\n{duck[failed[0]]['error']}")
        verification = None
        if not arguments.no_verify:
            print("comparing outputs ...", flush=True)
            verification = verify(ours["project"] / ".mlsys" / "offline", duck_dir, data, arguments.threads)
        ours["run"] = None
        if not arguments.keep:
            shutil.rmtree(ours["project"])
            shutil.rmtree(duck_dir)

        limited = []
        for limit in limits:
            print(f"memory limit {limit} MiB:", flush=True)
            run = run_mlsysc(binary, workdir, f"mlsys-{limit}", data, memory_limit=limit)
            duck_limited_dir, duck_limited = run_duckdb(workdir, f"duckdb-{limit}", data, arguments.threads, limit)
            limited.append({
                "memory_limit_mib": limit,
                "mlsysc": {"completed": run["exit"] == 0, "seconds": run["seconds"],
                           "cpu_seconds": run["cpu_seconds"], "peak_rss_mib": run["peak_rss_mib"],
                           "error": run.get("error"),
                           "stage_seconds": run.get("stage_seconds"),
                           "stage_peak_rss_mib": run.get("stage_peak_rss_mib")},
                "duckdb": {"completed": all("error" not in report for report in duck_limited.values())
                           and len(duck_limited) == len(DUCKDB_STEPS),
                           "seconds": sum(report["wall_seconds"] for report in duck_limited.values()),
                           "cpu_seconds": sum(report["process_cpu_seconds"] or 0.0
                                              for report in duck_limited.values()),
                           "peak_rss_mib": max(report["peak_rss_mib"] for report in duck_limited.values()),
                           "error": next((f"{step}: {report['error']}" for step, report in duck_limited.items()
                                          if "error" in report), None)},
            })
            if not arguments.keep:
                shutil.rmtree(run["project"])
                shutil.rmtree(duck_limited_dir)
    finally:
        if not arguments.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    summary = ours["summary"]
    rows = {"ingest": summary["sources"]["transactions"]["accepted"],
            "entity table": summary["features"]["user_activity@v1"]["rows"],
            "row-level table": summary["features"]["txn_signals@v1"]["rows"],
            "training set": summary["training"]["fraud_detector"]["snapshot"]
            + summary["training"]["fraud_detector"]["holdout"]}
    steps = []
    for step in DUCKDB_STEPS:
        ours_s, duck_s = ours["stage_seconds"][step], duck[step]["seconds"]
        steps.append({"step": step, "mlsysc_seconds": ours_s, "duckdb_seconds": duck_s,
                      "ratio": ours_s / duck_s if duck_s else None,
                      "mlsysc_cpu_seconds": ours["stage_cpu_seconds"][step],
                      "duckdb_cpu_seconds": duck[step]["cpu_seconds"],
                      "mlsysc_peak_rss_mib": ours["stage_peak_rss_mib"][step],
                      "duckdb_peak_rss_mib": duck[step]["peak_rss_mib"],
                      "mlsysc_rows": rows[step], "duckdb_rows": duck[step]["rows"]})
    compared = list(steps)
    both = {key: sum(row[key] or 0.0 for row in compared)
            for key in ("mlsysc_seconds", "duckdb_seconds", "mlsysc_cpu_seconds", "duckdb_cpu_seconds")}
    steps.append({"step": "the four steps", **both, "ratio": both["mlsysc_seconds"] / both["duckdb_seconds"],
                  "mlsysc_peak_rss_mib": max(row["mlsysc_peak_rss_mib"] or 0.0 for row in compared),
                  "duckdb_peak_rss_mib": max(row["duckdb_peak_rss_mib"] for row in compared),
                  "mlsysc_rows": None, "duckdb_rows": None})
    for stage in ("online store", "model training"):
        steps.append({"step": stage, "mlsysc_seconds": ours["stage_seconds"][stage], "duckdb_seconds": None,
                      "ratio": None, "mlsysc_cpu_seconds": ours["stage_cpu_seconds"][stage],
                      "duckdb_cpu_seconds": None, "mlsysc_peak_rss_mib": ours["stage_peak_rss_mib"][stage],
                      "duckdb_peak_rss_mib": None, "mlsysc_rows": None, "duckdb_rows": None})
    duck_total = sum(report["wall_seconds"] for report in duck.values())
    duck_cpu = sum(report["process_cpu_seconds"] or 0.0 for report in duck.values())
    steps.append({"step": "total (process)", "mlsysc_seconds": ours["seconds"], "duckdb_seconds": duck_total,
                  "ratio": None, "mlsysc_cpu_seconds": ours["cpu_seconds"],
                  "duckdb_cpu_seconds": duck_cpu, "mlsysc_peak_rss_mib": ours["peak_rss_mib"],
                  "duckdb_peak_rss_mib": max(report["peak_rss_mib"] for report in duck.values()),
                  "mlsysc_rows": None, "duckdb_rows": None})

    print()
    print(f"{arguments.events:,} events, {arguments.users:,} users, {DAYS} days; {arguments.threads} threads each; "
          f"DuckDB {duckdb.__version__}; {platform.machine()}, {os.cpu_count()} cores; load average "
          f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    header = (f"{'step':<16} {'mlsysc s':>9} {'DuckDB s':>9} {'ratio':>6} {'mlsysc CPU s':>13} {'DuckDB CPU s':>13} "
              f"{'mlsysc MiB':>11} {'DuckDB MiB':>11} {'mlsysc rows':>12} {'DuckDB rows':>12}")
    print(header)
    print("-" * len(header))
    for row in steps:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        print(f"{row['step']:<16} {secs(row['mlsysc_seconds']):>9} {secs(row['duckdb_seconds']):>9} {ratio:>6} "
              f"{secs(row['mlsysc_cpu_seconds']):>13} {secs(row['duckdb_cpu_seconds']):>13} "
              f"{mib(row['mlsysc_peak_rss_mib']):>11} {mib(row['duckdb_peak_rss_mib']):>11} "
              f"{'' if row['mlsysc_rows'] is None else format(row['mlsysc_rows'], ','):>12} "
              f"{'' if row['duckdb_rows'] is None else format(row['duckdb_rows'], ','):>12}")
    print("ratio = mlsysc / DuckDB wall seconds. mlsysc: step seconds from its summary (ingest = the build's time "
          "less the later stages); per-step CPU and MiB sampled during that stage (psutil, 20 ms); total = the "
          "whole process, including the online store and model training that `mlsysc build` also runs (GNU time). "
          "DuckDB: each step in its own process; seconds and CPU of the step's SQL; MiB = that process's peak "
          "RSS, Python and the DuckDB library included; total = the four processes, start-up included.")

    if limited:
        print()
        header = (f"{'memory limit':<13} {'engine':<7} {'completed':<10} {'seconds':>8} {'CPU s':>8} "
                  f"{'peak RSS MiB':>13}  error")
        print(header)
        print("-" * len(header))
        for run in limited:
            for engine in ("mlsysc", "duckdb"):
                outcome = run[engine]
                lines = (outcome["error"] or "").strip().splitlines()
                error = [line for line in lines if "error" in line.lower()] or lines
                print(f"{str(run['memory_limit_mib']) + ' MiB':<13} {engine:<7} {str(outcome['completed']).lower():<10} "
                      f"{outcome['seconds']:>8.2f} {secs(outcome['cpu_seconds']):>8} {outcome['peak_rss_mib']:>13,.0f}  "
                      f"{error[0] if error else ''}")
        print(f"(the events are {in_memory / MIB:,.0f} MiB as Arrow arrays, {on_disk / MIB:,.0f} MiB as Parquet)")

    notes = [
        "Floating-point sums: mlsysc sums floats exactly and rounds once (order-independent); DuckDB adds the "
        "per-tile partial sums in floating point, in an order that depends on its threads, so amount_sum_7d and "
        "avg_amount_30d may differ in the last bits (and, in DuckDB, from one run to the next).",
        "DuckDB writes Parquet partitioned by dt; mlsysc writes Delta tables (Parquet + a transaction log, one "
        "commit per table) and keeps build state for incremental reruns. DuckDB's ingest step loads into its own "
        "database file; mlsysc's validates and writes the processed zone (and an empty quarantine).",
        "The DuckDB change-point query emits the same instants as mlsysc: for every tile with events, its end "
        "(the tile enters the window) and its end + W (it leaves), per aggregate resolution.",
    ]
    if verification:
        print()
        for table, result in verification.items():
            differing = [f"{name} {count:,}" + (f" (max rel {result['max_relative_difference'][name]:.1e})"
                                               if name in result["max_relative_difference"] else "")
                         for name, count in result["differing"].items() if count]
            print(f"compare {table}: {result['matched']:,} rows matched, {result['only_mlsysc']:,} only in mlsysc, "
                  f"{result['only_duckdb']:,} only in DuckDB; values differing: {', '.join(differing) or 'none'}")
            check = result.get("exact_sum_check")
            if check and check["sampled"]:
                print(f"  of {check['sampled']} sampled rows where amount_sum_7d differs, the exactly rounded sum "
                      f"(math.fsum of the window's amounts) is mlsysc's in {check['mlsysc_exact']}, "
                      f"DuckDB's in {check['duckdb_exact']}")
    for note in notes:
        print(f"note: {note}")

    if arguments.json:
        document = {
            "parameters": {"events": arguments.events, "users": arguments.users, "seed": arguments.seed,
                           "days": DAYS, "threads": arguments.threads, "duckdb_memory_mib": arguments.duckdb_memory,
                           "chargeback_rows": generated["chargebacks"]},
            "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                        "load_average_before": load_before[0], "load_average_after": os.getloadavg()[0]},
            "duckdb_version": duckdb.__version__,
            "data": {"parquet_mib": on_disk / MIB, "arrow_mib": in_memory / MIB},
            "steps": steps,
            "memory_limit_runs": limited,
            "verification": verification,
            "notes": notes,
        }
        arguments.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {arguments.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

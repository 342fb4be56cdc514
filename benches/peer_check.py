"""Peer benchmark: how long it takes to load and validate a large feature-definition project.

Measures, in the same run on the same machine, cold process starts of
  * `mlsysc check DIR` (the release binary in $CARGO_TARGET_DIR/release) on the project that
    benches/generate.rs makes (its templates read from that file, its fixed-seed numbers
    redrawn here: byte-identical), and
  * `feast plan` on an equivalent Feast repository: per domain two FileSources (tiny parquet files,
    since Feast's file-source validation opens them), an Entity, the feature groups `activity v1`
    and `activity v2` as two FeatureViews, the row-level group `signals` as an OnDemandFeatureView
    over a RequestSource, and a FeatureService per model; provider local, sqlite online store and
    a file registry. `feast plan` imports the repo, validates data sources and feature views, runs
    inference (including each on-demand transform on sample input) and diffs against the registry
    without writing to it. Feast has no counterpart of contracts, serve targets or monitors.
Each tool runs --runs times (median and min wall time); peak RSS comes from one more run of each
under GNU /usr/bin/time.

    python3 benches/peer_check.py [--domains N] [--runs N]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_LINES = 10_000  # what benches/check.rs generates
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "CA"]
MASK = (1 << 64) - 1


class Lcg:
    """The generator's fixed-seed LCG (Knuth's MMIX constants), with u64 wrap-around."""

    def __init__(self):
        self.state = 0x5EED_F4D1_5EED

    def between(self, low, high):
        self.state = (self.state * 6_364_136_223_846_793_005 + 1_442_695_040_888_963_407) & MASK
        return low + (self.state >> 33) % (high - low + 1)


def domains(count):
    """The per-domain choices, drawn in the order of `Domain::new` and named like its fields."""
    rng = Lcg()
    draws = [("large", 5, 50, 100), ("trees", 5, 40, 10), ("depth", 3, 8, 1),
             ("learning_rate_hundredths", 1, 20, 1), ("min_rows_per_leaf", 5, 50, 1),
             ("snapshot_end_month", 3, 8, 1), ("timeout_ms", 10, 50, 1), ("max_batch", 8, 64, 1),
             ("fallback_amount", 10, 100, 100), ("psi_hundredths", 10, 30, 1), ("auc_ratio_hundredths", 80, 95, 1)]
    for n in range(count):
        d = {"n": n, "home": COUNTRIES[rng.between(0, len(COUNTRIES) - 1)]}
        d.update({name: rng.between(low, high) * scale for name, low, high, scale in draws})
        d["holdout_month"] = d["snapshot_end_month"] + 1
        yield d


def rust_templates():
    """The five raw-string templates of benches/generate.rs (sources, v2's added features, entity
    group, row group, model and serving), read rather than copied so the two never drift apart.
    Rust's and Python's format strings agree on `{name}`, `{name:02}` and `{{ }}`."""
    templates = re.findall(r'r#"(.*?)"#', (ROOT / "benches" / "generate.rs").read_text(), re.S)
    if len(templates) != 5:
        sys.exit(f"error: expected 5 r#\"...\"# templates in benches/generate.rs, found {len(templates)}")
    return templates


def mlsys_domain(d, templates):
    """`domain_text` of benches/generate.rs, byte for byte."""
    sources, added, group, row, model = templates
    groups = [group.format(**d, version=v, added=added.format(**d) if v >= 2 else "") for v in (1, 2)]
    return "\n".join([sources.format(**d), *groups, row.format(**d), model.format(**d)])


def default_domain_count(templates):
    """As many domains as `generate_project(10_000)` makes: the first count reaching the target."""
    lines = 0
    for count, d in enumerate(domains(10**9), start=1):
        lines += len(mlsys_domain(d, templates).splitlines())
        if lines >= TARGET_LINES:
            return count


# Feature names and types shared by both sides (mlsys types: count -> int64, avg/sum(float) -> float64).
ACTIVITY_V1 = [("txn_count_7d", "Int64"), ("txn_count_30d", "Int64"), ("amount_sum_7d", "Float64"),
               ("avg_amount_30d", "Float64"), ("min_amount_30d", "Float64"), ("max_amount_30d", "Float64"),
               ("last_amount_30d", "Float64"), ("countries_30d", "Int64"), ("foreign_count_30d", "Int64"),
               ("web_amount_7d", "Float64"), ("foreign_share_30d", "Float64")]
ACTIVITY_V2 = ACTIVITY_V1 + [("devices_30d", "Int64"), ("large_count_7d", "Int64"), ("avg_amount_7d", "Float64")]
SIGNALS = [("amount_log", "Float64"), ("amount_vs_avg", "Float64"), ("foreign", "Bool"), ("night", "Bool"),
           ("web", "Bool"), ("amount_bucket", "Int64"), ("device_bucket", "Int64")]


FEAST_HEADER = '''import zlib
from datetime import timedelta

import numpy as np
import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Bool, Float64, Int64, String, UnixTimestamp
'''


def fields(pairs, indent):
    return "".join(f'{indent}Field(name="{name}", dtype={dtype}),\n' for name, dtype in pairs)


def feast_domain(d):
    """One domain as Feast definitions (the mlsys names, activity vK -> activity_N_vK)."""
    n, home = d["n"], d["home"]
    views = "".join(f'''
activity_{n}_v{v} = FeatureView(
    name="activity_{n}_v{v}",
    description="How much and how often a user of region {n} has paid recently (v{v}).",
    entities=[user_{n}],
    ttl=timedelta(days=30),
    source=payments_{n},
    schema=[
        Field(name="user_id", dtype=String),
{fields(schema, " " * 8)}    ],
)
''' for v, schema in [(1, ACTIVITY_V1), (2, ACTIVITY_V2)])
    return f'''{FEAST_HEADER}
payments_{n} = FileSource(
    name="payments_{n}", path="data/payments_{n}.parquet", timestamp_field="event_time",
    description="Card payments of region {n}, one row per authorised transaction.",
)
chargebacks_{n} = FileSource(
    name="chargebacks_{n}", path="data/chargebacks_{n}.parquet", timestamp_field="reported_at",
    description="Fraud reports for region {n}.",
)
user_{n} = Entity(name="user_{n}", join_keys=["user_id"], value_type=ValueType.STRING)
{views}
payment_{n} = RequestSource(
    name="payment_{n}",
    schema=[
{fields([("amount", "Float64"), ("country", "String"), ("channel", "String"), ("device", "String"),
         ("event_time", "UnixTimestamp")], " " * 8)}    ],
)


@on_demand_feature_view(
    sources=[activity_{n}_v1, payment_{n}],
    schema=[
{fields(SIGNALS, " " * 8)}    ],
    mode="pandas",
)
def signals_{n}(inputs: pd.DataFrame) -> pd.DataFrame:
    """Signals computed on a payment of region {n}."""
    amount = inputs["amount"].astype("float64")
    out = pd.DataFrame()
    out["amount_log"] = np.log1p(amount)
    out["amount_vs_avg"] = amount / (inputs["avg_amount_30d"].astype("float64").fillna(0.0) + 1)
    out["foreign"] = inputs["country"] != "{home}"
    out["night"] = pd.to_datetime(inputs["event_time"]).dt.hour < 6
    out["web"] = inputs["channel"].isin(["web", "api"])
    out["amount_bucket"] = np.searchsorted([10.0, 50.0, 200.0, 1000.0], amount, side="right").astype("int64")
    out["device_bucket"] = inputs["device"].map(lambda v: zlib.crc32(str(v).encode()) % 1024).astype("int64")
    return out


fraud_{n} = FeatureService(name="fraud_{n}", features=[signals_{n}, activity_{n}_v2])
'''


FEATURE_STORE_YAML = """project: peer_check
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online_store.db
entity_key_serialization_version: 3
"""


def write_parquet(data_dir, n):
    import pyarrow as pa
    import pyarrow.parquet as pq

    at = pa.array([1_780_000_000_000_000], pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({
        "txn_id": ["t1"], "user_id": ["u1"], "merchant": ["m1"], "amount": [12.5], "country": ["US"],
        "channel": ["web"], "device": ["d1"], "event_time": at}), data_dir / f"payments_{n}.parquet")
    pq.write_table(pa.table({"txn_id": ["t1"], "is_fraud": [False], "reported_at": at}),
                   data_dir / f"chargebacks_{n}.parquet")


def count(pattern, texts):
    return sum(len(re.findall(pattern, text, re.M)) for text in texts)


def measure(command, cwd, runs, before_each=None):
    """Wall times (s) of `runs` cold starts; aborts with the tool's output if one fails."""
    times = []
    for _ in range(runs):
        if before_each:
            before_each()
        start = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"error: `{' '.join(command)}` failed (exit {result.returncode}):\n"
                     + result.stdout.decode(errors="replace")[-3000:])
    return times


def peak_rss_mib(command, cwd, before=None):
    """Peak RSS of one more run, from GNU time (`ru_maxrss` of a child forked from this Python would
    include the parent's pre-exec memory). None when /usr/bin/time is missing."""
    if not os.access("/usr/bin/time", os.X_OK):
        return None
    if before:
        before()
    with tempfile.NamedTemporaryFile(mode="r") as report:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *command], cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return int(report.read().split()[-1]) / 1024  # KiB


def main():
    templates = rust_templates()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=default_domain_count(templates),
                        help="domains to generate (default: as many as make ~%d mlsys lines)" % TARGET_LINES)
    parser.add_argument("--runs", type=int, default=5, help="cold runs per tool (default 5)")
    args = parser.parse_args()
    if args.domains < 1 or args.runs < 1:
        parser.error("--domains and --runs must be at least 1")

    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    mlsysc = target / "release" / "mlsysc"
    if not mlsysc.is_file():
        sys.exit(f"error: {mlsysc} not found; build it with `cargo build --release --bin mlsysc` "
                 "(with the same CARGO_TARGET_DIR)")
    feast = shutil.which("feast")
    if feast is None:
        sys.exit("error: the `feast` command is not on PATH; install it with `pip install feast`")
    try:
        import pyarrow  # noqa: F401  (Feast depends on it; needed for the parquet files)
    except ImportError:
        sys.exit("error: pyarrow is missing; `pip install feast` brings it")
    feast_version = subprocess.run([sys.executable, "-c", "import feast; print(feast.__version__)"],
                                   capture_output=True, text=True).stdout.strip() or "?"

    with tempfile.TemporaryDirectory(prefix="peer_check_") as tmp:
        mlsys_dir, feast_dir = Path(tmp, "mlsys"), Path(tmp, "feast")
        (feast_dir / "data").mkdir(parents=True)
        mlsys_dir.mkdir()
        mlsys_texts, feast_texts = [], [FEATURE_STORE_YAML]
        for d in domains(args.domains):
            text = mlsys_domain(d, templates)
            (mlsys_dir / f"domain_{d['n']:04}.mlsys").write_text(text)
            mlsys_texts.append(text)
            text = feast_domain(d)
            (feast_dir / f"domain_{d['n']:04}.py").write_text(text)
            feast_texts.append(text)
            write_parquet(feast_dir / "data", d["n"])
        (feast_dir / "feature_store.yaml").write_text(FEATURE_STORE_YAML)

        check = subprocess.run([str(mlsysc), "check", str(mlsys_dir)], capture_output=True, text=True)
        if check.returncode != 0:
            sys.exit(f"error: the generated mlsys project does not check clean (exit {check.returncode}):\n"
                     + (check.stdout + check.stderr)[-3000:])

        def fresh_registry():  # every `feast plan` starts from the same empty registry
            for name in ("registry.db", "online_store.db"):
                (feast_dir / "data" / name).unlink(missing_ok=True)

        mlsys_command = [str(mlsysc), "check", str(mlsys_dir)]
        feast_command = [feast, "-c", str(feast_dir), "plan"]
        mlsys_times = measure(mlsys_command, tmp, args.runs)
        feast_times = measure(feast_command, tmp, args.runs, fresh_registry)
        mlsys_rss = peak_rss_mib(mlsys_command, tmp)
        feast_rss = peak_rss_mib(feast_command, tmp, fresh_registry)

    mlsys_defs = count(r"^(source|contract|entity|features|model|serve|monitor) ", mlsys_texts)
    feast_defs = count(r"^(\w+ = (FileSource|Entity|FeatureView|RequestSource|FeatureService)\(|"
                       r"@on_demand_feature_view)", feast_texts)
    features = args.domains * (len(ACTIVITY_V1) + len(ACTIVITY_V2) + len(SIGNALS))
    rows = [
        ("mlsysc", "check DIR", mlsys_defs, sum(len(t.splitlines()) for t in mlsys_texts), mlsys_times, mlsys_rss),
        (f"feast {feast_version}", "plan", feast_defs, sum(len(t.splitlines()) for t in feast_texts),
         feast_times, feast_rss),
    ]
    print(f"{args.domains} domains, {features} features per side, {args.runs} cold runs per tool\n")
    header = f"{'tool':<14} {'operation':<10} {'definitions':>11} {'lines':>7} {'median s':>9} {'min s':>8} {'peak RSS MiB':>13}"
    print(header)
    print("-" * len(header))
    for tool, operation, defs, lines, times, rss in rows:
        rss_text = "n/a" if rss is None else f"{rss:.1f}"
        print(f"{tool:<14} {operation:<10} {defs:>11} {lines:>7} {statistics.median(times):>9.3f} "
              f"{min(times):>8.3f} {rss_text:>13}")
    rss_ratio = "n/a" if mlsys_rss is None else f"{feast_rss / mlsys_rss:.1f}x"
    print(f"\nfeast/mlsys: median {statistics.median(feast_times) / statistics.median(mlsys_times):.1f}x, "
          f"min {min(feast_times) / min(mlsys_times):.1f}x, peak RSS {rss_ratio}")
    print("definitions: mlsys source, contract, entity, features (per version), model, serve, monitor; "
          "feast FileSource, Entity, FeatureView, RequestSource, OnDemandFeatureView, FeatureService")


if __name__ == "__main__":
    main()

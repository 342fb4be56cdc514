"""PSI benchmark: the monitor's population stability index against Evidently's `psi` stattest, on the
same data and the same bins: the time for 50 features over 356k rows, and the agreement of every value.

Reproduce (from the repository root; Evidently 0.7.23 needs pandas 2, its import fails on pandas 3):

    python3 -m venv /root/.cache/psibench-venv
    /root/.cache/psibench-venv/bin/pip install evidently==0.7.23 'pandas<3' pyarrow numpy
    cargo build --release -p mlsys-monitor --example psi_bench
    TMPDIR=/dev/shm /root/.cache/psibench-venv/bin/python benches/psi_vs_evidently.py

The binary is $CARGO_TARGET_DIR/release/examples/psi_bench (default target/), or --psi-bench PATH.
The two Parquet files (about 285 MB of values) go to $TMPDIR and are removed afterwards unless --keep.

What it does:
  1. Generates --rows reference rows and --rows current rows (default 356,000 each) of 50 float64
     features with --seed: normal, lognormal (some rounded to cents), integer-valued (Poisson, uniform),
     bool-like 0/1, features with missing values (null in Parquet, NaN in memory), a constant, and four
     edge cases (missing only in the current data, current values above every reference value, a rare
     missing value, see "definitions" below); about half of the features are shifted in the current
     data. Writes them as two Parquet files.
  2. Runs runtime/monitor/examples/psi_bench.rs on the files: per column, the monitor's baseline
     (`Bins::quantiles(values, 10)`, deciles with equal cuts merged, and `Distribution::of`), the
     current values counted into the same bins, and `psi`; it prints the edges, both count vectors,
     every PSI with all its digits, and the median seconds over --repetitions runs (in process, after
     reading the files) of: `baseline` (quantiles and reference counts, once per model version),
     `current` (current counts and PSI against the stored baseline, the per-period work) and
     `both_counted` (both samples counted into given bins and the PSI).
  3. Reads the same Parquet files into pandas and computes Evidently's PSI on the SAME bins. Evidently's
     `psi` stattest (evidently/legacy/calculations/stattests/psi.py, `_psi`, registered as
     `psi_stat_test`, the function its DataDrift metrics call per column) gets its shares from
     `get_binned_data` (stattests/utils.py): a numerical column with more than 20 distinct values is cut
     into Sturges histogram bins over both samples together (np.histogram_bin_edges), anything else is
     counted per distinct value. There is no way to hand it bin edges, so it is given, per row, the
     index of the monitor's bin the value falls in (np.searchsorted on the monitor's edges, the missing
     bin last, exactly `Bins::bin_of`; the script checks that these indexes reproduce the monitor's counts
     bit for bit) as a categorical column: it then counts each bin index and computes
     Σ (r − c)·ln(r / c), the same sum as the monitor's Σ (c − r)·ln(c / r). Timed: the public entry
     point `psi_stat_test(reference, current, ColumnType.Categorical, None)` for all 50 features
     (median of --repetitions runs), on pandas Series made beforehand; finding the bin indexes (numpy)
     is timed apart and not counted, which favours Evidently. For context only, Evidently's stattest on
     the raw values with its own bins (missing values dropped, as its drift metrics do) is timed too.
  4. Prints per feature both PSIs and their difference, the largest difference (goal: at most 1e-12)
     and the speed ratios, and writes it all as JSON with --json.

Definitions: where Evidently and the monitor differ, and how this compares them.
  - Missing values: the monitor counts them in a bin of their own (a share of all rows). Evidently's
    drift calculation (legacy/calculations/data_drift.py, get_one_column_drift) drops NaN and ±inf
    before the stattest, so its shares are of the present values only. Compared here on the monitor's
    definition: the missing bin is an ordinary bin index for Evidently. The "dropped" column shows what
    Evidently's own treatment gives on the same bins, for the features that have missing values.
  - Empty bins: the monitor reads a share of 0 as 1e-4. Evidently does too, unless the side's smallest
    non-zero share is at most 1e-4; then it reads 0 as that smallest share / 10^6. A bin empty on both
    sides is 0 in both (Evidently never sees it; the monitor's term is (1e-4 − 1e-4)·ln 1 = 0). The
    feature `edge_rare_missing` (20 missing reference values, 5.6e-5 of the rows, and current values in a
    bin empty in the reference) is built to show the difference: for such features the script reports
    the difference and checks Evidently's value against the monitor's counts under Evidently's rule
    instead (computed here in Python), so that the difference is shown to be that rule alone.
  - Rounding: both sum about a dozen terms in double precision, in different orders (np.sum pairwise,
    Evidently's bins in set order; the monitor in bin order) and with ln(r/c) against ln(c/r): the values
    may differ in their last bits, far below 1e-12.

Timings are single-threaded on both sides (the monitor's loop, pandas' value_counts); wall seconds on a
shared machine: the load average is printed before and after.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEATURES = 50
BINS = 10
EMPTY_BIN_SHARE = 1e-4


# ---------------------------------------------------------------------------------------------
# 1. Data


def feature_generators():
    """(name, reference(rng, rows), current(rng, rows)) for the 50 features; every third or so shifted."""
    import numpy as np

    def with_missing(values, rate, rng):
        values = values.astype(np.float64)
        values[rng.random(values.size) < rate] = np.nan
        return values

    features = []
    for index in range(12):
        mean, scale = index - 6.0, 0.5 + index / 4
        shift, stretch = (0.05 * (index % 4), 1.0 + 0.05 * (index % 3)) if index % 2 else (0.0, 1.0)
        features.append((f"normal_{index:02}",
                         lambda rng, n, m=mean, s=scale: rng.normal(m, s, n),
                         lambda rng, n, m=mean, s=scale, d=shift, k=stretch: rng.normal(m + d * s, s * k, n)))
    for index in range(10):
        sigma, cents = 0.4 + index / 10, index % 3 == 0
        shift = 0.08 * (index % 3)

        def lognormal(rng, n, mu=0.0, s=sigma, c=cents):
            values = rng.lognormal(mu, s, n)
            return np.round(values, 2) if c else values
        features.append((f"lognormal_{index:02}", lognormal,
                         lambda rng, n, s=sigma, c=cents, d=shift, f=lognormal: f(rng, n, d, s, c)))
    for index, (rate, changed) in enumerate([(0.3, 0.3), (1, 1.2), (3, 3), (10, 11), (50, 50)]):
        features.append((f"poisson_{index:02}",
                         lambda rng, n, r=rate: rng.poisson(r, n).astype(np.float64),
                         lambda rng, n, r=changed: rng.poisson(r, n).astype(np.float64)))
    for index, (high, current_high) in enumerate([(2, 2), (5, 6), (12, 12), (100, 90), (1000, 1000)]):
        features.append((f"uniform_int_{index:02}",
                         lambda rng, n, h=high: rng.integers(0, h, n).astype(np.float64),
                         lambda rng, n, h=current_high: rng.integers(0, h, n).astype(np.float64)))
    for index, (share, changed) in enumerate([(0.5, 0.5), (0.1, 0.12), (0.02, 0.02), (0.9, 0.85),
                                              (0.3, 0.3), (0.001, 0.002)]):
        features.append((f"bool_{index:02}",
                         lambda rng, n, p=share: (rng.random(n) < p).astype(np.float64),
                         lambda rng, n, p=changed: (rng.random(n) < p).astype(np.float64)))
    for index, (rate, changed) in enumerate([(0.01, 0.01), (0.05, 0.08), (0.1, 0.1), (0.02, 0.0),
                                             (0.3, 0.2), (0.01, 0.01), (0.05, 0.05), (0.2, 0.25)]):
        shift = 0.1 if index % 2 else 0.0
        features.append((f"missing_{index:02}",
                         lambda rng, n, r=rate, i=index: with_missing(
                             rng.normal(0, 1, n) if i % 2 else rng.lognormal(0, 1, n), r, rng),
                         lambda rng, n, r=changed, i=index, d=shift: with_missing(
                             rng.normal(d, 1, n) if i % 2 else rng.lognormal(d, 1, n), r, rng)))
    features.append(("constant", lambda rng, n: np.full(n, 3.5),
                     lambda rng, n: np.where(rng.random(n) < 0.01, 4.0, 3.5)))
    features.append(("edge_missing_current_only", lambda rng, n: rng.normal(0, 1, n),
                     lambda rng, n: with_missing(rng.normal(0, 1, n), 0.03, rng)))
    features.append(("edge_above_reference", lambda rng, n: rng.integers(0, 5, n).astype(np.float64),
                     lambda rng, n: rng.integers(0, 6, n).astype(np.float64)))

    def rare_missing(rng, n):
        values = rng.integers(0, 5, n).astype(np.float64)
        values[rng.choice(n, size=min(20, n), replace=False)] = np.nan
        return values
    features.append(("edge_rare_missing", rare_missing,
                     lambda rng, n: rng.integers(0, 6, n).astype(np.float64)))
    assert len(features) == FEATURES, len(features)
    return features


def generate(rows, seed, directory):
    """Writes reference.parquet and current.parquet (missing values as nulls); returns their paths."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    paths = {}
    for side in ("reference", "current"):
        columns = {}
        for name, reference, current in feature_generators():
            values = (reference if side == "reference" else current)(rng, rows)
            columns[name] = pa.array(values, pa.float64(), from_pandas=True)
        paths[side] = directory / f"{side}.parquet"
        pq.write_table(pa.table(columns), paths[side], compression="snappy")
    return paths["reference"], paths["current"]


# ---------------------------------------------------------------------------------------------
# 2. The monitor


def run_monitor(binary, reference, current, repetitions):
    result = subprocess.run([binary, reference, current, str(repetitions)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{binary} failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------------------
# 3. Evidently


def bin_indexes(values, edges):
    """Each value's bin as `Bins::bin_of` finds it: the number of edges below it, missing last."""
    import numpy as np

    indexes = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    indexes[np.isnan(values)] = len(edges) + 1
    return indexes


def median_seconds(repetitions, step):
    runs = []
    for _ in range(max(repetitions, 1)):
        started = time.perf_counter()
        step()
        runs.append(time.perf_counter() - started)
    return {"median": sorted(runs)[len(runs) // 2], "runs": runs}


def evidently_rule_psi(reference_counts, current_counts):
    """PSI from counts under Evidently's empty-bin rule (get_binned_data with feel_zeroes), bins
    empty on both sides left out as Evidently never sees them."""
    kept = [(r, c) for r, c in zip(reference_counts, current_counts) if r or c]

    def shares(counts):
        total = sum(counts)
        shares = [count / total for count in counts]
        smallest = min(share for share in shares if share)
        floor = smallest / 10**6 if smallest <= EMPTY_BIN_SHARE else EMPTY_BIN_SHARE
        return [share or floor for share in shares]
    reference, current = shares([r for r, _ in kept]), shares([c for _, c in kept])
    return math.fsum((r - c) * math.log(r / c) for r, c in zip(reference, current))


def rules_differ(reference_counts, current_counts):
    """Whether Evidently's empty-bin share differs from the monitor's 1e-4 for these counts."""
    kept = [(r, c) for r, c in zip(reference_counts, current_counts) if r or c]
    for side in (0, 1):
        counts = [pair[side] for pair in kept]
        total = sum(counts)
        if 0 in counts and min(count for count in counts if count) / total <= EMPTY_BIN_SHARE:
            return True
    return False


def run_evidently(reference_path, current_path, monitor, repetitions):
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from evidently.legacy.calculations.stattests import psi_stat_test
    from evidently.legacy.core import ColumnType

    reference = pq.read_table(reference_path).to_pandas()
    current = pq.read_table(current_path).to_pandas()
    columns = monitor["columns"]

    started = time.perf_counter()
    binned = []
    for column in columns:
        name, edges = column["name"], column["edges"]
        binned.append((pd.Series(bin_indexes(reference[name].to_numpy(), edges)),
                       pd.Series(bin_indexes(current[name].to_numpy(), edges))))
    binning_seconds = time.perf_counter() - started
    for column, (ours_reference, ours_current) in zip(columns, binned):
        size = len(column["reference_counts"])
        for side, series in (("reference_counts", ours_reference), ("current_counts", ours_current)):
            counts = np.bincount(series.to_numpy(), minlength=size).tolist()
            if counts != column[side]:
                sys.exit(f"{column['name']}: bin indexes give {side} {counts}, the monitor {column[side]}")

    def stattest_all():
        return [psi_stat_test(r, c, ColumnType.Categorical, None).drift_score for r, c in binned]

    values = [float(value) for value in stattest_all()]
    seconds = median_seconds(repetitions, stattest_all)

    # Evidently's own treatment of missing values (dropped), on the same bins.
    missing_bin = [len(column["edges"]) + 1 for column in columns]
    dropped = [float(psi_stat_test(r[r != m], c[c != m], ColumnType.Categorical, None).drift_score)
               if (r == m).any() or (c == m).any() else None
               for (r, c), m in zip(binned, missing_bin)]

    # Context only: Evidently's stattest on the raw values with its own bins, missing values dropped.
    raw = [(reference[column["name"]].dropna(), current[column["name"]].dropna()) for column in columns]

    def own_bins_all():
        return [psi_stat_test(r, c, ColumnType.Numerical, None).drift_score for r, c in raw]
    own_values = [float(value) for value in own_bins_all()]
    own_seconds = median_seconds(repetitions, own_bins_all)
    return {"psi": values, "seconds": seconds, "binning_seconds": binning_seconds, "dropped_missing": dropped,
            "own_bins_psi": own_values, "own_bins_seconds": own_seconds}


# ---------------------------------------------------------------------------------------------
# 4. Comparison


def compare(monitor, evidently):
    rows = []
    for index, column in enumerate(monitor["columns"]):
        ours, theirs = column["psi"], evidently["psi"][index]
        differ = rules_differ(column["reference_counts"], column["current_counts"])
        expected = evidently_rule_psi(column["reference_counts"], column["current_counts"]) if differ else ours
        rows.append({"feature": column["name"], "bins": len(column["reference_counts"]), "mlsys": ours,
                     "evidently": theirs, "abs_diff": abs(ours - theirs), "empty_bin_rule_differs": differ,
                     "abs_diff_vs_evidently_rule": abs(expected - theirs) if differ else None,
                     "evidently_missing_dropped": evidently["dropped_missing"][index],
                     "evidently_own_bins": evidently["own_bins_psi"][index]})
    return rows


def report(rows, monitor, evidently, load_before, load_after):
    print(f"{'feature':<27}{'bins':>5}{'mlsys PSI':>24}{'Evidently PSI':>24}{'|diff|':>10}"
          f"{'Ev. dropped':>13}{'Ev. own bins':>13}")
    for row in rows:
        dropped = row["evidently_missing_dropped"]
        note = ""
        if row["empty_bin_rule_differs"]:
            note = f"  empty-bin rule differs; |diff| vs our counts under Evidently's rule: " \
                   f"{row['abs_diff_vs_evidently_rule']:.1e}"
        print(f"{row['feature']:<27}{row['bins']:>5}{row['mlsys']!r:>24}{row['evidently']!r:>24}"
              f"{row['abs_diff']:>10.1e}{'-' if dropped is None else f'{dropped:.6f}':>13}"
              f"{row['evidently_own_bins']:>13.6f}{note}")
    same = [row for row in rows if not row["empty_bin_rule_differs"]]
    worst = max(row["abs_diff"] for row in same)
    explained = [row["abs_diff_vs_evidently_rule"] for row in rows if row["empty_bin_rule_differs"]]
    print(f"\nmax |mlsys - Evidently| over the {len(same)} features with the same definition: {worst:.3e} "
          f"(goal <= 1e-12: {'met' if worst <= 1e-12 else 'NOT met'})")
    if explained:
        print(f"{len(explained)} feature(s) where Evidently's empty-bin share differs (smallest share / 1e6): "
              f"max |our counts under Evidently's rule - Evidently| = {max(explained):.3e}")

    seconds = monitor["seconds"]
    ours = {name: seconds[name]["median"] for name in ("baseline", "current", "both_counted")}
    theirs = evidently["seconds"]["median"]
    print(f"\n{monitor['reference_rows']:,} reference and {monitor['current_rows']:,} current rows x "
          f"{len(rows)} features, median of {monitor['repetitions']} runs; load average "
          f"{load_before} before, {load_after} after")
    print(f"  Evidently psi stattest, both samples (bin indexes given)  {theirs:9.4f} s")
    print(f"  mlsys both samples counted into the bins + PSI            {ours['both_counted']:9.4f} s   "
          f"Evidently / mlsys = {theirs / ours['both_counted']:.1f}x")
    print(f"  mlsys current counted + PSI (baseline stored)             {ours['current']:9.4f} s   "
          f"Evidently / mlsys = {theirs / ours['current']:.1f}x")
    print(f"  mlsys baseline (quantiles + counts) + current + PSI       {ours['baseline'] + ours['current']:9.4f} s   "
          f"Evidently / mlsys = {theirs / (ours['baseline'] + ours['current']):.1f}x")
    print(f"  not counted for Evidently: finding the bin indexes (numpy) {evidently['binning_seconds']:.4f} s; "
          f"context: Evidently on raw values, its own bins, {evidently['own_bins_seconds']['median']:.4f} s")
    return {"max_abs_diff_same_definition": worst, "features_same_definition": len(same),
            "max_abs_diff_vs_evidently_rule": max(explained) if explained else None,
            "ratios": {"both_counted": theirs / ours["both_counted"], "current": theirs / ours["current"],
                       "baseline_and_current": theirs / (ours["baseline"] + ours["current"])}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=356_000, help="rows in each of the two files")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repetitions", type=int, default=7, help="timed runs of each step, median reported")
    parser.add_argument("--psi-bench", type=Path, help="the psi_bench example binary")
    parser.add_argument("--keep", action="store_true", help="keep the generated Parquet files")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = arguments.psi_bench or target / "release" / "examples" / "psi_bench"
    if not binary.exists():
        sys.exit(f"{binary} not found: run `cargo build --release -p mlsys-monitor --example psi_bench` first")

    directory = Path(tempfile.mkdtemp(prefix="mlsys-psi-"))
    try:
        reference, current = generate(arguments.rows, arguments.seed, directory)
        load_before = " ".join(f"{value:.2f}" for value in os.getloadavg())
        monitor = run_monitor(binary, reference, current, arguments.repetitions)
        evidently = run_evidently(reference, current, monitor, arguments.repetitions)
        load_after = " ".join(f"{value:.2f}" for value in os.getloadavg())
    finally:
        if arguments.keep:
            print(f"data kept in {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    rows = compare(monitor, evidently)
    summary = report(rows, monitor, evidently, load_before, load_after)
    if arguments.json:
        arguments.json.write_text(json.dumps({"load_average": [load_before, load_after], "summary": summary,
                                              "mlsys_seconds": monitor["seconds"],
                                              "evidently_seconds": evidently["seconds"],
                                              "evidently_binning_seconds": evidently["binning_seconds"],
                                              "evidently_own_bins_seconds": evidently["own_bins_seconds"],
                                              "features": rows}, indent=2))


if __name__ == "__main__":
    main()

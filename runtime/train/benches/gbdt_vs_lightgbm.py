#!/usr/bin/env python3
"""Built-in gbdt vs LightGBM: holdout AUC and training time on the same data, split and hyperparameters.

Generates a seeded data set (default 1M rows x 30 features, a nonlinear signal, ~5% NaN in a third of
the features) or reads one (--data FILE, the MLSYSMAT layout of examples/train_file.rs), trains our
gbdt through `cargo run --release -p mlsys-train --example train_file` and LightGBM (PyPI) with the
same hyperparameters and threads, on the first 80% of the rows in order, and prints a table of the
AUC on the last 20%, the training seconds (binning included for both) and the ratios.

    python3 runtime/train/benches/gbdt_vs_lightgbm.py [--rows 1000000] [--features 30] [--data FILE]
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np


def generate(rows, features, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    x[:, 3] = rng.integers(0, 8, size=rows)  # a small-cardinality integer feature
    x[:, 4] = rng.uniform(-2, 2, size=rows)
    logit = (
        1.2 * np.sin(2.0 * x[:, 0])
        + 0.9 * x[:, 1] * x[:, 2]
        + 0.6 * (x[:, 3] >= 5)
        - 0.5 * x[:, 4] ** 2
        + 0.7 * np.tanh(x[:, 5] * 3)
        + 0.4 * x[:, 6]
        + 0.3 * np.abs(x[:, 7])
        - 0.2
    )
    labels = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    missing_features = range(0, features, 3)
    for feature in missing_features:
        x[rng.uniform(size=rows) < 0.05, feature] = np.nan
    return x, labels


def write_matrix(path, x, labels):
    rows, features = x.shape
    with open(path, "wb") as out:
        out.write(b"MLSYSMAT")
        out.write(struct.pack("<QQ", rows, features))
        out.write(np.asfortranarray(x, dtype="<f8").tobytes(order="F"))
        out.write(labels.astype("<f8").tobytes())


def read_matrix(path):
    with open(path, "rb") as source:
        if source.read(8) != b"MLSYSMAT":
            sys.exit(f"{path}: not an MLSYSMAT file")
        rows, features = struct.unpack("<QQ", source.read(16))
        values = np.frombuffer(source.read(), dtype="<f8")
    x = values[: rows * features].reshape((features, rows)).T
    return x, values[rows * features:]


def auc(labels, scores):
    order = np.argsort(scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order]
    _, group_starts = np.unique(sorted_scores, return_index=True)
    group_ends = np.append(group_starts[1:], len(scores))
    negatives_below, numerator = 0.0, 0.0
    for start, end in zip(group_starts, group_ends):
        positives = sorted_labels[start:end].sum()
        negatives = (end - start) - positives
        numerator += positives * (negatives_below + negatives / 2.0)
        negatives_below += negatives
    total_positives = labels.sum()
    return numerator / (total_positives * (len(labels) - total_positives))


def run_ours(path, args, train_rows):
    manifest = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Cargo.toml")
    command = [
        "cargo", "run", "--quiet", "--release", "--manifest-path", manifest, "-p", "mlsys-train",
        "--example", "train_file", "--", path,
        "--train-rows", str(train_rows), "--trees", str(args.trees), "--depth", str(args.depth),
        "--learning-rate", str(args.learning_rate), "--min-rows-per-leaf", str(args.min_rows_per_leaf),
        "--l2", str(args.l2), "--threads", str(args.threads),
    ]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_lightgbm(x, labels, args, train_rows):
    import lightgbm

    params = {
        "objective": "binary",
        "max_depth": args.depth,
        "num_leaves": 2 ** args.depth,
        "learning_rate": args.learning_rate,
        "min_data_in_leaf": args.min_rows_per_leaf,
        "lambda_l2": args.l2,
        "max_bin": 255,
        "num_threads": args.threads,
        "bagging_fraction": 1.0,
        "bagging_freq": 0,
        "feature_fraction": 1.0,
        "verbose": -1,
        "seed": 0,
    }
    started = time.perf_counter()
    train_set = lightgbm.Dataset(x[:train_rows], label=labels[:train_rows], params={"max_bin": 255, "verbose": -1})
    booster = lightgbm.train(params, train_set, num_boost_round=args.trees)
    seconds = time.perf_counter() - started
    predictions = booster.predict(x[train_rows:], num_threads=args.threads)
    return {"auc": auc(labels[train_rows:], predictions), "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="an MLSYSMAT file instead of generated data")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--min-rows-per-leaf", type=int, default=20)
    parser.add_argument("--l2", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        if args.data:
            path = args.data
            x, labels = read_matrix(path)
        else:
            x, labels = generate(args.rows, args.features, args.seed)
            path = os.path.join(scratch, "data.mlsysmat")
            write_matrix(path, x, labels)
        train_rows = len(labels) * 8 // 10
        ours = run_ours(path, args, train_rows)
        theirs = run_lightgbm(x, labels, args, train_rows)

    print(f"data: {len(labels)} rows x {x.shape[1]} features, train {train_rows}, holdout {len(labels) - train_rows}")
    print(f"params: trees={args.trees} depth={args.depth} learning_rate={args.learning_rate} "
          f"min_rows_per_leaf={args.min_rows_per_leaf} l2={args.l2} threads={args.threads}")
    print(f"{'trainer':<12} {'holdout AUC':>12} {'train s':>10}")
    print(f"{'mlsys gbdt':<12} {ours['auc']:>12.5f} {ours['seconds']:>10.2f}")
    print(f"{'LightGBM':<12} {theirs['auc']:>12.5f} {theirs['seconds']:>10.2f}")
    print(f"AUC difference (mlsys - LightGBM): {ours['auc'] - theirs['auc']:+.5f}; "
          f"time ratio (mlsys / LightGBM): {ours['seconds'] / theirs['seconds']:.2f}x")


if __name__ == "__main__":
    main()

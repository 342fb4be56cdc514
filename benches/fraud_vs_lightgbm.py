"""Training benchmark on the fraud example's own training set: mlsys's built-in GBDT against LightGBM
with the same hyperparameters and threads, both trained by one `mlsysc build` and evaluated by mlsys
on the same holdout.

Reproduce (from the repository root; needs `pip install lightgbm onnx pyarrow numpy onnxruntime==1.31.1`):

    cargo build --release -p mlsysc -p mlsys-example-data
    python3 benches/fraud_vs_lightgbm.py

What it does: copies examples/fraud's .mlsys files into a scratch project that reads the generated
data in place (generating it first if needed), adds `fraud_lightgbm`, the same model as
`fraud_detector` (same examples, label, pinned features, snapshot and holdout, so the same training
set) trained by `command("python3 examples/trainers/lightgbm_onnx.py", ...)` with the GBDT's
hyperparameters, runs `mlsysc build`, and reads both versions from the registry
(`mlsysc models --format json`): every holdout metric and the registry's training seconds (the
built-in GBDT's fit; for LightGBM the trainer's whole run: writing the Parquet files, starting
Python, the fit, the ONNX export and its check). LightGBM's fit alone is what the trainer reports
(`fit_seconds`): the like-for-like comparison is that against the GBDT's seconds.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "fraud"
TRAINER = ROOT / "examples" / "trainers" / "lightgbm_onnx.py"

MODEL = """
model fraud_lightgbm {
  examples = transactions
  label = chargebacks.is_fraud on txn_id default false
  features = [txn_signals@v2, user_activity@v1]
  algorithm = command("python3 '%(trainer)s'", trees = 200, depth = 6, learning_rate = 0.05,
                      min_rows_per_leaf = 20, threads = %(threads)d, timeout = 30m)
  train {
    snapshot = 2026-01-01 .. 2026-04-30
    holdout = 2026-05-01 .. 2026-05-31
    metric = auc
  }
}
"""


def binaries(arguments):
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    mlsysc = arguments.mlsysc or target / "mlsysc"
    data = target / "mlsys-example-data"
    if not mlsysc.exists():
        sys.exit(f"{mlsysc} not found: run `cargo build --release -p mlsysc -p mlsys-example-data` first")
    return mlsysc, data


def run(command, cwd, env=None):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mlsysc", type=Path)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args()
    mlsysc, generator = binaries(arguments)
    if not (EXAMPLE / "data" / "raw" / "transactions").exists():
        if not generator.exists():
            sys.exit(f"no example data and no {generator}: run `cargo build --release -p mlsys-example-data`")
        run([generator, "fraud"], ROOT)

    scratch = Path(tempfile.mkdtemp(prefix="mlsys-fraud-lightgbm-"))
    try:
        for spec in EXAMPLE.glob("*.mlsys"):
            shutil.copy(spec, scratch / spec.name)
        (scratch / "data").symlink_to(EXAMPLE / "data")
        (scratch / "lightgbm.mlsys").write_text(MODEL % {"trainer": TRAINER, "threads": arguments.threads})
        build = run([mlsysc, "build"], scratch)
        print(build.strip().splitlines()[-1], file=sys.stderr)
        figures = {}
        for model in ["fraud_detector", "fraud_lightgbm"]:
            versions = json.loads(run([mlsysc, "models", model, "--format", "json"], scratch))
            lineage = versions[-1]["lineage"]
            figures[model] = {
                "algorithm": lineage["algorithm"],
                "metrics": lineage["metrics"],
                "reported": lineage.get("reported_metrics", {}),
                "seconds": lineage["seconds"],
                "training_set": lineage["training_set"],
                "rows": json.loads(lineage["training_manifest"])["snapshot"]["rows"],
            }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    ours, theirs = figures["fraud_detector"], figures["fraud_lightgbm"]
    print(f"fraud training set: {ours['rows']} snapshot rows, holdout May 2026; {arguments.threads} threads each")
    print(f"{'':24}{'mlsys gbdt':>14}{'LightGBM':>14}{'difference':>14}")
    for metric in ["auc", "logloss", "accuracy", "f1"]:
        a, b = ours["metrics"][metric], theirs["metrics"][metric]
        print(f"{'holdout ' + metric:24}{a:>14.4f}{b:>14.4f}{a - b:>+14.4f}")
    print(f"{'training seconds':24}{ours['seconds']:>14.2f}{theirs['seconds']:>14.2f}"
          f"{ours['seconds'] / theirs['seconds']:>13.2f}x  (LightGBM: the whole program run)")
    if "fit_seconds" in theirs["reported"]:
        fit = theirs["reported"]["fit_seconds"]
        print(f"{'fit alone':24}{ours['seconds']:>14.2f}{fit:>14.2f}{ours['seconds'] / fit:>13.2f}x")
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

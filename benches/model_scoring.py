"""Per-row and batch scoring of one gradient-boosted model, the fraud example's shape (200 trees of
depth 6 on 15 numeric inputs), by mlsys's model compiler (Cranelift) against lleaves (LLVM),
treelite + tl2cgen (generated C, gcc) and ONNX Runtime, all called from one Rust process.

Reproduce (from the repository root):

    pip install numpy lightgbm lleaves "llvmlite==0.44.0" treelite tl2cgen onnxruntime==1.31.1
    cargo build --release -p mlsys-jit --example score_bench
    python3 benches/model_scoring.py

(lleaves 1.3 needs llvmlite's legacy pass manager, removed in llvmlite 0.45.)

What it does: generates float32-valued data with missing values in some inputs, trains LightGBM
(`binary`, 200 rounds, max_depth 6, 64 leaves, learning rate 0.05, min_data_in_leaf 20), saves its
text model, compiles it with lleaves (object file linked into a shared library; its default cache
blocking for batches, one block of all trees for single rows, as lleaves advises) and tl2cgen
(`export_lib`, gcc), and runs `score_bench`, which imports the same text model into mlsys's
`TreeEnsemble`, compiles it with `mlsys_jit::compile_model`, loads both libraries and ONNX Runtime
(the model exported by `mlsys_train::to_onnx`, through `OnnxScorer`), checks every engine's
probabilities against mlsys's and mlsys's against LightGBM's own, and times each engine: per row
(one row per call, in a loop) and batch (all rows in one call where the engine has one; tl2cgen's
library scores one row per call). Figures are the median of 9 runs, in nanoseconds per row.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEATURES = 15
TREES = 200


def generate(rows, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES)).astype(np.float32).astype(np.float64)
    # Missing values in a third of the inputs: LightGBM gives those splits a learned default side.
    for feature in range(0, FEATURES, 3):
        x[rng.random(rows) < 0.05, feature] = np.nan
    filled = np.nan_to_num(x)
    signal = filled[:, 0] + 0.5 * filled[:, 1] * filled[:, 2] - np.abs(filled[:, 3]) + 0.3 * filled[:, 4] ** 2
    labels = (signal + rng.normal(size=rows) > 0.5).astype(np.float64)
    return x, labels


def prepare(scratch, rows, threads):
    import lightgbm
    import lleaves
    import tl2cgen
    import treelite

    x, labels = generate(50_000, seed=1)
    parameters = {
        "objective": "binary",
        "num_leaves": 64,
        "max_depth": 6,
        "learning_rate": 0.05,
        "min_data_in_leaf": 20,
        "num_threads": threads,
        "seed": 1,
        "deterministic": True,
        "verbose": -1,
    }
    booster = lightgbm.train(parameters, lightgbm.Dataset(x, labels), num_boost_round=TREES)
    model = scratch / "model.txt"
    booster.save_model(str(model))
    scoring, _ = generate(rows, seed=2)
    (scratch / "rows.f64").write_bytes(scoring.astype("<f8").tobytes())
    (scratch / "lightgbm.f64").write_bytes(booster.predict(scoring).astype("<f8").tobytes())

    # lleaves' defaults for batches; one cache block of all trees for single rows, as it advises.
    for name, block in [("lleaves", 34), ("lleaves_row", TREES)]:
        compiled = lleaves.Model(model_file=str(model))
        compiled.compile(cache=str(scratch / f"{name}.o"), fblocksize=block)
        subprocess.run(["cc", "-shared", "-o", scratch / f"{name}.so", scratch / f"{name}.o"], check=True)
    tl2cgen.export_lib(treelite.frontend.load_lightgbm_model(str(model)), toolchain="gcc",
                       libpath=str(scratch / "tl2cgen.so"), params={})


def bench(binary, scratch):
    arguments = [scratch / "model.txt", scratch / "rows.f64", str(FEATURES), scratch / "lightgbm.f64",
                 scratch / "lleaves.so", scratch / "lleaves_row.so", scratch / "tl2cgen.so"]
    result = subprocess.run([binary, *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"score_bench failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)


def report(run, figures, load):
    print(f"run {run}: {figures['rows']} rows, {figures['trees']} trees, {figures['nodes']} nodes; "
          f"compile {figures['compile_ms']:.0f} ms; load average {load}")
    print(f"  mlsys bit-identical to Model::predict: {figures['mlsys_bit_identical_to_predict']}; "
          f"max |mlsys - LightGBM| = {figures['mlsys_max_abs_diff_vs_lightgbm']:.1e}")
    engines = figures["engines"]
    lleaves = next(engine for engine in engines if engine["engine"] == "lleaves")
    print(f"  {'engine':20}{'per row ns':>12}{'vs lleaves':>12}{'batch ns/row':>14}{'vs lleaves':>12}"
          f"{'max |diff| vs mlsys':>22}")
    for engine in engines:
        print(f"  {engine['engine']:20}{engine['per_row_ns']:>12.1f}"
              f"{engine['per_row_ns'] / lleaves['per_row_ns']:>11.2f}x{engine['batch_ns']:>14.1f}"
              f"{engine['batch_ns'] / lleaves['batch_ns']:>11.2f}x{engine['max_abs_diff_vs_mlsys']:>22.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="rows scored per run")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="LightGBM training threads")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "examples" / "score_bench"
    if not binary.exists():
        sys.exit(f"{binary} not found: run `cargo build --release -p mlsys-jit --example score_bench` first")
    with tempfile.TemporaryDirectory(prefix="mlsys-model-scoring-") as directory:
        scratch = Path(directory)
        prepare(scratch, arguments.rows, arguments.threads)
        runs = []
        for run in range(1, arguments.runs + 1):
            load = " ".join(f"{value:.2f}" for value in os.getloadavg())
            figures = bench(binary, scratch)
            report(run, figures, load)
            runs.append({"load_average": load, **figures})
    if arguments.json:
        arguments.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()

"""A trainer for `algorithm = command("python3 examples/trainers/lightgbm_onnx.py", ...)`: LightGBM on
the training set mlsys writes, exported to ONNX for mlsys to evaluate, register and serve.

Needs `pip install lightgbm onnx pyarrow numpy`. The environment (lang-spec/grammar.md, 7.5) gives
the Parquet training set and holdout, the hyperparameters (JSON), where to write the model and where
to write metrics. Hyperparameters use the names of mlsys's own `gbdt` where they exist, so the same
model can be trained either way and compared on the same holdout:

    trees, depth, learning_rate, min_rows_per_leaf, l2, subsample  (as gbdt)
    threads                                                          (LightGBM's num_threads)
    early_stopping_rounds                                           (on the holdout, 0 = off)

Any other name is passed to LightGBM as it is (e.g. `num_leaves = 63`, `feature_fraction = 0.8`).

The export is exact: every tree becomes ai.onnx.ml TreeEnsemble (opset 5) nodes with float64
thresholds and leaf values, and missing values follow LightGBM's rules (NaN to the default side
for splits that learned one, otherwise read as 0.0). The script checks ONNX Runtime's scores
against LightGBM's own on the holdout before it writes the model, when onnxruntime is installed.
"""

import json
import os
import sys
import time

import lightgbm
import numpy as np
import onnx
import pyarrow.parquet as pq
from onnx import TensorProto, helper, numpy_helper

RENAMED = {
    "trees": None,  # the number of boosting rounds, not a LightGBM parameter
    "depth": "max_depth",
    "learning_rate": "learning_rate",
    "min_rows_per_leaf": "min_data_in_leaf",
    "l2": "lambda_l2",
    "subsample": "bagging_fraction",
    "threads": "num_threads",
    "early_stopping_rounds": None,
}


def load(path):
    table = pq.read_table(path)
    names = [name for name in table.column_names if name != "label"]
    x = np.column_stack([table.column(name).to_numpy() for name in names]).astype(np.float64)
    return names, x, table.column("label").to_numpy().astype(np.float64)


def lightgbm_params(hyper, classification, seed):
    params = {
        "objective": "binary" if classification else "regression",
        "max_bin": 255,
        "verbose": -1,
        "seed": seed,
        "deterministic": True,
    }
    for name, value in hyper.items():
        target = RENAMED.get(name, name)
        if target is not None:
            params[target] = value
    if "depth" in hyper and "num_leaves" not in hyper:
        params["num_leaves"] = 2 ** int(hyper["depth"])
    if float(hyper.get("subsample", 1.0)) < 1.0:
        params["bagging_freq"] = 1
    return params


def missing_goes_left(node):
    if node["missing_type"] == "None":
        # LightGBM reads NaN as 0.0 when the split learned no missing direction.
        return 0.0 <= float(node["threshold"])
    return bool(node["default_left"])


class Ensemble:
    """The ai.onnx.ml TreeEnsemble (opset 5) arrays: interior nodes and leaves numbered globally."""

    def __init__(self):
        self.roots, self.features, self.splits = [], [], []
        self.true_ids, self.true_leafs, self.false_ids, self.false_leafs = [], [], [], []
        self.missing_true, self.leaf_weights = [], []

    def leaf(self, value):
        self.leaf_weights.append(float(value))
        return len(self.leaf_weights) - 1, 1

    def interior(self, feature, split, missing_left):
        index = len(self.features)
        self.features.append(feature)
        self.splits.append(split)
        self.missing_true.append(int(missing_left))
        for array in (self.true_ids, self.true_leafs, self.false_ids, self.false_leafs):
            array.append(0)
        return index

    def visit(self, node):
        if "leaf_value" in node:
            return self.leaf(node["leaf_value"])
        if node["decision_type"] != "<=":
            sys.exit(f"unsupported LightGBM split `{node['decision_type']}` (categorical features are not exported)")
        index = self.interior(int(node["split_feature"]), float(node["threshold"]), missing_goes_left(node))
        self.true_ids[index], self.true_leafs[index] = self.visit(node["left_child"])
        self.false_ids[index], self.false_leafs[index] = self.visit(node["right_child"])
        return index, 0

    def add_tree(self, structure):
        if "leaf_value" in structure:
            # A single-leaf tree: a split every row takes to the same leaf.
            leaf, _ = self.leaf(structure["leaf_value"])
            index = self.interior(0, float("inf"), True)
            self.true_ids[index], self.true_leafs[index] = leaf, 1
            self.false_ids[index], self.false_leafs[index] = leaf, 1
            self.roots.append(index)
            return
        self.roots.append(len(self.features))
        self.visit(structure)


def to_onnx(booster, features, classification):
    ensemble = Ensemble()
    for tree in booster.dump_model()["tree_info"]:
        ensemble.add_tree(tree["tree_structure"])
    output = "probability" if classification else "prediction"
    nodes = [
        helper.make_node(
            "TreeEnsemble",
            ["features"],
            ["raw" if classification else output],
            domain="ai.onnx.ml",
            n_targets=1,
            aggregate_function=1,  # SUM
            post_transform=0,  # NONE
            tree_roots=ensemble.roots,
            nodes_featureids=ensemble.features,
            nodes_modes=numpy_helper.from_array(np.zeros(len(ensemble.features), dtype=np.uint8)),  # BRANCH_LEQ
            nodes_splits=numpy_helper.from_array(np.array(ensemble.splits, dtype=np.float64)),
            nodes_truenodeids=ensemble.true_ids,
            nodes_trueleafs=ensemble.true_leafs,
            nodes_falsenodeids=ensemble.false_ids,
            nodes_falseleafs=ensemble.false_leafs,
            nodes_missing_value_tracks_true=ensemble.missing_true,
            leaf_targetids=[0] * len(ensemble.leaf_weights),
            leaf_weights=numpy_helper.from_array(np.array(ensemble.leaf_weights, dtype=np.float64)),
        )
    ]
    if classification:
        nodes.append(helper.make_node("Sigmoid", ["raw"], [output]))
    graph = helper.make_graph(
        nodes,
        "lightgbm",
        [helper.make_tensor_value_info("features", TensorProto.DOUBLE, ["N", features])],
        [helper.make_tensor_value_info(output, TensorProto.DOUBLE, ["N", 1])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)]
    )
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def check_with_onnxruntime(model, booster, x):
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"features": x})[0].reshape(-1)
    expected = booster.predict(x)
    difference = float(np.max(np.abs(scores - expected))) if len(x) else 0.0
    if difference > 1e-9:
        sys.exit(f"the ONNX export differs from LightGBM by up to {difference}")
    return difference


def main():
    classification = os.environ["MLSYS_TASK"] == "classification"
    with open(os.environ["MLSYS_HYPERPARAMETERS"]) as handle:
        hyper = json.load(handle)
    names, x, y = load(os.environ["MLSYS_TRAINING_SET"])
    _, holdout_x, holdout_y = load(os.environ["MLSYS_HOLDOUT"])
    params = lightgbm_params(hyper, classification, int(os.environ.get("MLSYS_SEED", "0")))
    rounds = int(hyper.get("trees", 100))
    print(f"LightGBM {lightgbm.__version__}: {len(y)} rows, {len(names)} features, {rounds} rounds, {params}",
          file=sys.stderr)

    started = time.perf_counter()
    training = lightgbm.Dataset(x, label=y, feature_name=[f"f{i}" for i in range(len(names))],
                                params={"max_bin": params["max_bin"], "verbose": -1})
    callbacks, valid_sets = [], []
    stopping = int(hyper.get("early_stopping_rounds", 0))
    if stopping > 0:
        valid_sets = [lightgbm.Dataset(holdout_x, label=holdout_y, reference=training)]
        callbacks = [lightgbm.early_stopping(stopping, verbose=False)]
    booster = lightgbm.train(params, training, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks)
    fit_seconds = time.perf_counter() - started

    model = to_onnx(booster, len(names), classification)
    difference = check_with_onnxruntime(model, booster, holdout_x)
    onnx.save(model, os.environ["MLSYS_MODEL_OUTPUT"])
    metrics = {"fit_seconds": fit_seconds, "trees": float(booster.num_trees())}
    if difference is not None:
        metrics["onnx_max_difference"] = difference
    with open(os.environ["MLSYS_METRICS_OUTPUT"], "w") as handle:
        json.dump(metrics, handle)
    print(f"trained in {fit_seconds:.2f} s; ONNX written", file=sys.stderr)


if __name__ == "__main__":
    main()

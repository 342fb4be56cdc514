"""End-to-end serving benchmark: `mlsysc deploy` scoring `fraud_api` (store lookup of
user_activity@v1, row-level txn_signals@v2, GBDT with 200 trees of depth 6) against the stack a team
would otherwise assemble from PyPI: Feast's feature server for the same aggregates plus MLServer
scoring a LightGBM model with the same trees and depth, trained on the same training set.

Reproduce (from the repository root):

    cargo build --release --locked --bin mlsysc --bin example-data --example serve_load
    python3 -m venv /tmp/feast-venv
    /tmp/feast-venv/bin/pip install feast lightgbm onnx onnxruntime==1.31.1 pyarrow pandas
    python3 -m venv /tmp/mlserver-venv
    /tmp/mlserver-venv/bin/pip install mlserver==1.7.1 mlserver-lightgbm==1.7.1
    /tmp/feast-venv/bin/python benches/serving_vs_feast_mlserver.py --mlserver /tmp/mlserver-venv/bin/mlserver

(MLServer gets its own environment: in one with Feast, pip settles on an old MLServer.)

What it does, in one run and a scratch directory it removes afterwards:
1. Writes the fraud example's data, copies examples/fraud's .mlsys files, adds `fraud_peer`: the
   same examples, label, features, snapshot and holdout as `fraud_detector`, trained by
   examples/trainers/lightgbm_onnx.py (LightGBM, 200 trees, depth 6, the GBDT's other
   hyperparameters) through a wrapper that also keeps the training set mlsys wrote. Then
   `mlsysc build`, `approve` and `promote fraud_detector 1 --to production`.
2. Trains LightGBM once more on that training set, with the same parameters and seed, and saves it
   in LightGBM's own format for MLServer (`mlserver-lightgbm` loads a booster file, not ONNX).
3. Starts `mlsysc deploy` on core 0 and reads user_activity@v1 for every user from its feature API
   at the requests' time (2026-07-02, the day after the data ends), so Feast serves the same
   numbers: they go to a Parquet file, `feast apply` and `feast materialize` put them in Feast's
   SQLite online store.
4. For each engine in turn (the others stopped), the servers on core 0 (`taskset -c 0`) and the
   load generator (`serve_load`, benches/load/) on core 1: keep-alive connections, one row per
   request, closed loop at each concurrency, a warmup then a measured window. Rows are real payments
   of the data (so user ids vary and every request looks up the store), at times on 2026-07-02.
   The peer's client does what the team's service would: Feast for the aggregates, the six row-level
   signals computed in the client (not on the server core, which favours the peer), then MLServer's
   V2 `infer`. mlsys is measured twice: `fraud_api` as examples/fraud declares it, whose
   `batching { max_size = 32, max_wait = 2ms }` holds a lone request for the 2 ms window, and the
   same target without the batching block (the default engines: mlsys,mlsys-unbatched,peer).
5. Prints p50 / p99 latency and requests per second per engine and concurrency, the ratios, and
   `uptime`'s load average before and after each measurement (other work on the machine shows there).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "fraud"
TRAINER = ROOT / "examples" / "trainers" / "lightgbm_onnx.py"
AGGREGATES = ["txn_count_7d", "avg_amount_30d", "max_amount_30d", "foreign_count_30d", "countries_30d",
              "foreign_share_30d", "txn_count_30d"]
REQUEST_DAY = "2026-07-02"
# fraud_api's batching window: a lone request waits for it, so it is measured with and without.
BATCHING = "  batching { max_size = 32, max_wait = 2ms }\n"
UNBATCHED = "mlsys, no batching"
HYPER = dict(trees=200, depth=6, learning_rate=0.05, min_rows_per_leaf=20, threads=1)

PEER_MODEL = """
model fraud_peer {
  examples = transactions
  label = chargebacks.is_fraud on txn_id default false
  features = [txn_signals@v2, user_activity@v1]
  algorithm = command("'%(python)s' '%(wrapper)s'", trees = 200, depth = 6, learning_rate = 0.05,
                      min_rows_per_leaf = 20, threads = 1, timeout = 30m)
  train {
    snapshot = 2026-01-01 .. 2026-04-30
    holdout = 2026-05-01 .. 2026-05-31
    metric = auc
  }
}
"""

# Keeps the training set mlsys writes, then runs the LightGBM trainer as it is.
WRAPPER = """
import os, runpy, shutil, sys
shutil.copy(os.environ["MLSYS_TRAINING_SET"], %(keep)r)
sys.argv = [%(trainer)r]
runpy.run_path(%(trainer)r, run_name="__main__")
"""

FEATURE_STORE_YAML = """project: fraud_bench
registry: %(repo)s/registry.db
provider: local
online_store:
  type: sqlite
  path: %(repo)s/online_store.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

FEATURE_REPO = """from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64

user = Entity(name="user", join_keys=["user_id"])
source = FileSource(path=%(parquet)r, timestamp_field="event_timestamp")
user_activity = FeatureView(
    name="user_activity",
    entities=[user],
    ttl=timedelta(0),
    schema=[%(fields)s],
    source=source,
    online=True,
)
"""


def main():
    arguments = parse_arguments()
    tools = find_tools(arguments)
    scratch = Path(tempfile.mkdtemp(prefix="mlsys-serve-bench-"))
    servers = []
    try:
        project = prepare_project(tools, scratch)
        booster = train_booster(scratch)
        rows = request_rows(project, scratch, arguments.rows)
        figures = measure(arguments, tools, project, booster, rows, scratch, servers)
        print_table(figures)
        if arguments.json:
            arguments.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        for server in servers:
            stop(server)
        if arguments.keep:
            print(f"kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    parser.add_argument("--mlsysc", type=Path, default=target / "mlsysc")
    parser.add_argument("--example-data", type=Path, default=target / "example-data")
    parser.add_argument("--load", type=Path, default=target / "examples" / "serve_load")
    parser.add_argument("--mlserver", default=shutil.which("mlserver") or "mlserver",
                        help="the `mlserver` executable (its own virtual environment)")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds sent but not counted")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--rows", type=int, default=5000, help="distinct request rows, cycled")
    parser.add_argument("--engines", default="mlsys,mlsys-unbatched,peer",
                        help="mlsys: fraud_api as in examples/fraud; mlsys-unbatched: without its batching block; "
                             "peer: Feast + MLServer")
    parser.add_argument("--server-core", default="0")
    parser.add_argument("--client-core", default="1")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return parser.parse_args()


def find_tools(arguments):
    feast = Path(sys.executable).parent / "feast"
    tools = {"mlsysc": arguments.mlsysc, "example-data": arguments.example_data, "load": arguments.load,
             "feast": feast, "mlserver": Path(arguments.mlserver)}
    if "peer" not in arguments.engines.split(","):
        del tools["mlserver"]
    for name, path in tools.items():
        if not path.exists():
            sys.exit(f"{name}: {path} not found (see the docstring: `{Path(__file__).name} --help`)")
    if not shutil.which("taskset"):
        sys.exit("taskset not found (util-linux)")
    return tools


def run(command, cwd=None, env=None):
    result = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ort_environment():
    import onnxruntime

    library = Path(onnxruntime.__file__).parent / "capi" / f"libonnxruntime.so.{onnxruntime.__version__}"
    return {**os.environ, "ORT_DYLIB_PATH": str(library)}


def prepare_project(tools, scratch):
    """The fraud project with `fraud_peer` beside it, built, v1 of fraud_detector in production."""
    project = scratch / "fraud"
    project.mkdir()
    for spec in EXAMPLE.glob("*.mlsys"):
        shutil.copy(spec, project / spec.name)
    wrapper = scratch / "keep_training_set.py"
    wrapper.write_text(WRAPPER % {"keep": str(scratch / "training.parquet"), "trainer": str(TRAINER)})
    with open(project / "model.mlsys", "a") as spec:
        spec.write(PEER_MODEL % {"python": sys.executable, "wrapper": wrapper})
    log("writing the fraud example's data")
    run([tools["example-data"], "fraud", "--project", project])
    log("mlsysc build (trains fraud_detector and fraud_peer)")
    run([tools["mlsysc"], "build", project], env=ort_environment())
    run([tools["mlsysc"], "approve", "fraud_detector", "1", project, "--by", "bench"])
    run([tools["mlsysc"], "promote", "fraud_detector", "1", project, "--to", "production"])
    return project


def train_booster(scratch):
    """LightGBM on the training set mlsys wrote, as the trainer trains it, in LightGBM's format."""
    import importlib.util

    import lightgbm

    spec = importlib.util.spec_from_file_location("lightgbm_onnx", TRAINER)
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    names, x, y = trainer.load(scratch / "training.parquet")
    params = trainer.lightgbm_params(HYPER, True, 0)
    booster = lightgbm.train(params, lightgbm.Dataset(x, label=y), num_boost_round=HYPER["trees"])
    path = scratch / "mlserver" / "fraud" / "model.txt"
    path.parent.mkdir(parents=True)
    booster.save_model(str(path))
    log(f"LightGBM: {booster.num_trees()} trees on {len(names)} inputs: {', '.join(names)}")
    return path


def request_rows(project, scratch, count):
    """`count` payments from the data's last month, at times spread over the request day."""
    import pyarrow.dataset as ds

    table = ds.dataset(project / "data" / "raw" / "transactions", format="parquet", partitioning="hive").to_table(
        columns=["user_id", "amount", "country", "channel"])
    frame = table.to_pandas().dropna()
    frame = frame[frame["amount"] >= 0].tail(count * 3).iloc[::3].head(count)
    rows = []
    for index, row in enumerate(frame.itertuples(index=False)):
        minute = index * 37 % (24 * 60)
        rows.append({"user_id": row.user_id, "amount": float(row.amount), "country": row.country,
                     "channel": row.channel, "event_time": f"{REQUEST_DAY}T{minute // 60:02}:{minute % 60:02}:00Z"})
    path = scratch / "rows.json"
    path.write_text(json.dumps(rows))
    log(f"{len(rows)} request rows, {len({row['user_id'] for row in rows})} users")
    return path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command, cwd, log_path, core, env=None):
    log_file = open(log_path, "w")
    process = subprocess.Popen(["taskset", "-c", core, *map(str, command)], cwd=cwd, stdout=log_file,
                               stderr=subprocess.STDOUT, env=env, start_new_session=True)
    process.log_path = log_path
    return process


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_ready(process, url, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{url}: the server exited ({process.returncode}):\n{Path(process.log_path).read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} not ready after {timeout} s:\n{Path(process.log_path).read_text()}")


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def start_mlsys(arguments, tools, project, scratch, servers):
    port = free_port()
    server = start([tools["mlsysc"], "deploy", project, "--port", port], project, scratch / "deploy.log",
                   arguments.server_core)
    servers.append(server)
    wait_ready(server, f"http://127.0.0.1:{port}/ready")
    return server, port


def user_activity_values(port, rows_path):
    """user_activity@v1 of every requested user from mlsys's feature API, at the request day's start."""
    users = sorted({row["user_id"] for row in json.loads(rows_path.read_text())})
    values = {name: [] for name in AGGREGATES}
    for start_at in range(0, len(users), 200):
        chunk = users[start_at:start_at + 200]
        answer = post(f"http://127.0.0.1:{port}/get-online-features", {
            "features": [f"user_activity@v1:{name}" for name in AGGREGATES],
            "entities": {"user_id": chunk, "event_time": [f"{REQUEST_DAY}T00:00:00Z"] * len(chunk)},
        })
        names = answer["metadata"]["feature_names"]
        for name in AGGREGATES:
            column = names.index(name) if name in names else names.index(f"user_activity@v1:{name}")
            values[name].extend(answer["results"][column]["values"])
    return users, values


def prepare_feast(users, values, scratch):
    """A Feast repo whose SQLite online store holds the same user_activity values."""
    import pandas as pd

    repo = scratch / "feast_repo"
    repo.mkdir()
    frame = pd.DataFrame({"user_id": users, **{name: pd.array(values[name], dtype="float64") for name in AGGREGATES}})
    frame["event_timestamp"] = pd.Timestamp(f"{REQUEST_DAY}T00:00:00Z")
    parquet = repo / "user_activity.parquet"
    frame.to_parquet(parquet)
    fields = ", ".join(f'Field(name="{name}", dtype=Float64)' for name in AGGREGATES)
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML % {"repo": repo})
    (repo / "features.py").write_text(FEATURE_REPO % {"parquet": str(parquet), "fields": fields})
    feast = Path(sys.executable).parent / "feast"
    run([feast, "apply"], cwd=repo)
    run([feast, "materialize", "2026-06-01T00:00:00", f"{REQUEST_DAY}T23:59:59"], cwd=repo)
    log(f"Feast: {len(users)} users materialized into SQLite")
    return repo


def start_peer(arguments, tools, feast_repo, booster, scratch, servers):
    feast_port, http_port = free_port(), free_port()
    feast = start([tools["feast"], "serve", "-p", feast_port, "--no-access-log", "--max-requests", "0",
                   "-r", "3600"], feast_repo, scratch / "feast.log", arguments.server_core)
    servers.append(feast)
    models = booster.parent.parent
    (models / "settings.json").write_text(json.dumps({
        "http_port": http_port, "grpc_port": free_port(), "metrics_port": free_port(),
        "parallel_workers": 0, "debug": False}))
    (booster.parent / "model-settings.json").write_text(json.dumps({
        "name": "fraud", "implementation": "mlserver_lightgbm.LightGBMModel",
        "parameters": {"uri": "./model.txt"}}))
    mlserver = start([tools["mlserver"], "start", models], models, scratch / "mlserver.log", arguments.server_core)
    servers.append(mlserver)
    wait_ready(feast, f"http://127.0.0.1:{feast_port}/health")
    wait_ready(mlserver, f"http://127.0.0.1:{http_port}/v2/models/fraud/ready")
    return (feast, mlserver), feast_port, http_port


def load_average():
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def generate(arguments, tools, rows, concurrency, addresses):
    before = load_average()
    command = ["taskset", "-c", arguments.client_core, tools["load"], addresses[0], rows, concurrency,
               arguments.warmup, arguments.duration, *addresses[1:]]
    figures = json.loads(run(command))
    figures.update(concurrency=concurrency, load_before=before, load_after=load_average())
    return figures


def measure_mlsys(arguments, tools, rows, levels, port, engine):
    figures = []
    for level in levels:
        log(f"{engine}, concurrency {level}")
        result = generate(arguments, tools, rows, level, ["mlsys", f"127.0.0.1:{port}", "fraud_api"])
        figures.append({"engine": engine, **result})
    return figures


def measure(arguments, tools, project, booster, rows, scratch, servers):
    levels = [int(level) for level in arguments.concurrency.split(",")]
    engines = arguments.engines.split(",")
    figures = []
    server, port = start_mlsys(arguments, tools, project, scratch, servers)
    users, values = user_activity_values(port, rows)
    if "mlsys" in engines:
        figures.extend(measure_mlsys(arguments, tools, rows, levels, port, "mlsys deploy"))
    stop(server)
    if "mlsys-unbatched" in engines:
        spec = project / "model.mlsys"
        if BATCHING not in spec.read_text():
            sys.exit(f"{spec}: no `{BATCHING.strip()}` to take out")
        spec.write_text(spec.read_text().replace(BATCHING, ""))
        server, port = start_mlsys(arguments, tools, project, scratch, servers)
        figures.extend(measure_mlsys(arguments, tools, rows, levels, port, UNBATCHED))
        stop(server)
    if "peer" in engines:
        feast_repo = prepare_feast(users, values, scratch)
        (feast, mlserver), feast_port, http_port = start_peer(arguments, tools, feast_repo, booster, scratch, servers)
        for level in levels:
            log(f"Feast + MLServer, concurrency {level}")
            addresses = ["peer", f"127.0.0.1:{feast_port}", f"127.0.0.1:{http_port}", "fraud"]
            result = generate(arguments, tools, rows, level, addresses)
            figures.append({"engine": "Feast + MLServer", **result})
        stop(feast)
        stop(mlserver)
    return figures


def print_table(figures):
    print(f"{'engine':<18} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} {'errors':>6} {'fallbk':>6}  load before -> after")
    for row in figures:
        print(f"{row['engine']:<18} {row['concurrency']:>4} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} "
              f"{row['requests_per_s']:>9.0f} {row['errors']:>6} {row['fallbacks']:>6}  {row['load_before']} -> {row['load_after']}")
        if row.get("first_error"):
            print(f"    first error: {row['first_error']}")
    by_key = {(row["engine"], row["concurrency"]): row for row in figures}
    for (engine, level), row in by_key.items():
        peer = by_key.get(("Feast + MLServer", level))
        if engine != "Feast + MLServer" and peer and peer["requests_per_s"] > 0:
            print(f"concurrency {level}: {engine} {row['requests_per_s'] / peer['requests_per_s']:.1f}x the peer's "
                  f"requests/s, p99 {row['p99_ms']:.3f} ms vs {peer['p99_ms']:.3f} ms")
    for row in figures:
        if row["engine"] != "Feast + MLServer" and row["concurrency"] == 1:
            verdict = "met" if row["p99_ms"] < 1.0 else "not met"
            print(f"{row['engine']}: goal p99 < 1 ms at concurrency 1 {verdict} ({row['p99_ms']:.3f} ms)")


if __name__ == "__main__":
    main()

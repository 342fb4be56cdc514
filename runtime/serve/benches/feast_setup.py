"""A Feast repository serving the same fraud features as the mlsys feature server, for the
side-by-side load test of benches/http.sh.

    python3 feast_setup.py MLSYS_URL TRANSACTIONS_DIR FEAST_DIR AT_MICROS

Exports every user's user_activity@v1 values in force at AT_MICROS (the benchmark request's
event_time) by asking the running mlsys server (so both servers answer the same numbers; Feast's
online store holds one row per entity, not a timeline), writes them to Parquet, and creates a Feast repository
with a SQLite online store: the `user_activity` feature view, the row-level `txn_signals`
transforms as a Python-mode on-demand feature view over the request, and a `fraud_detector`
feature service over both. Then applies and materializes it.
"""

import json
import subprocess
import sys
import textwrap
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

AGGREGATES = [
    ("txn_count_7d", "Int64"),
    ("avg_amount_30d", "Float64"),
    ("max_amount_30d", "Float64"),
    ("foreign_count_30d", "Int64"),
    ("countries_30d", "Int64"),
    ("foreign_share_30d", "Float64"),
    ("txn_count_30d", "Int64"),
]


def users(transactions_dir):
    table = ds.dataset(transactions_dir, format="parquet", partitioning="hive").to_table(columns=["user_id"])
    return sorted(set(user for user in table.column("user_id").to_pylist() if user))


def export(url, user_ids, at_micros, path):
    columns = {name: [] for name, _ in AGGREGATES}
    for start in range(0, len(user_ids), 1000):
        batch = user_ids[start : start + 1000]
        body = json.dumps(
            {
                "features": [f"user_activity@v1:{name}" for name, _ in AGGREGATES],
                "entities": {"user_id": batch, "event_time": [at_micros] * len(batch)},
            }
        ).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            answer = json.load(response)
        for index, (name, _) in enumerate(AGGREGATES):
            columns[name].extend(answer["results"][index + 1]["values"])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    arrays = {"user_id": pa.array(user_ids, pa.string())}
    for name, kind in AGGREGATES:
        arrays[name] = pa.array(columns[name], pa.int64() if kind == "Int64" else pa.float64())
    arrays["event_timestamp"] = pa.array([now] * len(user_ids), pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table(arrays), path)
    return now


REPO = '''
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Bool, Float64, Int64, String

user = Entity(name="user", join_keys=["user_id"])

user_activity_source = FileSource(path="{parquet}", timestamp_field="event_timestamp")

user_activity = FeatureView(
    name="user_activity",
    entities=[user],
    ttl=timedelta(days=3650),
    schema=[{schema}],
    source=user_activity_source,
)

payment = RequestSource(
    name="payment",
    schema=[
        Field(name="amount", dtype=Float64),
        Field(name="country", dtype=String),
        Field(name="channel", dtype=String),
        Field(name="event_time", dtype=Int64),
    ],
)


@on_demand_feature_view(
    sources=[user_activity, payment],
    schema=[
        Field(name="amount_log", dtype=Float64),
        Field(name="amount_vs_avg", dtype=Float64),
        Field(name="foreign", dtype=Bool),
        Field(name="night", dtype=Bool),
        Field(name="web", dtype=Bool),
        Field(name="amount_bucket", dtype=Int64),
    ],
    mode="python",
)
def txn_signals(inputs):
    # Imported here: Feast ships the function's source to the server, not the module around it.
    import math

    out = {{"amount_log": [], "amount_vs_avg": [], "foreign": [], "night": [], "web": [], "amount_bucket": []}}
    for amount, average, country, channel, event_time in zip(
        inputs["amount"], inputs["avg_amount_30d"], inputs["country"], inputs["channel"], inputs["event_time"]
    ):
        out["amount_log"].append(math.log(1 + amount))
        out["amount_vs_avg"].append(amount / ((average if average is not None else 0.0) + 1))
        out["foreign"].append(country != "US")
        out["night"].append((event_time // 3_600_000_000) % 24 < 6)
        out["web"].append(channel in ("web", "api"))
        out["amount_bucket"].append(sum(1 for edge in (10.0, 50.0, 200.0, 1000.0) if edge <= amount))
    return out


fraud_detector = FeatureService(name="fraud_detector", features=[txn_signals, user_activity])
'''


def main():
    url, transactions_dir, feast_dir, at_micros = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    (feast_dir / "data").mkdir(parents=True, exist_ok=True)
    user_ids = users(transactions_dir)
    parquet = (feast_dir / "data" / "user_activity.parquet").resolve()
    stamp = export(url, user_ids, at_micros, parquet)
    (feast_dir / "feature_store.yaml").write_text(
        textwrap.dedent(
            """\
            project: fraud_bench
            registry: data/registry.db
            provider: local
            online_store:
              type: sqlite
              path: data/online.db
            offline_store:
              type: file
            entity_key_serialization_version: 3
            """
        )
    )
    schema = ", ".join(f'Field(name="{name}", dtype={kind})' for name, kind in AGGREGATES)
    (feast_dir / "repo.py").write_text(REPO.format(parquet=parquet, schema=schema))

    from feast import FeatureStore

    subprocess.run(["feast", "apply"], cwd=feast_dir, check=True, stdout=subprocess.DEVNULL)
    store = FeatureStore(repo_path=str(feast_dir))
    store.materialize(stamp - timedelta(days=1), stamp + timedelta(seconds=1))
    print(json.dumps({"users": len(user_ids), "first_user": user_ids[0], "stamp": stamp.isoformat()}))


if __name__ == "__main__":
    main()

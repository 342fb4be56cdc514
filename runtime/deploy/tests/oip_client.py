"""Drives a running `mlsysc deploy` with the real `tritonclient.http` and checks that its three ways
to score rows agree bit for bit.

    python3 oip_client.py URL TARGET ROWS_JSON

URL is the server's base URL (`http://127.0.0.1:8080`), TARGET a realtime serve target, ROWS_JSON
a JSON list of objects, field name to value (or `@PATH` of a file holding one). Each field the
rows give is sent as an input of the datatype the model metadata announces; timestamps and dates
are RFC 3339 / `YYYY-MM-DD` strings sent as BYTES. A field must be in every row or in none (the
server fills a left-out optional field).

Checks, in order: `GET /v2/health/live`, `/v2/health/ready`, `/v2/models/TARGET/ready`, the model
metadata; then the rows are scored three times — `infer` with binary inputs and binary outputs,
`infer` with JSON inputs and JSON outputs, and `POST URL/v1/score/TARGET` with `{"rows": [...]}`
— and every row's score must have the same bits in all three (any NaN equals any NaN). Prints a
JSON summary; exits non-zero with a message on the first failed check.

Needs `tritonclient[http]` and numpy from PyPI.
"""

import json
import math
import struct
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import numpy as np
import tritonclient.http as httpclient

NUMPY_TYPES = {"BOOL": np.bool_, "INT64": np.int64, "FP64": np.float64, "BYTES": np.object_}


def fail(message):
    sys.exit(f"oip_client: {message}")


def load_rows(argument):
    text = open(argument[1:]).read() if argument.startswith("@") else argument
    rows = json.loads(text)
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        fail("ROWS_JSON must be a non-empty JSON list of objects")
    return rows


def column(rows, name, datatype):
    values = [row[name] for row in rows]
    if any(value is None for value in values):
        fail(f"field `{name}`: null values cannot be sent as binary tensor data")
    if datatype == "BYTES":
        return np.array([str(value).encode("utf-8") for value in values], dtype=np.object_)
    if datatype == "FP64":
        values = [float(value) for value in values]
    return np.array(values, dtype=NUMPY_TYPES[datatype])


def inputs(metadata, rows, binary):
    """The rows as one tensor of shape [N] per field the rows give."""
    tensors = []
    for spec in metadata["inputs"]:
        name, datatype = spec["name"], spec["datatype"]
        present = [name in row for row in rows]
        if not any(present):
            continue
        if not all(present):
            fail(f"field `{name}` is in some rows but not all")
        if datatype not in NUMPY_TYPES:
            fail(f"field `{name}`: metadata announces datatype {datatype}, which this client does not send")
        tensor = httpclient.InferInput(name, [len(rows)], datatype)
        tensor.set_data_from_numpy(column(rows, name, datatype), binary_data=binary)
        tensors.append(tensor)
    unknown = {key for row in rows for key in row} - {spec["name"] for spec in metadata["inputs"]}
    if unknown:
        fail(f"the rows give fields the target does not take: {sorted(unknown)}")
    return tensors


def score_bits(value):
    """The bits of a score, any NaN as one; JSON may carry non-finite scores as strings."""
    value = float(value)
    return "NaN" if math.isnan(value) else struct.pack("<d", value).hex()


def infer(client, target, metadata, rows, binary):
    output_names = [output["name"] for output in metadata["outputs"]]
    if "score" not in output_names:
        fail(f"the model metadata has no `score` output: {output_names}")
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in output_names]
    result = client.infer(target, inputs(metadata, rows, binary), outputs=outputs)
    response = result.get_response()
    if response.get("model_name") != target:
        fail(f"infer answered for model {response.get('model_name')!r}, not {target!r}")
    for output in response["outputs"]:
        carried_binary = "binary_data_size" in output.get("parameters", {})
        if carried_binary != binary:
            form = "binary data" if carried_binary else "JSON data"
            fail(f"output `{output['name']}` came as {form} although binary_data={binary} was asked")
    scores = result.as_numpy("score")
    if scores is None or scores.shape != (len(rows),):
        fail(f"the `score` output has shape {None if scores is None else scores.shape}, expected ({len(rows)},)")
    fallbacks = result.as_numpy("fallback") if "fallback" in output_names else None
    return {
        "scores": [float(score) for score in scores],
        "fallbacks": None if fallbacks is None else [as_text(value) for value in fallbacks],
        "version": response.get("model_version"),
    }


def as_text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def score_v1(url, target, rows):
    request = urllib.request.Request(
        f"{url}/v1/score/{target}",
        data=json.dumps({"rows": rows}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        results = json.load(response)["results"]
    if len(results) != len(rows):
        fail(f"/v1/score answered {len(results)} results for {len(rows)} rows")
    return results


def check_health(client, target):
    for what, ok in [
        ("/v2/health/live", client.is_server_live()),
        ("/v2/health/ready", client.is_server_ready()),
        (f"/v2/models/{target}/ready", client.is_model_ready(target)),
    ]:
        if not ok:
            fail(f"GET {what} did not answer 200")


def compare(rows, binary, as_json, v1):
    for index in range(len(rows)):
        bits = {
            "binary": score_bits(binary["scores"][index]),
            "json": score_bits(as_json["scores"][index]),
            "v1": score_bits(v1[index]["score"]),
        }
        if len(set(bits.values())) != 1:
            fail(f"row {index}: the scores differ: {bits} (row {json.dumps(rows[index])})")
        for name, fallbacks in [("binary", binary["fallbacks"]), ("json", as_json["fallbacks"])]:
            # An empty fallback output means the model answered, as `null` does in /v1.
            if fallbacks is not None and (fallbacks[index] or None) != v1[index].get("fallback"):
                fail(f"row {index}: {name} infer says fallback {fallbacks[index]!r}, /v1/score says {v1[index].get('fallback')!r}")


def main():
    if len(sys.argv) != 4:
        fail("usage: oip_client.py URL TARGET ROWS_JSON")
    url, target, rows = sys.argv[1].rstrip("/"), sys.argv[2], load_rows(sys.argv[3])
    parts = urlsplit(url)
    if parts.scheme != "http":
        fail(f"URL must be http://HOST:PORT, got {url!r}")
    client = httpclient.InferenceServerClient(url=parts.netloc + parts.path)
    try:
        check_health(client, target)
        metadata = client.get_model_metadata(target)
        binary = infer(client, target, metadata, rows, binary=True)
        as_json = infer(client, target, metadata, rows, binary=False)
        v1 = score_v1(url, target, rows)
    except urllib.error.HTTPError as error:
        fail(f"POST {error.url} answered {error.code}: {error.read().decode(errors='replace')}")
    except Exception as error:  # tritonclient's and the connection's errors alike
        fail(f"{type(error).__name__}: {error}")
    compare(rows, binary, as_json, v1)
    print(
        json.dumps(
            {
                "target": target,
                "rows": len(rows),
                "inputs": [spec["name"] for spec in metadata["inputs"]],
                "scores": [score if math.isfinite(score) else str(score) for score in binary["scores"]],
                "score_bits": [score_bits(score) for score in binary["scores"]],
                "fallbacks": [result.get("fallback") for result in v1],
                "model_version": binary["version"],
                "v1_models": sorted({f"{result.get('model')}@{result.get('version')}" for result in v1}),
                "agree": True,
            }
        )
    )


if __name__ == "__main__":
    main()

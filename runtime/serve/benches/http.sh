#!/usr/bin/env bash
# HTTP load test of the feature server on the fraud example, side by side with Feast's server
# when Feast is installed: single-row `fraud_detector` requests, wrk at concurrency 1 and 16,
# server pinned to core 0 and client to core 1. Prints p50/p99 latency and throughput. Before any
# load, both servers answer the same request and the script exits 1 if their values differ
# (compare_answers.py).
#
#   runtime/serve/benches/http.sh [WORK_DIR]
#
# Needs: wrk, the release example-data and serve binaries and an mlsysc binary in
# $CARGO_TARGET_DIR (default ~/.cache/mlsys-target-serve; MLSYSC overrides the CLI), and for the
# comparison `feast` with pyarrow. Set USERS / DAYS for the data size, DURATION for each run.
# Feast runs tuned: one worker (one core, like the mlsys server), no access log, no periodic
# worker restart (its default restarts the worker every ~1000 requests, a 1.6 s stall), and a
# registry refreshed hourly instead of every minute.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../../.." && pwd)
benches="$repo/runtime/serve/benches"
target=${CARGO_TARGET_DIR:-$HOME/.cache/mlsys-target-serve}
mlsysc=${MLSYSC:-$target/debug/mlsysc}
work=${1:-/tmp/mlsys-serve-bench}
duration=${DURATION:-10s}
mlsys_port=${MLSYS_PORT:-18566}
feast_port=${FEAST_PORT:-18567}
# On a machine shared with other work, NICE=-10 (as root) keeps the servers and wrk from waiting
# behind it; both servers get the same treatment.
nice=(nice -n "${NICE:-0}")

server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    sleep 0.2
  done
  echo "no answer from $1" >&2
  return 1
}

# wrk at one concurrency: "p50_ms p99_ms requests_per_second non_200". A third argument paces
# each connection to one request per that many milliseconds.
load() {
  local url=$1 connections=$2 out
  export WRK_DELAY_MS=${3:-}
  [[ -n "$WRK_DELAY_MS" ]] || unset WRK_DELAY_MS
  # Warm up (compiles, caches, connections), then measure.
  "${nice[@]}" taskset -c 1 wrk -t1 -c"$connections" -d2s -s "$benches/post.lua" "$url" > /dev/null
  out=$("${nice[@]}" taskset -c 1 wrk -t1 -c"$connections" -d"$duration" --latency -s "$benches/post.lua" "$url")
  echo "$out" >&2
  awk -v out="$out" 'BEGIN {
    n = split(out, lines, "\n")
    for (i = 1; i <= n; i++) {
      split(lines[i], f, " ")
      if (f[1] == "50%") p50 = f[2]
      if (f[1] == "99%") p99 = f[2]
      if (f[1] == "Requests/sec:") rps = f[2]
      if (f[1] == "non-200:") bad = f[2]
    }
    printf "%s %s %s %s\n", ms(p50), ms(p99), rps, bad
  }
  function ms(text,   value) {
    value = text + 0
    if (text ~ /us$/) return sprintf("%.3f", value / 1000)
    if (text ~ /ms$/) return sprintf("%.3f", value)
    if (text ~ /s$/) return sprintf("%.3f", value * 1000)
    return text
  }'
}

project="$work/fraud"
if [[ ! -f "$project/.mlsys/online.redb" ]]; then
  rm -rf "$project" && mkdir -p "$project"
  cp "$repo"/examples/fraud/*.mlsys "$project/"
  "$target/release/example-data" fraud --project "$project" --users "${USERS:-2000}" --days "${DAYS:-182}"
  "$mlsysc" build "$project"
fi

user=$(python3 -c "
import pyarrow.dataset as ds
t = ds.dataset('$project/data/raw/transactions', format='parquet', partitioning='hive').to_table(columns=['user_id'])
print(sorted(set(u for u in t.column('user_id').to_pylist() if u))[0])")
at_micros=1782864000000000  # 2026-07-01T00:00:00Z, just after the generated data
body="$work/body.json"
# One payment at a fixed time: event_time as epoch microseconds, which both servers read.
cat > "$body" <<JSON
{"feature_service": "fraud_detector", "entities": {"user_id": ["$user"], "amount": [123.45], "country": ["FR"], "channel": ["web"], "event_time": [$at_micros]}}
JSON
export WRK_BODY="$body"

start_mlsys() {
  "${nice[@]}" taskset -c 0 "$target/release/examples/serve" "$project" "$project/.mlsys/online.redb" "$mlsys_port" 2>> "$work/mlsys-serve.log" &
  server_pid=$!
  wait_for "http://127.0.0.1:$mlsys_port/ready"
}

# The answers first: a benchmark of two servers that answer differently measures nothing, so any
# difference stops the script before a single load run.
: > "$work/mlsys-serve.log"
start_mlsys
url="http://127.0.0.1:$mlsys_port/get-online-features"
curl -sf -X POST -H 'Content-Type: application/json' --data @"$body" "$url" > "$work/mlsys-response.json"
echo "mlsys response: $(cat "$work/mlsys-response.json")" >&2
feast_results=()
if command -v feast > /dev/null; then
  feast_dir="$work/feast"
  rm -rf "$feast_dir"
  python3 "$benches/feast_setup.py" "$url" "$project/data/raw/transactions" "$feast_dir" "$at_micros" >&2
  cleanup
  (cd "$feast_dir" && exec "${nice[@]}" taskset -c 0 feast serve --no-access-log --max-requests 100000000 --registry_ttl_sec 3600 -p "$feast_port" > "$work/feast-serve.log" 2>&1) &
  server_pid=$!
  wait_for "http://127.0.0.1:$feast_port/health"
  feast_url="http://127.0.0.1:$feast_port/get-online-features"
  curl -sf -X POST -H 'Content-Type: application/json' --data @"$body" "$feast_url" > "$work/feast-response.json"
  echo "feast response: $(cat "$work/feast-response.json")" >&2
  if ! python3 "$benches/compare_answers.py" "$work/mlsys-response.json" "$work/feast-response.json"; then
    echo "http.sh: mlsys and Feast answer the same request differently; no figures" >&2
    exit 1
  fi
  for connections in 1 16; do
    feast_results+=("feast $connections $(load "$feast_url" "$connections")")
  done
  feast_results+=("feast 1,paced5ms $(load "$feast_url" 1 5)")
  cleanup
  server_pid=""
  start_mlsys
else
  echo "feast is not installed: mlsys figures only, no comparison of answers" >&2
fi

results=()
for connections in 1 16; do
  results+=("mlsys $connections $(load "$url" "$connections")")
done
results+=("mlsys 1,paced5ms $(load "$url" 1 5)")
results+=(${feast_results[@]+"${feast_results[@]}"})
# The server's own view (request and store read histograms), to tell server time from queueing.
curl -s "http://127.0.0.1:$mlsys_port/metrics" > "$work/mlsys-metrics.txt"
server_side=$(python3 - "$work/mlsys-metrics.txt" <<'PY'
import sys
buckets = []
for line in open(sys.argv[1]):
    if line.startswith('mlsys_request_duration_seconds_bucket{') and '"/get-online-features"' in line:
        bound = line.split('le="')[1].split('"')[0]
        buckets.append((float(bound), float(line.split()[-1])))
total = buckets[-1][1]
def quantile(q):
    return next(bound for bound, count in buckets if count >= q * total)
print(f"{total:.0f} requests; p50 <= {quantile(0.5) * 1e6:.0f} us, p99 <= {quantile(0.99) * 1e6:.0f} us, p99.9 <= {quantile(0.999) * 1e6:.0f} us")
PY
)

echo
echo "mlsys server-side time (its own histogram, its runs): $server_side"
printf '%-8s %16s %10s %10s %12s %8s\n' server connections p50_ms p99_ms requests/s non-200
for line in "${results[@]}"; do
  # shellcheck disable=SC2086
  printf '%-8s %16s %10s %10s %12s %8s\n' $line
done

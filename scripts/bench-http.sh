#!/usr/bin/env bash
# HTTP benchmark (issue 10): wrk against an authenticated GET /api/v1/workspaces/{id} beside a
# hello-world route served by the same binary (NVISY_BENCH_HELLO=1 adds GET /bench/hello, which
# passes the same middleware), both with the same connections and duration; the API's p99 at
# peak and at half the peak rate (wrk paced by a Lua delay: each connection waits 10 ms between
# requests, and the number of connections sets the rate); cold (initdb) and warm start time of the embedded default; idle RSS of the host process.
# Usage: scripts/bench-http.sh [seconds per wrk run]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-10}"
SCRATCH="${NVISY_BENCH_SCRATCH:-.build-bench}"
# nvisy refuses NVISY_* variables it does not know: keep this one to the script.
unset NVISY_BENCH_SCRATCH
[ -x .venv/bin/python ] || { echo "bench-http: .venv missing; run scripts/install-deps.sh" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench-http: apt-get install wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
  else
    echo "bench-http: wrk is missing (apt-get install wrk); skipped"; exit 0
  fi
fi
log=$(mktemp)
for product in nvisy NvisyFilesystemPlugin NvisyFormatsPlugin NvisyPostgresPlugin; do
  swift build -c release --scratch-path "$SCRATCH" --product "$product" >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
done
rm -f "$log"
work=$(mktemp -d /tmp/nvisy-bench-http.XXXXXX)
chmod 755 "$work"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
now() { date +%s.%N; }
calc() { .venv/bin/python -c "print($1)"; }

start_host() {
  NVISY_BENCH_HELLO=1 "$SCRATCH/release/nvisy" serve --data-dir "$work/data" --port "$port" --plugins-dir plugins.d --venv .venv \
    --log-level warning >>"$work/serve.log" 2>&1 &
  pid=$!
  local t0; t0=$(now)
  for _ in $(seq 1 1200); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; echo "bench-http: nvisy serve stopped" >&2; exit 1; }
    sleep 0.05
  done
  # Not in a $(…) subshell: $pid must stay this shell's.
  started_in=$(calc "$(now) - $t0")
}
stop_host() { kill -INT "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

start_host; cold=$started_in
API="http://127.0.0.1:$port/api/v1"
json() { .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
TOKEN=$(curl -sf -X POST "$API/auth/signup" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"correct horse battery","displayName":"Bench"}' | json token)
WS=$(curl -sf -X POST "$API/workspaces" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"name":"bench"}' | json id)
sleep 2
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

run_wrk() { wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" --latency "$@" 2>&1; }
rps() { awk '/Requests\/sec/ {print $2}'; }
p99_ms() { awk '$1=="99%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v } else { sub(/s$/,"",v); print v*1000 } }'; }
run_wrk "http://127.0.0.1:$port/bench/hello" >/dev/null   # warm-up
hello_out=$(run_wrk "http://127.0.0.1:$port/bench/hello")
api_out=$(run_wrk -H "authorization: Bearer $TOKEN" "$API/workspaces/$WS")
hello=$(echo "$hello_out" | rps); api=$(echo "$api_out" | rps)
api_p99=$(echo "$api_out" | p99_ms); hello_p99=$(echo "$hello_out" | p99_ms)
non2xx=$(echo "$api_out" | awk '/Non-2xx/ {print $NF}')
# Half the peak: N connections, each sending one request every ~10 ms (plus its latency).
pace="$work/pace.lua"
echo 'function delay() return 10 end' >"$pace"
half_conns=$(calc "max(1, round($api / 2 * 0.0105))")
# Each request's own latency stretches the 10 ms: a 3 s probe measures the rate one connection
# really gives, and the connection count is scaled to land on half the peak.
probe=$(wrk -t2 -c"$half_conns" -d3s -s "$pace" -H "authorization: Bearer $TOKEN" "$API/workspaces/$WS" 2>&1 | rps)
half_conns=$(calc "max(1, round($half_conns * ($api / 2) / max($probe, 1)))")
half_out=$(wrk -t2 -c"$half_conns" -d"${SECONDS_PER_RUN}s" --latency -s "$pace" -H "authorization: Bearer $TOKEN" "$API/workspaces/$WS" 2>&1)
half_rps=$(echo "$half_out" | rps); half_p99=$(echo "$half_out" | p99_ms)
stop_host
start_host; warm=$started_in
stop_host

ratio=$(calc "round($api / $hello, 2)")
printf 'http GET /workspaces/{id} (authenticated): %.0f req/s, hello-world %.0f req/s, ratio %sx (target >= 0.5x)\n' "$api" "$hello" "$ratio"
printf 'http p99 at peak: API %.2f ms, hello-world %.2f ms (target < 10 ms at half the peak rate)%s\n' "$api_p99" "$hello_p99" "${non2xx:+; non-2xx answers: $non2xx}"
printf 'http p99 at half the peak rate: %.2f ms at %.0f req/s (%.2f of the API peak; target < 10 ms)\n' "$half_p99" "$half_rps" "$(calc "$half_rps / $api")"
printf 'start of the embedded default: cold %.1f s (initdb + migrations), warm %.1f s\n' "$cold" "$warm"
printf 'idle RSS of nvisy serve: %.1f MiB\n' "$(calc "$rss_kib / 1024")"

#!/usr/bin/env bash
# Files benchmark: a 512 MiB file uploaded to and downloaded from a real `nvisy serve` (release,
# embedded PostgreSQL and nats-server) over HTTP with curl, beside a raw object-store put/get of
# the same size by nvisy-bench-nats in the same run. Prints MB/s of each, the ratio HTTP / raw,
# and the host's peak RSS growth during the transfers (target < 64 MiB).
# Usage: scripts/bench-files.sh [MiB]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB="${1:-512}"
SCRATCH="${NVISY_BENCH_SCRATCH:-.build-bench}"
# nvisy refuses NVISY_* variables it does not know: this one is the script's, not the server's.
unset NVISY_BENCH_SCRATCH
[ -x .venv/bin/python ] || { echo "bench-files: .venv missing; run scripts/install-deps.sh" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench-files: curl missing" >&2; exit 1; }
log=$(mktemp)
if ! swift build -c release --scratch-path "$SCRATCH" --product nvisy >"$log" 2>&1 \
   || ! swift build -c release --scratch-path "$SCRATCH" --product nvisy-bench-nats >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; echo "bench-files: build failed" >&2; exit 1
fi
rm -f "$log"
work=$(mktemp -d /tmp/nvisy-bench-files.XXXXXX)
chmod 755 "$work"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
head -c $((MIB * 1024 * 1024)) /dev/urandom > "$work/blob"
"$SCRATCH/release/nvisy" serve --data-dir "$work/data" --port "$port" --plugins-dir plugins.d --venv .venv \
  --max-file-bytes $(((MIB + 1) * 1024 * 1024)) --log-level warning >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 240); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; echo "bench-files: nvisy serve stopped" >&2; exit 1; }
  sleep 0.5
done
API="http://127.0.0.1:$port/api/v1"
json() { .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
TOKEN=$(curl -sf -X POST "$API/auth/signup" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"correct horse battery","displayName":"Bench"}' | json token)
WS=$(curl -sf -X POST "$API/workspaces" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"name":"bench"}' | json id)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
# Reset the high-water mark so it measures the transfers only (Linux: write 5 to clear_refs).
echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true
base=$(rss)
up=$(curl -sf -o "$work/meta.json" -w '%{time_total}' -X POST -T "$work/blob" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/octet-stream' "$API/workspaces/$WS/files?name=blob.bin")
FILE=$(json id < "$work/meta.json")
down=$(curl -sf -o "$work/out" -w '%{time_total}' -H "authorization: Bearer $TOKEN" "$API/files/$FILE/content")
peak=$(hwm)
want=$(sha256sum "$work/blob" | cut -d' ' -f1)
got=$(sha256sum "$work/out" | cut -d' ' -f1)
[ "$want" = "$(json sha256 < "$work/meta.json")" ] || { echo "bench-files: upload digest mismatch" >&2; exit 1; }
[ "$want" = "$got" ] || { echo "bench-files: download digest mismatch" >&2; exit 1; }
raw=$("$SCRATCH/release/nvisy-bench-nats" --mib "$MIB" --python .venv/bin/python --script python/tests/nats_objstore_interop.py)
rawput=$(echo "$raw" | sed -n 's/^nats object put: nvisy \([0-9.]*\) MB\/s.*/\1/p')
rawget=$(echo "$raw" | sed -n 's/^nats object get: nvisy \([0-9.]*\) MB\/s.*/\1/p')
.venv/bin/python - "$MIB" "$up" "$down" "$rawput" "$rawget" "$base" "$peak" <<'PY'
import sys
mib, up, down, rawput, rawget, base, peak = sys.argv[1:]
mb = int(mib) * 1048576 / 1e6
upr, downr = mb / float(up), mb / float(down)
growth = (int(peak) - int(base)) / 1024
print(f"files: {mib} MiB through the HTTP API (curl, loopback), raw = nvisy object store put/get of the same size")
print(f"files upload:   HTTP {upr:.0f} MB/s, raw put {float(rawput):.0f} MB/s, ratio {upr/float(rawput):.2f}x")
print(f"files download: HTTP {downr:.0f} MB/s, raw get {float(rawget):.0f} MB/s, ratio {downr/float(rawget):.2f}x")
print(f"files host peak RSS growth: {growth:.1f} MiB (target < 64 MiB): {'met' if growth < 64 else 'MISSED'}")
PY

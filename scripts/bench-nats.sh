#!/usr/bin/env bash
# NvisyNATS object store benchmark: a 256 MiB object put and read back by nvisy (nats.c)
# and by nats-py, against a nats-server the benchmark starts itself; prints MB/s, the
# ratio nvisy / nats-py and nvisy's peak RSS growth. Usage: scripts/bench-nats.sh [MiB]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB="${1:-256}"
SCRATCH="${NVISY_BENCH_SCRATCH:-.build-bench}"
[ -x .venv/bin/python ] || { echo "bench-nats: .venv missing; run scripts/install-deps.sh" >&2; exit 1; }
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || { echo "bench-nats: nats-server missing; run scripts/install-deps.sh" >&2; exit 1; }
log=$(mktemp)
if ! swift build -c release --scratch-path "$SCRATCH" --product nvisy-bench-nats >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; echo "bench-nats: build failed" >&2; exit 1
fi
rm -f "$log"
"$SCRATCH/release/nvisy-bench-nats" --mib "$MIB" --python .venv/bin/python --script python/tests/nats_objstore_interop.py

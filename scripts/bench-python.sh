#!/usr/bin/env bash
# The embedded-Python benchmark (issue 5): small records from a Python source to a Python sink
# through the host vs the same loop run bare, both in the host's own interpreter (the crossing
# alone) and as `python -m nvisy_plugin pipe` (the issue's baseline), as ratios of wall and CPU
# time, and the per-call overhead of a host → Python call in µs. PYTHON_BENCH_ITEMS and PYTHON_BENCH_BATCH
# (items per batch, the same for both sides; default 500, a pipeline's record batch) change the run.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH_PATH:-.build}"
export NVISY_VENV="${NVISY_VENV:-$PWD/.venv}"
swift build -c release --scratch-path "$SCRATCH" --product nvisy-bench-python
"$SCRATCH/release/nvisy-bench-python" "${PYTHON_BENCH_ITEMS:-200000}" "${PYTHON_BENCH_BATCH:-500}"

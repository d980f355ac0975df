#!/usr/bin/env bash
# Runs every benchmark script (scripts/bench-*.sh); each builds in release mode and prints its
# figures beside a baseline measured in the same run. Then writes bench/results.md (one table
# of every figure and ratio) and bench/ratios.png (a chart of the ratios against their targets).
# Usage: scripts/bench.sh [name ...]   e.g. scripts/bench.sh http files
set -uo pipefail
cd "$(dirname "$0")/.."
export NVISY_VENV="$PWD/.venv"
mkdir -p bench
shopt -s nullglob
if [ $# -gt 0 ]; then scripts=(); for n in "$@"; do scripts+=("scripts/bench-$n.sh"); done; else scripts=(scripts/bench-*.sh); fi
if [ ${#scripts[@]} -eq 0 ]; then echo "no benchmarks yet"; exit 0; fi
logs=()
status=0
for script in "${scripts[@]}"; do
  name=$(basename "$script" .sh); name=${name#bench-}
  echo "== $script"
  log="bench/$name.log"
  bash "$script" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { echo "bench: $script failed ($rc)"; status=1; }
  logs+=("$log")
done
.venv/bin/python scripts/bench_report.py "${logs[@]}"
exit $status

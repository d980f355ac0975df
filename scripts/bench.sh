#!/usr/bin/env bash
# Runs every benchmark script (scripts/bench-*.sh); each builds in release mode and prints
# its figures as ratios against a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
export NVISY_VENV="$PWD/.venv"
shopt -s nullglob
scripts=(scripts/bench-*.sh)
if [ ${#scripts[@]} -eq 0 ]; then echo "no benchmarks yet"; exit 0; fi
for script in "${scripts[@]}"; do
  echo "== $script"
  bash "$script"
done

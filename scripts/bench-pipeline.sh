#!/usr/bin/env bash
# The pipeline benchmark (issue 8): a generated 1,000,000-row CSV into a PostgreSQL table through
# filesystem/files → formats/csv → postgres/table, beside `psql \copy` of the same file into the
# same table (embedded PostgreSQL); prints rows/s of both and the ratio (target >= 0.5x).
# Usage: scripts/bench-pipeline.sh [rows]
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH_PATH:-.build}"
LOG="$(mktemp)"
# The benchmark dlopens the plugin libraries from its own directory: build them too.
for product in NvisyFilesystemPlugin NvisyFormatsPlugin NvisyPostgresPlugin nvisy-bench-pipeline; do
  swift build -c release --scratch-path "$SCRATCH" --product "$product" >"$LOG" 2>&1 || { cat "$LOG"; exit 1; }
done
rm -f "$LOG"
"$SCRATCH/release/nvisy-bench-pipeline" "${1:-1000000}" "$PWD"

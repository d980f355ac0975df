#!/usr/bin/env bash
# The plugin crossing benchmark (issue 4): items/s through source → sink with a
# provider loaded via dlopen vs the same code linked in; prints ratio lines.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH_PATH:-.build}"
# The benchmark dlopens libNvisyTrivialPlugin.so from its own directory: build both.
swift build -c release --scratch-path "$SCRATCH" --product NvisyTrivialPlugin
swift build -c release --scratch-path "$SCRATCH" --product nvisy-bench-plugins
"$SCRATCH/release/nvisy-bench-plugins"

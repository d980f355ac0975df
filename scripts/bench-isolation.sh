#!/usr/bin/env bash
# The isolation crossing benchmark (issue 11): items/s through source → sink with the trivial
# plugin in process vs in a plugin-host child process (isolation = "process"); prints ratio lines.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH_PATH:-.build}"
# The benchmark dlopens libNvisyTrivialPlugin.so from its own directory and is its own plugin host.
swift build -c release --scratch-path "$SCRATCH" --product NvisyTrivialPlugin
swift build -c release --scratch-path "$SCRATCH" --product nvisy-bench-isolation
"$SCRATCH/release/nvisy-bench-isolation"

#!/usr/bin/env bash
# The knowledge-base benchmark (issue 13), on real documentation sentences (scripts/rag_corpus.py:
# Python stdlib docstrings and botocore's API reference text) embedded by the local wordllama
# model into the embedded PostgreSQL + pgvector: indexing throughput of the indexing template
# beside the embedding model alone on the same chunk texts (target >= 0.8x), HNSW recall@10 vs
# an exact scan at 20k and N sentences (target >= 0.95), and search latency p50/p99 over N chunks
# (target p50 <= 20 ms). It also prints where the indexing time goes: the same template into a
# sink that keeps nothing, and the chunk writes alone (ChunkRepository, HNSW insert).
# Usage: scripts/bench-rag.sh [N, default 100000; 0 = the indexing figures only]
# Build scratch path: NVISY_BENCH_SCRATCH (default .build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
SCRATCH="${NVISY_BENCH_SCRATCH:-.build-bench}"
CONFIG="${RAG_BENCH_CONFIG:-release}"
[ -x .venv/bin/python ] || { echo "bench-rag: .venv missing; run scripts/install-deps.sh" >&2; exit 1; }
log=$(mktemp)
swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product nvisy-bench-rag >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
rm -f "$log"
corpus=$(mktemp /tmp/nvisy-rag-corpus.XXXXXX)
trap 'rm -f "$corpus"' EXIT
.venv/bin/python scripts/rag_corpus.py "$(( (N > 80000 ? N : 80000) + 200 ))" "$corpus"  # 80k: the indexing rounds
"$SCRATCH/$CONFIG/nvisy-bench-rag" "$corpus" "$PWD" "$N"

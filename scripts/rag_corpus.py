"""Documentation sentences for scripts/bench-rag.sh: real prose, never random vectors.

Sources, all on the machine already: the docstrings of Python's standard library
(/usr/lib/python3.11) and the API reference text shipped inside botocore's service models
(the venv's boto3 dependency; HTML stripped). Sentences of 40–300 characters that are mostly
letters, deduplicated, in a fixed order (so every run measures the same set).
Usage: python scripts/rag_corpus.py N OUT  → writes N sentences, one per line.
"""
import ast
import gzip
import html
import json
import pathlib
import re
import sys

SPLIT = re.compile(r"(?<=[.!?])\s+")
TAG = re.compile(r"<[^>]+>")


def sentences(text):
    for s in SPLIT.split(" ".join(text.split())):
        if 40 <= len(s) <= 300 and sum(c.isalpha() for c in s) > len(s) * 0.6:
            yield s


def stdlib():
    for p in sorted(pathlib.Path("/usr/lib/python3.11").rglob("*.py")):
        if {"test", "tests", "idlelib"} & set(p.parts):
            continue
        try:
            tree = ast.parse(p.read_text(errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    yield from sentences(doc)


def botocore():
    import botocore as b
    root = pathlib.Path(b.__file__).parent / "data"
    for model in sorted(root.glob("*/*/service-2.json*")):
        raw = gzip.decompress(model.read_bytes()) if model.suffix == ".gz" else model.read_bytes()

        def walk(v):
            if isinstance(v, dict):
                for k, x in v.items():
                    if k == "documentation" and isinstance(x, str):
                        yield from sentences(html.unescape(TAG.sub(" ", x)))
                    else:
                        yield from walk(x)
            elif isinstance(v, list):
                for x in v:
                    yield from walk(x)
        yield from walk(json.loads(raw))


def main():
    n, out = int(sys.argv[1]), pathlib.Path(sys.argv[2])
    seen, kept = set(), []
    for source in (stdlib(), botocore()):
        for s in source:
            if s not in seen:
                seen.add(s)
                kept.append(s)
                if len(kept) >= n:
                    break
        if len(kept) >= n:
            break
    if len(kept) < n:
        sys.exit(f"rag_corpus: only {len(kept)} sentences found, {n} wanted")
    out.write_text("\n".join(kept) + "\n")


if __name__ == "__main__":
    main()

"""A local runner: try a provider without the host.

    python -m nvisy_plugin describe MODULE
    python -m nvisy_plugin run MODULE[:Class] --provider NAME --config '{...}' [--after TOKEN] [--limit N]
    python -m nvisy_plugin run MODULE --provider NAME --input FILE...      # a transform or sink, on files
    python -m nvisy_plugin pipe SOURCE_MODULE:Class SINK_MODULE:Class --source-config '{}' --sink-config '{}'

Items print as JSON lines: metadata, resume token, and the payload's size (or text).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .items import Object
from .provider import Provider


def _classes(spec: str) -> list[type[Provider[Any]]]:
    name, _, attr = spec.partition(":")
    module = importlib.import_module(name)
    if attr:
        return [getattr(module, attr)]
    return list(getattr(module, "PROVIDERS", []))


def _pick(spec: str, provider: str | None) -> type[Provider[Any]]:
    classes = _classes(spec)
    if provider:
        for c in classes:
            if c.name == provider:
                return c
        raise SystemExit(f"{spec} has no provider {provider!r} (it has: {', '.join(c.name for c in classes)})")
    if len(classes) != 1:
        raise SystemExit(f"{spec} has {len(classes)} providers; choose one with --provider")
    return classes[0]


def _show(item: Any) -> str:
    meta, payload, vector, token = item._abi()
    out: dict[str, Any] = {"metadata": meta, "resumeToken": token}
    if getattr(item, "text", None):
        out["text"] = item.text
    elif payload:
        out["payloadBytes"] = memoryview(payload).nbytes
    if vector is not None:
        out["vector"] = list(vector)
    return json.dumps(out, ensure_ascii=False, default=str)


async def _drain(it: Any, limit: int | None) -> int:
    n = 0
    if hasattr(it, "__await__"):
        it = await it
    if hasattr(it, "__aiter__"):
        async for x in it:
            for y in x if isinstance(x, list) else [x]:
                print(_show(y))
                n += 1
                if limit and n >= limit:
                    return n
    else:
        for y in it or []:
            print(_show(y))
            n += 1
    return n


async def _run(args: argparse.Namespace) -> None:
    cls = _pick(args.module, args.provider)
    inst = cls.create(args.config, args.credentials)
    try:
        kinds = cls.kinds()
        inputs = [Object(os.path.basename(p), Path(p).read_bytes(), {}, os.path.basename(p)) for p in args.input]
        if "transform" in kinds and inputs:
            await _drain(inst.transform(inputs), args.limit)  # type: ignore[attr-defined]
        elif "sink" in kinds and inputs:
            await inst.write(inputs)  # type: ignore[attr-defined]
            print(json.dumps({"written": len(inputs)}))
        elif "source" in kinds:
            await _drain(inst.read(args.after), args.limit)  # type: ignore[attr-defined]
        elif "embedding" in kinds:
            print(json.dumps(await inst.embed(args.text)))  # type: ignore[attr-defined]
        elif "completion" in kinds:
            request = {"messages": [{"role": "user", "content": " ".join(args.text)}]}
            result = await inst.complete(request, lambda t: print(t, end="", flush=True))  # type: ignore[attr-defined]
            print()
            print(json.dumps(result))
        else:
            raise SystemExit("nothing to do: give --input files for a transform or sink")
    finally:
        await inst.close()


async def pipe(source: Provider[Any], sink: Provider[Any], batch_size: int = 256) -> int:
    """The bare loop: a source's items to a sink in batches, as the host would run them."""
    n = 0
    batch: list[Any] = []
    async for x in source.read(None):  # type: ignore[attr-defined]
        if type(x) is list:
            batch.extend(x)
        else:
            batch.append(x)
        if len(batch) >= batch_size:
            await sink.write(batch)  # type: ignore[attr-defined]
            n += len(batch)
            batch = []
    if batch:
        await sink.write(batch)  # type: ignore[attr-defined]
        n += len(batch)
    return n


async def _pipe(args: argparse.Namespace) -> None:
    src = _pick(args.source, None).create(args.source_config)
    dst = _pick(args.sink, None).create(args.sink_config)
    start, cpu = time.perf_counter(), time.process_time()
    n = await pipe(src, dst, args.batch)
    secs, cpu = time.perf_counter() - start, time.process_time() - cpu
    # CPU time too: on a loaded machine it says what the loop costs, wall time what it waited.
    print(json.dumps({"items": n, "seconds": secs, "itemsPerSecond": n / secs if secs else 0,
                      "cpuSeconds": cpu, "itemsPerCPUSecond": n / cpu if cpu else 0}))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m nvisy_plugin", description="Run nvisy Python providers without the host.")
    ap.add_argument("--path", action="append", default=[], help="a folder to put on sys.path (repeatable)")
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("describe", help="print the descriptors of a module's providers")
    d.add_argument("module")
    r = sub.add_parser("run", help="run one provider")
    r.add_argument("module")
    r.add_argument("--provider")
    r.add_argument("--config", default="{}")
    r.add_argument("--credentials", default="{}")
    r.add_argument("--after")
    r.add_argument("--limit", type=int)
    r.add_argument("--input", nargs="*", default=[])
    r.add_argument("--text", nargs="*", default=[])
    p = sub.add_parser("pipe", help="time a source → sink loop")
    p.add_argument("source")
    p.add_argument("sink")
    p.add_argument("--source-config", default="{}")
    p.add_argument("--sink-config", default="{}")
    p.add_argument("--batch", type=int, default=256)
    args = ap.parse_args(argv)
    for folder in reversed(args.path):
        sys.path.insert(0, os.path.abspath(folder))
    sys.path.insert(0, os.getcwd())
    if args.command == "describe":
        print(json.dumps([c.describe() for c in _classes(args.module)], indent=2))
    elif args.command == "run":
        asyncio.run(_run(args))
    else:
        asyncio.run(_pipe(args))

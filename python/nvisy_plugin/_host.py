"""The bridge the nvisy host drives from Swift. Not for provider authors.

The host runs one interpreter with one thread. On that thread an asyncio loop runs forever;
the host wakes it through a pipe (``drain`` runs the host's queued jobs with the GIL held),
starts each call as a task with ``start`` and hears of its end through ``done`` (a C
function). Items cross in batches: one JSON text per batch for the metadata, one buffer for
the payloads and tokens going in, lists of buffers coming out.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import operator
import os
import sys
import traceback
from array import array
from typing import Any

from .errors import PluginError
from .items import ITEM_TYPES, Record

_loop: asyncio.AbstractEventLoop | None = None
_done: Any = None
_token: Any = None
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_loads = json.loads

try:  # orjson encodes a batch of small records ~10x and parses ~2x faster than the stdlib
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib still works
    _orjson = None


def _dump_batch(values: list[Any]) -> bytes:
    """One JSON array (UTF-8) of every item's metadata. orjson first; what it refuses (ints
    beyond 64 bits, non-str keys, lone surrogates) goes through the stdlib, which answers
    the same as before or raises the same error."""
    if _orjson is not None:
        try:
            return _orjson.dumps(values)
        except _orjson.JSONEncodeError:
            pass
    return _dumps(values).encode("utf-8")


def _load_batch(data: bytes) -> Any:
    """Parses the host's JSON array of metadata (orjson first, the stdlib for what it refuses)."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass
    return _loads(data)


def setup(read_fd: int, drain: Any, done: Any, token: Any) -> None:
    global _loop, _done, _token, _sweeping
    _done, _token = done, token
    _sweeping = False
    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)

    def wake() -> None:
        try:
            os.read(read_fd, 4096)
        except BlockingIOError:
            pass
        drain()

    _loop.add_reader(read_fd, wake)


def run_forever() -> None:
    assert _loop is not None
    while True:
        try:
            _loop.run_forever()
            return
        except BaseException:  # a stray exception must not end the host's Python thread
            traceback.print_exc()


# -- loading --------------------------------------------------------------------------------

def load(spec: str, paths: list[str]) -> tuple[str, list[Any]]:
    """Imports ``module`` or ``module:Class``; answers (descriptor JSON, provider classes)."""
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    importlib.invalidate_caches()
    name, _, attr = spec.partition(":")
    if name in sys.modules:
        module = importlib.reload(sys.modules[name])
    else:
        module = importlib.import_module(name)
    if attr:
        classes = [getattr(module, attr)]
    else:
        classes = list(getattr(module, "PROVIDERS", None) or [])
        if not classes:
            raise PluginError(f"module {name} has no PROVIDERS list (or name a class: module = \"{name}:Class\")")
    version = str(getattr(module, "__version__", "0.0.0"))
    return _dumps({"version": version, "location": getattr(module, "__file__", None) or name,
                   "providers": [c.describe() for c in classes]}), classes


# -- calls ----------------------------------------------------------------------------------

def start(call_id: int, timeout: float, fn: Any, args: tuple[Any, ...]) -> None:
    """Runs ``fn(*args)`` (a coroutine function) as a task; reports to ``_done`` when it ends.
    After ``timeout`` seconds (if > 0) the task is cancelled and reported as timed out.

    Always a task, even for a call that never suspends: provider code may rely on running
    inside one (``asyncio.timeout``, ``current_task``), and Python 3.11 has no eager tasks.
    The task reports its own end (``_Call.run``) rather than through a done callback, which
    would cost one more turn of the loop per call."""
    global _sweeping
    assert _loop is not None
    call = _Call(call_id, timeout, fn(*args))
    call.task = _loop.create_task(call.run())
    _tasks[call_id] = call
    if timeout > 0:
        _deadlines[call_id] = _loop.time() + timeout
        if not _sweeping:
            _sweeping = True
            _loop.call_later(SWEEP_SECONDS, _sweep)


#: How often deadlines are checked: a call is cancelled at most this long after its timeout.
#: One sweep for all calls rather than an asyncio timer per call (a timer handle made, pushed
#: on the loop's heap and cancelled for every call costs more than the rest of a small call).
SWEEP_SECONDS = 0.05
_deadlines: dict[int, float] = {}
_sweeping = False


def _sweep() -> None:
    global _sweeping
    assert _loop is not None
    now = _loop.time()
    for call_id in [i for i, t in _deadlines.items() if t <= now]:
        del _deadlines[call_id]
        call = _tasks.get(call_id)
        if call is not None:
            call.expire()
    if _deadlines:
        _loop.call_later(SWEEP_SECONDS, _sweep)
    else:
        _sweeping = False


class _Call:
    """One call from the host: its task, and whether it timed out and was reported."""

    __slots__ = ("id", "timeout", "coro", "task", "started", "expired", "reported")

    def __init__(self, call_id: int, timeout: float, coro: Any) -> None:
        self.id, self.timeout, self.coro = call_id, timeout, coro
        self.task: Any = None
        self.started = self.expired = self.reported = False

    async def run(self) -> None:
        self.started = True
        coro, self.coro = self.coro, None
        try:
            value = await coro
        except asyncio.CancelledError:
            self.cancelled()
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure is reported to the caller
            self.report(1, describe_error(exc))
        else:
            self.report(0, value)

    def report(self, status: int, value: Any) -> None:
        if self.reported:
            return
        self.reported = True
        _tasks.pop(self.id, None)
        _deadlines.pop(self.id, None)
        if status == 0:
            _report(self.id, value)
        else:
            _done((self.id, status, value))

    def cancelled(self) -> None:
        if self.expired:
            self.report(1, ("timeout", f"exceeded its timeout of {self.timeout:g} s and was cancelled"))
        else:
            self.report(2, ("cancelled", "cancelled"))

    def cancel(self) -> None:
        if not self.started:
            # Cancelled before its first step: the task will never run `run`, so report here
            # (and close the provider's coroutine, which never started either).
            self.cancelled()
            if self.coro is not None:
                self.coro.close()
                self.coro = None
        self.task.cancel()

    def expire(self) -> None:
        if not self.task.done():
            self.expired = True
            self.cancel()


_tasks: dict[int, _Call] = {}


def _report(call_id: int, value: Any) -> None:
    try:
        _done((call_id, 0, value))
    except BaseException as e:  # noqa: BLE001 - a conversion failed on the host side
        _done((call_id, 1, describe_error(e)))


def cancel(call_id: int) -> None:
    call = _tasks.get(call_id)
    if call is not None:
        call.cancel()


def describe_error(exc: BaseException, frames: int = 3) -> tuple[str, str]:
    """(retry class, message with the exception type and the last traceback frames)."""
    if isinstance(exc, PluginError):
        kind = exc.retry
    elif isinstance(exc, (ConnectionError, TimeoutError)):
        kind = "transient"
    elif isinstance(exc, (ImportError, SyntaxError)):
        kind = "import"
    else:
        kind = "permanent"
    message = f"{type(exc).__name__}: {exc}"
    tb = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")][-frames:]
    if tb:
        message += " (" + "; ".join(f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in tb) + ")"
    return kind, message


# -- the provider calls (coroutines started with ``start``) ------------------------------------

async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def create(cls: Any, config: str, credentials: str) -> Any:
    return cls.create(config, credentials)


async def check(instance: Any) -> None:
    await _maybe(instance.check())


async def close(instance: Any) -> None:
    await _maybe(instance.close())


def _unpack(cls: Any, metas: bytes, blob: bytes, offsets: bytes | None, vectors: Any) -> list[Any]:
    metas_list = _load_batch(metas)
    if offsets is None:
        # The host's fast path: no payloads, no vectors, and `blob` is the resume tokens
        # joined by NUL (none contains one), split here in one C call.
        tokens = str(blob, "utf-8", "surrogateescape").split("\0") if metas_list else []
        if len(tokens) != len(metas_list):
            raise PluginError(f"the host sent {len(metas_list)} items with {len(tokens)} resume tokens")
        if cls is Record:
            return list(map(Record, metas_list, tokens))
        make = cls._from_abi
        return [make(m, b"", None, t) for m, t in zip(metas_list, tokens)]
    mv = memoryview(blob)
    o = memoryview(offsets).cast("q")
    if cls is Record:
        # Records have no payload: only the metadata and the tokens (a fast path for small records).
        tokens = o.tolist()
        return [Record(m, str(mv[tokens[j + 2]:tokens[j + 3]], "utf-8", "surrogateescape"))
                for m, j in zip(metas_list, range(0, len(tokens), 4))]
    make = cls._from_abi
    out = []
    for i, m in enumerate(metas_list):
        j = 4 * i
        token = str(mv[o[j + 2]:o[j + 3]], "utf-8", "surrogateescape") if o[j + 3] > o[j + 2] else ""
        out.append(make(m, mv[o[j]:o[j + 1]], vectors[i] if vectors is not None else None, token))
    return out


def _input_class(instance: Any) -> Any:
    return ITEM_TYPES[instance.input_data_type or instance.data_type]


async def write(instance: Any, metas: bytes, blob: bytes, offsets: bytes, vectors: Any) -> None:
    items = _unpack(ITEM_TYPES[instance.data_type], metas, blob, offsets, vectors)
    await _maybe(instance.write(items))


async def embed(instance: Any, texts: list[str]) -> tuple[int, int, array[float]]:
    vectors = await _maybe(instance.embed(texts))
    if len(vectors) != len(texts):
        raise PluginError(f"embed returned {len(vectors)} vectors for {len(texts)} texts")
    dims = len(vectors[0]) if vectors else 0
    flat = array("f")
    for v in vectors:
        if len(v) != dims:
            raise PluginError(f"embed returned vectors of different lengths ({dims} and {len(v)})")
        flat.extend(v)
    return len(vectors), dims, flat


async def complete(instance: Any, request: str, call_id: int) -> bytes:
    def on_token(token: str) -> None:
        _token((call_id, str(token)))

    result = await _maybe(instance.complete(_loads(request), on_token))
    return _dumps(result or {}).encode("utf-8")


class Cursor:
    """Pulls items in batches from what ``read``/``transform`` returned: an async iterator, an
    iterable, or an awaitable of either. A yielded list counts as that many items."""

    __slots__ = ("source", "it", "aio", "buffer", "done")

    def __init__(self, source: Any) -> None:
        self.source = source
        self.it: Any = None
        self.aio = False
        self.buffer: list[Any] = []
        self.done = False

    async def pull(self, n: int) -> Any:
        if self.it is None:
            src = self.source
            if inspect.isawaitable(src):
                src = await src
            if hasattr(src, "__aiter__"):
                self.it, self.aio = src.__aiter__(), True
            else:
                self.it = iter(src if src is not None else ())
        out, self.buffer = self.buffer, []
        it = self.it
        if len(out) < n and not self.done:
            # `async for`/`for` over the same iterator (breaking out leaves it open): much
            # cheaper per item than calling __anext__ under try/except.
            self.done = True
            if self.aio:
                async for x in it:
                    if type(x) is list:
                        out.extend(x)
                    else:
                        out.append(x)
                    if len(out) >= n:
                        self.done = False
                        break
            else:
                for x in it:
                    if type(x) is list:
                        out.extend(x)
                    else:
                        out.append(x)
                    if len(out) >= n:
                        self.done = False
                        break
        if len(out) > n:
            out, self.buffer = out[:n], out[n:]
        if not out:
            return None
        return (out, *pack(out))

    async def aclose(self) -> None:
        if self.aio and hasattr(self.it, "aclose"):
            await self.it.aclose()


def pack(items: list[Any]) -> tuple[bytes, list[Any] | None, list[bytes] | bytes, list[Any] | None]:
    """(metadata JSON array, payloads or None when all empty, tokens, vectors or None).
    `tokens` is one bytes of every token joined by NUL when they are all str without NUL
    (records, the common case), else a list of bytes."""
    if set(map(type, items)) == _RECORD_ONLY:
        # Records: metadata and tokens only (payloads None = all empty).
        metas = _dump_batch(list(map(_data_of, items)))
        try:
            joined = "\0".join(map(_token_of, items))
        except TypeError:  # a token is bytes
            joined = None
        if joined is not None and joined.count("\0") == len(items) - 1:
            return metas, None, joined.encode("utf-8", "surrogateescape"), None
        return (metas, None,
                [t.encode("utf-8", "surrogateescape") if type(t) is str else bytes(t) for t in (r.resume_token for r in items)],
                None)
    metas = []
    payloads = []
    tokens = []
    vectors: list[Any] | None = None
    for i, item in enumerate(items):
        m, p, v, t = item._abi()
        metas.append(m)
        payloads.append(p.encode("utf-8") if type(p) is str else p)
        tokens.append(t.encode("utf-8", "surrogateescape") if type(t) is str else bytes(t))
        if v is not None:
            if vectors is None:
                vectors = [None] * len(items)
            vectors[i] = v if isinstance(v, array) and v.typecode == "f" else array("f", v)
    return _dump_batch(metas), payloads, tokens, vectors


_RECORD_ONLY = {Record}
_data_of = operator.attrgetter("data")
_token_of = operator.attrgetter("resume_token")


def _typed(cls: Any, items: list[Any]) -> list[Any]:
    """``items`` (Python objects another Python provider made, handed on by the host without
    converting them) as instances of ``cls``: as they are when they already are, else rebuilt
    the way the host would have rebuilt them from their ABI form (a JSON round trip of the
    metadata, payloads as bytes, tokens as str) — so a provider sees the same values either way."""
    if set(map(type, items)) == {cls}:
        return items
    metas, payloads, tokens, vectors = pack(items)
    metas_list = _load_batch(metas)
    token_list = tokens.split(b"\0") if type(tokens) is bytes else tokens
    make = cls._from_abi
    return [make(m, payloads[i] if payloads is not None else b"", vectors[i] if vectors is not None else None,
                 str(token_list[i], "utf-8", "surrogateescape"))
            for i, m in enumerate(metas_list)]


async def write_items(instance: Any, items: list[Any]) -> None:
    """A sink's write of items that a Python source or transform made (the host's fast path)."""
    await _maybe(instance.write(_typed(ITEM_TYPES[instance.data_type], items)))


def open_transform_items(instance: Any, items: list[Any]) -> Cursor:
    """A transform over items that a Python source or transform made (the host's fast path)."""
    return Cursor(instance.transform(_typed(_input_class(instance), items)))


def open_read(instance: Any, token: str) -> Cursor:
    return Cursor(instance.read(token or None))


def open_transform(instance: Any, metas: bytes, blob: bytes, offsets: bytes, vectors: Any) -> Cursor:
    items = _unpack(_input_class(instance), metas, blob, offsets, vectors)
    return Cursor(instance.transform(items))


async def pull(cursor: Cursor, n: int) -> Any:
    return await cursor.pull(n)


def close_cursor(cursor: Cursor) -> None:
    """Closes a cursor without waiting (the host never blocks on a provider to close)."""
    if _loop is not None and cursor.aio:
        task = _loop.create_task(cursor.aclose())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

"""The bridge the nvisy host drives from Swift. Not for provider authors.

The host runs one interpreter with one thread. On that thread an asyncio loop runs forever;
its selector (``_HostSelector``) asks the host before every poll whether jobs are queued
(``drain`` runs them with the GIL held); the host writes an eventfd only when the thread sleeps,
starts each call as a task with ``start`` and hears of its end through ``done`` (a C
function). Items cross in batches (``_batches``): out of Python, the items and their ABI form;
into Python, the items themselves when another Python provider made them, else one JSON text
per batch for the metadata and one buffer for the payloads and tokens.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import os
import selectors
import sys
import traceback
from array import array
from typing import Any

# Re-exported: the host and the tests reach the batch helpers through this module.
from ._batches import Cursor, _dump_batch, _dumps, _load_batch, _loads, _typed, _unpack, pack  # noqa: F401
from .errors import PluginError
from .items import ITEM_TYPES

_loop: asyncio.AbstractEventLoop | None = None
_done: Any = None
_token: Any = None
def setup(wake_fd: int, drain: Any, done: Any, token: Any, park: Any) -> int:
    """Makes the loop (not run yet); answers its selector's epoll fd, which ``park`` waits on."""
    global _loop, _done, _token, _sweeping
    _done, _token = done, token
    _sweeping = False
    selector = _HostSelector(park, wake_fd)
    _loop = asyncio.SelectorEventLoop(selector)
    asyncio.set_event_loop(_loop)
    # The eventfd is registered so that a parked thread wakes on it; the host reads it back
    # itself (``park``), so the selector only ever reports it as made up by ``select``.
    _loop.add_reader(wake_fd, drain)
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
    _freeze_heap()
    return selector.fileno()


#: Allocations (minus deallocations) between two collections of the youngest generation; the
#: interpreter's default is 700. The host keeps a few batches alive at a time (the one being
#: written, up to two pulled ahead), so a flow of small records makes every young collection
#: walk a thousand or more live records only to promote them. At 2000, measured on the
#: source → sink loop of scripts/bench-python.sh run in Python (tasks and packing as the host
#: does them): ≈ 14 % less time per batch (215 → 185 µs); the bare loop gains ≈ 8 %. Cycles
#: are still collected, a little later; reference counting frees everything else at once.
YOUNG_GC_THRESHOLD = 2000


class _HostSelector(selectors.EpollSelector):
    """The loop's epoll selector, with the host's queue in the wait.

    ``park(timeout)`` (a C function of the host) answers whether the host has queued jobs;
    when none are queued and the loop may wait, it first spins for a few tens of microseconds
    without the GIL, then parks in ``epoll_wait`` on this selector's fd (where the host's
    eventfd is registered). A source → sink flow queues its next call within microseconds
    of the last one's end: the spin catches it without a system call on either side, where
    a pipe write and an epoll wake-up cost ≈ 10 µs of each call. The spin is bounded (50 µs,
    none while the host's spin policy says the machine has no core to spare), so an idle
    host still sleeps. Queued jobs are reported as a read event of the eventfd, whose reader
    is ``drain``."""

    def __init__(self, park: Any, wake_fd: int) -> None:
        super().__init__()
        self._park = park
        self._wake_fd = wake_fd

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        jobs = self._park(-1.0 if timeout is None else max(float(timeout), 0.0))
        ready = super().select(0)
        if jobs:
            ready.append((self.get_key(self._wake_fd), selectors.EVENT_READ))
        return ready


def _freeze_heap() -> None:
    """Moves every object alive now (the stdlib, the SDK, provider modules and classes: what
    lives as long as the interpreter) out of reach of the cyclic garbage collector.

    A full (oldest-generation) collection walks every tracked object; a flow of small records
    triggers one every few hundred thousand allocations, and each walked the tens of thousands
    of objects that importing asyncio, the SDK and boto3-sized provider libraries leave behind,
    which never become garbage. Frozen objects are still freed by reference counting; only a
    reference cycle among them would stay (a module replaced by a reload, a few per reload).
    Measured on the crossing benchmark: ≈ 12 % less CPU per item for a source → sink flow."""
    gc.freeze()


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
    if _loop is not None:  # in the host (not in tests that load without it): the new modules too
        _freeze_heap()
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


def _input_class(instance: Any) -> Any:
    return ITEM_TYPES[instance.input_data_type or instance.data_type]


async def write(instance: Any, metas: bytes, blob: bytes, offsets: bytes, vectors: Any) -> None:
    items = _unpack(ITEM_TYPES[instance.data_type], metas, blob, offsets, vectors)
    await _maybe(instance.write(items))


def _float32_rows(vectors: Any) -> memoryview | None:
    """A 2-D, C-contiguous float32 buffer (a model's numpy array) as is; None for anything else.

    Handed to the host without a Python float per value: `tolist()` and packing the floats back
    into an `array` cost about a millisecond per 128 vectors of 256 dimensions, with the GIL held.
    """
    if isinstance(vectors, (list, tuple)):
        return None
    try:
        view = memoryview(vectors)
    except TypeError:
        return None
    if view.ndim == 2 and view.format == "f" and view.c_contiguous:
        return view
    view.release()
    return None


async def embed(instance: Any, texts: list[str]) -> tuple[int, int, Any]:
    vectors = await _maybe(instance.embed(texts))
    rows = _float32_rows(vectors)
    if rows is not None:
        if rows.shape[0] != len(texts):
            raise PluginError(f"embed returned {rows.shape[0]} vectors for {len(texts)} texts")
        return rows.shape[0], rows.shape[1], rows
    if len(vectors) != len(texts):
        raise PluginError(f"embed returned {len(vectors)} vectors for {len(texts)} texts")
    dims = len(vectors[0]) if len(vectors) else 0  # not `if vectors`: a numpy array has no truth value
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

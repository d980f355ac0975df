"""The host bridge's batch encoding (nvisy_plugin._host): the fast paths and their fallbacks.

The Swift side of the same format is exercised end to end by Tests/NvisyPythonTests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nvisy_plugin import Object, Record, _host


def test_records_pack_tokens_joined_by_nul() -> None:
    items = [Record({"id": i, "name": "é"}, resume_token=str(i)) for i in range(3)]
    metas, payloads, tokens, vectors = _host.pack(items)
    assert json.loads(metas) == [{"id": 0, "name": "é"}, {"id": 1, "name": "é"}, {"id": 2, "name": "é"}]
    assert payloads is None and vectors is None
    assert tokens == b"0\x001\x002"


def test_tokens_with_nul_or_bytes_fall_back_to_a_list() -> None:
    _, _, tokens, _ = _host.pack([Record({"a": 1}, resume_token="x\0y"), Record({}, resume_token="z")])
    assert tokens == [b"x\x00y", b"z"]
    _, _, tokens, _ = _host.pack([Record({}, resume_token=b"\x01")])  # type: ignore[arg-type]
    assert tokens == [b"\x01"]


def test_what_orjson_refuses_goes_through_the_stdlib() -> None:
    big = 2**70
    metas, _, _, _ = _host.pack([Record({"n": big}), Record({1: "int key"})])  # type: ignore[dict-item]
    assert json.loads(metas) == [{"n": big}, {"1": "int key"}]
    assert _host._load_batch(b'[{"n": 1180591620717411303424}]') == [{"n": big}]


def test_unpack_fast_path_records_and_objects() -> None:
    records = _host._unpack(Record, b'[{"id":1},{"id":2}]', b"a\x00", None, None)
    assert records == [Record({"id": 1}, "a"), Record({"id": 2}, "")]
    objects = _host._unpack(Object, b'[{"path":"p"}]', b"t", None, None)
    assert objects == [Object("p", b"", {}, "t")]
    assert _host._unpack(Record, b"[]", b"", None, None) == []


def test_unpack_fast_path_refuses_a_token_count_mismatch() -> None:
    try:
        _host._unpack(Record, b'[{"id":1}]', b"a\x00b", None, None)
    except Exception as e:  # PluginError
        assert "2 resume tokens" in str(e)
    else:
        raise AssertionError("a mismatch must raise")


def test_cursor_pulls_in_batches_and_resumes_the_same_iterator() -> None:
    async def gen():  # type: ignore[no-untyped-def]
        for i in range(5):
            yield Record({"i": i}, resume_token=str(i))
        yield [Record({"i": 5}, "5"), Record({"i": 6}, "6")]

    async def run() -> list[bytes]:
        c = _host.Cursor(gen())
        out = []
        while (packed := await c.pull(2)) is not None:
            out.append(packed[3])
        return out

    assert asyncio.run(run()) == [b"0\x001", b"2\x003", b"4\x005", b"6"]
    sync = _host.Cursor([Record({}, "a"), Record({}, "b"), Record({}, "c")])
    assert asyncio.run(sync.pull(2))[3] == b"a\x00b"
    assert asyncio.run(sync.pull(2))[3] == b"c"
    assert asyncio.run(sync.pull(2)) is None


# -- calls (``start``) and items handed on between Python providers ------------------------------

def _run_start(fn, *args, timeout: float = 0):  # type: ignore[no-untyped-def]
    """Runs ``_host.start`` on a fresh loop (as the host's thread does) and answers what it
    reported to ``done`` and whether the call ran as a task."""
    loop = asyncio.new_event_loop()
    reports: list[tuple] = []
    old = _host._loop, _host._done
    _host._loop, _host._done = loop, reports.append
    _host._sweeping = False  # the deadline sweep of an earlier test's loop is gone with it
    try:
        _host.start(1, timeout, fn, args)
        needed_task = bool(_host._tasks)
        while not reports:
            loop.run_until_complete(asyncio.sleep(0.005))
        return reports, needed_task
    finally:
        _host._loop, _host._done = old
        loop.close()


def test_a_call_runs_in_a_task_even_when_it_never_suspends() -> None:
    async def add(a: int, b: int) -> int:
        assert asyncio.current_task() is not None  # provider code may rely on it (asyncio.timeout)
        async with asyncio.timeout(1):
            return a + b

    reports, needed_task = _run_start(add, 2, 3)
    assert reports == [(1, 0, 5)] and needed_task


def test_a_call_that_suspends_continues_as_a_task() -> None:
    async def slow(x: int) -> int:
        await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, fut.set_result, x * 2)
        return await fut + 1

    reports, needed_task = _run_start(slow, 20)
    assert reports == [(1, 0, 41)] and needed_task


def test_errors_before_and_after_the_first_suspension() -> None:
    async def early() -> None:
        raise ValueError("early")

    async def late() -> None:
        await asyncio.sleep(0.001)
        raise ValueError("late")

    for fn, text in ((early, "ValueError: early"), (late, "ValueError: late")):
        reports, _ = _run_start(fn)
        assert reports[0][:2] == (1, 1) and reports[0][2][0] == "permanent" and reports[0][2][1].startswith(text)


def test_a_suspended_call_is_cancelled_at_its_timeout() -> None:
    seen: list[str] = []

    async def stuck() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")  # the provider sees the cancellation
            raise

    reports, needed_task = _run_start(stuck, timeout=0.02)
    assert needed_task and seen == ["cancelled"]
    assert reports[0][:2] == (1, 1) and reports[0][2][0] == "timeout"


def test_items_of_the_right_type_are_handed_on_as_they_are() -> None:
    records = [Record({"id": i}, resume_token=str(i)) for i in range(3)]
    assert _host._typed(Record, records) is records

    written: list[Record] = []

    class Sink:
        data_type = "record"

        async def write(self, items: list[Record]) -> None:
            written.extend(items)

    reports, _ = _run_start(_host.write_items, Sink(), records)
    assert reports == [(1, 0, None)] and written == records and written[0] is records[0]


def test_items_of_another_type_are_rebuilt_as_the_host_would() -> None:
    from nvisy_plugin import Document

    records = [Record({"path": "a.txt", "n": 1}, resume_token="t\udcff"), Record({"path": "b"}, resume_token="")]
    objects = _host._typed(Object, records)
    assert objects == [Object("a.txt", b"", {"n": 1}, "t\udcff"), Object("b", b"", {}, "")]
    assert records[0].data == {"path": "a.txt", "n": 1}  # the source's dict is left alone
    docs = _host._typed(Document, [Object("x.md", "héllo".encode(), {"k": [1]}, "7")])
    assert docs == [Document("héllo", {"path": "x.md", "k": [1]}, "7")]


def test_a_pull_answers_the_objects_and_their_abi_form() -> None:
    async def gen():  # type: ignore[no-untyped-def]
        for i in range(3):
            yield Record({"i": i}, resume_token=str(i))

    items = [Record({"i": i}, str(i)) for i in range(3)]
    objects, metas, payloads, tokens, vectors = asyncio.run(_host.Cursor(gen()).pull(10))
    assert objects == items
    assert (json.loads(metas), payloads, tokens, vectors) == ([{"i": 0}, {"i": 1}, {"i": 2}], None, b"0\x001\x002", None)


def test_a_call_cancelled_before_it_ran_is_reported_once() -> None:
    import warnings

    ran: list[int] = []

    async def never() -> None:
        ran.append(1)

    loop = asyncio.new_event_loop()
    reports: list[tuple] = []
    old = _host._loop, _host._done
    _host._loop, _host._done = loop, reports.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "coroutine ... was never awaited" would be one
            _host.start(7, 0, never, ())
            _host.cancel(7)
            loop.run_until_complete(asyncio.sleep(0.01))
            _host.cancel(7)  # a second cancel of a finished call is a no-op
        assert reports == [(7, 2, ("cancelled", "cancelled"))] and ran == [] and 7 not in _host._tasks
    finally:
        _host._loop, _host._done = old
        loop.close()


def test_loading_a_provider_in_the_host_freezes_the_heap_it_leaves(monkeypatch: Any) -> None:
    """In the host (a loop is set up), ``load`` moves what the import left (modules, classes)
    out of the cyclic collector's reach; a plain ``load`` (no host) leaves the collector alone."""
    import gc
    import os
    import sys

    fixtures = os.path.join(os.path.dirname(__file__), "fixtures")
    gc.unfreeze()
    try:
        _host.load("nvisy_bench", [fixtures])
        bench = sys.modules["nvisy_bench"]
        assert gc.get_freeze_count() == 0
        assert any(o is bench.Gen for o in gc.get_objects())

        monkeypatch.setattr(_host, "_loop", object())
        _, classes = _host.load("nvisy_bench", [fixtures])
        assert gc.get_freeze_count() > 0
        tracked = gc.get_objects()
        assert classes[0].__name__ == "Gen"
        assert not any(o is classes[0] for o in tracked)
    finally:
        gc.unfreeze()


def test_host_selector_reports_queued_jobs_and_real_events() -> None:
    """``_HostSelector`` asks the host's ``park`` before every poll: queued jobs come back as a
    read event of the wake fd (whose reader drains them), real fd events and timers as usual."""
    import os

    wake_r, wake_w = os.pipe()  # stands for the host's eventfd (never written: the host reads it back)
    data_r, data_w = os.pipe()
    asked: list[float] = []
    queued = [True]

    def park(timeout: float) -> bool:
        asked.append(timeout)
        return queued.pop() if queued else False

    loop = asyncio.SelectorEventLoop(_host._HostSelector(park, wake_r))
    try:
        drained: list[int] = []
        got: list[bytes] = []
        loop.add_reader(wake_r, lambda: drained.append(1))
        loop.add_reader(data_r, lambda: got.append(os.read(data_r, 10)))
        loop.call_later(0.01, os.write, data_w, b"x")
        loop.run_until_complete(asyncio.sleep(0.05))
        assert drained == [1]  # the one queued job, reported once
        assert got == [b"x"]  # a real fd event through the same selector
        assert asked and all(type(t) is float for t in asked)  # never None: the C function takes a float (-1: no limit)
        assert any(t > 0 for t in asked)  # the loop did wait for its timers
    finally:
        loop.close()
        for fd in (wake_r, wake_w, data_r, data_w):
            os.close(fd)


class _Embedder:
    def __init__(self, vectors: Any) -> None:
        self.vectors = vectors

    async def embed(self, texts: list[str]) -> Any:
        return self.vectors


def test_embed_hands_a_float32_matrix_over_as_its_buffer() -> None:
    import numpy as np

    matrix = np.arange(6, dtype=np.float32).reshape(2, 3)
    rows, dims, flat = asyncio.run(_host.embed(_Embedder(matrix), ["a", "b"]))
    assert (rows, dims) == (2, 3)
    assert isinstance(flat, memoryview) and flat.obj is matrix  # no copy, no Python floats
    assert flat.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_embed_packs_lists_and_other_arrays_as_floats() -> None:
    import numpy as np

    for vectors in ([[0.5, 1.0], [2.0, 3.0]], np.array([[0.5, 1.0], [2.0, 3.0]]), np.asfortranarray(np.ones((2, 2), np.float32))):
        rows, dims, flat = asyncio.run(_host.embed(_Embedder(vectors), ["a", "b"]))
        assert (rows, dims) == (2, 2) and len(flat) == 4 and flat.typecode == "f"
    assert list(asyncio.run(_host.embed(_Embedder([[0.5, 1.0], [2.0, 3.0]]), ["a", "b"]))[2]) == [0.5, 1.0, 2.0, 3.0]


def test_embed_with_the_wrong_number_of_vectors_is_an_error() -> None:
    import numpy as np
    import pytest

    from nvisy_plugin import PluginError

    for vectors in (np.zeros((1, 4), np.float32), [[0.0] * 4]):
        with pytest.raises(PluginError, match="1 vectors for 2 texts"):
            asyncio.run(_host.embed(_Embedder(vectors), ["a", "b"]))

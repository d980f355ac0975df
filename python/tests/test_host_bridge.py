"""The host bridge's batch encoding (nvisy_plugin._host): the fast paths and their fallbacks.

The Swift side of the same format is exercised end to end by Tests/NvisyPythonTests."""

from __future__ import annotations

import asyncio
import json

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
            out.append(packed[2])
        return out

    assert asyncio.run(run()) == [b"0\x001", b"2\x003", b"4\x005", b"6"]
    sync = _host.Cursor([Record({}, "a"), Record({}, "b"), Record({}, "c")])
    assert asyncio.run(sync.pull(2))[2] == b"a\x00b"
    assert asyncio.run(sync.pull(2))[2] == b"c"
    assert asyncio.run(sync.pull(2)) is None

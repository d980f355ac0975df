/// The files `nvisy plugins new python NAME --kind KIND` writes: a provider module on the
/// `nvisy_plugin` SDK, a manifest that finds the module by absolute path (so it can be copied
/// into plugins.d as is) and a pytest that exercises the provider without the host.
enum PythonScaffold {
    /// `[(relative path, contents)]` for a provider `name` (a Python identifier) of `kind`.
    static func files(name: String, kind: ProviderKind, folder: String) -> [(String, String)] {
        let module = "nvisy_\(name)"
        let manifest = """
            # The \(name) plugin: provider \(name)/\(kind.providerName) (\(kind.rawValue)), in embedded Python.
            # Copy this file into the host's plugins.d/ and run `nvisy plugins reload`.
            name = "\(name)"
            runtime = "python"
            module = "\(module)"
            library = "\(folder)"
            enabled = true

            """
        return [("\(module).py", source(kind)), ("test_\(module).py", test(module: module, kind: kind)), ("\(name).toml", manifest),
                ("README.md", readme(name: name, module: module, kind: kind))]
    }

    static func source(_ kind: ProviderKind) -> String {
        let header = """
            \"\"\"\(kind.summary)\"\"\"

            from __future__ import annotations

            from collections.abc import AsyncIterator, Callable
            from typing import Any

            from pydantic import BaseModel, Field

            from nvisy_plugin import CompletionProvider, EmbeddingProvider, InvalidConfig, Record, Sink, Source, Transform


            """
        let body: String = switch kind {
        case .source: """
            class Config(BaseModel):
                prefix: str = Field("item", description="The text each record starts with.")
                count: int = Field(3, ge=0, description="How many records to produce.")


            class Provider(Source[Config]):
                \"\"\"Produces `count` records; resumable: the resume token is the record's index.\"\"\"

                name = "\(kind.providerName)"
                data_type = "record"
                config_model = Config

                async def read(self, after: str | None) -> AsyncIterator[Record]:
                    start = int(after) + 1 if after else 0
                    for i in range(start, self.config.count):
                        yield Record({"text": f"{self.config.prefix} {i}", "index": i}, resume_token=str(i))
            """
        case .sink: """
            class Config(BaseModel):
                path: str = Field(description="The JSON Lines file records are appended to.")


            class Provider(Sink[Config]):
                \"\"\"Appends each record as one JSON line; a batch is durable when write returns.\"\"\"

                name = "\(kind.providerName)"
                data_type = "record"
                config_model = Config

                async def write(self, items: list[Any]) -> None:
                    import json
                    import os

                    with open(self.config.path, "a", encoding="utf-8") as f:
                        for item in items:
                            f.write(json.dumps(item.data, sort_keys=True) + "\\n")
                        f.flush()
                        os.fsync(f.fileno())
            """
        case .transform: """
            class Config(BaseModel):
                field: str = Field("text", description="The record field to upper-case.")


            class Provider(Transform[Config]):
                \"\"\"Upper-cases one field of each record.\"\"\"

                name = "\(kind.providerName)"
                data_type = "record"
                input_data_type = "record"
                config_model = Config

                async def transform(self, items: list[Any]) -> AsyncIterator[Record]:
                    for item in items:
                        data = dict(item.data)
                        if isinstance(data.get(self.config.field), str):
                            data[self.config.field] = data[self.config.field].upper()
                        yield Record(data, resume_token=item.resume_token)
            """
        case .embedding: """
            class Config(BaseModel):
                dimensions: int = Field(8, ge=1, le=4096, description="The vector length.")


            class Provider(EmbeddingProvider[Config]):
                \"\"\"A deterministic bag-of-characters embedding: replace it with a real model.\"\"\"

                name = "\(kind.providerName)"
                config_model = Config

                async def embed(self, texts: list[str]) -> list[list[float]]:
                    vectors = []
                    for text in texts:
                        vector = [0.0] * self.config.dimensions
                        for ch in text:
                            vector[ord(ch) % self.config.dimensions] += 1.0
                        norm = sum(v * v for v in vector) ** 0.5 or 1.0
                        vectors.append([v / norm for v in vector])
                    return vectors
            """
        case .completion: """
            class Config(BaseModel):
                prefix: str = Field("You said:", description="What the reply starts with.")


            class Provider(CompletionProvider[Config]):
                \"\"\"Replies by echoing the last message, streamed word by word: replace it with a real model.\"\"\"

                name = "\(kind.providerName)"
                config_model = Config

                async def complete(self, request: dict[str, Any], on_token: Callable[[str], None]) -> dict[str, Any]:
                    messages = request.get("messages") or []
                    if not messages or not isinstance(messages[-1].get("content"), str):
                        raise InvalidConfig("the request needs messages[].content")
                    reply = f"{self.config.prefix} {messages[-1]['content']}"
                    for word in reply.split(" "):
                        on_token(word + " ")
                    return {"message": {"role": "assistant", "content": reply}, "finishReason": "stop"}
            """
        }
        return header + body + "\n\nPROVIDERS = [Provider]\n"
    }

    static func test(module: String, kind: ProviderKind) -> String {
        let header = """
            \"\"\"Tests of \(module), without the host (the host runs the same calls).\"\"\"

            from __future__ import annotations

            import asyncio
            import json
            import sys
            from pathlib import Path

            sys.path.insert(0, str(Path(__file__).resolve().parent))

            import \(module)  # noqa: E402
            from nvisy_plugin import InvalidConfig, Record  # noqa: E402, F401


            def test_describe() -> None:
                d = \(module).Provider.describe()
                assert d["name"] == "\(kind.providerName)" and d["kinds"] == ["\(kind.rawValue)"]
                assert d["configSchema"]["type"] == "object"


            """
        let body: String = switch kind {
        case .source: """
            def test_read_and_resume() -> None:
                p = \(module).Provider.create({"prefix": "x", "count": 4})

                async def collect(after: str | None) -> list[Record]:
                    return [item async for item in p.read(after)]

                items = asyncio.run(collect(None))
                assert [i.data["text"] for i in items] == ["x 0", "x 1", "x 2", "x 3"]
                assert [i.data["index"] for i in asyncio.run(collect(items[1].resume_token))] == [2, 3]


            def test_bad_config() -> None:
                try:
                    \(module).Provider.create({"count": -1})
                except InvalidConfig:
                    return
                raise AssertionError("a negative count must be refused")
            """
        case .sink: """
            def test_write_appends(tmp_path: Path) -> None:
                out = tmp_path / "out.jsonl"
                p = \(module).Provider.create({"path": str(out)})
                asyncio.run(p.write([Record({"a": 1}), Record({"a": 2})]))
                asyncio.run(p.write([Record({"a": 3})]))
                assert [json.loads(line)["a"] for line in out.read_text().splitlines()] == [1, 2, 3]
            """
        case .transform: """
            def test_transform() -> None:
                p = \(module).Provider.create({"field": "text"})

                async def run() -> list[Record]:
                    return [o async for o in p.transform([Record({"text": "hi", "n": 1}, resume_token="7")])]

                out = asyncio.run(run())
                assert out[0].data == {"text": "HI", "n": 1} and out[0].resume_token == "7"
            """
        case .embedding: """
            def test_embed() -> None:
                p = \(module).Provider.create({"dimensions": 4})
                vectors = asyncio.run(p.embed(["abc", "abc", "zzz"]))
                assert len(vectors) == 3 and all(len(v) == 4 for v in vectors)
                assert vectors[0] == vectors[1] and vectors[0] != vectors[2]
            """
        case .completion: """
            def test_complete_streams_tokens() -> None:
                p = \(module).Provider.create({})
                tokens: list[str] = []
                answer = asyncio.run(p.complete({"messages": [{"role": "user", "content": "hello there"}]}, tokens.append))
                assert answer["message"]["content"] == "You said: hello there"
                assert "".join(tokens).strip() == answer["message"]["content"]
            """
        }
        return header + body
    }

    static func readme(name: String, module: String, kind: ProviderKind) -> String {
        """
        # \(name)

        A Python \(kind.rawValue) provider for nvisy: `\(name)/\(kind.providerName)`, generated by
        `nvisy plugins new python \(name) --kind \(kind.rawValue)`.

        - `\(module).py` — the provider (`nvisy_plugin` SDK; see python/README.md in the nvisy repository).
        - `test_\(module).py` — its tests: `python -m pytest` in this folder (with nvisy's venv).
        - `\(name).toml` — its manifest: copy it into the host's `plugins.d/` and run
          `nvisy plugins reload` (or send the host SIGHUP); the provider then appears in
          `nvisy plugins status` with its config schema.

        """
    }
}

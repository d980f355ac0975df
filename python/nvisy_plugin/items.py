"""Item types: dataclasses that mirror the C ABI item (metadata JSON, payload bytes, optional
float vector, resume token). Each knows how to cross to the host (``_abi``) and back
(``_from_abi``); providers only see the dataclasses.

Payloads that come from the host are ``memoryview`` slices of one buffer per batch (no copy
per item); ``bytes(item.data)`` makes a copy that outlives the batch if a provider keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

#: A payload: anything with the buffer protocol.
Payload = Union[bytes, bytearray, memoryview]
JSON = dict[str, Any]


@dataclass(slots=True)
class Object:
    """A blob with a path (``metadata.path``), e.g. a file or an S3 object."""

    path: str
    data: Payload = b""
    metadata: JSON = field(default_factory=dict)
    resume_token: str = ""

    data_type: ClassVar[str] = "object"

    def _abi(self) -> tuple[JSON, Payload, Any, str]:
        m = dict(self.metadata)
        m["path"] = self.path
        return m, self.data, None, self.resume_token

    @classmethod
    def _from_abi(cls, meta: JSON, payload: Payload, vector: Any, token: str) -> Object:
        return cls(str(meta.pop("path", "")), payload, meta, token)


@dataclass(slots=True)
class Record:
    """A JSON object (a row, an event)."""

    data: JSON
    resume_token: str = ""

    data_type: ClassVar[str] = "record"

    def _abi(self) -> tuple[JSON, Payload, Any, str]:
        return self.data, b"", None, self.resume_token

    @classmethod
    def _from_abi(cls, meta: JSON, payload: Payload, vector: Any, token: str) -> Record:
        return cls(meta, token)


@dataclass(slots=True)
class Document:
    """Text (the payload, UTF-8) with structure in ``metadata`` (path, format, pages, sections)."""

    text: str
    metadata: JSON = field(default_factory=dict)
    resume_token: str = ""

    data_type: ClassVar[str] = "document"

    def _abi(self) -> tuple[JSON, Payload, Any, str]:
        return self.metadata, self.text.encode("utf-8"), None, self.resume_token

    @classmethod
    def _from_abi(cls, meta: JSON, payload: Payload, vector: Any, token: str) -> Document:
        return cls(bytes(payload).decode("utf-8", "replace"), meta, token)


@dataclass(slots=True)
class Embedding:
    """A vector, the text it embeds (payload) and metadata."""

    vector: Sequence[float]
    text: str = ""
    metadata: JSON = field(default_factory=dict)
    resume_token: str = ""

    data_type: ClassVar[str] = "embedding"

    def _abi(self) -> tuple[JSON, Payload, Any, str]:
        return self.metadata, self.text.encode("utf-8"), self.vector, self.resume_token

    @classmethod
    def _from_abi(cls, meta: JSON, payload: Payload, vector: Any, token: str) -> Embedding:
        return cls(list(vector) if vector is not None else [], bytes(payload).decode("utf-8", "replace"), meta, token)


@dataclass(slots=True)
class Message:
    """A chat message: ``role`` and ``content`` (metadata keys of the same names)."""

    role: str
    content: str
    metadata: JSON = field(default_factory=dict)
    resume_token: str = ""

    data_type: ClassVar[str] = "message"

    def _abi(self) -> tuple[JSON, Payload, Any, str]:
        m = dict(self.metadata)
        m["role"], m["content"] = self.role, self.content
        return m, b"", None, self.resume_token

    @classmethod
    def _from_abi(cls, meta: JSON, payload: Payload, vector: Any, token: str) -> Message:
        return cls(str(meta.pop("role", "")), str(meta.pop("content", "")), meta, token)


@dataclass(slots=True)
class Graph:
    """Nodes and edges (metadata keys ``nodes`` and ``edges``)."""

    nodes: list[JSON] = field(default_factory=list)
    edges: list[JSON] = field(default_factory=list)
    metadata: JSON = field(default_factory=dict)
    resume_token: str = ""

    data_type: ClassVar[str] = "graph"

    def _abi(self) -> tuple[JSON, Payload, Any, str]:
        m = dict(self.metadata)
        m["nodes"], m["edges"] = self.nodes, self.edges
        return m, b"", None, self.resume_token

    @classmethod
    def _from_abi(cls, meta: JSON, payload: Payload, vector: Any, token: str) -> Graph:
        return cls(list(meta.pop("nodes", [])), list(meta.pop("edges", [])), meta, token)


Item = Union[Object, Record, Document, Embedding, Message, Graph]

#: The item class for each data type name.
ITEM_TYPES: dict[str, type] = {c.data_type: c for c in (Object, Record, Document, Embedding, Message, Graph)}

"""Provider base classes. A provider subclasses one or more of them, sets ``name`` and
``data_type``, declares its config with a pydantic model (``config_model``) or a JSON Schema
(``config_schema``), and implements the async methods of its kinds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Generic, TypeVar

from .errors import InvalidConfig
from .items import ITEM_TYPES, Item

C = TypeVar("C")
DATA_TYPES = tuple(ITEM_TYPES)


class Provider(Generic[C]):
    """What every provider has: a name, a data type, config/credential schemas, check and close.

    ``self.config`` is the validated config (an instance of ``config_model``, or the dict when
    only ``config_schema`` is given); ``self.credentials`` likewise with ``credentials_model``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    data_type: ClassVar[str] = "record"
    #: What a transform accepts (default: ``data_type``).
    input_data_type: ClassVar[str | None] = None
    config_model: ClassVar[Any] = None
    config_schema: ClassVar[dict[str, Any] | None] = None
    credentials_model: ClassVar[Any] = None
    credentials_schema: ClassVar[dict[str, Any] | None] = None
    _kind: ClassVar[str | None] = None

    def __init__(self, config: C, credentials: Any = None) -> None:
        self.config = config
        self.credentials = credentials

    async def check(self) -> None:
        """Checks that what the provider talks to is reachable (default: nothing to check)."""

    async def close(self) -> None:
        """Releases what the instance holds."""

    # -- description and construction (used by the host and the local runner) --

    @classmethod
    def kinds(cls) -> list[str]:
        return [k for b in cls.__mro__ if (k := b.__dict__.get("_kind"))] or []

    @classmethod
    def _schema(cls, model: Any, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if model is not None:
            return dict(model.model_json_schema())
        return schema

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The descriptor the host registers (name, kinds, data types, schemas)."""
        if not getattr(cls, "name", None):
            raise InvalidConfig(f"provider class {cls.__qualname__} has no `name`")
        kinds = list(dict.fromkeys(cls.kinds()))
        if not kinds:
            raise InvalidConfig(f"provider {cls.name} subclasses none of Source, Sink, Transform, "
                                "EmbeddingProvider, CompletionProvider")
        for dt in (cls.data_type, cls.input_data_type or cls.data_type):
            if dt not in DATA_TYPES:
                raise InvalidConfig(f"provider {cls.name}: unknown data type {dt!r} (one of {', '.join(DATA_TYPES)})")
        doc = (cls.__doc__ or "").strip().splitlines()
        return {
            "name": cls.name,
            "description": cls.description or (doc[0] if doc else ""),
            "kinds": kinds,
            "dataType": cls.data_type,
            "inputDataType": cls.input_data_type or cls.data_type,
            "configSchema": cls._schema(cls.config_model, cls.config_schema) or {"type": "object"},
            "credentialsSchema": cls._schema(cls.credentials_model, cls.credentials_schema),
        }

    @classmethod
    def create(cls, config: dict[str, Any] | str, credentials: dict[str, Any] | str | None = None) -> Provider[Any]:
        """An instance from JSON config/credentials, validated by the pydantic models."""
        if isinstance(config, str):
            config = json.loads(config or "{}")
        if isinstance(credentials, str):
            credentials = json.loads(credentials or "{}")
        return cls(_parse(cls.config_model, config, "config"), _parse(cls.credentials_model, credentials or {}, "credentials"))


def _parse(model: Any, value: dict[str, Any], what: str) -> Any:
    if model is None:
        return value
    try:
        return model.model_validate(value)
    except Exception as e:  # pydantic.ValidationError
        raise InvalidConfig(f"{what}: {e}") from None


class Source(Provider[C]):
    """Produces items. ``read`` is an async generator that starts after ``after`` (the resume
    token of the last item the pipeline kept, or None) and yields items (or lists of items)."""

    _kind = "source"

    def read(self, after: str | None) -> AsyncIterator[Item]:
        raise NotImplementedError


class Sink(Provider[C]):
    """Accepts batches; ``write`` returns once the batch is durable."""

    _kind = "sink"

    async def write(self, items: list[Any]) -> None:
        raise NotImplementedError


class Transform(Provider[C]):
    """Turns a batch of input items (``input_data_type``) into outputs (``data_type``):
    an async generator, or a coroutine returning a list."""

    _kind = "transform"

    def transform(self, items: list[Any]) -> AsyncIterator[Item]:
        raise NotImplementedError


class EmbeddingProvider(Provider[C]):
    """Embeds texts: one vector per text."""

    _kind = "embedding"
    data_type: ClassVar[str] = "embedding"

    async def embed(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError


class CompletionProvider(Provider[C]):
    """Completes ``{"messages": [...]}``; calls ``on_token`` for each streamed token and
    returns the final response (``{"message": {...}, ...}``)."""

    _kind = "completion"
    data_type: ClassVar[str] = "message"

    async def complete(self, request: dict[str, Any], on_token: Callable[[str], None]) -> dict[str, Any]:
        raise NotImplementedError

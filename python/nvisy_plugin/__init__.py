"""nvisy_plugin — write nvisy providers in Python.

A module lists its providers in ``PROVIDERS``; a manifest in ``plugins.d/`` with
``runtime = "python"`` and ``module = "<module>"`` makes the host load them. See README.md.
"""

from .errors import InvalidConfig, PermanentError, PluginError, TransientError, Unauthorized
from .items import ITEM_TYPES, Document, Embedding, Graph, Item, Message, Object, Payload, Record
from .provider import CompletionProvider, EmbeddingProvider, Provider, Sink, Source, Transform

__version__ = "0.1.0"

__all__ = [
    "CompletionProvider", "Document", "Embedding", "EmbeddingProvider", "Graph", "ITEM_TYPES", "InvalidConfig",
    "Item", "Message", "Object", "Payload", "PermanentError", "PluginError", "Provider", "Record", "Sink", "Source",
    "Transform", "TransientError", "Unauthorized",
]

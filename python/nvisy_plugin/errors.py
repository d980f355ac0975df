"""Errors a provider raises; the host maps each to an nvisy error with a retry class.

Any other exception is a permanent failure, reported with its type, message and the last
frames of its traceback.
"""

from __future__ import annotations


class PluginError(Exception):
    """Base of the SDK's errors. ``retry`` is how the host classifies it."""

    retry: str = "permanent"


class TransientError(PluginError):
    """A passing condition (timeout, throttling, a restart): the run may retry with backoff."""

    retry = "transient"


class PermanentError(PluginError):
    """Retrying the same thing fails the same way."""

    retry = "permanent"


class InvalidConfig(PluginError):
    """The connection's config or credentials are wrong (checked when the instance is created)."""

    retry = "invalid-config"


class Unauthorized(PluginError):
    """The credentials were refused by the remote system."""

    retry = "unauthorized"

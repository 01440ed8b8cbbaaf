"""The interface every storage backend implements for `KVService`.

The service validates and encodes everything first; a backend receives only valid names,
JSON text, absolute expiry times (seconds since the epoch) and key ranges, and wraps every
driver error in `BackendError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

Row = tuple[str, str, "float | None"]
"""One write: key, JSON text, expiry time (None: never)."""


class Backend(Protocol):
    """Storage for (plugin, key) -> JSON text with optional expiry."""

    url: str
    """Where the data lives, safe to show (no password)."""

    async def set_many(self, plugin: str, rows: Sequence[Row]) -> None:
        """Upsert all ``rows`` atomically."""

    async def get(self, plugin: str, key: str, now: float) -> str | None:
        """Return the live JSON text stored under ``key``, or None."""

    async def get_many(self, plugin: str, keys: Sequence[str], now: float) -> dict[str, str]:
        """Return the live JSON text of each of ``keys`` that exists."""

    async def delete(self, plugin: str, key: str, now: float) -> bool:
        """Remove ``key``; return True if it was live."""

    async def list_keys(
        self, plugin: str, low: str, high: str | None, now: float, limit: int | None
    ) -> list[str]:
        """Return live keys in ``[low, high)``, sorted by code point."""

    async def count(self, plugin: str, low: str, high: str | None, now: float) -> int:
        """Return the number of live keys in ``[low, high)``."""

    async def clear(self, plugin: str, low: str, high: str | None, now: float) -> int:
        """Remove every key in ``[low, high)`` at once; return how many were live."""

    async def plugin_sizes(self, now: float) -> dict[str, int]:
        """Return the number of live keys of every plugin that has one."""

    async def purge_expired(self, now: float) -> int:
        """Remove expired keys; return how many."""

    async def close(self) -> None:
        """Release connections; safe to call twice."""

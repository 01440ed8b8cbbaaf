"""The interface every storage backend implements for `KVService`.

The service validates and encodes everything first; a backend receives only valid names,
JSON text, absolute expiry times (seconds since the epoch) and key ranges, and wraps every
driver error in `BackendError`. Each call returns an awaitable; a backend may run calls
concurrently, but the writes of one task, awaited one after another, land in that order.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Sequence
from typing import Protocol

from ._rules import MAX_KEY_LENGTH

Row = tuple[str, str, "float | None"]
"""One write: key, JSON text, expiry time (None: never)."""
ABOVE_EVERY_KEY = "\U0010ffff" * (MAX_KEY_LENGTH + 1)
"""The end of a key range with no upper bound: keys compare by code point."""


class Backend(Protocol):
    """Storage for (plugin, key) -> JSON text with optional expiry."""

    url: str
    """Where the data lives, safe to show (no password)."""

    def set_many(self, plugin: str, rows: Sequence[Row]) -> Awaitable[None]:
        """Upsert all ``rows`` atomically."""

    def get(self, plugin: str, key: str, now: float) -> Awaitable[str | None]:
        """Return the live JSON text stored under ``key``, or None."""

    def get_many(self, plugin: str, keys: Sequence[str], now: float) -> Awaitable[dict[str, str]]:
        """Return the live JSON text of each of ``keys`` that exists."""

    def delete(self, plugin: str, key: str, now: float) -> Awaitable[bool]:
        """Remove ``key``; return True if it was live."""

    def list_keys(
        self, plugin: str, low: str, high: str | None, now: float, limit: int | None
    ) -> Awaitable[list[str]]:
        """Return live keys in ``[low, high)`` (None: no bound), sorted by code point."""

    def count(self, plugin: str, low: str, high: str | None, now: float) -> Awaitable[int]:
        """Return the number of live keys in ``[low, high)``."""

    def clear(self, plugin: str, low: str, high: str | None, now: float) -> Awaitable[int]:
        """Remove every key in ``[low, high)`` at once; return how many were live."""

    def clear_and_count(self, plugin: str, now: float) -> Awaitable[tuple[int, int]]:
        """Remove every key of ``plugin``, then count its live keys, as one job.

        Returns (live keys removed, live keys left): keys left were written meanwhile.
        """

    def plugin_sizes(self, now: float) -> Awaitable[dict[str, int]]:
        """Return the number of live keys of every plugin that has one."""

    def purge_expired(self, now: float) -> Awaitable[int]:
        """Remove expired keys; return how many."""

    async def close(self) -> None:
        """Release connections; safe to call twice."""


def finish(parked: AsyncGenerator[None, None]) -> None:
    """Close an async generator parked in an event loop, without needing that loop.

    Its ``finally`` runs here, unless it is running already or waits for something: then
    it is left to its loop's ``shutdown_asyncgens()``.
    """
    closing = parked.aclose()
    try:
        closing.send(None)
    except (StopIteration, RuntimeError):  # done, or already running its finally
        pass
    else:
        closing.close()

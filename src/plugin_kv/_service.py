"""`KVService`: the public, plugin-scoped key-value API on top of one backend."""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any, get_args

from . import _rules
from ._backend import Backend, Row
from ._sqlite import SQLiteBackend, Synchronous
from .errors import InvalidOptionError, InvalidURLError, ServiceClosedError

Clock = Callable[[], float]
"""Returns the current time in seconds since the epoch, like `time.time`."""
WriteObserver = Callable[[str, list[str]], None]
"""Called with a plugin and the keys just written to it (see `KVService.observe_writes`)."""

_MISSING: Any = object()


class KVService:
    """Async key-value store where every plugin owns its own namespace.

    Open one with `KVService.open`, as ``async with KVService.open(url) as kv:`` or
    ``kv = await KVService.open(url)`` followed by ``await kv.close()``.

    One service may be shared by many tasks, and used from any event loop in turn.
    """

    def __init__(self, backend: Backend, clock: Clock) -> None:
        """Wrap an open backend; use `KVService.open` instead."""
        self._backend: Backend | None = backend
        self._clock = clock
        self._write_observers: list[WriteObserver] = []
        self.url = backend.url
        """Where the data lives (passwords masked)."""

    @classmethod
    def open(
        cls,
        url: str | os.PathLike[str] | None = None,
        *,
        clock: Clock = time.time,
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 30.0,
    ) -> _Opening:
        """Open the store at ``url``; await it or use it with ``async with``.

        Args:
            url: ``None`` or ``":memory:"`` for a private in-memory SQLite store; a file path
                or ``sqlite:///path`` for a SQLite file (created if missing, WAL mode);
                ``postgresql://user@host/db`` for PostgreSQL (extra ``plugin-kv[postgres]``).
            clock: Current time in seconds since the epoch; TTLs are measured against it.
            synchronous: SQLite files only: ``"NORMAL"`` (default) survives a killed process
                but may lose the last commits on power loss; ``"FULL"`` survives power loss
                at the cost of an fsync per commit; ``"OFF"`` trusts the operating system.
            busy_timeout: Seconds to wait for another process's write lock (SQLite files).
        """
        if synchronous not in get_args(Synchronous):
            raise InvalidOptionError(
                f"invalid synchronous level {synchronous!r}:"
                f" use one of {', '.join(get_args(Synchronous))}"
            )
        if (
            not isinstance(busy_timeout, (int, float))
            or isinstance(busy_timeout, bool)
            or not 0 <= busy_timeout < math.inf
        ):
            raise InvalidOptionError(
                f"invalid busy_timeout {busy_timeout!r}: use a finite number of seconds >= 0"
            )
        if not callable(clock):
            raise InvalidOptionError(f"invalid clock {clock!r}: use a function like time.time")
        return _Opening(_connector(url, synchronous, busy_timeout), clock)

    async def set(self, plugin: str, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` under ``key``, replacing any previous value.

        Args:
            plugin: The namespace.
            key: The key, 1-255 characters.
            value: Plain JSON: dict (str keys), list, str, int, float, bool or None.
            ttl: Seconds until the key expires; None keeps it until deleted.
        """
        # set_many's checks in set_many's order, without building a dict for one item.
        _rules.check_plugin(plugin)
        expires = self._expiry(ttl)
        row: Row = (_rules.check_key(key), _rules.encode_value(value), expires)
        await self._open().set_many(plugin, [row])
        for observer in self._write_observers:
            observer(plugin, [key])

    async def set_many(
        self, plugin: str, items: Mapping[str, Any], ttl: float | None = None
    ) -> None:
        """Store every key and value of ``items`` at once (one transaction, all or nothing)."""
        _rules.check_plugin(plugin)
        expires = self._expiry(ttl)
        rows: list[Row] = [
            (_rules.check_key(key), _rules.encode_value(value), expires)
            for key, value in items.items()
        ]
        if rows:
            await self._open().set_many(plugin, rows)
            for observer in self._write_observers:
                observer(plugin, [key for key, _, _ in rows])

    async def get(self, plugin: str, key: str, default: Any = None) -> Any:
        """Return the value under ``key``, or ``default`` if it is missing or expired."""
        _rules.check_plugin(plugin)
        _rules.check_key(key)
        text = await self._open().get(plugin, key, self._clock())
        return default if text is None else _rules.decode_value(text)

    async def get_many(self, plugin: str, keys: Iterable[str]) -> dict[str, Any]:
        """Return ``{key: value}`` for each of ``keys`` that exists and has not expired."""
        _rules.check_plugin(plugin)
        wanted = [_rules.check_key(key) for key in keys]
        if not wanted:
            return {}
        found = await self._open().get_many(plugin, wanted, self._clock())
        return {key: _rules.decode_value(text) for key, text in found.items()}

    async def delete(self, plugin: str, key: str) -> bool:
        """Remove ``key``; return True if it existed (and had not expired)."""
        _rules.check_plugin(plugin)
        _rules.check_key(key)
        return await self._open().delete(plugin, key, self._clock())

    async def list_keys(self, plugin: str, prefix: str = "", limit: int | None = None) -> list[str]:
        """Return the live keys that start with ``prefix``, sorted by code point.

        The prefix is literal and case-sensitive: ``"user_"`` does not match ``"userX1"``.
        """
        _rules.check_plugin(plugin)
        low, high = _key_range(prefix)
        if limit is not None:
            limit = _rules.check_limit(limit)
        return await self._open().list_keys(plugin, low, high, self._clock(), limit)

    async def count(self, plugin: str, prefix: str = "") -> int:
        """Return how many live keys start with ``prefix``."""
        _rules.check_plugin(plugin)
        low, high = _key_range(prefix)
        return await self._open().count(plugin, low, high, self._clock())

    async def clear(self, plugin: str, prefix: str = "") -> int:
        """Remove every key that starts with ``prefix`` in one statement; return how many."""
        _rules.check_plugin(plugin)
        low, high = _key_range(prefix)
        return await self._open().clear(plugin, low, high, self._clock())

    async def clear_and_count(self, plugin: str) -> tuple[int, int]:
        """Remove every key of ``plugin``, then count its keys, as one job on the backend.

        Returns (keys removed, keys left); keys left were written after the removal. This is
        how the pytest fixtures remove a test's namespace and check it empty at once.
        """
        _rules.check_plugin(plugin)
        return await self._open().clear_and_count(plugin, self._clock())

    async def list_plugins(self) -> list[str]:
        """Return the sorted names of the plugins that hold live keys."""
        return list(await self.plugin_sizes())

    async def plugin_sizes(self) -> dict[str, int]:
        """Return ``{plugin: live key count}`` for every plugin that holds live keys."""
        return await self._open().plugin_sizes(self._clock())

    async def purge_expired(self) -> int:
        """Delete the expired keys of every plugin; return how many."""
        return await self._open().purge_expired(self._clock())

    def observe_writes(self, observer: WriteObserver) -> Callable[[], None]:
        """Call ``observer(plugin, keys)`` after every successful `set` and `set_many`.

        Returns a function that stops the observing. This is how the pytest plugin's leak
        check knows which keys a test wrote; an observer must be quick and must not raise.
        """
        self._write_observers.append(observer)

        def stop() -> None:
            if observer in self._write_observers:
                self._write_observers.remove(observer)

        return stop

    async def close(self) -> None:
        """Close the store; calling it again does nothing."""
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.close()

    @property
    def closed(self) -> bool:
        """Whether `close` has been called."""
        return self._backend is None

    async def __aenter__(self) -> KVService:
        """Return the service itself."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the service."""
        await self.close()

    def __repr__(self) -> str:
        """Show the store and whether it is open."""
        state = "closed" if self.closed else "open"
        return f"<KVService {self.url} {state}>"

    def __del__(self) -> None:
        """Warn about a service that was never closed (its backend stops what it started)."""
        if getattr(self, "_backend", None) is not None:
            warnings.warn(
                f"{self!r} was never closed: use 'async with KVService.open(...)'"
                " or 'await kv.close()'",
                ResourceWarning,
                stacklevel=2,
            )

    def _open(self) -> Backend:
        if self._backend is None:
            raise ServiceClosedError(f"the service for {self.url} is closed; open a new one")
        return self._backend

    def _expiry(self, ttl: object) -> float | None:
        seconds = _rules.check_ttl(ttl)
        return None if seconds is None else self._clock() + seconds


class _Opening:
    """The pending result of `KVService.open`: await it, or use it with ``async with``."""

    def __init__(self, connect: Callable[[], Awaitable[Backend]], clock: Clock) -> None:
        self._connect = connect
        self._clock = clock
        self._service: KVService | None = None

    async def _start(self) -> KVService:
        self._service = KVService(await self._connect(), self._clock)
        return self._service

    def __await__(self) -> Generator[Any, None, KVService]:
        return self._start().__await__()

    async def __aenter__(self) -> KVService:
        return await self._start()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._service is not None:
            await self._service.close()


def _key_range(prefix: object) -> tuple[str, str | None]:
    """Return the key range ``[low, high)`` of ``prefix``, checking it (remembered per prefix)."""
    if type(prefix) is str:
        found = _RANGES.get(prefix)
        if found is not None:
            return found
    low = _rules.check_prefix(prefix)
    found = (low, _rules.prefix_upper_bound(low))
    if len(_RANGES) < _RANGES_KEPT:
        _RANGES[low] = found
    return found


_RANGES: dict[str, tuple[str, str | None]] = {}
"""Ranges of prefixes already checked: the same few come back on every call."""
_RANGES_KEPT = 1024


def _connector(
    url: str | os.PathLike[str] | None, synchronous: Synchronous, busy_timeout: float
) -> Callable[[], Awaitable[Backend]]:
    """Return how to open the store at ``url``, refusing a URL it does not understand."""
    if url is None or url in (":memory:", "sqlite://", "sqlite:///:memory:"):
        return lambda: SQLiteBackend.open(None, synchronous=synchronous, busy_timeout=busy_timeout)
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url:
        raise InvalidURLError(f"invalid store URL {url!r}: {_URL_RULE}")
    if url.startswith(("postgresql://", "postgres://")):
        return lambda: _open_postgres(str(url))
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///") :]
    elif "://" in url:
        raise InvalidURLError(f"invalid store URL {url!r}: {_URL_RULE}")
    path = Path(os.path.abspath(os.path.expanduser(url)))
    return lambda: SQLiteBackend.open(path, synchronous=synchronous, busy_timeout=busy_timeout)


async def _open_postgres(url: str) -> Backend:
    from ._postgres import PostgresBackend

    return await PostgresBackend.open(url)


_URL_RULE = (
    "use None or ':memory:' (SQLite in memory), a file path or 'sqlite:///path' (SQLite file),"
    " or 'postgresql://user@host/db'"
)

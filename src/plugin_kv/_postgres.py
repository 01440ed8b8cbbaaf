"""PostgreSQL backend through asyncpg: one connection pool per event loop, one table.

asyncpg connections belong to the event loop that opened them, while one `KVService` may be
used from several loops in turn (a pytest plugin opens it on its own loop, each test runs on a
fresh one). So the backend keeps one small pool per loop, opened on first use in that loop and
closed when the loop shuts down (``asyncio.run``, ``asyncio.Runner`` and pytest-asyncio all
close a loop's async generators first) or when the backend is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import urllib.parse
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._backend import Row
from .errors import (
    BackendError,
    BackendUnavailableError,
    InvalidURLError,
    MissingDependencyError,
    ServiceClosedError,
)

if TYPE_CHECKING:
    from types import ModuleType

    import asyncpg
    import asyncpg.pool

TABLE = "plugin_kv_entries"
"""The one table every plugin's keys live in."""

_LOCK_ID = 0x706C7567696E6B76  # "pluginkv": serialises schema creation across processes
_LOCK_SCHEMA = "SELECT pg_advisory_xact_lock($1)"
_SCHEMA_STATE = """
SELECT
    current_setting('server_encoding'),
    (SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
      WHERE a.attrelid = to_regclass('plugin_kv_entries') AND a.attname = 'key'),
    to_regclass('plugin_kv_entries_expiry') IS NOT NULL
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS plugin_kv_entries (
    plugin     TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT NOT NULL,
    expires_at DOUBLE PRECISION,
    PRIMARY KEY (plugin, key)
);
CREATE INDEX IF NOT EXISTS plugin_kv_entries_expiry ON plugin_kv_entries (expires_at)
    WHERE expires_at IS NOT NULL;
"""

# Every statement is spelled out whole (no SQL built from strings). "Live" is
# (expires_at IS NULL OR expires_at > now); key ranges [low, high) use the primary key.
_UPSERT = """
INSERT INTO plugin_kv_entries (plugin, key, value, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (plugin, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
"""
_UPSERT_MANY = """
INSERT INTO plugin_kv_entries (plugin, key, value, expires_at)
SELECT $1, r.key, r.value, r.expires_at
  FROM unnest($2::text[], $3::text[], $4::float8[]) AS r (key, value, expires_at)
ON CONFLICT (plugin, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
"""
_GET = """
SELECT value FROM plugin_kv_entries
 WHERE plugin = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)
"""
_GET_MANY = """
SELECT key, value FROM plugin_kv_entries
 WHERE plugin = $1 AND key = ANY($2::text[]) AND (expires_at IS NULL OR expires_at > $3)
"""
_DELETE = """
DELETE FROM plugin_kv_entries WHERE plugin = $1 AND key = $2
RETURNING (expires_at IS NULL OR expires_at > $3)
"""
_LIST_RANGE = """
SELECT key FROM plugin_kv_entries
 WHERE plugin = $1 AND key >= $2 AND key < $3 AND (expires_at IS NULL OR expires_at > $4)
 ORDER BY key LIMIT $5
"""
_LIST_FROM = """
SELECT key FROM plugin_kv_entries
 WHERE plugin = $1 AND key >= $2 AND (expires_at IS NULL OR expires_at > $3)
 ORDER BY key LIMIT $4
"""
_COUNT_RANGE = """
SELECT count(*) FROM plugin_kv_entries
 WHERE plugin = $1 AND key >= $2 AND key < $3 AND (expires_at IS NULL OR expires_at > $4)
"""
_COUNT_FROM = """
SELECT count(*) FROM plugin_kv_entries
 WHERE plugin = $1 AND key >= $2 AND (expires_at IS NULL OR expires_at > $3)
"""
_CLEAR_RANGE = """
WITH gone AS (
    DELETE FROM plugin_kv_entries WHERE plugin = $1 AND key >= $2 AND key < $3
    RETURNING expires_at
)
SELECT count(*) FROM gone WHERE expires_at IS NULL OR expires_at > $4
"""
_CLEAR_FROM = """
WITH gone AS (
    DELETE FROM plugin_kv_entries WHERE plugin = $1 AND key >= $2
    RETURNING expires_at
)
SELECT count(*) FROM gone WHERE expires_at IS NULL OR expires_at > $3
"""
_SIZES = """
SELECT plugin, count(*) FROM plugin_kv_entries
 WHERE expires_at IS NULL OR expires_at > $1
 GROUP BY plugin ORDER BY plugin
"""
_PURGE = "DELETE FROM plugin_kv_entries WHERE expires_at <= $1"

_HAS_PORT = re.compile(r":\d+$")
_UNAVAILABLE_SQLSTATES = (
    "08",  # connection exception
    "28",  # invalid authorization (wrong user or password)
    "3D000",  # database does not exist
    "53300",  # too many connections
    "57P01",  # admin shutdown
    "57P02",  # crash shutdown
    "57P03",  # cannot connect now (starting up, shutting down)
)


@dataclass
class _LoopPool:
    """The pool of one event loop, and the async generator that closes it with the loop."""

    pool: asyncpg.pool.Pool
    ready: asyncio.Task[Any]
    watcher: AsyncGenerator[None, None] | None = None


class PostgresBackend:
    """Keys in one PostgreSQL table keyed by (plugin, key), both ``COLLATE "C"``."""

    def __init__(self, driver: ModuleType, dsn: str, *, timeout: float, max_size: int) -> None:
        """Remember where to connect; use `PostgresBackend.open`."""
        self._driver = driver
        self._dsn = dsn
        self._timeout = timeout
        named = "application_name" in urllib.parse.parse_qs(urllib.parse.urlsplit(dsn).query)
        self._settings = {} if named else {"application_name": "plugin-kv"}
        self._max_size = max_size
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self._closed = False
        self.url, self._where = _describe(dsn)
        self.calls_run_in_order = False  # a pool: calls may run on different connections

    @classmethod
    async def open(cls, url: str, *, timeout: float = 10.0, max_size: int = 10) -> PostgresBackend:
        """Connect to the database at ``url`` and create the table if it is missing.

        Args:
            url: ``postgresql://user[:password]@host[:port]/database[?setting=value]``.
            timeout: Seconds to wait for a connection, a free pooled connection, or a result.
            max_size: Connections per event loop.

        Raises:
            MissingDependencyError: asyncpg (the ``postgres`` extra) is not installed.
            BackendUnavailableError: the server cannot be reached or refuses the login.
        """
        backend = cls(_import_asyncpg(), url, timeout=timeout, max_size=max_size)
        try:
            await backend._create_schema()
        except BaseException:
            await backend.close()
            raise
        return backend

    async def set_many(self, plugin: str, rows: Sequence[Row]) -> None:
        """Upsert all ``rows`` with one statement (all or nothing)."""
        latest = {key: (text, expires) for key, text, expires in rows}
        with self._errors("set"):
            async with self._connection() as con:
                if len(latest) == 1:
                    [(key, (text, expires))] = latest.items()
                    await con.execute(_UPSERT, plugin, key, text, expires)
                else:
                    texts = [text for text, _ in latest.values()]
                    expiries = [expires for _, expires in latest.values()]
                    await con.execute(_UPSERT_MANY, plugin, list(latest), texts, expiries)

    async def get(self, plugin: str, key: str, now: float) -> str | None:
        """Return the live JSON text under ``key``, or None."""
        with self._errors("get"):
            async with self._connection() as con:
                text: str | None = await con.fetchval(_GET, plugin, key, now)
        return text

    async def get_many(self, plugin: str, keys: Sequence[str], now: float) -> dict[str, str]:
        """Return the live JSON text of each existing key in ``keys``."""
        with self._errors("get_many"):
            async with self._connection() as con:
                rows = await con.fetch(_GET_MANY, plugin, list(dict.fromkeys(keys)), now)
        return {row[0]: row[1] for row in rows}

    async def delete(self, plugin: str, key: str, now: float) -> bool:
        """Remove ``key``; return True if it was live (an expired leftover goes too)."""
        with self._errors("delete"):
            async with self._connection() as con:
                was_live = await con.fetchval(_DELETE, plugin, key, now)
        return bool(was_live)

    async def list_keys(
        self, plugin: str, low: str, high: str | None, now: float, limit: int | None
    ) -> list[str]:
        """Return live keys in ``[low, high)``, sorted by code point."""
        with self._errors("list_keys"):
            async with self._connection() as con:
                if high is None:
                    rows = await con.fetch(_LIST_FROM, plugin, low, now, limit)
                else:
                    rows = await con.fetch(_LIST_RANGE, plugin, low, high, now, limit)
        return [row[0] for row in rows]

    async def count(self, plugin: str, low: str, high: str | None, now: float) -> int:
        """Return the number of live keys in ``[low, high)``."""
        with self._errors("count"):
            async with self._connection() as con:
                if high is None:
                    found = await con.fetchval(_COUNT_FROM, plugin, low, now)
                else:
                    found = await con.fetchval(_COUNT_RANGE, plugin, low, high, now)
        return int(found)

    async def clear(self, plugin: str, low: str, high: str | None, now: float) -> int:
        """Delete every key in ``[low, high)`` with one statement; return how many were live."""
        with self._errors("clear"):
            async with self._connection() as con:
                if high is None:
                    live = await con.fetchval(_CLEAR_FROM, plugin, low, now)
                else:
                    live = await con.fetchval(_CLEAR_RANGE, plugin, low, high, now)
        return int(live)

    async def clear_and_count(self, plugin: str, now: float) -> tuple[int, int]:
        """Delete every key of ``plugin``, then count what is left, on one connection."""
        with self._errors("clear"):
            async with self._connection() as con:
                live = await con.fetchval(_CLEAR_FROM, plugin, "", now)
                left = await con.fetchval(_COUNT_FROM, plugin, "", now)
        return int(live), int(left)

    async def plugin_sizes(self, now: float) -> dict[str, int]:
        """Return the live key count of every plugin that has one."""
        with self._errors("list_plugins"):
            async with self._connection() as con:
                rows = await con.fetch(_SIZES, now)
        return {row[0]: int(row[1]) for row in rows}

    async def purge_expired(self, now: float) -> int:
        """Delete expired keys; return how many."""
        with self._errors("purge_expired"):
            async with self._connection() as con:
                status: str = await con.execute(_PURGE, now)
        return int(status.rsplit(" ", 1)[-1])

    async def close(self) -> None:
        """Close this loop's pool and drop the pools of other loops; safe to call twice."""
        self._closed = True
        current = asyncio.get_running_loop()
        pools, self._pools = self._pools, {}
        for loop, entry in pools.items():
            if loop is current:
                if entry.watcher is not None:
                    _finish(entry.watcher)
                await self._close_pool(entry.pool)
            else:
                _abandon(loop, entry)

    def abandon(self) -> None:
        """Nothing to stop: asyncpg runs no thread, and its connections close when collected."""

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncGenerator[asyncpg.pool.PoolConnectionProxy[Any], None]:
        """Lend a connection of the running loop's pool, waiting at most the timeout."""
        pool = await self._pool()
        async with pool.acquire(timeout=self._timeout) as con:
            yield con

    async def _pool(self) -> asyncpg.pool.Pool:
        """Return the running loop's pool, creating it on first use in this loop."""
        if self._closed:
            raise ServiceClosedError(f"the PostgreSQL store {self.url} is closed; open a new one")
        loop = asyncio.get_running_loop()
        entry = self._pools.get(loop)
        if entry is None:
            self._drop_closed_loops()
            pool = self._driver.create_pool(
                self._dsn,
                min_size=0,
                max_size=self._max_size,
                timeout=self._timeout,
                command_timeout=self._timeout,
                reset=_keep_session,
                server_settings=self._settings,
            )
            entry = _LoopPool(pool, loop.create_task(_initialise(pool)))
            self._pools[loop] = entry
            entry.watcher = self._close_with_loop(loop)
            await entry.watcher.asend(None)
        if not entry.ready.done():
            await asyncio.shield(entry.ready)
        entry.ready.result()
        return entry.pool

    async def _close_with_loop(self, loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
        """Close ``loop``'s pool when the loop shuts down its async generators.

        The loop tracks this generator from its first step; ``loop.shutdown_asyncgens()``
        (run by ``asyncio.run``, ``asyncio.Runner`` and pytest-asyncio before closing a loop)
        resumes it in the ``finally`` while the loop can still close connections cleanly.
        """
        try:
            yield
        finally:
            entry = self._pools.pop(loop, None)
            if entry is not None:
                await self._close_pool(entry.pool)

    async def _close_pool(self, pool: asyncpg.pool.Pool) -> None:
        """Close a pool of the running loop, gracefully if that takes less than the timeout."""
        try:
            await asyncio.wait_for(pool.close(), self._timeout)
        except Exception:  # a broken connection must not stop the close
            pool.terminate()

    def _drop_closed_loops(self) -> None:
        """Release the connections of loops that were closed without shutting down."""
        for loop in [loop for loop in self._pools if loop.is_closed()]:
            _abandon(loop, self._pools.pop(loop))

    async def _create_schema(self) -> None:
        """Create the table and its expiry index unless they exist; check the database.

        ``CREATE ... IF NOT EXISTS`` run by several processes at once can still fail on a
        unique index of the catalog, so creation happens under a transaction-level advisory
        lock; the common case (schema present) takes no lock at all.
        """
        with self._errors("open"):
            async with self._connection() as con:
                encoding, collation, indexed = await con.fetchrow(_SCHEMA_STATE) or ("", "", 0)
                if encoding != "UTF8":
                    raise BackendError(
                        f"database {self._where} uses the encoding {encoding!r}:"
                        " plugin-kv needs a UTF8 database to store any Unicode key"
                    )
                if collation is not None and collation != "C":
                    raise BackendError(
                        f"table {TABLE} in {self._where} has its key column in collation"
                        f' {collation!r}: prefix queries need COLLATE "C"; drop the table'
                        ' or alter the column to COLLATE "C"'
                    )
                if collation is None or not indexed:
                    async with con.transaction():
                        await con.execute(_LOCK_SCHEMA, _LOCK_ID)
                        await con.execute(_SCHEMA)

    @contextlib.contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Turn every driver, network and timeout error into a `BackendError`."""
        driver = self._driver
        try:
            yield
        except driver.exceptions.ClientConfigurationError as exc:
            raise InvalidURLError(f"invalid PostgreSQL URL {self.url!r}: {exc}") from exc
        except (
            driver.PostgresError,
            driver.InterfaceError,
            driver.InternalClientError,
            OSError,
            asyncio.TimeoutError,
        ) as exc:
            raise self._failure(operation, exc) from exc

    def _failure(self, operation: str, exc: BaseException) -> BackendError:
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            return BackendUnavailableError(
                f"{operation} failed: PostgreSQL at {self._where} did not answer within"
                f" {self._timeout:g} s; check that the server is up and not overloaded"
            )
        detail = str(exc) or type(exc).__name__
        sqlstate = str(getattr(exc, "sqlstate", "") or "")
        if isinstance(exc, OSError) or sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return BackendUnavailableError(
                f"{operation} failed: cannot use PostgreSQL at {self._where}: {detail};"
                " check that the server is running and that the URL is right"
            )
        return BackendError(f"{operation} failed on PostgreSQL at {self._where}: {detail}")


def _import_asyncpg() -> ModuleType:
    try:
        import asyncpg
    except ImportError as exc:
        raise MissingDependencyError(
            "PostgreSQL stores need the asyncpg driver, which is not installed:"
            " install `plugin-kv[postgres]` (pip install 'plugin-kv[postgres]')"
        ) from exc
    return asyncpg


async def _initialise(pool: asyncpg.pool.Pool) -> None:
    await pool  # min_size=0: no connection yet, so this cannot fail on the network


async def _keep_session(connection: asyncpg.Connection[Any]) -> None:
    """Return a connection to the pool as is: we set no session state (saves a round trip)."""


def _finish(watcher: AsyncGenerator[None, None]) -> None:
    """Close a loop watcher whose pool is already gone, without needing its loop."""
    closing = watcher.aclose()
    try:
        closing.send(None)
    except (StopIteration, RuntimeError):  # done, or already running its finally
        pass
    else:  # cannot happen: the finally awaits nothing once the pool is gone
        closing.close()


def _abandon(loop: asyncio.AbstractEventLoop, entry: _LoopPool) -> None:
    """Drop the pool of a loop other than the running one, without leaking its sockets.

    A pool can only be closed gracefully from its own loop. If that loop is still usable,
    terminating the pool schedules the socket cleanup on it. If it was closed without
    shutting down its async generators, nothing will ever run there again, so each socket
    is released here, by the transport's own cleanup method.
    """
    if entry.watcher is not None:
        _finish(entry.watcher)
    if loop.is_running():
        loop.call_soon_threadsafe(entry.pool.terminate)
        return
    if not loop.is_closed():
        entry.pool.terminate()
        return
    holders: list[Any] = getattr(entry.pool, "_holders", [])  # asyncpg has no public view
    for holder in holders:
        con = holder._con
        if con is None:
            continue
        transport = con._transport
        with contextlib.suppress(RuntimeError):  # "Event loop is closed", once aborted
            con.terminate()
        if transport is not None and transport.get_extra_info("socket") is not None:
            with contextlib.suppress(Exception):
                transport._call_connection_lost(None)


def _describe(url: str) -> tuple[str, str]:
    """Return ``url`` without its password, and "host:port, database 'name'" for messages."""
    parts = urllib.parse.urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = urllib.parse.unquote(userinfo.partition(":")[0])
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    settings = dict(query)
    secret = ("password", "sslpassword")
    safe_query = (
        urllib.parse.urlencode([(name, value) for name, value in query if name not in secret])
        if any(name in secret for name, _ in query)
        else parts.query
    )
    netloc = f"{userinfo.partition(':')[0]}@{hosts}" if userinfo else hosts
    safe = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{safe_query}" if safe_query else "")

    where = hosts or settings.get("host") or os.environ.get("PGHOST") or "localhost"
    if not _HAS_PORT.search(where):
        where += ":" + (settings.get("port") or os.environ.get("PGPORT") or "5432")
    database = (
        urllib.parse.unquote(parts.path.lstrip("/"))
        or settings.get("dbname")
        or os.environ.get("PGDATABASE")
        or user
        or os.environ.get("PGUSER")
        or "postgres"
    )
    return safe, f"{where}, database {database!r}"

"""PostgreSQL backend through asyncpg: a few connections per event loop, one table.

asyncpg connections belong to the event loop that opened them, while one `KVService` may be
used from several loops in turn. So the backend keeps a few connections per loop, opened on
first use in that loop and closed when the loop shuts down its async generators or when the
backend is closed.

The connections are lent straight from a list, not through ``asyncpg.Pool``: a call costs one
round trip and nothing else, where the pool's acquire and release cost 1.5-1.7x the query.
Public asyncpg calls only (``connect``, and a connection's ``close``, ``terminate``,
``is_closed`` and ``is_in_transaction``), but for one shim, `_release_socket`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import urllib.parse
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._backend import ABOVE_EVERY_KEY, Row, finish
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

    Connection = asyncpg.Connection[Any]

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
_COUNT_RANGE = """
SELECT count(*) FROM plugin_kv_entries
 WHERE plugin = $1 AND key >= $2 AND key < $3 AND (expires_at IS NULL OR expires_at > $4)
"""
_CLEAR_RANGE = """
WITH gone AS (
    DELETE FROM plugin_kv_entries WHERE plugin = $1 AND key >= $2 AND key < $3
    RETURNING expires_at
)
SELECT count(*) FROM gone WHERE expires_at IS NULL OR expires_at > $4
"""
_SIZES = """
SELECT plugin, count(*) FROM plugin_kv_entries
 WHERE expires_at IS NULL OR expires_at > $1
 GROUP BY plugin ORDER BY plugin
"""
_PURGE = "DELETE FROM plugin_kv_entries WHERE expires_at <= $1"

_CONNECTIONS_PER_LOOP = 10
"""Calls of one event loop at once; more wait for a free connection (up to the timeout)."""
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


@dataclass(eq=False)
class _LoopConnections:
    """The connections of one event loop: idle, open, lent (with deadlines), and watchers.

    Calls are timed by one watchdog per loop rather than asyncpg's ``command_timeout``,
    which arms and cancels a timer around every query (about a tenth of a call's cost): a
    lent connection past its deadline is terminated, and its call fails as timed out.
    """

    loop: asyncio.AbstractEventLoop
    slots: asyncio.Semaphore
    idle: list[Connection] = field(default_factory=list)
    open: set[Connection] = field(default_factory=set)
    lent: dict[Connection, float] = field(default_factory=dict)
    timed_out: set[Connection] = field(default_factory=set)
    watchdog: asyncio.TimerHandle | None = None
    watcher: AsyncGenerator[None, None] | None = None

    def lend(self, con: Connection, timeout: float) -> None:
        """Give ``con`` to a call that must end within ``timeout`` seconds."""
        self.lent[con] = self.loop.time() + timeout
        if self.watchdog is None:
            self.watchdog = self.loop.call_later(timeout / 4, self.watch, timeout)

    def watch(self, timeout: float) -> None:
        """Terminate the connections of calls past their deadline; look again while any is lent."""
        now = self.loop.time()
        for con, deadline in list(self.lent.items()):
            if now >= deadline:
                del self.lent[con]
                self.timed_out.add(con)
                con.terminate()
        self.watchdog = (
            self.loop.call_later(timeout / 4, self.watch, timeout) if self.lent else None
        )

    def stop_watching(self) -> None:
        """Cancel the watchdog: from the loop's own thread, or once the loop has stopped."""
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None

    def discard(self, con: Connection) -> None:
        """Forget ``con`` and drop it without waiting for the server."""
        self.open.discard(con)
        with contextlib.suppress(RuntimeError):  # its loop is closed: see `_abandon`
            con.terminate()


class _Lend:
    """``async with``: lend an idle connection of the running loop (or open one), take it back.

    A connection comes back to the idle list unless the call broke it: any error but one the
    server reported on a connection left outside a transaction drops it, so a cancelled or
    timed-out query never leaves a busy connection behind for the next call.
    """

    __slots__ = ("_backend", "_con", "_entry")

    def __init__(self, backend: PostgresBackend) -> None:
        self._backend = backend

    async def __aenter__(self) -> Connection:
        backend = self._backend
        entry = await backend._loop_connections()
        if entry.slots.locked():
            await asyncio.wait_for(entry.slots.acquire(), backend._timeout)
        else:
            await entry.slots.acquire()  # returns at once: not locked
        try:
            if entry.idle:
                con = entry.idle.pop()
            else:
                con = await backend._connect()
                entry.open.add(con)
        except BaseException:
            entry.slots.release()
            raise
        entry.lend(con, backend._timeout)
        self._entry, self._con = entry, con
        return con

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entry, con = self._entry, self._con
        entry.slots.release()
        entry.lent.pop(con, None)
        if con in entry.timed_out:  # the watchdog cut it off
            entry.timed_out.discard(con)
            entry.open.discard(con)
            raise asyncio.TimeoutError from error
        if con not in entry.open:  # closed meanwhile by `close`
            return
        if not con.is_closed() and (
            error is None
            or (
                isinstance(error, self._backend._driver.PostgresError)
                and not con.is_in_transaction()
            )
        ):
            entry.idle.append(con)
        else:
            entry.discard(con)


class PostgresBackend:
    """Keys in one PostgreSQL table keyed by (plugin, key), both ``COLLATE "C"``."""

    def __init__(self, driver: ModuleType, dsn: str, *, timeout: float) -> None:
        """Remember where to connect; use `PostgresBackend.open`."""
        self._driver = driver
        self._dsn = dsn
        self._timeout = timeout
        named = "application_name" in urllib.parse.parse_qs(urllib.parse.urlsplit(dsn).query)
        self._settings = {} if named else {"application_name": "plugin-kv"}
        self._loops: dict[asyncio.AbstractEventLoop, _LoopConnections] = {}
        self._closed = False
        self.url, self._where = _describe(dsn)

    @classmethod
    async def open(cls, url: str, *, timeout: float = 10.0) -> PostgresBackend:
        """Connect to the database at ``url`` and create the table if it is missing.

        Args:
            url: ``postgresql://user[:password]@host[:port]/database[?setting=value]``.
            timeout: Seconds to wait for a connection, a free pooled connection, or a result.

        Raises:
            MissingDependencyError: asyncpg (the ``postgres`` extra) is not installed.
            BackendUnavailableError: the server cannot be reached or refuses the login.
        """
        backend = cls(_import_asyncpg(), url, timeout=timeout)
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
                high = high or ABOVE_EVERY_KEY
                rows = await con.fetch(_LIST_RANGE, plugin, low, high, now, limit)
        return [row[0] for row in rows]

    async def count(self, plugin: str, low: str, high: str | None, now: float) -> int:
        """Return the number of live keys in ``[low, high)``."""
        with self._errors("count"):
            async with self._connection() as con:
                found = await con.fetchval(_COUNT_RANGE, plugin, low, high or ABOVE_EVERY_KEY, now)
        return int(found)

    async def clear(self, plugin: str, low: str, high: str | None, now: float) -> int:
        """Delete every key in ``[low, high)`` with one statement; return how many were live."""
        with self._errors("clear"):
            async with self._connection() as con:
                live = await con.fetchval(_CLEAR_RANGE, plugin, low, high or ABOVE_EVERY_KEY, now)
        return int(live)

    async def clear_and_count(self, plugin: str, now: float) -> tuple[int, int]:
        """Delete every key of ``plugin``, then count what is left, on one connection."""
        with self._errors("clear"):
            async with self._connection() as con:
                live = await con.fetchval(_CLEAR_RANGE, plugin, "", ABOVE_EVERY_KEY, now)
                left = await con.fetchval(_COUNT_RANGE, plugin, "", ABOVE_EVERY_KEY, now)
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
        """Close this loop's connections and drop those of other loops; safe to call twice."""
        self._closed = True
        current = asyncio.get_running_loop()
        loops, self._loops = self._loops, {}
        for loop, entry in loops.items():
            if loop is current:
                if entry.watcher is not None:
                    finish(entry.watcher)
                await self._close_all(entry)
            else:
                _abandon(loop, entry)

    def _connection(self) -> _Lend:
        """``async with``: a connection of the running loop, waiting at most the timeout."""
        return _Lend(self)

    async def _loop_connections(self) -> _LoopConnections:
        """Return the running loop's connections, setting them up on first use in this loop."""
        if self._closed:
            raise ServiceClosedError(f"the PostgreSQL store {self.url} is closed; open a new one")
        loop = asyncio.get_running_loop()
        entry = self._loops.get(loop)
        if entry is None:
            self._drop_closed_loops()
            entry = _LoopConnections(loop, asyncio.Semaphore(_CONNECTIONS_PER_LOOP))
            self._loops[loop] = entry
            entry.watcher = self._close_with_loop(loop)
            await entry.watcher.asend(None)
        return entry

    async def _connect(self) -> Connection:
        """Open one connection of the running loop."""
        con: Connection = await self._driver.connect(
            self._dsn,
            timeout=self._timeout,
            server_settings=self._settings,
        )
        return con

    async def _close_with_loop(self, loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
        """Close ``loop``'s connections when the loop shuts down its async generators.

        The loop tracks this generator from its first step; ``loop.shutdown_asyncgens()``
        (run by ``asyncio.run``, ``asyncio.Runner`` and pytest-asyncio before closing a loop)
        resumes it in the ``finally`` while the loop can still close connections cleanly.
        """
        try:
            yield
        finally:
            entry = self._loops.pop(loop, None)
            if entry is not None:
                await self._close_all(entry)

    async def _close_all(self, entry: _LoopConnections) -> None:
        """Close the running loop's connections, gracefully if that takes less than the timeout."""
        entry.stop_watching()
        connections, entry.open, entry.idle = list(entry.open), set(), []
        closing = [asyncio.wait_for(con.close(), self._timeout) for con in connections]
        results = await asyncio.gather(*closing, return_exceptions=True)
        for con, result in zip(connections, results, strict=True):
            if isinstance(result, BaseException):  # a broken connection must not stop the close
                con.terminate()

    def _drop_closed_loops(self) -> None:
        """Release the connections of loops that were closed without shutting down."""
        for loop in [loop for loop in self._loops if loop.is_closed()]:
            _abandon(loop, self._loops.pop(loop))

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


def _abandon(loop: asyncio.AbstractEventLoop, entry: _LoopConnections) -> None:
    """Drop the connections of a loop other than the running one, without leaking sockets.

    A running loop gets the terminations to run; a loop closed without shutting down its
    async generators (as pytest-asyncio 0.23 closes every test's) never runs again: see
    `_release_socket`.
    """
    if entry.watcher is not None:
        finish(entry.watcher)
    connections, entry.open, entry.idle = list(entry.open), set(), []
    if loop.is_running():
        loop.call_soon_threadsafe(entry.stop_watching)
        for con in connections:
            loop.call_soon_threadsafe(con.terminate)
        return
    entry.stop_watching()
    for con in connections:
        transport = getattr(con, "_transport", None)
        entry.discard(con)
        if loop.is_closed():
            _release_socket(transport)


def _release_socket(transport: Any) -> None:
    """Close the socket of a connection whose event loop is closed: the one private-API shim.

    Why: ``Connection.terminate()`` aborts the transport, whose cleanup needs the closed
    loop, and asyncpg has no public handle on the socket; left to the garbage collector, it
    warns "unclosed transport" (an error under ``filterwarnings = error``). So this runs the
    transport's own ``_call_connection_lost``, reached through the connection's
    ``_transport`` (both present in asyncpg 0.29.0-0.32.0 on every supported Python); if
    either is missing, it does nothing and the collector closes the socket.
    """
    lost = getattr(transport, "_call_connection_lost", None)
    if lost is None or transport.get_extra_info("socket") is None:
        return
    with contextlib.suppress(Exception):  # best effort: the collector is the fallback
        lost(None)


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

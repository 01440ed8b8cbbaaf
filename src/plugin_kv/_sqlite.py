"""SQLite backend through aiosqlite: one connection, WAL for files, group commit of writes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
from aiosqlite.core import _STOP_RUNNING_SENTINEL

from ._backend import Row
from .errors import BackendError, BackendUnavailableError, ServiceClosedError

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_entries (
    plugin     TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at REAL,
    PRIMARY KEY (plugin, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_entries_expiry ON kv_entries (expires_at)
    WHERE expires_at IS NOT NULL;
"""

_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_UPSERT = (
    "INSERT INTO kv_entries (plugin, key, value, expires_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (plugin, key) DO UPDATE"
    " SET value = excluded.value, expires_at = excluded.expires_at"
)
_GET = f"SELECT value FROM kv_entries WHERE plugin = ? AND key = ? AND {_LIVE}"
_DELETE = f"DELETE FROM kv_entries WHERE plugin = ? AND key = ? AND {_LIVE}"
_DELETE_ANY = "DELETE FROM kv_entries WHERE plugin = ? AND key = ?"
_GET_MANY = f"SELECT key, value FROM kv_entries WHERE plugin = ? AND key IN ({{}}) AND {_LIVE}"
_RANGE = {
    True: "plugin = ? AND key >= ? AND key < ?",
    False: "plugin = ? AND key >= ?",
}
_LIST = {
    bounded: f"SELECT key FROM kv_entries WHERE {where} AND {_LIVE} ORDER BY key LIMIT ?"
    for bounded, where in _RANGE.items()
}
_COUNT = {
    bounded: f"SELECT count(*) FROM kv_entries WHERE {where} AND {_LIVE}"
    for bounded, where in _RANGE.items()
}
_CLEAR = {bounded: f"DELETE FROM kv_entries WHERE {where}" for bounded, where in _RANGE.items()}
_SIZES = f"SELECT plugin, count(*) FROM kv_entries WHERE {_LIVE} GROUP BY plugin ORDER BY plugin"
_PURGE = "DELETE FROM kv_entries WHERE expires_at <= ?"


class SQLiteBackend:
    """Keys in one SQLite table keyed by (plugin, key), WITHOUT ROWID.

    Every call is one round trip to the connection's worker thread. Writes issued while
    others wait share that trip: they are committed together (group commit), each in a
    savepoint of its own, and each is acknowledged only after the COMMIT that holds it.
    """

    def __init__(self, connection: aiosqlite.Connection, url: str) -> None:
        """Wrap an open, prepared connection; use `SQLiteBackend.open`."""
        self._connection = connection
        self._db = connection._conn
        self._queue = connection._tx
        self.url = url
        self.calls_run_in_order = True  # one connection, one worker thread
        # Guards the three fields below. A thread lock, not an asyncio one: the service is
        # used from several event loops in turn, and the flush runs on the worker thread.
        self._lock = threading.Lock()
        self._pending: list[_Write] = []
        self._flush_queued = False
        self._closing = False

    @classmethod
    async def open(
        cls, path: Path | None, *, synchronous: Synchronous, busy_timeout: float
    ) -> SQLiteBackend:
        """Open (and create) the store at ``path``, or in memory when ``path`` is None."""
        url = "sqlite://" if path is None else f"sqlite:///{path}"
        target = ":memory:" if path is None else str(path)
        if path is not None and not path.parent.is_dir():
            raise BackendUnavailableError(
                f"cannot open SQLite store {url}: directory {str(path.parent)!r} does not exist"
            )
        try:
            connection = await aiosqlite.connect(target, timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"cannot open SQLite store {url}: {exc}") from exc
        try:
            await _prepare(connection, path is not None, synchronous, busy_timeout)
        except BaseException as exc:
            await connection.close()
            if isinstance(exc, sqlite3.Error):
                raise BackendUnavailableError(f"cannot open SQLite store {url}: {exc}") from exc
            raise
        return cls(connection, url)

    def set_many(self, plugin: str, rows: Sequence[Row]) -> asyncio.Future[None]:
        """Upsert all ``rows`` in one transaction."""
        params = [(plugin, key, text, expires) for key, text, expires in rows]

        def upsert(db: sqlite3.Connection) -> None:
            if len(params) == 1:
                db.execute(_UPSERT, params[0])
            else:
                db.executemany(_UPSERT, params)

        if len(params) == 1:
            return self._write("set", upsert, kind="statement")
        return self._write("set_many", upsert, kind="compound")

    def get(self, plugin: str, key: str, now: float) -> asyncio.Future[str | None]:
        """Return the live JSON text under ``key``, or None."""
        params = (plugin, key, now)

        def read() -> str | None:
            row = self._db.execute(_GET, params).fetchone()
            return None if row is None else row[0]

        return self._call("get", read)

    def get_many(
        self, plugin: str, keys: Sequence[str], now: float
    ) -> asyncio.Future[dict[str, str]]:
        """Return the live JSON text of each existing key in ``keys`` (one round trip)."""
        wanted = list(dict.fromkeys(keys))

        def read() -> dict[str, str]:
            found: dict[str, str] = {}
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                sql = _GET_MANY.format(", ".join("?" * len(chunk)))
                found.update(self._db.execute(sql, (plugin, *chunk, now)).fetchall())
            return {key: found[key] for key in wanted if key in found}

        return self._call("get_many", read)

    def delete(self, plugin: str, key: str, now: float) -> asyncio.Future[bool]:
        """Remove ``key``; return True if it was live (an expired leftover goes too)."""

        def remove(db: sqlite3.Connection) -> bool:
            if db.execute(_DELETE, (plugin, key, now)).rowcount:
                return True
            db.execute(_DELETE_ANY, (plugin, key))
            return False

        # Atomic alone: the second statement runs only if the first changed nothing.
        return self._write("delete", remove, kind="atomic")

    def list_keys(
        self, plugin: str, low: str, high: str | None, now: float, limit: int | None
    ) -> asyncio.Future[list[str]]:
        """Return live keys in ``[low, high)``, sorted."""
        sql = _LIST[high is not None]
        params = (*_range_params(plugin, low, high), now, -1 if limit is None else limit)
        return self._call("list_keys", lambda: [row[0] for row in self._db.execute(sql, params)])

    def count(self, plugin: str, low: str, high: str | None, now: float) -> asyncio.Future[int]:
        """Return the number of live keys in ``[low, high)``."""
        sql = _COUNT[high is not None]
        params = (*_range_params(plugin, low, high), now)
        return self._call("count", lambda: int(self._db.execute(sql, params).fetchone()[0]))

    def clear(self, plugin: str, low: str, high: str | None, now: float) -> asyncio.Future[int]:
        """Delete every key in ``[low, high)`` with one statement; return how many were live."""
        where = _range_params(plugin, low, high)
        bounded = high is not None

        def remove(db: sqlite3.Connection) -> int:
            live = int(db.execute(_COUNT[bounded], (*where, now)).fetchone()[0])
            db.execute(_CLEAR[bounded], where)
            return live

        return self._write("clear", remove, kind="atomic")  # one read, then one write

    def clear_and_count(self, plugin: str, now: float) -> asyncio.Future[tuple[int, int]]:
        """Delete every key of ``plugin``, then count what is left, in one job."""
        where = _range_params(plugin, "", None)

        def remove(db: sqlite3.Connection) -> tuple[int, int]:
            live = int(db.execute(_COUNT[False], (*where, now)).fetchone()[0])
            db.execute(_CLEAR[False], where)
            return live, int(db.execute(_COUNT[False], (*where, now)).fetchone()[0])

        return self._write("clear", remove, kind="atomic")  # one write between two reads

    def plugin_sizes(self, now: float) -> asyncio.Future[dict[str, int]]:
        """Return the live key count of every plugin that has one."""
        return self._call(
            "list_plugins",
            lambda: {plugin: int(size) for plugin, size in self._db.execute(_SIZES, (now,))},
        )

    def purge_expired(self, now: float) -> asyncio.Future[int]:
        """Delete expired keys; return how many."""
        return self._write(
            "purge_expired", lambda db: db.execute(_PURGE, (now,)).rowcount, kind="statement"
        )

    async def close(self) -> None:
        """Commit the writes already issued, then close the connection; safe to call twice."""
        with self._lock:
            # From here on nothing new is queued, so the connection's close (queued below)
            # runs after the flush that holds every write issued before it.
            self._closing = True
        await self._connection.close()

    def abandon(self) -> None:
        """Stop the worker of a service dropped without `close` (its finalizer calls this).

        aiosqlite's own finalizer hands the worker a future of whatever event loop is running;
        if that loop closes before the worker gets to it, the worker thread dies with "Event
        loop is closed". This queues the close with no future, behind the work already queued.
        """
        connection = self._connection

        def close() -> object:
            db, connection._connection = connection._connection, None
            if db is not None:
                db.close()
            return _STOP_RUNNING_SENTINEL  # ends aiosqlite's worker loop

        with self._lock:
            if self._closing:
                return
            self._closing = True
            connection._running = False
            self._queue.put_nowait((None, close))

    def _call(self, operation: str, work: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``work`` on the connection's worker thread (one round trip); await the result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._submit(future, work, operation)
        return future

    def _write(
        self, operation: str, work: Callable[[sqlite3.Connection], T], *, kind: _Kind
    ) -> asyncio.Future[T]:
        """Run ``work`` in the next group commit; the result arrives once it is committed.

        ``kind`` says how ``work`` changes the store: ``"statement"``, exactly one statement
        (alone in a flush, it runs as its own autocommit transaction, like a plain
        ``execute``); ``"atomic"``, at most one changing statement, so that SQLite's
        statement rollback undoes a failure without a savepoint; ``"compound"``, several,
        so it gets a savepoint of its own.

        The first write to find no flush queued queues one (its own future is the flush's,
        so a lone write costs one round trip, as a plain ``execute`` would); writes that
        arrive before that flush starts join it.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._closing:
                raise self._closed()
            if not self._flush_queued:
                self._submit(future, self._flush, operation)
                self._flush_queued = True
            self._pending.append((future, work, kind, operation))
        return future

    def _submit(
        self, future: asyncio.Future[Any], work: Callable[[], object], operation: str
    ) -> None:
        """Queue ``work`` on the worker thread, which resolves ``future``; hold the lock.

        This is aiosqlite's own queue (``Connection._tx``, filled by its private
        ``_execute``): queuing under our lock guarantees nothing lands behind ``close``.
        The worker is handed no future of ours: it would call back into the future's event
        loop, and a loop closed in the meantime would kill the worker thread (and hang every
        later call). `_run_and_resolve` delivers the outcome itself, and skips closed loops.
        """
        if self._closing:
            raise self._closed()
        job = functools.partial(_run_and_resolve, future, work, operation, self._wrap)
        self._queue.put_nowait((None, job))

    def _flush(self) -> object:
        """Commit every pending write in one transaction (worker thread); resolve them all.

        Returns (or raises) the outcome of the first write, whose future is this call's;
        the others are resolved on their own event loops, one callback per loop.
        """
        with self._lock:
            batch, self._pending = self._pending, []
            self._flush_queued = False
        outcomes = _commit(self._db, [(work, kind) for _, work, kind, _ in batch])
        waiting: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
        for (future, _, _, operation), (failed, result) in zip(
            batch[1:], outcomes[1:], strict=True
        ):
            outcome = (failed, self._wrap(operation, result) if failed else result)
            waiting.setdefault(future.get_loop(), []).append((future, outcome))
        for loop, resolved in waiting.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, resolved)
        failed, result = outcomes[0]
        if failed:
            raise result  # `_run_and_resolve` wraps a driver error
        return result

    def _closed(self) -> ServiceClosedError:
        return ServiceClosedError(f"the SQLite store {self.url} is closed; open a new one")

    def _wrap(self, operation: str, exc: BaseException) -> BaseException:
        """Return ``exc``, or a `BackendError` caused by it when it is a driver error."""
        if not isinstance(exc, sqlite3.Error):
            return exc
        hint = ""
        if "locked" in str(exc) or "busy" in str(exc):
            hint = " (another process held the write lock longer than the busy timeout)"
        error = BackendError(f"{operation} failed on SQLite store {self.url}: {exc}{hint}")
        error.__cause__ = exc
        return error


_Work = Callable[[sqlite3.Connection], object]
_Kind = Literal["statement", "atomic", "compound"]
"""How a write changes the store: see `SQLiteBackend._write`."""
_Write = tuple["asyncio.Future[Any]", _Work, _Kind, str]
"""A pending write: its caller's future, the work, its kind, and the operation's name."""
_Outcome = tuple[bool, Any]
"""(failed, result or exception) of one write."""
_CHUNK = 500
"""Keys per ``IN (...)`` list: far below SQLite's limit on bound parameters."""


def _commit(db: sqlite3.Connection, works: list[tuple[_Work, _Kind]]) -> list[_Outcome]:
    """Run ``works`` in one transaction and return their outcomes; each fails alone.

    A write that fails is undone alone: by SQLite's statement rollback when it is atomic,
    else by rolling back to its savepoint. If the transaction itself fails (BEGIN, COMMIT,
    or an error that ends the transaction), every write in it fails. A lone one-statement
    write needs no BEGIN and COMMIT: it is its own (autocommit) transaction.
    """
    if len(works) == 1 and works[0][1] == "statement":
        try:
            return [(False, works[0][0](db))]
        except Exception as exc:
            return [(True, exc)]
    try:
        db.execute("BEGIN IMMEDIATE")
        outcomes: list[_Outcome] = []
        for work, kind in works:
            if kind != "compound":
                try:
                    outcomes.append((False, work(db)))
                except Exception as exc:
                    if not db.in_transaction:  # SQLite ended the whole transaction
                        raise
                    outcomes.append((True, exc))
                continue
            db.execute("SAVEPOINT kv_write")
            try:
                outcomes.append((False, work(db)))
            except Exception as exc:
                if not db.in_transaction:
                    raise
                db.execute("ROLLBACK TO kv_write")
                outcomes.append((True, exc))
            db.execute("RELEASE kv_write")
        db.execute("COMMIT")
    except BaseException as exc:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        return [(True, exc)] * len(works)
    return outcomes


def _run_and_resolve(
    future: asyncio.Future[Any],
    work: Callable[[], object],
    operation: str,
    wrap: Callable[[str, BaseException], BaseException],
) -> None:
    """Run ``work`` (on the worker thread) and hand its outcome to ``future``'s loop.

    A driver error is wrapped here (``wrap``), so the caller awaits the future itself.
    """
    outcome: _Outcome
    try:
        outcome = (False, work())
    except BaseException as exc:  # delivered to the caller, never lost in the worker
        outcome = (True, wrap(operation, exc))
    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
        future.get_loop().call_soon_threadsafe(_resolve, [(future, outcome)])


def _resolve(resolved: list[tuple[asyncio.Future[Any], _Outcome]]) -> None:
    """Hand each write its outcome (on its event loop), skipping the cancelled ones."""
    for future, (failed, result) in resolved:
        if future.done():
            continue
        if failed:
            future.set_exception(result)
        else:
            future.set_result(result)


def _range_params(plugin: str, low: str, high: str | None) -> tuple[object, ...]:
    return (plugin, low) if high is None else (plugin, low, high)


async def _prepare(
    connection: aiosqlite.Connection, is_file: bool, synchronous: Synchronous, busy_timeout: float
) -> None:
    """Switch a file store to WAL, set durability, and create the schema (retrying while busy).

    Several processes opening a new file at once can find it locked while one of them
    switches it to WAL; the busy handler does not cover that step, so retry until the
    busy timeout runs out.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.005
    while True:
        try:
            if is_file:
                await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute(f"PRAGMA synchronous={synchronous}")
            await connection.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

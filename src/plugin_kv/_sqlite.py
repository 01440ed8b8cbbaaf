"""SQLite backend on aiosqlite's public API: one connection, WAL for files, group commit.

Every call is one aiosqlite call (one trip to its worker thread). Writes issued in the same
event-loop turn, or while an earlier flush is on the worker, are sent together as one
multi-row upsert statement: on an autocommit connection one statement is one transaction,
so each write is acknowledged only after the commit that holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import operator
import sqlite3
import threading
import time
import types
import weakref
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Sequence,
)
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

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
    "INSERT INTO kv_entries (plugin, key, value, expires_at) VALUES {}"
    " ON CONFLICT (plugin, key) DO UPDATE"
    " SET value = excluded.value, expires_at = excluded.expires_at"
)
_GET = f"SELECT value FROM kv_entries WHERE plugin = ? AND key = ? AND {_LIVE}"
_DELETE_RETURNING = "DELETE FROM kv_entries WHERE plugin = ? AND key = ? RETURNING expires_at"
_DELETE_LIVE = f"DELETE FROM kv_entries WHERE plugin = ? AND key = ? AND {_LIVE}"
_DELETE_EXPIRED = "DELETE FROM kv_entries WHERE plugin = ? AND key = ? AND expires_at <= ?"
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
_CLEAR_LIVE = {
    bounded: f"DELETE FROM kv_entries WHERE {where} AND {_LIVE}"
    for bounded, where in _RANGE.items()
}
_CLEAR_EXPIRED = {
    bounded: f"DELETE FROM kv_entries WHERE {where} AND expires_at <= ?"
    for bounded, where in _RANGE.items()
}
_CLEAR_PLUGIN_RETURNING = "DELETE FROM kv_entries WHERE plugin = ? RETURNING expires_at"
_SIZES = f"SELECT plugin, count(*) FROM kv_entries WHERE {_LIVE} GROUP BY plugin ORDER BY plugin"
_PURGE = "DELETE FROM kv_entries WHERE expires_at <= ?"
_BARRIER = "SELECT 1"
_FIRST = operator.itemgetter(0)
_SETTLE_SECONDS = 30.0
"""How long a closing event loop waits for a dropped service's connection to close."""

_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
"""``DELETE ... RETURNING`` (SQLite 3.35): `delete` in one statement; else two."""
_ROWS_PER_STATEMENT = 249 if sqlite3.sqlite_version_info < (3, 32, 0) else 2000
"""Rows per multi-row upsert: four bound parameters each, within SQLite's default limit
(999 parameters before 3.32, 32766 since). A `set_many` with more rows runs as
``executemany`` inside an explicit transaction."""
_CHUNK = 500
"""Keys per ``IN (...)`` list: far below SQLite's limit on bound parameters."""


@dataclasses.dataclass(slots=True)
class _Write:
    """A write waiting for the next flush, in the order it was issued."""

    future: asyncio.Future[Any]
    """The caller's; resolved on its own event loop once the write is committed."""
    operation: str
    rows: list[tuple[str, str, str, float | None]] | None
    """An upsert's rows; None for any other job."""
    job: Callable[[], Awaitable[Any]] | None = None
    """Any other work, run alone in its place in the order."""


class SQLiteBackend:
    """Keys in one SQLite table keyed by (plugin, key), WITHOUT ROWID.

    Reads go straight to aiosqlite. Writes join a queue that one flush at a time sends to
    the worker: consecutive upserts as one multi-row statement, anything else alone, in
    the order issued. If a shared statement fails, its writes are run again one by one, so
    that a failing write fails only its own caller.
    """

    def __init__(self, connection: aiosqlite.Connection, url: str) -> None:
        """Wrap an open, prepared connection; use `SQLiteBackend.open`."""
        self._connection = connection
        self.url = url
        self._direct: sqlite3.Connection | None = None
        """A plain sqlite3 connection of the same file, for `clear_and_count_now`."""
        self._direct_lock = threading.Lock()
        self._unsettled = False
        """A cancelled write's statement may still be on the worker (under ``_lock``)."""
        # Guards the fields below. A thread lock, not an asyncio one: the service may be
        # used from several event loops, even at once from several threads.
        self._lock = threading.Lock()
        self._pending: list[_Write] = []
        self._flush_loop: asyncio.AbstractEventLoop | None = None
        """The loop the flush runs on, while one is queued or running; None when idle."""
        self._idle: list[asyncio.Future[None]] = []
        """`close` waiting for the flush to finish."""
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guards: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._settled: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._gone = threading.Event()
        """Set once the connection is closed, however that came about."""
        _OPEN.add(self)
        _watch_exit()

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
        backend = cls(connection, url)
        if path is not None:
            backend._direct = _open_direct(path, synchronous)
        return backend

    # Reads: one aiosqlite call each.

    async def get(self, plugin: str, key: str, now: float) -> str | None:
        """Return the live JSON text under ``key``, or None."""
        rows = await self._read("get", _GET, (plugin, key, now))
        return rows[0][0] if rows else None

    async def get_many(self, plugin: str, keys: Sequence[str], now: float) -> dict[str, str]:
        """Return the live JSON text of each existing key in ``keys``."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _CHUNK):  # one round trip up to _CHUNK keys
            chunk = wanted[start : start + _CHUNK]
            sql = _GET_MANY.format(", ".join("?" * len(chunk)))
            found.update(await self._read("get_many", sql, (plugin, *chunk, now)))
        return {key: found[key] for key in wanted if key in found}

    async def list_keys(
        self, plugin: str, low: str, high: str | None, now: float, limit: int | None
    ) -> list[str]:
        """Return live keys in ``[low, high)``, sorted."""
        last = -1 if limit is None else limit
        params = (plugin, low, now, last) if high is None else (plugin, low, high, now, last)
        return list(map(_FIRST, await self._read("list_keys", _LIST[high is not None], params)))

    async def count(self, plugin: str, low: str, high: str | None, now: float) -> int:
        """Return the number of live keys in ``[low, high)``."""
        params = (plugin, low, now) if high is None else (plugin, low, high, now)
        rows = await self._read("count", _COUNT[high is not None], params)
        return int(rows[0][0])

    async def plugin_sizes(self, now: float) -> dict[str, int]:
        """Return the live key count of every plugin that has one."""
        rows = await self._read("list_plugins", _SIZES, (now,))
        return {plugin: int(size) for plugin, size in rows}

    # Writes: queued for the next flush.

    def set_many(self, plugin: str, rows: Sequence[Row]) -> Awaitable[None]:
        """Upsert all ``rows`` atomically (one statement, or one transaction when large)."""
        params = [(plugin, key, text, expires) for key, text, expires in rows]
        return self._write("set" if len(params) == 1 else "set_many", rows=params)

    def delete(self, plugin: str, key: str, now: float) -> Awaitable[bool]:
        """Remove ``key``; return True if it was live (an expired leftover goes too)."""
        connection = self._connection

        async def remove() -> bool:
            if _HAS_RETURNING:
                found = await connection.execute_fetchall(_DELETE_RETURNING, (plugin, key))
                return any(expires is None or expires > now for (expires,) in found)
            cursor = await connection.execute(_DELETE_LIVE, (plugin, key, now))
            if cursor.rowcount:
                return True
            await connection.execute(_DELETE_EXPIRED, (plugin, key, now))
            return False

        return self._write("delete", job=remove)

    def clear(self, plugin: str, low: str, high: str | None, now: float) -> Awaitable[int]:
        """Delete every live key in ``[low, high)`` with one statement; return how many.

        Expired leftovers in the range go too, with a second statement after it.
        """
        where = _range_params(plugin, low, high)
        bounded = high is not None
        connection = self._connection

        async def remove() -> int:
            cursor = await connection.execute(_CLEAR_LIVE[bounded], (*where, now))
            removed = cursor.rowcount
            await connection.execute(_CLEAR_EXPIRED[bounded], (*where, now))
            return removed

        return self._write("clear", job=remove)

    def clear_and_count(self, plugin: str, now: float) -> Awaitable[tuple[int, int]]:
        """Delete every key of ``plugin``, then count its live keys, as one job.

        Returns (live keys removed, live keys left): keys left were written meanwhile. Both
        statements are queued on the connection's worker at once, which runs them in order:
        one wake-up of the worker, not two.
        """
        connection = self._connection
        where = _range_params(plugin, "", None)

        async def remove() -> tuple[int, int]:
            if not _HAS_RETURNING:  # SQLite before 3.35: count what goes, then remove all
                gone_live = (await connection.execute(_CLEAR_LIVE[False], (*where, now))).rowcount
                await connection.execute(_CLEAR_EXPIRED[False], (*where, now))
                left = await connection.execute_fetchall(_COUNT[False], (*where, now))
                return gone_live, int(next(iter(left))[0])
            gone, left = await asyncio.gather(
                connection.execute_fetchall(_CLEAR_PLUGIN_RETURNING, (plugin,)),
                connection.execute_fetchall(_COUNT[False], (*where, now)),
            )
            removed = sum(1 for (expires,) in gone if expires is None or expires > now)
            return removed, int(next(iter(left))[0])

        return self._write("clear", job=remove)

    def clear_and_count_now(self, plugin: str, now: float) -> tuple[int, int] | None:
        """`clear_and_count` in the calling thread, without an event loop, where it is safe.

        Safe for a file store with no write queued, under way, or cancelled while on the
        worker: then every write issued so far has been answered, and a plain sqlite3
        connection of the same file (WAL), opened with the store, sees it. That skips the
        two thread hops of a call through aiosqlite's worker, most of the cost of the pytest
        fixtures' cleanup. It never waits for a lock (a busy timeout of 0: SQLite's own wait
        would hold off Ctrl-C). Returns None where it is not safe or would have to wait (an
        in-memory store, writes in flight, another connection writing, a closing store):
        use `clear_and_count` then.
        """
        with self._lock:
            if self._closing or self._pending or self._flush_loop is not None or self._unsettled:
                return None
        with self._direct_lock:
            if self._closing or self._direct is None:
                return None
            try:
                return _clear_and_count_on(self._direct, plugin, now)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return None  # another connection is writing: wait where Ctrl-C works
                raise self._wrap("clear", exc) from exc
            except sqlite3.Error as exc:
                raise self._wrap("clear", exc) from exc

    def purge_expired(self, now: float) -> Awaitable[int]:
        """Delete expired keys; return how many."""
        connection = self._connection

        async def purge() -> int:
            return (await connection.execute(_PURGE, (now,))).rowcount

        return self._write("purge_expired", job=purge)

    # Life cycle.

    async def close(self) -> None:
        """Commit the writes already issued, then close the connection; safe to call twice."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closing:
                return
            # From here on nothing new is queued: the flush under way holds every write.
            self._closing = True
            idle: asyncio.Future[None] | None = None
            stranded = self._flush_loop is not None and self._flush_loop.is_closed()
            if self._flush_loop is not None:
                idle = loop.create_future()
                self._idle.append(idle)
            if stranded:  # its loop closed before the flush began: send it from here
                self._flush_loop = loop
        self._close_direct()  # first: a cancelled close must not leave it open
        if stranded:
            _drive(self._flush())
        if idle is not None:
            await idle
        _OPEN.discard(self)
        try:
            await self._connection.close()
        finally:
            self._gone.set()

    def abandon(self) -> None:
        """Close the connection of a service dropped without `close` (its finalizer calls this).

        The finalizer may run in any thread, with or without an event loop, possibly one
        about to close; aiosqlite's own finalizer would hand its worker a future of such a
        loop. So the connection is closed by a short-lived thread with an event loop of its
        own, behind the work already queued.
        """
        with self._lock:
            if self._closing:
                return
            self._closing = True
        _OPEN.discard(self)
        self._close_direct()
        # The loops' guards go with the closing thread: dropped with this backend, they would
        # be finalized at once, and stop holding their loops open before the close is done.
        _close_elsewhere(self._connection, self._gone, list(self._guards.values()))

    def _close_direct(self) -> None:
        """Close the plain connection of `clear_and_count_now`, if it was opened."""
        with self._direct_lock:
            direct, self._direct = self._direct, None
        if direct is not None:
            with contextlib.suppress(sqlite3.Error):
                direct.close()

    # The machinery.

    def _read(self, operation: str, sql: str, params: Iterable[object]) -> Awaitable[Any]:
        """Run one query: straight to aiosqlite, or queued behind the writes under way.

        Calls run in the order they are issued, and a read never sees the inside of a large
        `set_many`'s transaction, which may yet roll back.
        """
        if self._closing:
            raise self._closed()
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._guard(loop)
        if self._flush_loop is not None:  # writes under way: run in the order issued
            connection = self._connection
            return self._write(operation, job=lambda: connection.execute_fetchall(sql, params))
        return self._connection.execute_fetchall(sql, params)

    async def _write(
        self,
        operation: str,
        *,
        rows: list[tuple[str, str, str, float | None]] | None = None,
        job: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any:
        """Queue a write, wait until it is committed, and return its result.

        The first write to find no flush under way leads one: it lets the rest of this
        event-loop turn run, so that the writes issued in the same turn join its batch,
        then sends the batch. Alone in it, the leader awaits aiosqlite itself, like a plain
        ``execute``. With others, the batch is sent by `_drive`, which no cancellation can
        stop, and each caller waits for its own outcome.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._guard(loop)
        write = _Write(loop.create_future(), operation, rows, job)
        with self._lock:
            if self._closing:
                raise self._closed()
            self._pending.append(write)
            leading = self._flush_loop is None or self._flush_loop.is_closed()
            if leading:
                self._flush_loop = loop
        if not leading:
            return await write.future
        try:
            await _next_turn()
        except BaseException:  # cancelled: the batch goes without its leader
            _drive(self._flush())
            raise
        with self._lock:
            batch, self._pending = self._pending, []
        if len(batch) != 1 or batch[0] is not write:
            if batch:  # (empty: a flush restarted by `close` took this write along)
                _drive(self._flush(batch))
            return await write.future
        answered = False  # stays False when cancelled: its statement may still be queued
        try:
            result = await self._run(write)
            answered = True
            return result
        except BackendError:
            answered = True  # the worker answered, with an error
            raise
        finally:
            self._flushed(answered)

    def _flushed(self, answered: bool) -> None:
        """After a leader's own write: send what came meanwhile, or go idle.

        A leader cancelled while its statement was on the worker (``answered`` False) leaves
        that statement to run later: the store stays unsettled until a statement sent after
        it is answered (see `clear_and_count_now`).
        """
        with self._lock:
            self._unsettled = not answered
            more = bool(self._pending)
            idle: list[asyncio.Future[None]] = []
            if not more:
                self._flush_loop = None
                idle, self._idle = self._idle, []
        if more:  # the worker runs its queue in order: this goes after the leader's write
            _drive(self._flush())
        for waiter in idle:
            _deliver(waiter, False, None)

    async def _flush(self, batch: list[_Write] | None = None) -> None:
        """Send the queued writes to the worker, batch after batch, until none is left."""
        while True:
            if batch is None:
                with self._lock:
                    batch, self._pending = self._pending, []
                    if not batch:
                        self._flush_loop = None
                        idle, self._idle = self._idle, []
                        break
            await self._send(batch)
            with self._lock:
                self._unsettled = False  # sent after any unanswered one, so answered after it
            batch = None
        for waiter in idle:
            _deliver(waiter, False, None)

    async def _send(self, batch: list[_Write]) -> None:
        """Run ``batch`` in order: runs of small upserts as one statement, the rest alone."""
        start = 0
        while start < len(batch):
            end, rows = start, 0
            while end < len(batch):
                upsert = batch[end].rows
                if upsert is None or rows + len(upsert) > _ROWS_PER_STATEMENT:
                    break
                rows += len(upsert)
                end += 1
            if end - start < 2:
                await self._send_alone(batch[start])
                start += 1
                continue
            group = batch[start:end]
            start = end
            params = [value for write in group for row in write.rows or () for value in row]
            try:
                await self._connection.execute(_upsert_sql(rows), params)
            except Exception:
                # Nothing of the statement was applied: run each write alone, in order,
                # so that only the one at fault tells its caller.
                for write in group:
                    await self._send_alone(write)
                continue
            for write in group:
                _deliver(write.future, False, None)

    async def _send_alone(self, write: _Write) -> None:
        """Run one write and hand its outcome to its caller."""
        try:
            result = await self._run(write)
        except BaseException as exc:  # delivered to the caller, never lost in the flush
            _deliver(write.future, True, exc)
        else:
            _deliver(write.future, False, result)

    async def _run(self, write: _Write) -> Any:
        """Run one write; a driver error comes out as a `BackendError`."""
        try:
            if write.rows is not None:
                return await self._upsert(write.rows)
            assert write.job is not None
            return await write.job()
        except sqlite3.Error as exc:
            raise self._wrap(write.operation, exc) from exc

    async def _upsert(self, rows: list[tuple[str, str, str, float | None]]) -> None:
        """Upsert ``rows`` atomically: one statement, or a transaction when there are many."""
        connection = self._connection
        if len(rows) <= _ROWS_PER_STATEMENT:
            await connection.execute(_upsert_sql(len(rows)), [v for row in rows for v in row])
            return
        await connection.execute("BEGIN IMMEDIATE")
        try:
            await connection.executemany(_upsert_sql(1), rows)
            await connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                await connection.execute("ROLLBACK")
            raise

    def _guard(self, loop: asyncio.AbstractEventLoop) -> None:
        """Keep ``loop`` from closing while the worker still owes it an answer.

        aiosqlite's worker hands each answer to the event loop that asked; if that loop is
        closed by then, the worker thread dies and every later call hangs. A task cancelled
        while it waits (``asyncio.run`` cancels what is left, then closes the loop) leaves
        just such an answer behind. So the first call from a loop parks an async generator
        there: ``loop.shutdown_asyncgens()``, which ``asyncio.run`` and ``asyncio.Runner``
        call before closing the loop, closes it, and it then waits until every call sent
        from that loop has been answered (a ``SELECT 1`` behind them, and no flush left).
        """
        self._loop = loop
        if loop in self._guards or loop in self._settled:
            return
        for closed in [known for known in self._guards if known.is_closed()]:
            del self._guards[closed]  # closed without shutting down its async generators
        guard = _loop_guard(weakref.ref(self), self._gone, loop)
        with contextlib.suppress(StopIteration):
            guard.asend(None).send(None)  # runs to its first yield, registered with the loop
        self._guards[loop] = guard

    async def _settle(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until the worker owes ``loop`` nothing (at that loop's shutdown)."""
        self._guards.pop(loop, None)
        self._settled.add(loop)  # no new guard: the loop no longer takes async generators
        if self._loop is loop:
            self._loop = None
        while True:
            try:
                await self._connection.execute_fetchall(_BARRIER)
            except (ValueError, sqlite3.Error):  # closed meanwhile: nothing more to answer
                return
            if self._flush_loop is not loop:
                return

    def _closed(self) -> ServiceClosedError:
        return ServiceClosedError(f"the SQLite store {self.url} is closed; open a new one")

    def _wrap(self, operation: str, exc: BaseException) -> BaseException:
        """Return ``exc``, or a `BackendError` caused by it when it is a driver error."""
        if not isinstance(exc, sqlite3.Error):
            return exc
        hint = ""
        if "locked" in str(exc) or "busy" in str(exc):
            hint = " (another process held the write lock longer than the busy timeout)"
        elif "full" in str(exc):
            hint = " (no space left for the store's files; free some and retry)"
        error = BackendError(f"{operation} failed on SQLite store {self.url}: {exc}{hint}")
        error.__cause__ = exc
        return error


_OPEN: weakref.WeakSet[SQLiteBackend] = weakref.WeakSet()
"""Backends not yet closed: closed when the main thread ends (see `_watch_exit`)."""
_exit_watch = threading.Lock()
_exit_watched = False


def _watch_exit() -> None:
    """Start (once) the thread that closes forgotten stores when the main thread ends.

    aiosqlite's worker is not a daemon thread, and the interpreter joins such threads
    before it runs ``atexit`` handlers or drops module globals: an open connection held in
    a global keeps the process from exiting. ``threading.main_thread().join()`` returns
    when the main thread has finished, before that join, so the connections still open
    are closed then (each one's queued work first).
    """
    global _exit_watched
    with _exit_watch:
        if _exit_watched:
            return
        _exit_watched = True
    threading.Thread(target=_close_at_exit, name="plugin-kv-exit", daemon=True).start()


def _close_at_exit() -> None:
    threading.main_thread().join()
    for backend in list(_OPEN):
        with backend._lock:
            if backend._closing:
                continue
            backend._closing = True
        backend._close_direct()
        _close_quietly(backend._connection, backend._gone)


def _close_elsewhere(
    connection: aiosqlite.Connection, gone: threading.Event, keep: list[object]
) -> None:
    """Close ``connection`` from a thread of its own (from a finalizer); then set ``gone``.

    ``keep`` is held until then.
    """
    with contextlib.suppress(RuntimeError):  # no new threads at interpreter shutdown
        threading.Thread(
            target=_close_quietly,
            args=(connection, gone, keep),
            name="plugin-kv-close",
            daemon=True,
        ).start()


def _close_quietly(
    connection: aiosqlite.Connection, gone: threading.Event, keep: object = None
) -> None:
    try:
        with contextlib.suppress(Exception):
            asyncio.run(_close(connection))
    finally:
        gone.set()


async def _close(connection: aiosqlite.Connection) -> None:
    await connection.close()


async def _loop_guard(
    backend: weakref.ref[SQLiteBackend], gone: threading.Event, loop: asyncio.AbstractEventLoop
) -> AsyncGenerator[None, None]:
    """Park in ``loop`` until it shuts down; then settle the backend (see `_guard`).

    A backend dropped or closing meanwhile closes its connection behind the work queued
    there, the answers owed to this loop included: then wait for that close instead.
    """
    try:
        yield
    finally:
        found = backend()
        if found is not None and not found._closing:
            await found._settle(loop)
        elif not gone.is_set():
            await asyncio.get_running_loop().run_in_executor(None, gone.wait, _SETTLE_SECONDS)


@types.coroutine
def _next_turn() -> Generator[None, None, None]:
    """Let the rest of this event-loop turn run (a bare yield, as ``asyncio.sleep(0)``)."""
    yield


def _drive(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` on the running loop without a task, step by step on its futures.

    A flush must not be a task: ``asyncio.run`` cancels every task left when it ends, and
    a cancelled flush would leave its callers waiting. Its outcome is delivered to each
    caller by the flush itself.
    """

    def step(_: object = None) -> None:
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return
        if waiting is None:  # a bare yield: go on in the next turn
            asyncio.get_running_loop().call_soon(step)
        else:
            waiting.add_done_callback(step)

    step()


def _deliver(future: asyncio.Future[Any], failed: bool, result: Any) -> None:
    """Resolve ``future`` on its own event loop (skipping a cancelled or closed one)."""
    loop = future.get_loop()
    try:
        here = asyncio.get_running_loop() is loop
    except RuntimeError:
        here = False
    if here:
        _resolve(future, failed, result)
    else:
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
            loop.call_soon_threadsafe(_resolve, future, failed, result)


def _resolve(future: asyncio.Future[Any], failed: bool, result: Any) -> None:
    if future.done():  # its caller was cancelled
        return
    if failed:
        future.set_exception(result)
    else:
        future.set_result(result)


_UPSERTS: dict[int, str] = {}


def _upsert_sql(rows: int) -> str:
    """Return the upsert of ``rows`` rows (cached)."""
    sql = _UPSERTS.get(rows)
    if sql is None:
        sql = _UPSERTS[rows] = _UPSERT.format(", ".join(["(?, ?, ?, ?)"] * rows))
    return sql


def _open_direct(path: Path, synchronous: Synchronous) -> sqlite3.Connection | None:
    """Open the plain connection of `SQLiteBackend.clear_and_count_now` (None: it failed)."""
    try:
        direct = sqlite3.connect(
            str(path),
            timeout=0,  # never wait for a lock: clear_and_count_now declines instead
            isolation_level=None,
            check_same_thread=False,  # used by any thread, one at a time (its lock)
        )
    except sqlite3.Error:
        return None  # clear_and_count_now says None: the fixtures go through aiosqlite
    with contextlib.suppress(sqlite3.Error):
        direct.execute(f"PRAGMA synchronous={synchronous}")
    return direct


def _clear_and_count_on(connection: sqlite3.Connection, plugin: str, now: float) -> tuple[int, int]:
    """Delete every key of ``plugin`` on ``connection``; return (live removed, live left)."""
    where = _range_params(plugin, "", None)
    if _HAS_RETURNING:
        gone = connection.execute(_CLEAR_PLUGIN_RETURNING, (plugin,)).fetchall()
        removed = sum(1 for (expires,) in gone if expires is None or expires > now)
    else:  # SQLite before 3.35: count what goes, then remove all
        removed = connection.execute(_CLEAR_LIVE[False], (*where, now)).rowcount
        connection.execute(_CLEAR_EXPIRED[False], (*where, now))
    (left,) = connection.execute(_COUNT[False], (*where, now)).fetchone()
    return removed, int(left)


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

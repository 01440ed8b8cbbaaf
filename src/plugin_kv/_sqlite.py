"""SQLite backend on aiosqlite's public API: one connection, WAL for files, group commit.

A write takes one route, `SQLiteBackend._write` then `SQLiteBackend._send`, the one place
that hands writes to aiosqlite's worker. A write that finds the worker free goes at once;
writes issued while a batch is on the worker wait in ``_pending`` and form the next batch:
runs of upserts as one statement (retried one by one if it fails), anything else alone, in
order. Reads go straight to aiosqlite, or join the queue while writes are under way.

Mechanisms kept, each with the tests that need it:

- The batch queue, stepped on aiosqlite's futures by `_drive` (``asyncio.run`` would cancel
  a task): tests/unit/test_group_commit.py.
- A thread lock, and each outcome delivered on its caller's loop (`_deliver`):
  test_writes_from_two_event_loops_at_once_both_land.
- A guard per event loop (`_guard`): no loop closes while aiosqlite's worker owes it an
  answer (test_a_write/read_abandoned_by_a_closed_event_loop_...); `close` retires the guards
  (test_lifecycle.py::test_closing_a_service_then_its_loop_prints_nothing).
- Closing from a thread of its own (`_abandon`), for a backend dropped unclosed or left open
  as the main thread ends: test_lifecycle.py::test_an_unclosed_service_stops_its_worker_thread,
  ::test_a_process_ends_with_an_unclosed_service_in_a_module_global.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import aiosqlite

from ._backend import ABOVE_EVERY_KEY, Row, finish
from .errors import BackendError, BackendUnavailableError, ServiceClosedError

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
Params = list[tuple[str, str, str, float | None]]
Guard = AsyncGenerator[None, None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_entries (plugin TEXT NOT NULL, key TEXT NOT NULL,
    value TEXT NOT NULL, expires_at REAL, PRIMARY KEY (plugin, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_entries_expiry ON kv_entries (expires_at)
    WHERE expires_at IS NOT NULL;
"""
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_UPSERT = (
    "INSERT INTO kv_entries (plugin, key, value, expires_at) VALUES {} ON CONFLICT (plugin, key)"
    " DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)
_GET = f"SELECT value FROM kv_entries WHERE plugin = ? AND key = ? AND {_LIVE}"
_GET_MANY = f"SELECT key, value FROM kv_entries WHERE plugin = ? AND key IN ({{}}) AND {_LIVE}"
_DELETE = "DELETE FROM kv_entries WHERE plugin = ? AND key = ? RETURNING expires_at"
_CLEAR_ALL = "DELETE FROM kv_entries WHERE plugin = ? RETURNING expires_at"
_SIZES = f"SELECT plugin, count(*) FROM kv_entries WHERE {_LIVE} GROUP BY plugin ORDER BY plugin"
_PURGE = "DELETE FROM kv_entries WHERE expires_at <= ?"

_RANGE = "plugin = ? AND key >= ? AND key < ?"
_LIST = f"SELECT key FROM kv_entries WHERE {_RANGE} AND {_LIVE} ORDER BY key LIMIT ?"
_COUNT = f"SELECT count(*) FROM kv_entries WHERE {_RANGE} AND {_LIVE}"
_CLEAR_LIVE = f"DELETE FROM kv_entries WHERE {_RANGE} AND {_LIVE}"
_CLEAR_EXPIRED = f"DELETE FROM kv_entries WHERE {_RANGE} AND expires_at <= ?"
_ROWS_PER_STATEMENT = 2000  # 4 parameters each (SQLite allows 32,766); more: executemany
_CHUNK = 500  # keys per IN (...) list
_SETTLE_SECONDS = 30.0  # how long a closing loop waits for a dropped backend's close


class _Write(NamedTuple):
    """A write: an upsert's rows, or another job; its caller waits on ``future``."""

    operation: str
    rows: Params | None
    job: Callable[[], Awaitable[Any]] | None
    future: asyncio.Future[Any]


class SQLiteBackend:
    """Keys in one SQLite table keyed by (plugin, key), WITHOUT ROWID."""

    def __init__(self, connection: aiosqlite.Connection, url: str) -> None:
        """Wrap an open, prepared connection; use `SQLiteBackend.open`."""
        self._connection = connection
        self.url = url
        self._lock = threading.Lock()  # the queue's: loops of several threads may use it
        self._pending: list[_Write] = []
        self._sending: asyncio.AbstractEventLoop | None = None  # None: the worker is free
        self._closing = False
        self._gone = threading.Event()  # set once the connection is closed, however
        self._guards: dict[asyncio.AbstractEventLoop, Guard] = {}
        _OPEN.add(self)
        _watch_exit()

    @classmethod
    async def open(
        cls, path: Path | None, *, synchronous: Synchronous, busy_timeout: float
    ) -> SQLiteBackend:
        """Open (and create) the store at ``path``, or in memory when ``path`` is None."""
        url = "sqlite://" if path is None else f"sqlite:///{path}"
        if sqlite3.sqlite_version_info < (3, 35, 0):  # for DELETE ... RETURNING
            raise BackendError(
                f"cannot open SQLite store {url}: this Python has SQLite"
                f" {sqlite3.sqlite_version!r}; plugin-kv needs SQLite 3.35 or newer"
            )
        if path is not None and not path.parent.is_dir():
            raise BackendUnavailableError(
                f"cannot open SQLite store {url}: directory {str(path.parent)!r} does not exist"
            )
        try:
            return cls(await _connect(path, synchronous, busy_timeout), url)
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"cannot open SQLite store {url}: {exc}") from exc

    async def get(self, plugin: str, key: str, now: float) -> str | None:
        """Return the live JSON text under ``key``, or None."""
        rows = await self._read("get", _GET, (plugin, key, now))
        return rows[0][0] if rows else None

    async def get_many(self, plugin: str, keys: Sequence[str], now: float) -> dict[str, str]:
        """Return the live JSON text of each existing key in ``keys``."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            sql = _GET_MANY.format(", ".join("?" * len(chunk)))
            found.update(await self._read("get_many", sql, (plugin, *chunk, now)))
        return {key: found[key] for key in wanted if key in found}

    async def list_keys(
        self, plugin: str, low: str, high: str | None, now: float, limit: int | None
    ) -> list[str]:
        """Return live keys in ``[low, high)``, sorted."""
        params = (plugin, low, high or ABOVE_EVERY_KEY, now, -1 if limit is None else limit)
        return [row[0] for row in await self._read("list_keys", _LIST, params)]

    async def count(self, plugin: str, low: str, high: str | None, now: float) -> int:
        """Return the number of live keys in ``[low, high)``."""
        params = (plugin, low, high or ABOVE_EVERY_KEY, now)
        return int((await self._read("count", _COUNT, params))[0][0])

    async def plugin_sizes(self, now: float) -> dict[str, int]:
        """Return the live key count of every plugin that has one."""
        rows = await self._read("list_plugins", _SIZES, (now,))
        return {plugin: int(size) for plugin, size in rows}

    def set_many(self, plugin: str, rows: Sequence[Row]) -> Awaitable[None]:
        """Upsert all ``rows`` atomically (one statement, or one transaction when large)."""
        params = [(plugin, key, text, expires) for key, text, expires in rows]
        return self._write("set" if len(params) == 1 else "set_many", params, None)

    async def delete(self, plugin: str, key: str, now: float) -> bool:
        """Remove ``key``; return True if it was live (an expired leftover goes too)."""
        remove = functools.partial(self._connection.execute_fetchall, _DELETE, (plugin, key))
        return any(_live(expires, now) for (expires,) in await self._write("delete", None, remove))

    def clear(self, plugin: str, low: str, high: str | None, now: float) -> Awaitable[int]:
        """Delete every live key in ``[low, high)``, then expired leftovers; return how many."""
        params = (plugin, low, high or ABOVE_EVERY_KEY, now)

        async def remove() -> int:
            removed = (await self._connection.execute(_CLEAR_LIVE, params)).rowcount
            await self._connection.execute(_CLEAR_EXPIRED, params)
            return removed

        return self._write("clear", None, remove)

    def clear_and_count(self, plugin: str, now: float) -> Awaitable[tuple[int, int]]:
        """Delete every key of ``plugin``, then count its live keys; return both, as one job."""
        every = (plugin, "", ABOVE_EVERY_KEY, now)

        async def remove() -> tuple[int, int]:
            gone = await self._connection.execute_fetchall(_CLEAR_ALL, (plugin,))
            left = await self._connection.execute_fetchall(_COUNT, every)
            return sum(_live(expires, now) for (expires,) in gone), int(next(iter(left))[0])

        return self._write("clear", None, remove)

    async def purge_expired(self, now: float) -> int:
        """Delete expired keys; return how many."""
        purge = functools.partial(self._connection.execute, _PURGE, (now,))
        return int((await self._write("purge_expired", None, purge)).rowcount)

    async def close(self) -> None:
        """Commit the writes already issued, then close the connection; safe to call twice."""
        last = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._closing:
                return
            self._closing = True  # nothing new is queued: the batches under way hold all
            if self._sending is None:
                last.set_result(None)
            else:  # answered once every write before it is done
                self._pending.append(_Write("close", None, _nothing, last))
        try:
            await asyncio.shield(last)
        except asyncio.CancelledError:  # the caller gave up: close once those writes are done
            last.add_done_callback(lambda _: self._close_in_thread())
            raise
        _OPEN.discard(self)
        guards, self._guards = list(self._guards.values()), {}
        try:
            await self._connection.close()
        finally:
            _release(self._gone, guards)

    def _abandon(self) -> None:
        """Close the connection from a thread of its own: for a finalizer, the exit watcher."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._close_in_thread()

    __del__ = _abandon  # a backend dropped unclosed

    def _close_in_thread(self) -> None:
        """Close the connection from a thread of its own; the guards' loops wait for it."""
        _OPEN.discard(self)
        args = (self._connection, self._gone, list(self._guards.values()))
        with contextlib.suppress(RuntimeError):  # no new threads at interpreter shutdown
            threading.Thread(target=_close_quietly, args=args, daemon=True).start()

    def _read(self, operation: str, sql: str, params: Iterable[object]) -> Awaitable[Any]:
        """Run one query: straight to aiosqlite, or behind the writes under way (in order)."""
        if self._closing:
            raise self._closed()
        self._guard(asyncio.get_running_loop())
        if self._sending is not None:
            connection = self._connection
            return self._write(operation, None, lambda: connection.execute_fetchall(sql, params))
        return self._connection.execute_fetchall(sql, params)

    async def _write(
        self, operation: str, rows: Params | None, job: Callable[[], Awaitable[Any]] | None
    ) -> Any:
        """Send a write at once if the worker is free, else queue it for the next batch."""
        loop = asyncio.get_running_loop()
        self._guard(loop)
        write = _Write(operation, rows, job, loop.create_future())
        with self._lock:
            if self._closing:
                raise self._closed()
            queued = self._sending is not None
            if queued:
                self._pending.append(write)
            else:
                self._sending = loop
        if queued:
            return await write.future
        if rows is None or len(rows) > _ROWS_PER_STATEMENT:  # several calls: never cut short
            _drive(self._flush([write]))
            return await write.future
        await self._flush([write])  # one call, awaited like a plain execute
        return write.future.result()

    async def _flush(self, batch: list[_Write]) -> None:
        """Send ``batch``; then hand the worker the writes that came meanwhile, or free it."""
        try:
            await self._send(batch)
        finally:
            with self._lock:
                came, self._pending = self._pending, []
                self._sending = asyncio.get_running_loop() if came else None
            if came:
                _drive(self._flush(came))

    async def _send(self, batch: list[_Write]) -> None:
        """Run ``batch`` in order, handing each caller its outcome (upserts: see the module)."""
        while batch:
            group = rows = 0
            for write in batch:
                if write.rows is None or rows + len(write.rows) > _ROWS_PER_STATEMENT:
                    break
                group, rows = group + 1, rows + len(write.rows)
            if group > 1:
                params = [v for write in batch[:group] for row in write.rows or () for v in row]
                with contextlib.suppress(sqlite3.Error):  # else each alone, below
                    await self._connection.execute(_upsert_sql(rows), params)
                    for write in batch[:group]:
                        _deliver(write.future, False, None)
                    batch = batch[group:]
                    continue
            alone, batch = batch[: max(group, 1)], batch[max(group, 1) :]
            for write in alone:
                try:
                    _deliver(write.future, False, await self._run(write))
                except Exception as exc:  # the caller's, never lost in a batch
                    _deliver(write.future, True, exc)

    async def _run(self, write: _Write) -> Any:
        """Run one write; a driver error comes out as a `BackendError`."""
        connection = self._connection
        try:
            if write.job is not None:
                return await write.job()
            rows = write.rows or []
            if len(rows) <= _ROWS_PER_STATEMENT:
                await connection.execute(_upsert_sql(len(rows)), [v for row in rows for v in row])
                return None
            await connection.execute("BEGIN IMMEDIATE")
            try:
                await connection.executemany(_upsert_sql(1), rows)
                await connection.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._wrap(write.operation, exc) from exc
        return None

    def _guard(self, loop: asyncio.AbstractEventLoop) -> None:
        """Keep ``loop`` open while the worker owes it an answer (drained at its shutdown)."""
        if loop in self._guards:
            return
        for closed in [known for known in self._guards if known.is_closed()]:
            finish(self._guards.pop(closed))  # closed without shutting down: nothing owed
        guard = _loop_guard(weakref.ref(self), self._gone, loop)
        with contextlib.suppress(StopIteration):
            guard.asend(None).send(None)  # runs to its first yield, registered with the loop
        self._guards[loop] = guard

    def _closed(self) -> ServiceClosedError:
        return ServiceClosedError(f"the SQLite store {self.url} is closed; open a new one")

    def _wrap(self, operation: str, exc: sqlite3.Error) -> BackendError:
        """Return a `BackendError` for the driver error ``exc``, with a hint where one helps."""
        hint = ""
        if "locked" in str(exc) or "busy" in str(exc):
            hint = " (another process held the write lock longer than the busy timeout)"
        elif "full" in str(exc):
            hint = " (no space left for the store's files; free some and retry)"
        return BackendError(f"{operation} failed on SQLite store {self.url}: {exc}{hint}")


_OPEN: weakref.WeakSet[SQLiteBackend] = weakref.WeakSet()
"""Backends not yet closed: closed when the main thread ends (see `_watch_exit`)."""


@functools.cache
def _watch_exit() -> None:
    """Start (once) the thread that closes forgotten stores when the main thread ends.

    aiosqlite's worker is not a daemon thread: the interpreter joins it before ``atexit``.
    """

    def close_at_exit() -> None:
        threading.main_thread().join()
        for backend in list(_OPEN):
            backend._abandon()

    threading.Thread(target=close_at_exit, name="plugin-kv-exit", daemon=True).start()


def _close_quietly(
    connection: aiosqlite.Connection, gone: threading.Event, guards: list[Guard]
) -> None:
    """Close ``connection`` in an event loop of this thread; `_release` whatever happens."""
    try:
        with contextlib.suppress(Exception):
            asyncio.run(connection.close())
    finally:
        _release(gone, guards)


def _release(gone: threading.Event, guards: list[Guard]) -> None:
    """Say the connection is closed (``gone``); let the guards' loops close, shut down or not."""
    gone.set()
    for guard in guards:
        finish(guard)


async def _loop_guard(
    backend: weakref.ref[SQLiteBackend], gone: threading.Event, loop: asyncio.AbstractEventLoop
) -> AsyncGenerator[None, None]:
    """Park in ``loop`` until it shuts down; then drain the backend, or wait for its close."""
    try:
        yield
    finally:
        found = backend()
        if found is not None and not found._closing:  # drain: wait until the worker owes
            with contextlib.suppress(ValueError, sqlite3.Error):  # ``loop`` nothing (or closed)
                while True:
                    await found._connection.execute_fetchall("SELECT 1")  # behind all sent
                    if found._sending is not loop:  # and no batch of this loop's goes on
                        break
        elif not gone.is_set():
            await asyncio.get_running_loop().run_in_executor(None, gone.wait, _SETTLE_SECONDS)


def _drive(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` step by step on its futures, without a task ``asyncio.run`` cancels."""

    def step(_: object = None) -> None:
        with contextlib.suppress(StopIteration):
            coroutine.send(None).add_done_callback(step)

    step()


async def _nothing() -> None:
    """The job `close` queues behind the writes under way."""


def _deliver(future: asyncio.Future[Any], failed: bool, result: Any) -> None:
    """Resolve ``future`` on its own event loop, unless it is done (its caller cancelled)."""
    loop = future.get_loop()
    if loop is not asyncio.get_running_loop():  # another thread's: resolved there
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
            loop.call_soon_threadsafe(_deliver, future, failed, result)
    elif not future.done():
        future.set_exception(result) if failed else future.set_result(result)


def _live(expires: float | None, now: float) -> bool:
    # In Python: SQLite 3.40 returns NULL for "expires_at IS NULL" in a RETURNING clause.
    return expires is None or expires > now


@functools.cache
def _upsert_sql(rows: int) -> str:
    """Return the upsert of ``rows`` rows."""
    return _UPSERT.format(", ".join(["(?, ?, ?, ?)"] * rows))


async def _connect(
    path: Path | None, synchronous: Synchronous, busy_timeout: float
) -> aiosqlite.Connection:
    """Connect; switch a file to WAL, set durability, create the schema; retry while locked."""
    target = ":memory:" if path is None else str(path)
    connection = await aiosqlite.connect(target, timeout=busy_timeout, isolation_level=None)
    wal = "" if path is None else "PRAGMA journal_mode=WAL;"
    deadline = time.monotonic() + busy_timeout
    try:
        while True:
            try:
                await connection.executescript(f"{wal} PRAGMA synchronous={synchronous}; {_SCHEMA}")
                return connection
            except sqlite3.OperationalError as exc:  # the busy handler misses a new file's
                if "locked" not in str(exc) or time.monotonic() >= deadline:  # switch to WAL
                    raise
                await asyncio.sleep(0.01)
    except BaseException:
        await connection.close()
        raise

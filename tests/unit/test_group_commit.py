"""Group commit on SQLite: writes issued together share one statement, and still fail alone.

To make a batch certain (not a matter of thread timing), a test holds the connection's worker
thread while it issues its writes, then lets it go; the statements the worker ran are read
back through SQLite's trace callback (helpers in `plugin_kv_dev.sqlite`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest

from plugin_kv import BackendError, KVService, ServiceClosedError
from plugin_kv_dev.sqlite import connection, held, hold_worker, trace

pytestmark = [pytest.mark.asyncio, pytest.mark.own_store]

PLUGIN = "group-commit"


def inserts(statements: list[str]) -> list[str]:
    return [statement for statement in statements if statement.startswith("INSERT INTO")]


def rows_in(statement: str) -> int:
    """Return how many rows an upsert traced with its values holds."""
    return statement.count(f"('{PLUGIN}', ")


def spawn(started: list[asyncio.Future[Any]], call: Awaitable[Any]) -> None:
    started.append(asyncio.ensure_future(call))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "kv.sqlite3"


@pytest.fixture
def stored(path: Path) -> Callable[[], dict[str, str]]:
    """Return a function reading the file with plain sqlite3: what a new process would see."""

    def read() -> dict[str, str]:
        with closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT key, value FROM kv_entries WHERE plugin = ?", (PLUGIN,))
            return dict(rows.fetchall())

    return read


@pytest.fixture
def poisoned(path: Path) -> None:
    """Make the file refuse the JSON text ``"poison"`` with a driver error (a trigger)."""
    with closing(sqlite3.connect(path)) as db:
        db.executescript(
            """
            CREATE TABLE kv_entries (
                plugin TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL,
                PRIMARY KEY (plugin, key)
            ) WITHOUT ROWID;
            CREATE TRIGGER poison BEFORE INSERT ON kv_entries WHEN NEW.value = '"poison"'
            BEGIN SELECT RAISE(ABORT, 'poisoned value'); END;
            """
        )
    db.close()


async def test_writes_from_200_tasks_all_land(path: Path) -> None:
    async with KVService.open(path) as kv:
        await asyncio.gather(*(kv.set(PLUGIN, f"k:{n:03}", {"n": n}) for n in range(200)))
        assert await kv.count(PLUGIN, "k:") == 200
        found = await kv.get_many(PLUGIN, [f"k:{n:03}" for n in range(200)])
        assert found == {f"k:{n:03}": {"n": n} for n in range(200)}


async def test_concurrent_writes_share_one_statement(path: Path) -> None:
    async with KVService.open(path) as kv:
        statements = await trace(kv)
        async with held(kv) as started:
            for n in range(50):
                spawn(started, kv.set(PLUGIN, f"k:{n}", n))
            spawn(started, kv.delete(PLUGIN, "k:0"))
            spawn(started, kv.set_many(PLUGIN, {"a": 1, "b": 2}))
        assert started == [None] * 50 + [True, None]
        # The first set went to the worker at once; the 49 issued while it was there as one
        # statement (one autocommit transaction), then the delete, then the set_many: in the
        # order issued, with no BEGIN or COMMIT around them.
        assert [rows_in(s) for s in inserts(statements)] == [1, 49, 2]
        assert not any(s.startswith(("BEGIN", "COMMIT", "SAVEPOINT")) for s in statements)
        assert await kv.count(PLUGIN) == 51


async def test_writes_issued_together_share_a_statement_after_the_first(path: Path) -> None:
    async with KVService.open(path) as kv:
        statements = await trace(kv)
        await asyncio.gather(*(kv.set(PLUGIN, f"k:{n}", n) for n in range(50)))
        assert [rows_in(s) for s in inserts(statements)] == [1, 49]  # the first went at once


async def test_sets_of_one_key_issued_together_keep_their_order(path: Path) -> None:
    async with KVService.open(path) as kv:
        statements = await trace(kv)
        await asyncio.gather(*(kv.set(PLUGIN, "k", n) for n in range(20)))
        assert len(inserts(statements)) == 2  # the first at once, then the 19 others
        assert await kv.get(PLUGIN, "k") == 19


async def test_a_read_issued_after_writes_runs_after_them(path: Path) -> None:
    async with KVService.open(path) as kv:
        await kv.set_many(PLUGIN, {"a": 1, "b": 2})
        _, left = await asyncio.gather(kv.clear(PLUGIN), kv.count(PLUGIN))
        assert left == 0


async def test_a_large_set_many_is_one_transaction(path: Path) -> None:
    items = {f"k:{n:05}": n for n in range(5000)}
    async with KVService.open(path) as kv:
        statements = await trace(kv)
        writing = asyncio.ensure_future(kv.set_many(PLUGIN, items))
        counted = asyncio.ensure_future(kv.count(PLUGIN))  # never sees half of it
        await writing
        assert await counted == 5000
        assert statements.count("BEGIN IMMEDIATE") == 1
        assert statements.count("COMMIT") == 1


async def test_a_lone_write_is_its_own_transaction(path: Path) -> None:
    async with KVService.open(path) as kv:
        statements = await trace(kv)
        for n in range(3):
            await kv.set(PLUGIN, "k", n)
        # Exactly the three upserts: each is its own autocommit transaction, as a plain
        # execute would be, with no BEGIN, COMMIT or SAVEPOINT around it.
        assert len(statements) == 3
        assert all(statement.startswith("INSERT INTO kv_entries") for statement in statements)
        assert await kv.delete(PLUGIN, "k")
        assert all(statement.startswith("DELETE") for statement in statements[3:])
        assert not any(s.startswith(("BEGIN", "COMMIT", "SAVEPOINT")) for s in statements)
    async with KVService.open(path) as kv:
        assert await kv.get(PLUGIN, "k") is None


async def test_a_failing_write_fails_only_its_own_call(
    path: Path, poisoned: None, stored: Callable[[], dict[str, str]]
) -> None:
    async with KVService.open(path) as kv:
        statements = await trace(kv)
        async with held(kv) as started:
            for n in range(5):
                spawn(started, kv.set(PLUGIN, f"before:{n}", n))
            spawn(started, kv.set(PLUGIN, "bad", "poison"))
            spawn(started, kv.set_many(PLUGIN, {"batch:1": 1, "batch:2": "poison"}))
            for n in range(5):
                spawn(started, kv.set(PLUGIN, f"after:{n}", n))
        # The first write went at once; the shared statement of the others failed, then
        # each of them ran alone, in the order issued.
        # (SQLite traces a statement again for each firing of the file's trigger.)
        assert len(dict.fromkeys(inserts(statements))) == 1 + 12
        outcomes = dict(zip(range(len(started)), started, strict=True))
        failed = {n: outcome for n, outcome in outcomes.items() if outcome is not None}
        assert sorted(failed) == [5, 6]
        for error in failed.values():
            assert isinstance(error, BackendError)
            assert "poisoned value" in str(error)
            assert isinstance(error.__cause__, sqlite3.IntegrityError)
    expected = {f"{when}:{n}": str(n) for when in ("before", "after") for n in range(5)}
    assert stored() == expected  # the batch's other writes were committed, durably


async def test_acknowledged_writes_survive_close_and_reopen(
    path: Path, stored: Callable[[], dict[str, str]]
) -> None:
    async with KVService.open(path) as kv:
        await asyncio.gather(*(kv.set(PLUGIN, f"k:{n:03}", n) for n in range(100)))
        await asyncio.gather(*(kv.delete(PLUGIN, f"k:{n:03}") for n in range(0, 100, 2)))
    assert stored() == {f"k:{n:03}": str(n) for n in range(1, 100, 2)}
    async with KVService.open(path) as kv:
        assert await kv.count(PLUGIN) == 50


async def test_writes_from_two_event_loops_at_once_both_land(path: Path) -> None:
    async with KVService.open(path) as kv:
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        async def writes(thread: int) -> None:
            await asyncio.gather(*(kv.set(PLUGIN, f"t{thread}:{n:03}", n) for n in range(100)))

        def run(thread: int) -> None:
            try:
                barrier.wait(60)
                asyncio.run(writes(thread))
            except BaseException as exc:  # reported below, in the test's own thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert await kv.count(PLUGIN, "t1:") == 100
        assert await kv.count(PLUGIN, "t2:") == 100


async def test_close_commits_the_writes_still_pending(
    path: Path, stored: Callable[[], dict[str, str]]
) -> None:
    kv = await KVService.open(path)
    async with held(kv) as started:
        for n in range(20):
            spawn(started, kv.set(PLUGIN, f"k:{n:02}", n))
        spawn(started, kv.close())
    assert started == [None] * 21
    assert stored() == {f"k:{n:02}": str(n) for n in range(20)}
    with pytest.raises(ServiceClosedError):
        await kv.set(PLUGIN, "late", 1)


async def test_calls_issued_once_closing_are_refused(path: Path) -> None:
    kv = await KVService.open(path)
    async with held(kv) as started:
        spawn(started, kv.set(PLUGIN, "before", 1))
        spawn(started, kv.close())
        spawn(started, kv.set(PLUGIN, "late", 1))
        spawn(started, kv.count(PLUGIN))
    assert started[:2] == [None, None]
    for refused in started[2:]:
        assert isinstance(refused, ServiceClosedError)
        assert "is closed" in str(refused)


async def test_a_cancelled_write_does_not_disturb_the_others(path: Path) -> None:
    async with KVService.open(path) as kv:
        async with held(kv) as started:
            for n in range(10):
                spawn(started, kv.set(PLUGIN, f"k:{n}", n))
            # Cancel it once its write is queued (after the tasks' first step).
            asyncio.get_running_loop().call_soon(started[3].cancel)
        assert isinstance(started[3], asyncio.CancelledError)
        assert started[:3] + started[4:] == [None] * 9
        # The cancelled caller stopped waiting; its write was already queued and is committed.
        assert await kv.count(PLUGIN) == 10


async def test_a_locked_store_fails_each_write_clearly(path: Path) -> None:
    async with KVService.open(path, busy_timeout=0.05) as kv:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            results = await asyncio.gather(
                *(kv.set(PLUGIN, f"k:{n}", n) for n in range(10)), return_exceptions=True
            )
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        for error in results:
            assert isinstance(error, BackendError)
            assert "database is locked" in str(error)
            assert isinstance(error.__cause__, sqlite3.OperationalError)
        assert await kv.count(PLUGIN) == 0
        await kv.set(PLUGIN, "k:0", 0)  # the store works again once the lock is gone
        assert await kv.count(PLUGIN) == 1


@asynccontextmanager
async def release_at_loop_shutdown(gate: threading.Event) -> AsyncIterator[None]:
    """Set ``gate`` when this event loop shuts down (``loop.shutdown_asyncgens()``).

    That is after ``asyncio.run`` has cancelled the tasks left, and just before it closes
    the loop: the moment a worker answer still owed to the loop would be lost.
    """

    async def park() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            gate.set()

    parked = park()
    await parked.asend(None)
    yield
    # ``parked`` stays referenced by this frame, which the caller keeps suspended.


async def test_a_write_abandoned_by_a_closed_event_loop_does_not_stop_the_worker(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashes: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    async with KVService.open(path) as kv:
        gate = threading.Event()
        hold = await hold_worker(connection(kv), gate)
        kept: list[object] = []

        def abandon_a_write_in_another_loop() -> None:
            async def abandon() -> None:
                releasing = release_at_loop_shutdown(gate)
                await releasing.__aenter__()
                kept.append(releasing)  # suspended until the loop shuts down
                asyncio.get_running_loop().create_task(kv.set(PLUGIN, "orphan", 1))
                await asyncio.sleep(0)  # the task queues its write, then this loop ends

            asyncio.run(abandon())  # cancels the waiting task and closes its loop

        await asyncio.to_thread(abandon_a_write_in_another_loop)
        await hold
        # The worker must outlive the closed loop: later calls still complete.
        await asyncio.wait_for(kv.set(PLUGIN, "after", 2), timeout=30)
        assert await asyncio.wait_for(kv.get(PLUGIN, "after"), timeout=30) == 2
        assert await kv.get(PLUGIN, "orphan") == 1  # queued before its loop ended: committed
    assert crashes == []


async def test_a_read_abandoned_by_a_closed_event_loop_does_not_stop_the_worker(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashes: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    async with KVService.open(path) as kv:
        gate = threading.Event()
        hold = await hold_worker(connection(kv), gate)
        kept: list[object] = []

        def abandon_a_read_in_another_loop() -> None:
            async def abandon() -> None:
                releasing = release_at_loop_shutdown(gate)
                await releasing.__aenter__()
                kept.append(releasing)
                asyncio.get_running_loop().create_task(kv.count(PLUGIN))
                await asyncio.sleep(0)  # the read is on the worker's queue, behind the hold

            asyncio.run(abandon())

        await asyncio.to_thread(abandon_a_read_in_another_loop)
        await hold
        await asyncio.wait_for(kv.set(PLUGIN, "after", 2), timeout=30)
        assert await asyncio.wait_for(kv.get(PLUGIN, "after"), timeout=30) == 2
    assert crashes == []


async def test_an_unclosed_service_dropped_in_a_loop_that_then_closes_stops_its_worker_cleanly(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiosqlite's own finalizer would leave the worker a future of that closed loop."""
    crashes: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    gate = threading.Event()
    kept: list[object] = []

    def drop_an_open_service() -> set[threading.Thread]:
        async def drop() -> set[threading.Thread]:
            releasing = release_at_loop_shutdown(gate)
            await releasing.__aenter__()
            kept.append(releasing)
            before = set(threading.enumerate())
            kv = await KVService.open(path)
            # aiosqlite's worker thread (not the daemon watching for the process's exit,
            # which the first service of the process starts)
            workers = {t for t in set(threading.enumerate()) - before if not t.daemon}
            assert await kv.count(PLUGIN) == 0  # used in this loop, as any service is
            kept.append(await hold_worker(connection(kv), gate))
            with pytest.warns(ResourceWarning, match="was never closed"):
                del kv  # the last reference: the finalizers run here
            return workers

        return asyncio.run(drop())  # the loop the service was dropped in closes here

    workers = await asyncio.to_thread(drop_an_open_service)
    assert workers
    for worker in workers:
        await asyncio.to_thread(worker.join, 30)
        assert not worker.is_alive()
    assert crashes == []

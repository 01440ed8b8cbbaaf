"""Opening, closing and URLs: the service's lifecycle and its errors."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import subprocess
import sys
import textwrap
import threading
import warnings
from contextlib import closing
from pathlib import Path

import pytest

from plugin_kv import (
    BackendError,
    BackendUnavailableError,
    InvalidOptionError,
    InvalidURLError,
    KVError,
    KVService,
    ServiceClosedError,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.own_store]


async def test_await_open_then_close_twice(kv_isolated_plugin: str) -> None:
    kv = await KVService.open()
    await kv.set(kv_isolated_plugin, "k", 1)
    await kv.close()
    await kv.close()
    assert kv.closed
    assert "closed" in repr(kv)


async def test_use_after_close_is_a_clear_error(kv_isolated_plugin: str) -> None:
    async with KVService.open() as kv:
        pass
    with pytest.raises(ServiceClosedError, match="is closed; open a new one"):
        await kv.get(kv_isolated_plugin, "k")


async def test_in_memory_stores_are_private(kv_isolated_plugin: str) -> None:
    async with KVService.open() as first, KVService.open(":memory:") as second:
        await first.set(kv_isolated_plugin, "k", "first")
        assert await second.get(kv_isolated_plugin, "k") is None


async def test_unclosed_service_warns() -> None:
    kv = await KVService.open()
    url = kv.url
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del kv
        gc.collect()
    messages = [str(warning.message) for warning in caught]
    assert any("<KVService sqlite:// open> was never closed" in m for m in messages), messages
    assert url == "sqlite://"


async def test_file_store_survives_close_and_reopen(
    tmp_path: Path, kv_isolated_plugin: str
) -> None:
    path = tmp_path / "kv.db"
    async with KVService.open(path) as kv:
        await kv.set(kv_isolated_plugin, "user:1", {"name": "Ada"})
        await kv.set(kv_isolated_plugin, "user:2", 2.0, ttl=3600)
    async with KVService.open(f"sqlite:///{path}") as kv:
        assert await kv.get(kv_isolated_plugin, "user:1") == {"name": "Ada"}
        assert await kv.get(kv_isolated_plugin, "user:2") == 2.0
        assert kv.url == f"sqlite:///{path}"


async def test_file_store_uses_wal_and_the_chosen_synchronous_level(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    async with KVService.open(str(path), synchronous="FULL") as kv:
        await kv.set("p", "k", 1)
        with closing(sqlite3.connect(path)) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            index = raw.execute("PRAGMA index_list(kv_entries)").fetchall()
            assert any(row[1] == "kv_entries_expiry" for row in index)


async def test_two_services_on_one_file_see_each_other(
    tmp_path: Path, kv_isolated_plugin: str
) -> None:
    path = tmp_path / "shared.db"
    async with KVService.open(path) as writer, KVService.open(path) as reader:
        await writer.set(kv_isolated_plugin, "k", "v")
        assert await reader.get(kv_isolated_plugin, "k") == "v"


@pytest.mark.parametrize("url", ["mysql://localhost/db", "redis://x", "", 42])
async def test_unknown_url_is_refused_at_once(url: object) -> None:
    with pytest.raises(InvalidURLError, match="invalid store URL") as caught:
        KVService.open(url)  # type: ignore[arg-type]
    assert repr(url) in str(caught.value)
    assert "postgresql://" in str(caught.value)


async def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="does not exist"):
        await KVService.open(tmp_path / "no" / "such" / "dir" / "kv.db")


async def test_a_file_that_is_not_a_database_is_wrapped(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BackendUnavailableError, match="cannot open SQLite store") as caught:
        await KVService.open(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert isinstance(caught.value, KVError)


async def test_bad_synchronous_level_is_refused() -> None:
    with pytest.raises(ValueError, match="use one of OFF, NORMAL, FULL, EXTRA") as caught:
        KVService.open(synchronous="SOMETIMES")  # type: ignore[arg-type]
    assert isinstance(caught.value, InvalidOptionError)


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), "5", None, True])
async def test_bad_busy_timeout_is_refused(timeout: object) -> None:
    with pytest.raises(InvalidOptionError, match="finite number of seconds >= 0") as caught:
        KVService.open(busy_timeout=timeout)  # type: ignore[arg-type]
    assert repr(timeout) in str(caught.value)


async def test_clock_must_be_callable() -> None:
    with pytest.raises(InvalidOptionError, match=r"use a function like time\.time"):
        KVService.open(clock=12.5)  # type: ignore[arg-type]


async def test_driver_error_during_an_operation_is_wrapped(
    tmp_path: Path, kv_isolated_plugin: str
) -> None:
    path = tmp_path / "kv.db"
    async with KVService.open(path, busy_timeout=0.05) as kv:
        await kv.set(kv_isolated_plugin, "k", 1)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(KVError, match="database is locked") as caught:
                await kv.set(kv_isolated_plugin, "k", 2)
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await kv.get(kv_isolated_plugin, "k") == 1


async def test_service_works_from_several_event_loops_in_turn(kv_isolated_plugin: str) -> None:
    import asyncio
    import threading

    kv = await KVService.open()
    await kv.set(kv_isolated_plugin, "k", 0)

    def other_loop(n: int) -> None:
        asyncio.run(kv.set(kv_isolated_plugin, "k", n))

    for n in (1, 2):
        thread = threading.Thread(target=other_loop, args=(n,))
        thread.start()
        thread.join()
    assert await kv.get(kv_isolated_plugin, "k") == 2
    await kv.close()


_FORGOTTEN_IN_A_GLOBAL = """
import asyncio, sys
from plugin_kv import KVService

async def open_store():
    return await KVService.open(sys.argv[1])

kv = asyncio.run(open_store())  # never closed: held by this module until the end
asyncio.run(kv.set("p", "k", 1))
print("main thread done", flush=True)
"""


async def test_a_process_ends_with_an_unclosed_service_in_a_module_global(
    tmp_path: Path,
) -> None:
    """aiosqlite's worker is not a daemon thread: left open, it would keep the process alive."""
    path = tmp_path / "kv.sqlite3"
    script = tmp_path / "forgotten.py"
    script.write_text(textwrap.dedent(_FORGOTTEN_IN_A_GLOBAL))
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(script), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "main thread done\n"
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT value FROM kv_entries").fetchall() == [("1",)]


async def test_an_unclosed_service_stops_its_worker_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    kv = await KVService.open(tmp_path / "kv.sqlite3")
    await kv.set("p", "k", 1)
    workers = {t for t in set(threading.enumerate()) - before if not t.daemon}
    assert workers  # aiosqlite's
    with pytest.warns(ResourceWarning, match="was never closed"):
        del kv  # the last reference: the finalizer runs here
    for worker in workers:
        await asyncio.to_thread(worker.join, 60)
        assert not worker.is_alive()


@pytest.mark.timeout(120)  # before the fix, the connection stayed open: the test hung
async def test_a_cancelled_close_still_commits_the_writes_before_it_and_closes(
    tmp_path: Path,
) -> None:
    before = set(threading.enumerate())
    kv = await KVService.open(tmp_path / "kv.sqlite3")
    writes = [asyncio.ensure_future(kv.set("p", f"k{n}", n)) for n in range(2000)]
    await asyncio.sleep(0)  # the first write is on the worker, the others queued behind it
    workers = {t for t in set(threading.enumerate()) - before if not t.daemon}
    assert workers  # aiosqlite's
    closing = asyncio.ensure_future(kv.close())
    await asyncio.sleep(0)
    closing.cancel()  # the caller gives up waiting for the writes
    with pytest.raises(asyncio.CancelledError):
        await closing
    await asyncio.gather(*writes)  # every write issued before close() lands
    for worker in workers:  # and the connection is closed once they have
        await asyncio.to_thread(worker.join, 60)
        assert not worker.is_alive()
    async with KVService.open(tmp_path / "kv.sqlite3") as again:
        assert await again.count("p") == 2000


_CLOSED_THEN_LOOP_CLOSED = """
import asyncio, gc, sys
from plugin_kv import KVService

async def use(path):
    kv = await KVService.open(path)
    await kv.set("p", "k", 1)
    assert await kv.get("p", "k") == 1
    await kv.close()

loop = asyncio.new_event_loop()
loop.run_until_complete(use(sys.argv[1]))
if sys.argv[2] == "shutdown":
    loop.run_until_complete(loop.shutdown_asyncgens())
loop.close()
del loop
gc.collect()
print("done", flush=True)
"""


@pytest.mark.parametrize("asyncgens", ["shutdown", "left"])
async def test_closing_a_service_then_its_loop_prints_nothing(
    tmp_path: Path, asyncgens: str
) -> None:
    """With or without ``loop.shutdown_asyncgens()``: `close` retires what it set up."""
    script = tmp_path / "closed.py"
    script.write_text(textwrap.dedent(_CLOSED_THEN_LOOP_CLOSED))
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-W",
            "always",
            "-X",
            "dev",
            str(script),
            str(tmp_path / "kv.db"),
            asyncgens,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "done\n", "")


async def test_sqlite_older_than_3_35_is_refused_at_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(BackendError, match=r"SQLite '3\.34\.1'; plugin-kv needs SQLite 3\.35"):
        await KVService.open()

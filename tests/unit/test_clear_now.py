"""The fixtures' quick cleanup: a file store clears a namespace without an event loop."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest

from plugin_kv import InvalidPluginError, KVService

from ..conftest import FakeClock
from .test_group_commit import connection, hold_worker

pytestmark = [pytest.mark.asyncio, pytest.mark.own_store]


async def test_it_clears_one_namespace_and_counts_as_the_async_call_does(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with KVService.open(tmp_path / "kv.sqlite3", clock=clock) as kv:
        await kv.set_many("mine", {"a": 1, "b": 2, "c": 3})
        await kv.set("mine", "short", 4, ttl=1)
        await kv.set("theirs", "a", 1)
        clock.advance(2)  # "short" expires: gone, but not counted as removed
        assert kv._clear_and_count_now("mine") == (3, 0)
        assert await kv.list_keys("mine") == []
        assert await kv.get_many("theirs", ["a"]) == {"a": 1}
        assert kv._clear_and_count_now("mine") == (0, 0)


async def test_it_declines_while_a_write_is_on_its_way(tmp_path: Path) -> None:
    async with KVService.open(tmp_path / "kv.sqlite3") as kv:
        writing = asyncio.ensure_future(kv.set("mine", "k", 1))
        await asyncio.sleep(0)  # the write is queued; its commit needs the worker's answer
        assert kv._clear_and_count_now("mine") is None
        await writing
        assert kv._clear_and_count_now("mine") == (1, 0)


async def test_after_a_write_cancelled_on_the_worker_it_declines_until_a_later_one_lands(
    tmp_path: Path,
) -> None:
    async with KVService.open(tmp_path / "kv.sqlite3") as kv:
        gate = threading.Event()
        hold = await hold_worker(connection(kv), gate)  # a slow call ahead of the write
        writing = asyncio.ensure_future(kv.set("mine", "k", 1))
        for _ in range(10):  # until the write has left the queue for the worker
            await asyncio.sleep(0)
            if not kv._backend._pending:  # type: ignore[union-attr]
                break
        writing.cancel()  # as a timeout would: its statement stays on the worker's queue
        with pytest.raises(asyncio.CancelledError):
            await writing
        assert kv._clear_and_count_now("mine") is None
        gate.set()
        await hold
        assert kv._clear_and_count_now("mine") is None  # nothing proved it answered yet
        assert await kv.clear_and_count("mine") == (1, 0)  # the cancelled write did land
        assert kv._clear_and_count_now("mine") == (0, 0)


async def test_it_declines_rather_than_wait_while_another_connection_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kv.sqlite3"
    async with KVService.open(path) as kv:
        await kv.set("mine", "k", 1)
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # holds the write lock
            assert kv._clear_and_count_now("mine") is None  # at once: no busy wait
            other.execute("ROLLBACK")
        assert kv._clear_and_count_now("mine") == (1, 0)


async def test_it_declines_for_a_store_in_memory_and_a_closed_one(tmp_path: Path) -> None:
    async with KVService.open() as memory:
        await memory.set("mine", "k", 1)
        assert memory._clear_and_count_now("mine") is None
        assert await memory.get("mine", "k") == 1
    kv = await KVService.open(tmp_path / "kv.sqlite3")
    await kv.close()
    assert kv._clear_and_count_now("mine") is None


async def test_a_bad_namespace_is_refused_and_nothing_is_removed(tmp_path: Path) -> None:
    async with KVService.open(tmp_path / "kv.sqlite3") as kv:
        await kv.set("mine", "k", 1)
        with pytest.raises(InvalidPluginError, match="bad name!"):
            kv._clear_and_count_now("bad name!")
        assert await kv.get("mine", "k") == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
async def test_closing_the_store_closes_both_of_its_connections(tmp_path: Path) -> None:
    path = tmp_path / "kv.sqlite3"

    def open_files() -> int:
        fds = Path("/proc/self/fd")
        found = 0
        for fd in fds.iterdir():
            try:
                found += os.readlink(fd) == str(path)
            except OSError:  # closed meanwhile
                continue
        return found

    kv = await KVService.open(path)
    assert open_files() == 2  # aiosqlite's connection and the quick cleanup's
    await kv.close()
    assert open_files() == 0

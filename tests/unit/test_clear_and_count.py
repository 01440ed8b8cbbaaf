"""`KVService.clear_and_count`: how the fixtures remove a namespace and check it empty."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from plugin_kv import InvalidPluginError, KVService

from ..conftest import FakeClock

pytestmark = [pytest.mark.asyncio, pytest.mark.own_store]


async def test_it_clears_one_namespace_and_counts_only_live_keys(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with KVService.open(tmp_path / "kv.sqlite3", clock=clock) as kv:
        await kv.set_many("mine", {"a": 1, "b": 2, "c": 3})
        await kv.set("mine", "short", 4, ttl=1)
        await kv.set("theirs", "a", 1)
        clock.advance(2)  # "short" expires: gone, but not counted as removed
        assert await kv.clear_and_count("mine") == (3, 0)
        assert await kv.list_keys("mine") == []
        assert await kv.get_many("theirs", ["a"]) == {"a": 1}
        assert await kv.clear_and_count("mine") == (0, 0)


async def test_it_runs_after_the_writes_issued_before_it(tmp_path: Path) -> None:
    async with KVService.open(tmp_path / "kv.sqlite3") as kv:
        results = await asyncio.gather(
            *(kv.set("mine", f"k{n}", n) for n in range(20)), kv.clear_and_count("mine")
        )
        assert results[-1] == (20, 0)


async def test_a_bad_namespace_is_refused_and_nothing_is_removed(tmp_path: Path) -> None:
    async with KVService.open(tmp_path / "kv.sqlite3") as kv:
        await kv.set("mine", "k", 1)
        with pytest.raises(InvalidPluginError, match="bad name!"):
            await kv.clear_and_count("bad name!")
        assert await kv.get("mine", "k") == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
async def test_a_file_store_holds_one_connection_and_closing_releases_it(tmp_path: Path) -> None:
    path = tmp_path / "kv.sqlite3"

    def open_files() -> int:
        found = 0
        for fd in Path("/proc/self/fd").iterdir():
            try:
                found += os.readlink(fd) == str(path)
            except OSError:  # closed meanwhile
                continue
        return found

    kv = await KVService.open(path)
    await kv.clear_and_count("mine")
    assert open_files() == 1  # aiosqlite's connection, and no other
    await kv.close()
    assert open_files() == 0

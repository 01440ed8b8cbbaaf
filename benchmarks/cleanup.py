"""Cleanup: `clear()` of N keys against the per-key template, and against one bare DELETE."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from plugin_kv import KVService

from ._stats import interleave, ratio

SIZES = (10, 100, 1_000, 10_000)


def measure_cleanup(rounds: int, sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    """Return, per N, the seconds each way of removing a namespace of N keys takes."""
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        # Other namespaces around the one removed, as in a shared test store.
        asyncio.run(_fill(path, "neighbour.a", 5_000))
        asyncio.run(_fill(path, "neighbour.z", 5_000))
        for size in sizes:
            measures: dict[str, Callable[[], float]] = {
                "clear()": functools.partial(_run, _clear, path, size),
                "list, then delete one by one": functools.partial(_run, _one_by_one, path, size),
                "one bare DELETE (sqlite3)": functools.partial(_bare_delete, path, size),
            }
            samples = interleave(f"remove {size:,} keys", rounds, measures)
            clear = samples["clear()"]
            rows.append(
                {
                    "keys": size,
                    "clear_ms": clear.median * 1e3,
                    "one_by_one_ms": samples["list, then delete one by one"].median * 1e3,
                    "bare_delete_ms": samples["one bare DELETE (sqlite3)"].median * 1e3,
                    "one_by_one_over_clear": ratio(
                        samples["list, then delete one by one"], clear
                    ).summary(),
                    "clear_over_bare_delete": ratio(
                        clear, samples["one bare DELETE (sqlite3)"]
                    ).summary(),
                }
            )
    return rows


def _namespace(size: int) -> str:
    return f"doomed.{size}"


async def _fill(path: Path, plugin: str, size: int) -> None:
    async with KVService.open(path) as kv:
        await kv.set_many(plugin, {f"user:{n:06}": {"n": n} for n in range(size)})


async def _clear(path: Path, size: int) -> float:
    await _fill(path, _namespace(size), size)
    async with KVService.open(path) as kv:
        await kv.count("warm")
        started = time.perf_counter()
        removed = await kv.clear(_namespace(size))
        elapsed = time.perf_counter() - started
    assert removed == size, removed
    return elapsed


async def _one_by_one(path: Path, size: int) -> float:
    await _fill(path, _namespace(size), size)
    async with KVService.open(path) as kv:
        await kv.count("warm")
        started = time.perf_counter()
        removed = 0
        for key in await kv.list_keys(_namespace(size)):
            removed += await kv.delete(_namespace(size), key)
        elapsed = time.perf_counter() - started
    assert removed == size, removed
    return elapsed


def _run(job: Callable[[Path, int], Coroutine[Any, Any, float]], path: Path, size: int) -> float:
    return asyncio.run(job(path, size))


def _bare_delete(path: Path, size: int) -> float:
    """The floor: one DELETE through sqlite3, in-process, no count, no thread."""
    asyncio.run(_fill(path, _namespace(size), size))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("SELECT count(*) FROM kv_entries WHERE plugin = 'warm'").fetchall()
    started = time.perf_counter()
    removed = db.execute("DELETE FROM kv_entries WHERE plugin = ?", (_namespace(size),)).rowcount
    elapsed = time.perf_counter() - started
    db.close()
    assert removed == size, removed
    return elapsed

"""Per-call cost of the service against the driver floor (aiosqlite) and raw sqlite3.

All on a file store (WAL, synchronous=NORMAL), where writes commit for real. The driver floor
does the same job by hand (``json.dumps``/``json.loads`` around one aiosqlite call); raw
sqlite3, the physical limit, only runs the statement.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite

from plugin_kv import KVService

from ._stats import Sample, interleave, one_cpu, progress, ratio

UPSERT = (
    "INSERT INTO kv_entries (plugin, key, value, expires_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value,"
    " expires_at = excluded.expires_at"
)
GET = (
    "SELECT value FROM kv_entries WHERE plugin = ? AND key = ?"
    " AND (expires_at IS NULL OR expires_at > ?)"
)
COUNT = (
    "SELECT count(*) FROM kv_entries WHERE plugin = ? AND key >= ? AND key < ?"
    " AND (expires_at IS NULL OR expires_at > ?)"
)
LIST = COUNT.replace("count(*)", "key") + " ORDER BY key"
PLUGIN = "bench"
TASKS = 50
BLOCK = 50
"""Calls per turn when the ways in take turns (see `_paired_rounds`)."""


def measure_calls(rounds: int, operations: int) -> dict[str, Any]:
    """Return per-call costs: service against aiosqlite and sqlite3, and concurrent writers."""
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        asyncio.run(_prepare(path, operations))
        for operation in ("set", "get", "count", "list_keys"):
            with one_cpu() as placement:
                samples = _paired_rounds(path, operation, rounds, operations)
            service, driver, raw = samples["service"], samples["aiosqlite"], samples["sqlite3"]
            rows.append(
                {
                    "operation": operation,
                    "service_us": service.median * 1e6,
                    "driver_us": driver.median * 1e6,
                    "raw_us": raw.median * 1e6,
                    "service_over_driver": ratio(service, driver).summary(),
                    "service_over_raw": ratio(service, raw).summary(),
                }
            )
        samples = interleave(
            f"set from {TASKS} tasks against sequential sets",
            rounds,
            {
                "service, sequential": lambda: asyncio.run(_service_sets(path, operations)),
                "service, 50 tasks": lambda: asyncio.run(
                    _service_concurrent(path, operations, TASKS)
                ),
                "aiosqlite, sequential": lambda: asyncio.run(_aiosqlite_sets(path, operations)),
                "aiosqlite, 50 tasks": lambda: asyncio.run(
                    _aiosqlite_concurrent(path, operations, TASKS)
                ),
            },
        )
        concurrent = {
            who: {
                "sequential_us": samples[f"{who}, sequential"].median * 1e6,
                "concurrent_us": samples[f"{who}, 50 tasks"].median * 1e6,
                "speedup": ratio(
                    samples[f"{who}, sequential"], samples[f"{who}, 50 tasks"]
                ).summary(),
            }
            for who in ("service", "aiosqlite")
        }
    return {
        "calls": rows,
        "calls_placement": placement,
        "calls_block": BLOCK,
        "concurrent": concurrent,
        "tasks": TASKS,
    }


async def _prepare(path: Path, operations: int) -> None:
    async with KVService.open(path) as kv:
        await kv.set_many(PLUGIN, {f"user:{n:06}": {"n": n} for n in range(operations)})


def _paired_rounds(path: Path, operation: str, rounds: int, count: int) -> dict[str, Sample]:
    """Time ``count`` calls of ``operation`` per round through each way in, in short turns.

    All three connections stay open in one event loop and take turns of `BLOCK` calls
    (the order rotating every turn), so a slow patch of a shared machine hits all three
    alike instead of whichever happened to run through it.
    """
    values: dict[str, list[float]] = {"service": [], "aiosqlite": [], "sqlite3": []}
    for round_number in range(1, rounds + 1):
        progress(f"{operation}: round {round_number}/{rounds}")
        for who, seconds in asyncio.run(_turns(path, operation, count)).items():
            values[who].append(seconds)
    progress(f"{operation}: done ({rounds} rounds)", end=True)
    return {who: Sample(who, found) for who, found in values.items()}


async def _turns(path: Path, operation: str, count: int) -> dict[str, float]:
    """Return seconds per call of each way in, over ``count`` calls taken in turns."""
    now = time.time()
    raw_sql = {"set": UPSERT, "get": GET, "count": COUNT, "list_keys": LIST}[operation]
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA synchronous=NORMAL")
    async with KVService.open(path) as kv, aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA synchronous=NORMAL")

        def params(n: int) -> tuple[object, ...]:
            if operation == "set":
                return (PLUGIN, f"user:{n:06}", f'{{"n":{n}}}', None)
            if operation == "get":
                return (PLUGIN, f"user:{n:06}", now)
            return (PLUGIN, "user:00001", "user:00002", now)

        service_calls: dict[str, Callable[[int], Awaitable[object]]] = {
            "set": lambda n: kv.set(PLUGIN, f"user:{n:06}", {"n": n}),
            "get": lambda n: kv.get(PLUGIN, f"user:{n:06}"),
            "count": lambda n: kv.count(PLUGIN, "user:00001"),
            "list_keys": lambda n: kv.list_keys(PLUGIN, "user:00001"),
        }
        service_call = service_calls[operation]

        # The driver floor does the service's job by hand: JSON in and out, one execute.
        async def driver_set(n: int) -> None:
            await db.execute(UPSERT, (PLUGIN, f"user:{n:06}", json.dumps({"n": n}), None))

        async def driver_get(n: int) -> object:
            rows = await db.execute_fetchall(GET, params(n))
            return json.loads(rows[0][0]) if rows else None

        async def driver_query(n: int) -> object:
            return await db.execute_fetchall(raw_sql, params(n))

        driver_call = {"set": driver_set, "get": driver_get}.get(operation, driver_query)

        async def raw_call(n: int) -> None:
            raw.execute(raw_sql, params(n)).fetchall()

        ways = {"service": service_call, "aiosqlite": driver_call, "sqlite3": raw_call}
        spent = dict.fromkeys(ways, 0.0)
        names = list(ways)
        for turn, start in enumerate(range(0, count, BLOCK)):
            calls = range(start, min(start + BLOCK, count))
            for who in names[turn % 3 :] + names[: turn % 3]:
                spent[who] += await _timed(calls, ways[who])
    raw.close()
    return {who: seconds / count for who, seconds in spent.items()}


async def _timed(calls: range, call: Callable[[int], Awaitable[object]]) -> float:
    """Return the seconds that awaiting ``call(n)`` for each ``n`` in ``calls`` took."""
    started = time.perf_counter()
    for n in calls:
        await call(n)
    return time.perf_counter() - started


async def _service_sets(path: Path, count: int) -> float:
    """Return seconds per `set`, one after another, through the service."""
    async with KVService.open(path) as kv:
        spent = await _timed(range(count), lambda n: kv.set(PLUGIN, f"user:{n:06}", {"n": n}))
        return spent / count


async def _aiosqlite_sets(path: Path, count: int) -> float:
    """Return seconds per upsert, one after another, through plain aiosqlite (autocommit)."""
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA synchronous=NORMAL")
        spent = await _timed(
            range(count),
            lambda n: db.execute(UPSERT, (PLUGIN, f"user:{n:06}", f'{{"n":{n}}}', None)),
        )
        return spent / count


async def _service_concurrent(path: Path, count: int, tasks: int) -> float:
    async with KVService.open(path) as kv:

        async def worker(offset: int) -> None:
            for n in range(offset, count, tasks):
                await kv.set(PLUGIN, f"user:{n:06}", {"n": n})

        started = time.perf_counter()
        await asyncio.gather(*(worker(offset) for offset in range(tasks)))
        return (time.perf_counter() - started) / count


async def _aiosqlite_concurrent(path: Path, count: int, tasks: int) -> float:
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA synchronous=NORMAL")

        async def worker(offset: int) -> None:
            for n in range(offset, count, tasks):
                await db.execute(UPSERT, (PLUGIN, f"user:{n:06}", f'{{"n":{n}}}', None))

        started = time.perf_counter()
        await asyncio.gather(*(worker(offset) for offset in range(tasks)))
        return (time.perf_counter() - started) / count

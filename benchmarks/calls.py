"""Per-call cost of the service against the driver floor (aiosqlite) and raw sqlite3.

All on a file store (WAL, synchronous=NORMAL), where writes commit for real.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite

from plugin_kv import KVService

from ._stats import interleave, ratio

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
PLUGIN = "bench"
TASKS = 50


def measure_calls(rounds: int, operations: int) -> dict[str, Any]:
    """Return per-call costs: service against aiosqlite and sqlite3, and concurrent writers."""
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        asyncio.run(_prepare(path, operations))
        for operation in ("set", "get", "count", "list_keys"):
            samples = interleave(
                operation,
                rounds,
                {
                    "service": lambda op=operation: asyncio.run(
                        _service_loop(path, op, operations)
                    ),
                    "aiosqlite": lambda op=operation: asyncio.run(
                        _aiosqlite_loop(path, op, operations)
                    ),
                    "sqlite3": lambda op=operation: _sqlite3_loop(path, op, operations),
                },
            )
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
                "service, sequential": lambda: asyncio.run(_service_loop(path, "set", operations)),
                "service, 50 tasks": lambda: asyncio.run(
                    _service_concurrent(path, operations, TASKS)
                ),
                "aiosqlite, sequential": lambda: asyncio.run(
                    _aiosqlite_loop(path, "set", operations)
                ),
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
    return {"calls": rows, "concurrent": concurrent, "tasks": TASKS}


async def _prepare(path: Path, operations: int) -> None:
    async with KVService.open(path) as kv:
        await kv.set_many(PLUGIN, {f"user:{n:06}": {"n": n} for n in range(operations)})


async def _timed(count: int, call: Callable[[int], Awaitable[object]]) -> float:
    started = time.perf_counter()
    for n in range(count):
        await call(n)
    return (time.perf_counter() - started) / count


async def _service_loop(path: Path, operation: str, count: int) -> float:
    async with KVService.open(path) as kv:
        calls: dict[str, Callable[[int], Awaitable[object]]] = {
            "set": lambda n: kv.set(PLUGIN, f"user:{n:06}", {"n": n}),
            "get": lambda n: kv.get(PLUGIN, f"user:{n:06}"),
            "count": lambda n: kv.count(PLUGIN, "user:00001"),
            "list_keys": lambda n: kv.list_keys(PLUGIN, "user:00001"),
        }
        return await _timed(count, calls[operation])


async def _aiosqlite_loop(path: Path, operation: str, count: int) -> float:
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA synchronous=NORMAL")
        now = time.time()
        calls: dict[str, Callable[[int], Awaitable[object]]] = {
            "set": lambda n: db.execute(UPSERT, (PLUGIN, f"user:{n:06}", f'{{"n":{n}}}', None)),
            "get": lambda n: db.execute_fetchall(GET, (PLUGIN, f"user:{n:06}", now)),
            "count": lambda n: db.execute_fetchall(
                COUNT, (PLUGIN, "user:00001", "user:00002", now)
            ),
            "list_keys": lambda n: db.execute_fetchall(
                COUNT.replace("count(*)", "key") + " ORDER BY key",
                (PLUGIN, "user:00001", "user:00002", now),
            ),
        }
        return await _timed(count, calls[operation])


def _sqlite3_loop(path: Path, operation: str, count: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    now = time.time()
    started = time.perf_counter()
    for n in range(count):
        if operation == "set":
            db.execute(UPSERT, (PLUGIN, f"user:{n:06}", f'{{"n":{n}}}', None))
        elif operation == "get":
            db.execute(GET, (PLUGIN, f"user:{n:06}", now)).fetchall()
        elif operation == "count":
            db.execute(COUNT, (PLUGIN, "user:00001", "user:00002", now)).fetchall()
        else:
            sql = COUNT.replace("count(*)", "key") + " ORDER BY key"
            db.execute(sql, (PLUGIN, "user:00001", "user:00002", now)).fetchall()
    elapsed = (time.perf_counter() - started) / count
    db.close()
    return elapsed


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

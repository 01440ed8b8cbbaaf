"""PostgreSQL through `KVService`, against bare asyncpg on one connection (the driver floor).

Part of ``python -m benchmarks`` when a server answers at ``PLUGIN_KV_TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``); alone: ``python -m
benchmarks.postgres_throughput``. It writes under namespaces of its own and removes them.

Per call, the service and a bare asyncpg connection stay open in one event loop and take
turns of `BLOCK` calls (who goes first alternating), so a slow patch of a shared machine, or
of the server, hits both alike. The floor sends the service's own statements, with the JSON
already encoded and decoded by hand: what the service adds is its checks, its encoding and
lending a connection (timed by one watchdog per loop, so neither side arms a timer per
query).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

from plugin_kv import KVService
from plugin_kv_dev import POSTGRES_URL as URL
from plugin_kv_dev.postgres import postgres_unavailable

from ._stats import Sample, interleave, progress, ratio

OPERATIONS = ("set", "get", "count", "list_keys")
PER_CALL_GOAL = 1.2
"""Each call at most this many times bare asyncpg doing the same job."""
BLOCK = 50
"""Calls per turn when the service and bare asyncpg take turns."""
KEYS = 100
"""Keys in the namespace that ``count`` and ``list_keys`` read (a prefix selects 10)."""

UPSERT = (
    "INSERT INTO plugin_kv_entries (plugin, key, value, expires_at) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (plugin, key) DO UPDATE SET value = EXCLUDED.value,"
    " expires_at = EXCLUDED.expires_at"
)
GET = (
    "SELECT value FROM plugin_kv_entries WHERE plugin = $1 AND key = $2"
    " AND (expires_at IS NULL OR expires_at > $3)"
)
COUNT = (
    "SELECT count(*) FROM plugin_kv_entries WHERE plugin = $1 AND key >= $2 AND key < $3"
    " AND (expires_at IS NULL OR expires_at > $4)"
)
LIST = (
    "SELECT key FROM plugin_kv_entries WHERE plugin = $1 AND key >= $2 AND key < $3"
    " AND (expires_at IS NULL OR expires_at > $4) ORDER BY key LIMIT $5"
)


def unreachable() -> str | None:
    """Return why PostgreSQL cannot be measured here, or None when it can."""
    return postgres_unavailable(URL)


def measure_postgres(rounds: int, operations: int, keys: int) -> dict[str, Any]:
    """Return per-call costs (service against asyncpg) and cleanup costs on PostgreSQL."""
    calls = []
    for operation in OPERATIONS:
        samples = _paired_rounds(operation, rounds, operations)
        calls.append(
            {
                "operation": operation,
                "service_us": samples["service"].median * 1e6,
                "driver_us": samples["asyncpg"].median * 1e6,
                "service_over_driver": ratio(samples["service"], samples["asyncpg"]).summary(),
            }
        )
    samples = interleave(
        f"PostgreSQL: remove {keys:,} keys",
        rounds,
        {
            "clear()": lambda: asyncio.run(_removal("clear", keys)),
            "list, then delete one by one": lambda: asyncio.run(_removal("one by one", keys)),
            "one bare DELETE (asyncpg)": lambda: asyncio.run(_removal("bare", keys)),
        },
    )
    clear = samples["clear()"]
    cleanup = {
        "keys": keys,
        "clear_ms": clear.median * 1e3,
        "one_by_one_ms": samples["list, then delete one by one"].median * 1e3,
        "bare_delete_ms": samples["one bare DELETE (asyncpg)"].median * 1e3,
        "one_by_one_over_clear": ratio(samples["list, then delete one by one"], clear).summary(),
        "clear_over_bare_delete": ratio(clear, samples["one bare DELETE (asyncpg)"]).summary(),
    }
    return {"url": URL.split("@")[-1], "calls": calls, "cleanup": cleanup}


def postgres_goals(postgres: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the per-call goal of each operation, in the shape of the goals table's rows."""
    return [
        {
            "what": f"PostgreSQL `{row['operation']}` against bare asyncpg on one connection",
            "goal": f"≤ {PER_CALL_GOAL:g}×",
            "measured": row["service_over_driver"]["median"],
            "spread": row["service_over_driver"]["spread"],
            "met": row["service_over_driver"]["median"] <= PER_CALL_GOAL,
        }
        for row in postgres.get("calls", [])
    ]


def _paired_rounds(operation: str, rounds: int, count: int) -> dict[str, Sample]:
    """Time ``count`` calls of ``operation`` per round, the service and asyncpg in turns."""
    values: dict[str, list[float]] = {"service": [], "asyncpg": []}
    for round_number in range(1, rounds + 1):
        progress(f"PostgreSQL {operation}: round {round_number}/{rounds}")
        for who, seconds in asyncio.run(_turns(operation, count)).items():
            values[who].append(seconds)
    progress(f"PostgreSQL {operation}: done ({rounds} rounds)", end=True)
    return {who: Sample(who, found) for who, found in values.items()}


async def _turns(operation: str, count: int) -> dict[str, float]:
    """Return seconds per call of the service and of bare asyncpg, over ``count`` calls each."""
    import asyncpg

    plugin = f"bench.{uuid4().hex}"
    async with KVService.open(URL) as kv:
        await kv.set_many(plugin, {f"key:{n:05d}": {"n": n} for n in range(KEYS)})
        db = await asyncpg.connect(URL)
        try:

            async def service_call(n: int) -> object:
                key = f"key:{n % KEYS:05d}"
                if operation == "set":
                    await kv.set(plugin, key, {"n": n, "round": 2})
                    return None
                if operation == "get":
                    return await kv.get(plugin, key)
                if operation == "count":
                    return await kv.count(plugin, prefix="key:0001")
                return await kv.list_keys(plugin, prefix="key:0001")

            async def driver_call(n: int) -> object:
                key = f"key:{n % KEYS:05d}"
                if operation == "set":
                    text = json.dumps({"n": n, "round": 2}, separators=(",", ":"))
                    return await db.execute(UPSERT, plugin, key, text, None)
                if operation == "get":
                    found = await db.fetchval(GET, plugin, key, time.time())
                    return None if found is None else json.loads(found)
                if operation == "count":
                    return await db.fetchval(COUNT, plugin, "key:0001", "key:0002", time.time())
                rows = await db.fetch(LIST, plugin, "key:0001", "key:0002", time.time(), None)
                return [row[0] for row in rows]

            ways: dict[str, Callable[[int], Awaitable[object]]] = {
                "service": service_call,
                "asyncpg": driver_call,
            }
            for call in ways.values():  # warm: connections open, statements prepared
                await call(0)
            spent = dict.fromkeys(ways, 0.0)
            names = list(ways)
            for turn, start in enumerate(range(0, count, BLOCK)):
                calls = range(start, min(start + BLOCK, count))
                for who in names[turn % 2 :] + names[: turn % 2]:
                    started = time.perf_counter()
                    for n in calls:
                        await ways[who](n)
                    spent[who] += time.perf_counter() - started
            return {who: seconds / count for who, seconds in spent.items()}
        finally:
            await db.close()
            await kv.clear(plugin)


async def _removal(how: str, keys: int) -> float:
    """Return the seconds it takes to remove a namespace of ``keys`` keys."""
    import asyncpg

    plugin = f"bench.{uuid4().hex}"
    async with KVService.open(URL) as kv:
        await kv.set_many(plugin, {f"key:{n:05d}": n for n in range(keys)})
        await kv.count(plugin)  # warm
        db = await asyncpg.connect(URL)
        try:
            started = time.perf_counter()
            if how == "clear":
                removed = await kv.clear(plugin)
            elif how == "bare":
                status = await db.execute("DELETE FROM plugin_kv_entries WHERE plugin = $1", plugin)
                removed = int(status.split()[-1])
            else:
                removed = 0
                for key in await kv.list_keys(plugin):
                    removed += await kv.delete(plugin, key)
            elapsed = time.perf_counter() - started
            assert removed == keys, f"removed {removed} of {keys} keys"
            return elapsed
        finally:
            await db.close()
            await kv.clear(plugin)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.postgres_throughput")
    parser.add_argument("--rounds", type=int, default=5, help="repeats of each measurement")
    parser.add_argument("--operations", type=int, default=1000, help="calls per round")
    parser.add_argument("--keys", type=int, default=10_000, help="keys in the cleared namespace")
    args = parser.parse_args()
    reason = unreachable()
    if reason is not None:
        raise SystemExit(f"PostgreSQL at {URL} is not reachable: {reason}")
    results = measure_postgres(args.rounds, args.operations, args.keys)
    for row in results["calls"]:
        summary = row["service_over_driver"]
        print(
            f"{row['operation']:<9} service {row['service_us']:.0f} µs, asyncpg"
            f" {row['driver_us']:.0f} µs: {summary['median']:.2f}× ± {summary['spread']:.0%}"
            f" (goal ≤ {PER_CALL_GOAL:g}×)"
        )
    cleanup = results["cleanup"]
    print(
        f"remove {cleanup['keys']:,} keys: clear() {cleanup['clear_ms']:.1f} ms, one by one"
        f" {cleanup['one_by_one_ms']:.0f} ms, bare DELETE {cleanup['bare_delete_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()

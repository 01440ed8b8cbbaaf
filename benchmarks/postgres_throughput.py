"""PostgreSQL through `KVService`, against bare asyncpg on one connection (the driver floor).

Part of ``python -m benchmarks`` when a server answers at ``PLUGIN_KV_TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``); alone: ``python -m
benchmarks.postgres_throughput``. It writes under namespaces of its own and removes them.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any
from uuid import uuid4

from plugin_kv import KVService
from plugin_kv_dev import POSTGRES_URL as URL
from plugin_kv_dev.postgres import postgres_unavailable

from ._stats import interleave, ratio

UPSERT = (
    "INSERT INTO plugin_kv_entries (plugin, key, value, expires_at) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (plugin, key) DO UPDATE SET value = EXCLUDED.value,"
    " expires_at = EXCLUDED.expires_at"
)
GET = (
    "SELECT value FROM plugin_kv_entries WHERE plugin = $1 AND key = $2"
    " AND (expires_at IS NULL OR expires_at > $3)"
)


def unreachable() -> str | None:
    """Return why PostgreSQL cannot be measured here, or None when it can."""
    return postgres_unavailable(URL)


def measure_postgres(rounds: int, operations: int, keys: int) -> dict[str, Any]:
    """Return per-call costs (service against asyncpg) and cleanup costs on PostgreSQL."""
    calls = []
    for operation in ("set", "get"):
        samples = interleave(
            f"PostgreSQL {operation}",
            rounds,
            {
                "service": lambda op=operation: asyncio.run(_service(op, operations)),
                "asyncpg": lambda op=operation: asyncio.run(_asyncpg(op, operations)),
            },
        )
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


async def _service(operation: str, operations: int) -> float:
    """Return seconds per call of ``operations`` sequential service calls of one kind."""
    plugin = f"bench.{uuid4().hex}"
    async with KVService.open(URL) as kv:
        await kv.set_many(plugin, {f"key:{n}": {"n": n} for n in range(operations)})
        await kv.get(plugin, "key:0")  # warm: the pool has its connection
        try:
            started = time.perf_counter()
            if operation == "set":
                for n in range(operations):
                    await kv.set(plugin, f"key:{n}", {"n": n, "round": 2})
            else:
                for n in range(operations):
                    await kv.get(plugin, f"key:{n}")
            return (time.perf_counter() - started) / operations
        finally:
            await kv.clear(plugin)


async def _asyncpg(operation: str, operations: int) -> float:
    """The floor: the same statements through one bare asyncpg connection."""
    import asyncpg

    plugin = f"bench.{uuid4().hex}"
    async with KVService.open(URL) as kv:  # fill and clean through the service
        await kv.set_many(plugin, {f"key:{n}": {"n": n} for n in range(operations)})
        db = await asyncpg.connect(URL)
        try:
            await db.fetchval(GET, plugin, "key:0", time.time())
            started = time.perf_counter()
            if operation == "set":
                for n in range(operations):
                    await db.execute(UPSERT, plugin, f"key:{n}", f'{{"n":{n},"round":2}}', None)
            else:
                for n in range(operations):
                    await db.fetchval(GET, plugin, f"key:{n}", time.time())
            return (time.perf_counter() - started) / operations
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
    parser.add_argument("--operations", type=int, default=2000, help="calls per round")
    parser.add_argument("--keys", type=int, default=10_000, help="keys in the cleared namespace")
    args = parser.parse_args()
    reason = unreachable()
    if reason is not None:
        raise SystemExit(f"PostgreSQL at {URL} is not reachable: {reason}")
    results = measure_postgres(args.rounds, args.operations, args.keys)
    for row in results["calls"]:
        print(
            f"{row['operation']:<6} service {row['service_us']:.0f} µs, asyncpg"
            f" {row['driver_us']:.0f} µs: {row['service_over_driver']['median']:.2f}×"
        )
    cleanup = results["cleanup"]
    print(
        f"remove {cleanup['keys']:,} keys: clear() {cleanup['clear_ms']:.1f} ms, one by one"
        f" {cleanup['one_by_one_ms']:.0f} ms, bare DELETE {cleanup['bare_delete_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()

"""Prefix queries over 100,000 keys: the key range the service uses, against ``LIKE``."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from plugin_kv import KVService

from ._stats import interleave, ratio

PLUGIN = "bench"
PREFIX = "user:0042"  # 100 of the 100,000 keys
LIVE = "(expires_at IS NULL OR expires_at > ?)"
RANGE = f"plugin = ? AND key >= ? AND key < ? AND {LIVE}"
RANGE_SQL = {
    "count": f"SELECT count(*) FROM kv_entries WHERE {RANGE}",
    "list": f"SELECT key FROM kv_entries WHERE {RANGE} ORDER BY key",
}
LIKE_SQL = {
    "count": f"SELECT count(*) FROM kv_entries WHERE plugin = ? AND key LIKE ? AND {LIVE}",
    "list": f"SELECT key FROM kv_entries WHERE plugin = ? AND key LIKE ? AND {LIVE} ORDER BY key",
}


def measure_prefix(rounds: int, keys: int = 100_000, calls: int = 200) -> list[dict[str, Any]]:
    """Return per-query seconds of prefix count and list: service, raw range, raw LIKE."""
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        asyncio.run(_fill(path, keys))
        for query in ("count", "list"):
            samples = interleave(
                f"prefix {query} over {keys:,} keys",
                rounds,
                {
                    "service": lambda q=query: asyncio.run(_service(path, q, calls)),
                    "sqlite3 key range": lambda q=query: _raw(path, q, calls, like=False),
                    "sqlite3 LIKE": lambda q=query: _raw(path, q, calls, like=True),
                },
            )
            rows.append(
                {
                    "query": query,
                    "keys": keys,
                    "matching": 100,
                    "service_us": samples["service"].median * 1e6,
                    "range_us": samples["sqlite3 key range"].median * 1e6,
                    "like_us": samples["sqlite3 LIKE"].median * 1e6,
                    "like_over_range": ratio(
                        samples["sqlite3 LIKE"], samples["sqlite3 key range"]
                    ).summary(),
                    "service_over_range": ratio(
                        samples["service"], samples["sqlite3 key range"]
                    ).summary(),
                }
            )
    return rows


async def _fill(path: Path, keys: int) -> None:
    async with KVService.open(path) as kv:
        await kv.set_many(PLUGIN, {f"user:{n:06}": n for n in range(keys)})
        await kv.set_many("other", {f"user:{n:06}": n for n in range(1000)})


async def _service(path: Path, query: str, calls: int) -> float:
    async with KVService.open(path) as kv:
        await kv.count("warm")
        started = time.perf_counter()
        for _ in range(calls):
            if query == "count":
                assert await kv.count(PLUGIN, PREFIX) == 100
            else:
                assert len(await kv.list_keys(PLUGIN, PREFIX)) == 100
        return (time.perf_counter() - started) / calls


def _raw(path: Path, query: str, calls: int, *, like: bool) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    now = time.time()
    if like:  # LIKE would be case-insensitive and treat _ and % as wildcards: the bug we avoid
        sql, params = LIKE_SQL[query], (PLUGIN, PREFIX + "%", now)
    else:
        sql, params = RANGE_SQL[query], (PLUGIN, PREFIX, "user:0043", now)
    started = time.perf_counter()
    for _ in range(calls):
        db.execute(sql, params).fetchall()
    elapsed = (time.perf_counter() - started) / calls
    db.close()
    return elapsed

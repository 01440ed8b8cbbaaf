"""Prefix queries over 100,000 keys: the key range the service uses, against ``LIKE``."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from plugin_kv import KVService

from ._report import Figure, Goal
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


@dataclasses.dataclass(frozen=True)
class PrefixRow:
    """One prefix query: the service, the key range it uses, and ``LIKE``, raw."""

    query: str
    keys: int
    matching: int
    service_us: float
    range_us: float
    like_us: float
    like_over_range: Figure
    service_over_range: Figure

    def row(self) -> str:
        return (
            f"| {self.query} | {self.service_us:.1f} | {self.range_us:.1f} | {self.like_us:.1f}"
            f" | {self.like_over_range} | {self.service_over_range} |"
        )


@dataclasses.dataclass(frozen=True)
class Prefix:
    """The prefix-query section of the report (no goal: it shows why key ranges)."""

    rows: list[PrefixRow]
    name: str = "prefix"

    def goals(self) -> list[Goal]:
        return []

    def markdown(self) -> list[str]:
        keys = self.rows[0].keys if self.rows else 0
        return [
            f"**Prefix queries**: 100 matching keys among {keys:,} in the namespace (file store):",
            "",
            "| query | service µs | sqlite3 key range µs | sqlite3 `LIKE` µs | `LIKE` / range"
            " | service / range |",
            "|---|---:|---:|---:|---:|---:|",
            *(row.row() for row in self.rows),
        ]


def measure_prefix(rounds: int, keys: int = 100_000, calls: int = 200) -> Prefix:
    """Return per-query seconds of prefix count and list: service, raw range, raw LIKE."""
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        asyncio.run(_fill(path, keys))
        for query in ("count", "list"):
            ways: dict[str, Callable[[], float]] = {
                "service": functools.partial(_run_service, path, query, calls),
                "sqlite3 key range": functools.partial(_raw, path, query, calls, like=False),
                "sqlite3 LIKE": functools.partial(_raw, path, query, calls, like=True),
            }
            samples = interleave(f"prefix {query} over {keys:,} keys", rounds, ways)
            rows.append(
                PrefixRow(
                    query=query,
                    keys=keys,
                    matching=100,
                    service_us=samples["service"].median * 1e6,
                    range_us=samples["sqlite3 key range"].median * 1e6,
                    like_us=samples["sqlite3 LIKE"].median * 1e6,
                    like_over_range=Figure.of(
                        ratio(samples["sqlite3 LIKE"], samples["sqlite3 key range"])
                    ),
                    service_over_range=Figure.of(
                        ratio(samples["service"], samples["sqlite3 key range"])
                    ),
                )
            )
    return Prefix(rows)


async def _fill(path: Path, keys: int) -> None:
    async with KVService.open(path) as kv:
        await kv.set_many(PLUGIN, {f"user:{n:06}": n for n in range(keys)})
        await kv.set_many("other", {f"user:{n:06}": n for n in range(1000)})


def _run_service(path: Path, query: str, calls: int) -> float:
    return asyncio.run(_service(path, query, calls))


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
    params: tuple[object, ...]
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

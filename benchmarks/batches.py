"""Batches against raw sqlite3: `set_many` against ``executemany``, `get_many` against ``IN``."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from plugin_kv import KVService

from ._report import Figure, Goal
from ._stats import interleave, ratio
from .calls import COMPACT_JSON, UPSERT

PLUGIN = "bench"
GET_MANY = (
    "SELECT key, value FROM kv_entries WHERE plugin = ? AND key IN ({})"
    " AND (expires_at IS NULL OR expires_at > ?)"
)


SET_MANY_GOAL = 0.8
"""`set_many` throughput: at least this fraction of raw sqlite3 ``executemany``'s."""


@dataclasses.dataclass(frozen=True)
class BatchRow:
    """One batch call against its raw sqlite3 floor."""

    call: str
    floor: str
    keys: int
    service_us_per_key: float
    floor_us_per_key: float
    throughput_vs_floor: Figure
    """Throughput of the service as a fraction of the floor's: floor time / ours."""

    def row(self) -> str:
        return (
            f"| `{self.call}` | {self.keys:,} | {self.service_us_per_key:.2f} | {self.floor}"
            f" | {self.floor_us_per_key:.2f} | {self.throughput_vs_floor} |"
        )


@dataclasses.dataclass(frozen=True)
class Batches:
    """The batches section of the report."""

    rows: list[BatchRow]
    name: str = "batches"

    def goals(self) -> list[Goal]:
        return [
            Goal.check(
                "`set_many` throughput against raw sqlite3 `executemany`",
                f"≥ {SET_MANY_GOAL}×",
                row.throughput_vs_floor,
                lambda x: x >= SET_MANY_GOAL,
            )
            for row in self.rows
            if row.call == "set_many"
        ]

    def markdown(self) -> list[str]:
        return [
            "**Batches**, one call for all keys:",
            "",
            "| call | keys | service µs / key | floor | floor µs / key | throughput / floor's |",
            "|---|---:|---:|---|---:|---:|",
            *(row.row() for row in self.rows),
        ]


def measure_batches(rounds: int, size: int) -> Batches:
    """Return seconds per key of batch writes and reads, service against raw sqlite3."""
    items = {f"item:{n:06}": {"n": n, "tags": ["a", "b"]} for n in range(size)}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        asyncio.run(_service_set_many(path, items))  # creates the schema, warms the file
        samples = interleave(
            f"batches of {size:,} keys",
            rounds,
            {
                "service set_many": lambda: asyncio.run(_service_set_many(path, items)),
                "sqlite3 executemany": lambda: _sqlite3_executemany(path, items),
                "service get_many": lambda: asyncio.run(_service_get_many(path, list(items))),
                "sqlite3 SELECT ... IN": lambda: _sqlite3_select(path, list(items)),
            },
        )
    rows = []
    for call, floor in (
        ("service set_many", "sqlite3 executemany"),
        ("service get_many", "sqlite3 SELECT ... IN"),
    ):
        rows.append(
            BatchRow(
                call=call.removeprefix("service "),
                floor=floor,
                keys=size,
                service_us_per_key=samples[call].median / size * 1e6,
                floor_us_per_key=samples[floor].median / size * 1e6,
                throughput_vs_floor=Figure.of(ratio(samples[floor], samples[call])),
            )
        )
    return Batches(rows)


def _checkpoint(path: Path) -> None:
    """Empty the WAL into the file, so no timed write pays for a checkpoint it did not cause.

    SQLite checkpoints when the WAL passes 1,000 pages; a batch of 10,000 keys fills about
    an eighth of that, so unchecked, a checkpoint lands in a random round of either side.
    """
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


async def _service_set_many(path: Path, items: dict[str, Any]) -> float:
    _checkpoint(path)
    async with KVService.open(path) as kv:
        started = time.perf_counter()
        await kv.set_many(PLUGIN, items)
        return time.perf_counter() - started


async def _service_get_many(path: Path, keys: list[str]) -> float:
    async with KVService.open(path) as kv:
        started = time.perf_counter()
        found = await kv.get_many(PLUGIN, keys)
        elapsed = time.perf_counter() - started
        assert len(found) == len(keys)
        return elapsed


def _sqlite3_executemany(path: Path, items: dict[str, Any]) -> float:
    """The floor for writes: encode the JSON, then one executemany in one transaction."""

    _checkpoint(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    rows = [(PLUGIN, key, COMPACT_JSON(value), None) for key, value in items.items()]
    db.execute("BEGIN IMMEDIATE")
    db.executemany(UPSERT, rows)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def _sqlite3_select(path: Path, keys: list[str]) -> float:
    """The floor for reads: the same chunked ``IN`` query, then decode the JSON."""
    import json

    db = sqlite3.connect(path, isolation_level=None)
    started = time.perf_counter()
    now = time.time()
    found: dict[str, Any] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        sql = GET_MANY.format(", ".join("?" * len(chunk)))
        found.update(
            (key, json.loads(text)) for key, text in db.execute(sql, (PLUGIN, *chunk, now))
        )
    elapsed = time.perf_counter() - started
    db.close()
    assert len(found) == len(keys)
    return elapsed

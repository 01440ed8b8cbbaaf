"""Gathered `set`s against their limit: the same coroutines, then one `executemany`.

Two sizes, 50 and 3,000 single `set`s gathered at once on a file store. The limit does what
no service can beat: the same number of coroutines gathered, each only encoding its value
(``json.dumps``), then one aiosqlite ``executemany`` of all the rows in one transaction. Both
ways take turns in one event loop on one file (the order rotating every turn), so that a busy
moment of the machine hits them alike; the figure is the per-round ratio of the service's
cost per set to the limit's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite

from plugin_kv import KVService

from ._report import Figure, Goal
from ._stats import Sample, progress, ratio
from .calls import PLUGIN, UPSERT

GOAL = 1.3
"""Gathered sets may cost at most this much their limit."""
SIZES = {"50 single sets gathered at once": 50, "3,000 single sets gathered at once": 3000}
"""Each shape, and the sets gathered at once."""
SETS_PER_TURN = 3000
"""Sets each way writes per turn (the 50 are gathered 60 times over)."""


@dataclasses.dataclass(frozen=True)
class ConcurrencyRow:
    """One size of gathered sets against its limit, over the same rounds."""

    shape: str
    limit_us: float
    service_us: float
    over_limit: Figure
    """Service cost per set over the limit's, per round."""

    def goal(self) -> Goal:
        return Goal.check(
            f"{self.shape} against their limit (the same coroutines only encoding, then one"
            " `executemany` in one transaction), file store",
            f"≤ {GOAL:g}×",
            self.over_limit,
            lambda x: x <= GOAL,
        )

    def row(self) -> str:
        return f"| {self.shape} | {self.limit_us:.1f} | {self.service_us:.1f} | {self.over_limit} |"


@dataclasses.dataclass(frozen=True)
class Concurrency:
    """The gathered-writers section of the report."""

    rows: list[ConcurrencyRow]
    turns: int
    name: str = "concurrency"

    def goals(self) -> list[Goal]:
        return [row.goal() for row in self.rows]

    def markdown(self) -> list[str]:
        return [
            "**Gathered writers**: `set`s gathered at once against their limit (the same"
            " coroutines gathered, each only encoding its value, then one aiosqlite"
            " `executemany` of all rows in one transaction), file store, both ways taking"
            f" turns ({self.turns} a round, {SETS_PER_TURN:,} sets each):",
            "",
            "| gathered | limit µs / set | service µs / set | service / limit |",
            "|---|---:|---:|---:|",
            *(row.row() for row in self.rows),
        ]


def measure_concurrency(rounds: int, operations: int) -> Concurrency:
    """Return the cost of each size of gathered sets over its limit."""
    turns = max(operations // 1000, 2)
    names = [f"{way} {shape}" for shape in SIZES for way in ("service", "limit")]
    values: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        for round_number in range(1, rounds + 1):
            progress(f"gathered sets: round {round_number}/{rounds}")
            for name, seconds in asyncio.run(_round(path, turns)).items():
                values[name].append(seconds)
    progress(f"gathered sets: done ({rounds} rounds)", end=True)
    samples = {name: Sample(name, found) for name, found in values.items()}
    rows = []
    for shape in SIZES:
        service, limit = samples[f"service {shape}"], samples[f"limit {shape}"]
        rows.append(
            ConcurrencyRow(
                shape=shape,
                limit_us=limit.median * 1e6,
                service_us=service.median * 1e6,
                over_limit=Figure.of(ratio(service, limit)),
            )
        )
    return Concurrency(rows, turns)


async def _round(path: Path, turns: int) -> dict[str, float]:
    """Return seconds per set of each way, over ``turns`` turns taken in rotating order."""
    async with KVService.open(path) as kv, aiosqlite.connect(path) as db:
        await db.execute("PRAGMA synchronous=NORMAL")
        counter = iter(range(10**9))

        def key() -> str:
            return f"user:{next(counter) % 20_000:05}"

        def service(size: int) -> Callable[[], Awaitable[None]]:
            async def gathered() -> None:
                for _ in range(SETS_PER_TURN // size):
                    await asyncio.gather(*(kv.set(PLUGIN, key(), {"v": 1}) for _ in range(size)))

            return gathered

        async def encode(key: str) -> tuple[str, str, str, None]:
            return (PLUGIN, key, json.dumps({"v": 1}), None)

        def limit(size: int) -> Callable[[], Awaitable[None]]:
            async def gathered() -> None:
                for _ in range(SETS_PER_TURN // size):
                    rows = await asyncio.gather(*(encode(key()) for _ in range(size)))
                    await db.executemany(UPSERT, rows)  # opens the transaction
                    await db.commit()

            return gathered

        ways: dict[str, Callable[[], Awaitable[None]]] = {}
        for shape, size in SIZES.items():
            ways[f"service {shape}"] = service(size)
            ways[f"limit {shape}"] = limit(size)
        for way in ways.values():  # warm the file and both connections
            await way()
        spent = dict.fromkeys(ways, 0.0)
        names = list(ways)
        for turn in range(turns):
            shift = turn % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                await ways[name]()
                spent[name] += time.perf_counter() - started
    return {name: spent[name] / (turns * SETS_PER_TURN) for name in ways}

"""Concurrent `set`s against the same sets one after another, on a file store.

Three shapes of concurrency, each against sequential sets through the same service:
50 worker tasks each writing in a loop; 50 single sets gathered at once; 3,000 single sets
gathered at once. All four ways take turns in one event loop on one service (the order
rotating every turn), so that a busy moment of the machine hits them alike; the figure is
the per-round ratio of the sequential cost per set to the concurrent one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from plugin_kv import KVService

from ._report import Figure, Goal
from ._stats import Sample, progress, ratio

PLUGIN = "bench"
GOAL = 8.0
"""Throughput of concurrent sets: at least this many times the sequential sets'."""
MAX_SPREAD = 0.25
"""And measured steadily: a spread below this."""
SEQUENTIAL = "sets one after another"
SHAPES = {
    "50 worker tasks writing in a loop": 300,
    "50 single sets gathered at once": 300,
    "3,000 single sets gathered at once": 3000,
}
"""Each concurrent shape, and the sets it writes per turn."""
SEQUENTIAL_PER_TURN = 100


@dataclasses.dataclass(frozen=True)
class ConcurrencyRow:
    """One shape of concurrency against the sequential sets of the same rounds."""

    shape: str
    sequential_us: float
    concurrent_us: float
    gain: Figure
    """Throughput of the concurrent sets over the sequential ones', per round."""

    def goal(self) -> Goal:
        return Goal.check(
            f"{self.shape} against the same sets one after another, file store",
            f"≥ {GOAL:g}×, spread < {MAX_SPREAD:.0%}",
            self.gain,
            lambda x: x >= GOAL,
            max_spread=MAX_SPREAD,
        )

    def row(self) -> str:
        return (
            f"| {self.shape} | {self.sequential_us:.1f} | {self.concurrent_us:.1f} | {self.gain} |"
        )


@dataclasses.dataclass(frozen=True)
class Concurrency:
    """The concurrent-writers section of the report."""

    rows: list[ConcurrencyRow]
    turns: int
    name: str = "concurrency"

    def goals(self) -> list[Goal]:
        return [row.goal() for row in self.rows]

    def markdown(self) -> list[str]:
        return [
            "**Concurrent writers**: `set`s issued together against the same sets one after"
            f" another, file store, all ways taking turns ({self.turns} a round) on one service:",
            "",
            "| concurrency | sequential µs / set | concurrent µs / set | throughput gain |",
            "|---|---:|---:|---:|",
            *(row.row() for row in self.rows),
        ]


def measure_concurrency(rounds: int, operations: int) -> Concurrency:
    """Return the throughput gain of each shape of concurrent sets over sequential ones."""
    turns = max(operations // 300, 2)
    values: dict[str, list[float]] = {name: [] for name in (SEQUENTIAL, *SHAPES)}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        for round_number in range(1, rounds + 1):
            progress(f"concurrent sets: round {round_number}/{rounds}")
            for name, seconds in asyncio.run(_round(path, turns)).items():
                values[name].append(seconds)
    progress(f"concurrent sets: done ({rounds} rounds)", end=True)
    samples = {name: Sample(name, found) for name, found in values.items()}
    sequential = samples[SEQUENTIAL]
    rows = [
        ConcurrencyRow(
            shape=shape,
            sequential_us=sequential.median * 1e6,
            concurrent_us=samples[shape].median * 1e6,
            gain=Figure.of(ratio(sequential, samples[shape])),
        )
        for shape in SHAPES
    ]
    return Concurrency(rows, turns)


async def _round(path: Path, turns: int) -> dict[str, float]:
    """Return seconds per set of each way, over ``turns`` turns taken in rotating order."""
    async with KVService.open(path) as kv:
        counter = iter(range(10**9))

        def key() -> str:
            return f"user:{next(counter) % 20_000:05}"

        async def sequential() -> int:
            for _ in range(SEQUENTIAL_PER_TURN):
                await kv.set(PLUGIN, key(), {"v": 1})
            return SEQUENTIAL_PER_TURN

        async def workers() -> int:
            sets = SHAPES["50 worker tasks writing in a loop"]

            async def worker() -> None:
                for _ in range(sets // 50):
                    await kv.set(PLUGIN, key(), {"v": 1})

            await asyncio.gather(*(worker() for _ in range(50)))
            return sets

        async def gathered_50() -> int:
            sets = SHAPES["50 single sets gathered at once"]
            for _ in range(sets // 50):
                await asyncio.gather(*(kv.set(PLUGIN, key(), {"v": 1}) for _ in range(50)))
            return sets

        async def gathered_3000() -> int:
            sets = SHAPES["3,000 single sets gathered at once"]
            await asyncio.gather(*(kv.set(PLUGIN, key(), {"v": 1}) for _ in range(sets)))
            return sets

        ways: dict[str, Callable[[], Awaitable[int]]] = {
            SEQUENTIAL: sequential,
            "50 worker tasks writing in a loop": workers,
            "50 single sets gathered at once": gathered_50,
            "3,000 single sets gathered at once": gathered_3000,
        }
        await sequential()  # warm the file and the connection
        spent = dict.fromkeys(ways, 0.0)
        written = dict.fromkeys(ways, 0)
        names = list(ways)
        for turn in range(turns):
            shift = turn % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                written[name] += await ways[name]()
                spent[name] += time.perf_counter() - started
    return {name: spent[name] / written[name] for name in ways}

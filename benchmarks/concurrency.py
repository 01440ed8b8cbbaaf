"""Gathered `set`s against their limit: the same coroutines, then one `executemany`.

Two sizes, 50 and 3,000 single `set`s gathered at once on a file store. The limit does what
no service can beat: the same number of coroutines gathered, each only encoding its value
(``json.dumps``), then one aiosqlite ``executemany`` of all the rows in one transaction. Each
way runs alone in its turn, on its own connection to one file, so that its worker thread is
the only one (side by side, the scheduler would favour one connection's thread: see
`benchmarks.calls`); the order rotates every round, and the figure is the per-round ratio
of the service's cost per set to the limit's. The limit measured twice, the second time as a
control, shows what the method itself adds (1.00x when nothing).

A third way, the acknowledged limit, is the limit plus what every caller of a store pays
that the limit's coroutines do not: each waits on a future of its own, which one write of
all the rows resolves. It is no goal, but it splits the service's cost over the limit into
acknowledging each caller (the acknowledged limit over the limit) and the service's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import time
from pathlib import Path

import aiosqlite

from plugin_kv import KVService

from ._report import Figure, Goal
from ._stats import Sample, progress, ratio
from .calls import COMPACT_JSON, PLUGIN, UPSERT

GOAL = 1.3
"""Gathered sets may cost at most this much their limit."""
SIZES = {"50 single sets gathered at once": 50, "3,000 single sets gathered at once": 3000}
"""Each shape, and the sets gathered at once."""
WAYS = ("service", "limit", "control", "acknowledged")
"""The service, its limit, the limit again as a control, and the acknowledged limit."""
KEYS = 20_000
"""The keys the ways write, over and over."""
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
    control: Figure
    """The limit measured again over the limit: what the method adds."""
    over_acknowledged: Figure
    """Service cost per set over the acknowledged limit's, per round."""

    def goal(self) -> Goal:
        return Goal.check(
            f"{self.shape} against their limit (the same coroutines only encoding, then one"
            " `executemany` in one transaction), file store",
            f"≤ {GOAL:g}×",
            self.over_limit,
            lambda x: x <= GOAL,
        )

    def row(self) -> str:
        return (
            f"| {self.shape} | {self.limit_us:.1f} | {self.service_us:.1f} | {self.over_limit}"
            f" | {self.over_acknowledged} | {self.control} |"
        )


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
            " `executemany` of all rows in one transaction), file store, each way alone in"
            f" its turn ({self.turns} turns of {SETS_PER_TURN:,} sets a round). The"
            " acknowledged limit (no goal) is the limit plus what every caller of a store"
            " pays: each coroutine waits on a future that one write of all rows resolves. The"
            " control is the limit measured again, over the limit (1.00×: the method adds"
            " nothing):",
            "",
            "| gathered | limit µs / set | service µs / set | service / limit"
            " | service / acknowledged limit | control |",
            "|---|---:|---:|---:|---:|---:|",
            *(row.row() for row in self.rows),
        ]


def measure_concurrency(rounds: int, operations: int) -> Concurrency:
    """Return the cost of each size of gathered sets over its limit."""
    turns = max(operations // 1000, 2)
    names = [f"{way} {shape}" for shape in SIZES for way in WAYS]
    values: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        asyncio.run(_fill(path))
        for round_number in range(1, rounds + 1):
            progress(f"gathered sets: round {round_number}/{rounds}")
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                way, _, shape = name.partition(" ")
                values[name].append(asyncio.run(_alone(path, way, SIZES[shape], turns)))
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
                control=Figure.of(ratio(samples[f"control {shape}"], limit)),
                over_acknowledged=Figure.of(ratio(service, samples[f"acknowledged {shape}"])),
            )
        )
    return Concurrency(rows, turns)


async def _fill(path: Path) -> None:
    """Create the table and every key the ways write, so that each way only updates."""
    async with KVService.open(path) as kv:
        await kv.set_many(PLUGIN, {f"user:{n:05}": {"v": 1} for n in range(KEYS)})


async def _alone(path: Path, way: str, size: int, turns: int) -> float:
    """Return seconds per set of ``way`` gathering ``size`` sets at once, over ``turns`` turns.

    The way opens its own connection, warms it with one turn, then is timed.
    """
    counter = iter(range(10**9))

    def key() -> str:
        return f"user:{next(counter) % KEYS:05}"

    async with contextlib.AsyncExitStack() as stack:
        if way == "service":
            kv = await stack.enter_async_context(KVService.open(path))

            async def gathered() -> None:
                for _ in range(SETS_PER_TURN // size):
                    await asyncio.gather(*(kv.set(PLUGIN, key(), {"v": 1}) for _ in range(size)))

        else:  # the limit, its control, or the acknowledged limit
            db = await stack.enter_async_context(aiosqlite.connect(path))
            await db.execute("PRAGMA synchronous=NORMAL")

            async def encode(key: str) -> tuple[str, str, str, None]:
                return (PLUGIN, key, COMPACT_JSON({"v": 1}), None)

            async def write(rows: list[tuple[str, str, str, None]]) -> None:
                await db.executemany(UPSERT, rows)  # opens the transaction
                await db.commit()

            async def acknowledged() -> None:
                """Each caller queues its row and awaits its own future; one write answers all."""
                rows: list[tuple[str, str, str, None]] = []
                answers: list[asyncio.Future[None]] = []

                async def caller(key: str) -> None:
                    rows.append(await encode(key))
                    answers.append(asyncio.get_running_loop().create_future())
                    await answers[-1]

                async def writer() -> None:
                    await asyncio.sleep(0)  # once every caller has queued its row
                    await write(rows)
                    for answer in answers:
                        answer.set_result(None)

                await asyncio.gather(writer(), *(caller(key()) for _ in range(size)))

            async def gathered() -> None:
                for _ in range(SETS_PER_TURN // size):
                    if way == "acknowledged":
                        await acknowledged()
                    else:
                        await write(await asyncio.gather(*(encode(key()) for _ in range(size))))

        await gathered()  # warm the connection and the file
        started = time.perf_counter()
        for _ in range(turns):
            await gathered()
        return (time.perf_counter() - started) / (turns * SETS_PER_TURN)

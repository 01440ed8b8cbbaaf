"""Per-call cost of the service against the driver floor (aiosqlite) and raw sqlite3.

All on a file store (WAL, synchronous=NORMAL), where writes commit for real. The driver floor
does the same job by hand (``json.dumps``/``json.loads`` around one aiosqlite call); raw
sqlite3, the physical limit, only runs the statement. Each operation is measured twice: with
every thread pinned to one CPU, the ways in taking turns of `BLOCK` calls on connections open
side by side; and as the scheduler places them (as on a user's machine), each way alone in
its round, so that its worker thread is the only one (see `_alone`). A second aiosqlite
connection, measured the same way as the first, is the control: its ratio to the first
shows what the method itself adds (1.0 when it adds nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiosqlite

from plugin_kv import KVService

from ._report import Figure, Goal
from ._stats import Sample, one_cpu, progress, ratio

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
COMPACT_JSON = json.JSONEncoder(separators=(",", ":")).encode
"""JSON by hand, written as the service writes it (same bytes), with an encoder built once."""
OPERATIONS = ("set", "get", "count", "list_keys")
WAYS = ("service", "aiosqlite", "control", "sqlite3")
"""The ways in: the service, aiosqlite by hand, the same again (the control), raw sqlite3."""
BLOCK = 50
"""Calls per turn when the ways in take turns (pinned, see `_turns`)."""
GOAL = 1.1
"""The service may cost at most this much the driver doing the same job by hand."""
UNPINNED_ROUNDS = 4
"""Unpinned, this many times the rounds (each this many times shorter): see `measure_calls`."""


@dataclasses.dataclass(frozen=True)
class CallRow:
    """One operation, one thread placement: microseconds per call and the ratios."""

    operation: str
    pinned: bool
    service_us: float
    driver_us: float
    raw_us: float
    over_driver: Figure
    over_raw: Figure
    control: Figure
    """The second aiosqlite connection over the first: what the method adds."""

    def row(self) -> str:
        return (
            f"| `{self.operation}` | {'pinned' if self.pinned else 'unpinned'}"
            f" | {self.service_us:.1f} | {self.driver_us:.1f} | {self.raw_us:.1f}"
            f" | {self.over_driver} | {self.over_raw} | {self.control} |"
        )


@dataclasses.dataclass(frozen=True)
class Calls:
    """The per-call section of the report."""

    rows: list[CallRow]
    block: int
    name: str = "calls"

    def goals(self) -> list[Goal]:
        goals = []
        for pinned in (True, False):
            rows = [row for row in self.rows if row.pinned == pinned]
            if not rows:
                continue
            worst = max(rows, key=lambda row: row.over_driver.median)
            placement = "threads pinned to one CPU" if pinned else "threads not pinned"
            goals.append(
                Goal.check(
                    f"service over the driver doing the same job by hand, per call,"
                    f" {placement} (worst: `{worst.operation}`)",
                    f"≤ {GOAL}×",
                    worst.over_driver,
                    lambda x: x <= GOAL,
                )
            )
        return goals

    def markdown(self) -> list[str]:
        return [
            "**Per call**, file store (WAL, synchronous=NORMAL), sequential. Pinned: every"
            f" thread on one CPU, the ways in taking turns of {self.block} calls. Unpinned: as"
            " the scheduler places them, each way alone in its round (its worker thread the"
            f" only one; {UNPINNED_ROUNDS}× the rounds, each {UNPINNED_ROUNDS}× shorter)."
            " aiosqlite does the service's job by hand (`json.dumps` / `json.loads` around one"
            " call); sqlite3 only runs the statement; the control is a second aiosqlite"
            " connection measured the same way, over the first (1.00×: the method adds"
            " nothing):",
            "",
            "| operation | threads | service µs | aiosqlite µs | sqlite3 µs | service / aiosqlite"
            " | service / sqlite3 | control |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
            *(row.row() for row in self.rows),
        ]


def measure_calls(rounds: int, operations: int) -> Calls:
    """Return per-call costs: service against aiosqlite and sqlite3, pinned and not."""
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite3"
        asyncio.run(_prepare(path, operations))
        for operation in OPERATIONS:
            for pinned in (True, False):
                # Unpinned, each round draws where the scheduler puts the worker thread, and
                # that draw alone moves a round's figure twofold: take more rounds, each
                # shorter, so that the median settles.
                spread_out = 1 if pinned else UNPINNED_ROUNDS
                samples = _rounds(
                    path, operation, rounds * spread_out, operations // spread_out, pinned
                )
                service, driver, raw = samples["service"], samples["aiosqlite"], samples["sqlite3"]
                rows.append(
                    CallRow(
                        operation=operation,
                        pinned=pinned,
                        service_us=service.median * 1e6,
                        driver_us=driver.median * 1e6,
                        raw_us=raw.median * 1e6,
                        over_driver=Figure.of(ratio(service, driver)),
                        over_raw=Figure.of(ratio(service, raw)),
                        control=Figure.of(ratio(samples["control"], driver)),
                    )
                )
    return Calls(rows, BLOCK)


async def _prepare(path: Path, operations: int) -> None:
    async with KVService.open(path) as kv:
        await kv.set_many(PLUGIN, {f"user:{n:06}": {"n": n} for n in range(operations)})


def _rounds(path: Path, operation: str, rounds: int, count: int, pinned: bool) -> dict[str, Sample]:
    """Time ``count`` calls of ``operation`` per round through each way in.

    Pinned, the ways take turns on connections open side by side (`_turns`), so a slow patch
    of a shared machine hits them alike. Unpinned, that would compare placements, not ways:
    with two aiosqlite connections open at once doing identical work, the one opened first
    measured 1.5-2.2x the other, round after round (the scheduler keeps its worker thread
    where waking it costs more). So unpinned, each way runs alone (`_alone`), the order
    rotating every round.
    """
    values: dict[str, list[float]] = {who: [] for who in WAYS}
    label = f"{operation} ({'pinned' if pinned else 'unpinned'})"
    for round_number in range(1, rounds + 1):
        progress(f"{label}: round {round_number}/{rounds}")
        if pinned:
            with one_cpu():
                found = asyncio.run(_turns(path, operation, count))
        else:
            shift = round_number % len(WAYS)
            order = WAYS[shift:] + WAYS[:shift]
            found = {who: asyncio.run(_alone(path, operation, count, who)) for who in order}
        for who, seconds in found.items():
            values[who].append(seconds)
    progress(f"{label}: done ({rounds} rounds)", end=True)
    return {who: Sample(who, found) for who, found in values.items()}


async def _turns(path: Path, operation: str, count: int) -> dict[str, float]:
    """Return seconds per call of each way in, over ``count`` calls taken in turns."""
    async with contextlib.AsyncExitStack() as stack:
        ways = {who: await stack.enter_async_context(_way(path, operation, who)) for who in WAYS}
        spent = dict.fromkeys(ways, 0.0)
        for turn, start in enumerate(range(0, count, BLOCK)):
            calls = range(start, min(start + BLOCK, count))
            shift = turn % len(WAYS)
            for who in WAYS[shift:] + WAYS[:shift]:
                spent[who] += await timed(calls, ways[who])
    return {who: seconds / count for who, seconds in spent.items()}


async def _alone(path: Path, operation: str, count: int, who: str) -> float:
    """Return seconds per call of the way in ``who``, open alone for ``count`` calls."""
    async with _way(path, operation, who) as call:
        await call(0)  # the first call reads the schema: not timed
        return await timed(range(count), call) / count


@contextlib.asynccontextmanager
async def _way(
    path: Path, operation: str, who: str
) -> AsyncIterator[Callable[[int], Awaitable[object]]]:
    """Open the way in ``who`` (one of `WAYS`); yield its call of ``operation``."""
    now = time.time()

    def params(n: int) -> tuple[object, ...]:
        if operation == "set":
            return (PLUGIN, f"user:{n:06}", f'{{"n":{n}}}', None)
        if operation == "get":
            return (PLUGIN, f"user:{n:06}", now)
        return (PLUGIN, "user:00001", "user:00002", now)

    if who == "service":
        async with KVService.open(path) as kv:
            service_calls: dict[str, Callable[[int], Awaitable[object]]] = {
                "set": lambda n: kv.set(PLUGIN, f"user:{n:06}", {"n": n}),
                "get": lambda n: kv.get(PLUGIN, f"user:{n:06}"),
                "count": lambda n: kv.count(PLUGIN, "user:00001"),
                "list_keys": lambda n: kv.list_keys(PLUGIN, "user:00001"),
            }
            yield service_calls[operation]
    elif who == "sqlite3":
        raw_sql = {"set": UPSERT, "get": GET, "count": COUNT, "list_keys": LIST}[operation]
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("PRAGMA synchronous=NORMAL")

        async def raw_call(n: int) -> None:
            raw.execute(raw_sql, params(n)).fetchall()

        try:
            yield raw_call
        finally:
            raw.close()
    else:  # aiosqlite, or the control: the service's job by hand, with the same result
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await db.execute("PRAGMA synchronous=NORMAL")

            async def driver_set(n: int) -> None:
                await db.execute(
                    UPSERT,
                    (PLUGIN, f"user:{n:06}", COMPACT_JSON({"n": n}), None),
                )

            async def driver_get(n: int) -> object:
                rows = list(await db.execute_fetchall(GET, params(n)))
                return json.loads(rows[0][0]) if rows else None

            async def driver_count(n: int) -> object:
                rows = list(await db.execute_fetchall(COUNT, params(n)))
                return int(rows[0][0])

            async def driver_list(n: int) -> object:
                return [row[0] for row in await db.execute_fetchall(LIST, params(n))]

            driver_calls: dict[str, Callable[[int], Awaitable[object]]] = {
                "set": driver_set,
                "get": driver_get,
                "count": driver_count,
                "list_keys": driver_list,
            }
            yield driver_calls[operation]


async def timed(calls: range, call: Callable[[int], Awaitable[object]]) -> float:
    """Return the seconds that awaiting ``call(n)`` for each ``n`` in ``calls`` took."""
    started = time.perf_counter()
    for n in calls:
        await call(n)
    return time.perf_counter() - started

"""Per-test cost of the ready-made adapters, against the same statements written by hand.

What the fixtures ask of a ``kv_store`` after each test is ``clear`` and then ``list_keys``
(the check that the namespace is empty). Here each way does that to a namespace holding
`KEYS` keys, among `OTHERS` keys of another namespace, on the same store and the same
connection pool:

- SQLite file through SQLAlchemy: `TableNamespaces` on an `Engine` (pysqlite) and on an
  `AsyncEngine` (aiosqlite), against ``DELETE ... WHERE plugin = :ns`` and ``SELECT key ...
  WHERE plugin = :ns`` sent by hand through the same engine;
- Redis (when a server answers at ``PLUGIN_KV_TEST_REDIS_URL``): `PrefixNamespaces` on a
  `redis.Redis` and a `redis.asyncio.Redis`, against the same ``SCAN`` / ``UNLINK`` /
  ``SCAN`` loop written by hand with the same client.

The SQLite file is set up as the other benchmarks' file stores (WAL, ``synchronous=NORMAL``),
so a commit is not a flush to disk. A turn runs `BLOCK` cleanups each way, the adapter and
the hand-written statements taking turns cleanup by cleanup (the keys are written again,
untimed, before each), every thread on one CPU; each store and client has a turn a round.
The figure is the median of the per-round ratios. Alone:
``python -m benchmarks.ready_made`` (writes ``benchmarks/results/ready_made.md``, which the
isolation-strategies page includes; ``python -m benchmarks`` writes it too).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from plugin_kv.testing.redis import AsyncPrefixNamespaces, PrefixNamespaces, SyncPrefixNamespaces
from plugin_kv.testing.sqlalchemy import AsyncTableNamespaces, SyncTableNamespaces, TableNamespaces
from plugin_kv_dev.services import REDIS

from ._report import Figure, Goal
from ._stats import Sample, one_cpu, progress, ratio

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = ROOT / "benchmarks" / "results" / "ready_made.md"
GOAL = 1.1
"""The adapter's clear + check at most this many times the same statements by hand."""
KEYS = 3
"""Keys in the namespace a test leaves."""
OTHERS = 1000
"""Keys of another namespace in the same table or database."""
BLOCK = 100
"""Cleanups per turn."""

SCHEMA = "CREATE TABLE plugin_kv (plugin TEXT, key TEXT, value TEXT, PRIMARY KEY (plugin, key))"
DELETE = sa.text("DELETE FROM plugin_kv WHERE plugin = :ns")
SELECT = sa.text("SELECT key FROM plugin_kv WHERE plugin = :ns")
INSERT = sa.text("INSERT INTO plugin_kv VALUES (:ns, :key, :value)")


@dataclasses.dataclass(frozen=True)
class Row:
    """One store and kind of client: microseconds per cleanup, each way, and their ratio."""

    store: str
    client: str
    adapter_us: float
    hand_us: float
    adapter_over_hand: Figure

    def markdown(self) -> str:
        return (
            f"| {self.store} | {self.client} | {self.adapter_us:.0f} | {self.hand_us:.0f}"
            f" | {self.adapter_over_hand} |"
        )


@dataclasses.dataclass(frozen=True)
class ReadyMade:
    """The ready-made adapters' figures, as a section of the report."""

    rows: list[Row]
    skipped: list[str]
    name: str = "ready_made"

    def goals(self) -> list[Goal]:
        worst = max(self.rows, key=lambda row: row.adapter_over_hand.median)
        return [
            Goal.check(
                "ready-made adapter's clear + check against the same statements by hand"
                f" (worst: {worst.store}, {worst.client})",
                f"≤ {GOAL}×",
                worst.adapter_over_hand,
                lambda median: median <= GOAL,
            )
        ]

    def markdown(self) -> list[str]:
        lines = [
            f"**Ready-made adapters**: after each test, `clear` and `list_keys` of a namespace"
            f" holding {KEYS} keys, among {OTHERS:,} keys of another, against the same"
            f" statements written by hand on the same store and client (SQLite in WAL mode),"
            f" {BLOCK} cleanups each way a round, taking turns cleanup by cleanup, threads on"
            " one CPU:",
            "",
            "| store | client | adapter µs | by hand µs | adapter / by hand |",
            "|---|---|---:|---:|---:|",
            *(row.markdown() for row in self.rows),
        ]
        if self.skipped:
            lines += ["", *(f"Not measured: {reason}." for reason in self.skipped)]
        return lines


Pair = Callable[[], tuple[float, float]]
"""One turn: seconds per cleanup through the adapter, and by hand."""
Clean = Callable[[str], list[str]]


def cleanup(adapter: SyncTableNamespaces | SyncPrefixNamespaces) -> Clean:
    """The adapter's part of a test's cleanup: clear the namespace, then list what is left."""

    def run(namespace: str) -> list[str]:
        adapter.clear(namespace)
        return adapter.list_keys(namespace)

    return run


def cleanup_async(
    adapter: AsyncTableNamespaces | AsyncPrefixNamespaces,
) -> Callable[[str], Awaitable[list[str]]]:
    """`cleanup` for an adapter of coroutine methods."""

    async def run(namespace: str) -> list[str]:
        await adapter.clear(namespace)
        return await adapter.list_keys(namespace)

    return run


def paired_block(seed: Callable[[str], None], adapted: Clean, by_hand: Clean) -> Pair:
    """Return a turn of `BLOCK` cleanups each way, taking turns cleanup by cleanup.

    Before each cleanup its namespace is written, untimed; who goes first alternates.
    """

    def turn() -> tuple[float, float]:
        spent = [0.0, 0.0]
        for number in range(BLOCK):
            ways = [(0, adapted), (1, by_hand)]
            for side, clean in ways if number % 2 else reversed(ways):
                namespace = f"kvt.{secrets.token_hex(4)}.1.test_x"
                seed(namespace)
                started = time.perf_counter()
                left = clean(namespace)
                spent[side] += time.perf_counter() - started
                assert left == [], left
        return spent[0] / BLOCK, spent[1] / BLOCK

    return turn


def async_pair(
    loop: asyncio.AbstractEventLoop,
    seed: Callable[[str], Awaitable[None]],
    adapted: Callable[[str], Awaitable[list[str]]],
    by_hand: Callable[[str], Awaitable[list[str]]],
) -> Pair:
    """`paired_block` for coroutine functions, in ``loop``."""

    async def turn() -> tuple[float, float]:
        spent = [0.0, 0.0]
        for number in range(BLOCK):
            ways = [(0, adapted), (1, by_hand)]
            for side, clean in ways if number % 2 else reversed(ways):
                namespace = f"kvt.{secrets.token_hex(4)}.1.test_x"
                await seed(namespace)
                started = time.perf_counter()
                left = await clean(namespace)
                spent[side] += time.perf_counter() - started
                assert left == [], left
        return spent[0] / BLOCK, spent[1] / BLOCK

    return lambda: loop.run_until_complete(turn())


@contextmanager
def sqlite_turns(folder: Path, loop: asyncio.AbstractEventLoop) -> Iterator[dict[str, Pair]]:
    """Yield the SQLite turns: adapter and by hand, on an Engine and on an AsyncEngine."""
    path = folder / "store.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    async_engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    for each in (engine, async_engine.sync_engine):
        sa.event.listen(each, "connect", wal)
    with engine.begin() as db:
        db.execute(sa.text(SCHEMA))
        db.execute(INSERT, [{"ns": "other", "key": f"k{n}", "value": "1"} for n in range(OTHERS)])
    rows = [{"key": f"user:{n}", "value": '{"n": 1}'} for n in range(KEYS)]

    def seed(namespace: str) -> None:
        with engine.begin() as db:
            db.execute(INSERT, [{"ns": namespace, **row} for row in rows])

    async def seed_async(namespace: str) -> None:
        async with async_engine.begin() as db:
            await db.execute(INSERT, [{"ns": namespace, **row} for row in rows])

    def by_hand(namespace: str) -> list[str]:
        with engine.begin() as db:
            db.execute(DELETE, {"ns": namespace})
        with engine.connect() as db:
            return sorted(db.execute(SELECT, {"ns": namespace}).scalars())

    async def by_hand_async(namespace: str) -> list[str]:
        async with async_engine.begin() as db:
            await db.execute(DELETE, {"ns": namespace})
        async with async_engine.connect() as db:
            return sorted((await db.execute(SELECT, {"ns": namespace})).scalars())

    adapted = cleanup(TableNamespaces(engine, "plugin_kv"))
    adapted_async = cleanup_async(TableNamespaces(async_engine, "plugin_kv"))
    try:
        yield {
            "SQLite file|Engine": paired_block(seed, adapted, by_hand),
            "SQLite file|AsyncEngine": async_pair(loop, seed_async, adapted_async, by_hand_async),
        }
    finally:
        engine.dispose()
        loop.run_until_complete(dispose(async_engine))


def wal(connection: Any, _: object) -> None:
    """Set a new connection up as the file stores of the other benchmarks: WAL, NORMAL."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def dispose(engine: AsyncEngine) -> None:
    await engine.dispose()


@contextmanager
def redis_turns(loop: asyncio.AbstractEventLoop) -> Iterator[dict[str, Pair]]:
    """Yield the Redis turns: adapter and by hand, on a sync and an async client."""
    client = redis.Redis.from_url(REDIS.url)
    async_client = redis.asyncio.Redis.from_url(REDIS.url)
    others = f"bench-{secrets.token_hex(4)}"
    client.mset({f"{others}:k{n}": "1" for n in range(OTHERS)})
    values = {f"user:{n}": '{"n": 1}' for n in range(KEYS)}

    def seed(namespace: str) -> None:
        client.mset({f"{namespace}:{key}": value for key, value in values.items()})

    async def seed_async(namespace: str) -> None:
        await async_client.mset({f"{namespace}:{key}": value for key, value in values.items()})

    def scan(namespace: str) -> Iterator[list[Any]]:
        cursor = 0
        while True:
            cursor, keys = client.scan(cursor, match=f"{namespace}:*", count=1000)
            if keys:
                yield keys
            if not cursor:
                return

    def by_hand(namespace: str) -> list[str]:
        for page in scan(namespace):
            client.unlink(*page)
        return sorted(
            key.decode()[len(namespace) + 1 :] for page in scan(namespace) for key in page
        )

    async def scan_async(namespace: str) -> list[list[Any]]:
        cursor, pages = 0, []
        while True:
            cursor, keys = await async_client.scan(cursor, match=f"{namespace}:*", count=1000)
            if keys:
                pages.append(keys)
            if not cursor:
                return pages

    async def by_hand_async(namespace: str) -> list[str]:
        for page in await scan_async(namespace):
            await async_client.unlink(*page)
        pages = await scan_async(namespace)
        return sorted(key.decode()[len(namespace) + 1 :] for page in pages for key in page)

    adapter = PrefixNamespaces(client)
    adapted = cleanup(adapter)
    adapted_async = cleanup_async(PrefixNamespaces(async_client))
    try:
        yield {
            "Redis|Redis": paired_block(seed, adapted, by_hand),
            "Redis|redis.asyncio.Redis": async_pair(loop, seed_async, adapted_async, by_hand_async),
        }
    finally:
        adapter.clear(others)
        client.close()
        closing: Any = getattr(async_client, "aclose", None) or async_client.close
        loop.run_until_complete(closing())
        loop.run_until_complete(async_client.connection_pool.disconnect())


def measure_ready_made(rounds: int = 5) -> ReadyMade:
    """Measure each store and client; return the section (Redis skipped, saying why, if away)."""
    skipped = []
    loop = asyncio.new_event_loop()
    try:
        with (
            tempfile.TemporaryDirectory() as folder,
            one_cpu(),
            sqlite_turns(Path(folder), loop) as turns,
        ):
            reason = REDIS.unavailable()
            if reason is not None:
                skipped.append(f"Redis ({reason})")
                return ReadyMade(measure(turns, rounds), skipped)
            with redis_turns(loop) as on_redis:
                return ReadyMade(measure(turns | on_redis, rounds), skipped)
    finally:
        loop.close()


def measure(turns: dict[str, Pair], rounds: int) -> list[Row]:
    """Run every turn once a round; return a row per store and client."""
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in turns}
    for number in range(1, rounds + 1):
        for name, turn in turns.items():
            progress(f"ready-made adapters: round {number}/{rounds}, {name.replace('|', ', ')}")
            found[name].append(turn())
    progress(f"ready-made adapters: done ({rounds} rounds)", end=True)
    rows = []
    for name, pairs in found.items():
        store, client = name.split("|")
        adapter = Sample("adapter", [a for a, _ in pairs])
        hand = Sample("by hand", [h for _, h in pairs])
        rows.append(
            Row(
                store,
                client,
                adapter.median * 1e6,
                hand.median * 1e6,
                Figure.of(ratio(adapter, hand)),
            )
        )
    return rows


def write_markdown(section: ReadyMade, header: str) -> str:
    """Write the section, with its goal, to `MARKDOWN` (the page includes it); return it."""
    lines = [
        "<!-- generated by `make bench` (python -m benchmarks) or python -m benchmarks.ready_made;"
        " do not edit by hand -->",
        header,
        "",
        "| goal | target | measured | |",
        "|---|---:|---:|---|",
        *(goal.row() for goal in section.goals()),
        "",
        *section.markdown(),
    ]
    text = "\n".join(lines) + "\n"
    MARKDOWN.write_text(text)
    return text


def main() -> None:
    """Measure, write the page's table, and print it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ready_made", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="turns of each store and client")
    args = parser.parse_args()
    section = measure_ready_made(args.rounds)
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(write_markdown(section, f"Measured {when}, {args.rounds} interleaved rounds."))


if __name__ == "__main__":
    main()

"""Many processes on one SQLite file (WAL): no "database is locked", no lost acknowledged write.

Writers and readers are separate Python processes (``_hammer.py``). They start together on a
"go" line sent through their stdin once each has said "ready"; a writer to be killed says
"acked" through its stdout once it has acknowledged enough writes. No sleeps anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from plugin_kv import KVService

from ._hammer import SHARED, value_of

pytestmark = pytest.mark.own_store

HAMMER = Path(__file__).with_name("_hammer.py")
HANG_GUARD = 120  # seconds: only there to turn a deadlock into a failure, never reached


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[str]
    result: Path
    acks: Path | None

    @property
    def stdout(self) -> IO[str]:
        assert self.process.stdout is not None
        return self.process.stdout

    def outcome(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.result.read_text())
        return data


class Crowd:
    """Start worker processes, release them at once, and collect what they report."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.url = str(tmp_path / "crowd.sqlite3")
        self.workers: list[Worker] = []

    def start(self, role: str, name: str, *args: object) -> Worker:
        result = self.tmp_path / f"{name}.result.json"
        acks = self.tmp_path / f"{name}.acks" if role == "writer" else None
        extra = [str(acks)] if acks else []
        command = [sys.executable, str(HAMMER), role, self.url, name, str(result), *extra]
        process = subprocess.Popen(
            [*command, *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        worker = Worker(name, process, result, acks)
        self.workers.append(worker)
        return worker

    def go(self) -> None:
        for worker in self.workers:  # each has opened the store: the file exists, in WAL
            assert worker.stdout.readline().strip() == "ready", worker.name
        for worker in self.workers:
            assert worker.process.stdin is not None
            worker.process.stdin.write("go\n")
            worker.process.stdin.close()

    def finish(self) -> None:
        for worker in self.workers:
            worker.process.wait(timeout=HANG_GUARD)
            assert worker.stdout is not None
            worker.stdout.close()

    def kill_all(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
            for stream in (worker.process.stdin, worker.process.stdout):
                if stream is not None and not stream.closed:
                    stream.close()


@pytest.fixture
def crowd(tmp_path: Path) -> Iterator[Crowd]:
    started = Crowd(tmp_path)
    yield started
    started.kill_all()


def acknowledged(acks: Path) -> list[tuple[str, str]]:
    """Return the (namespace, key) pairs whose writes were acknowledged: whole lines only."""
    text = acks.read_text(encoding="utf-8") if acks.exists() else ""
    lines = text.split("\n")[:-1]  # a line cut short by SIGKILL has no newline: never acked
    return [(line.split(" ", 1)[0], line.split(" ", 1)[1]) for line in lines]


def missing_writes(url: str, acked: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the acknowledged writes that are not in the store, with the value they had."""

    async def check() -> list[tuple[str, str]]:
        async with KVService.open(url) as kv:
            missing = []
            for namespace, key in acked:
                writer, index = key.split(":")[:2]
                if await kv.get(namespace, key) != value_of(writer, int(index)):
                    missing.append((namespace, key))
            return missing

    return asyncio.run(check())


def integrity(path: str) -> tuple[str, str]:
    connection = sqlite3.connect(path)
    try:
        check = connection.execute("PRAGMA integrity_check").fetchone()[0]
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        connection.close()
    return check, mode


def test_writers_and_readers_in_many_processes_never_see_locked_or_lose_a_write(
    crowd: Crowd,
) -> None:
    writers = [crowd.start("writer", f"w{n}", 150) for n in range(4)]
    readers = [
        crowd.start("reader", f"r{n}", ",".join(w.name for w in writers), 150) for n in range(2)
    ]
    crowd.go()
    crowd.finish()

    for worker in writers + readers:
        assert worker.process.returncode == 0, worker.name
        outcome = worker.outcome()
        assert outcome["errors"] == [], f"{worker.name} failed:\n" + "\n".join(outcome["errors"])
        assert outcome["ops"] == 150
    acked = [pair for worker in writers for pair in acknowledged(worker.acks)]  # type: ignore[arg-type]
    assert len(acked) == 4 * (150 + 2 * 30)  # every write acknowledged, batches count 3
    assert missing_writes(crowd.url, acked) == []
    assert sum(1 for namespace, _ in acked if namespace == SHARED) == 4 * 30
    assert integrity(crowd.url) == ("ok", "wal")


def test_a_writer_killed_mid_stream_loses_nothing_it_saw_acknowledged(crowd: Crowd) -> None:
    victim = crowd.start("writer", "victim", 1_000_000, 120)  # writes until killed
    survivor = crowd.start("writer", "survivor", 200)
    reader = crowd.start("reader", "reader", "victim,survivor", 200)
    crowd.go()
    assert victim.stdout.readline().strip() == "acked"  # 120 writes acknowledged, and more
    os.kill(victim.process.pid, signal.SIGKILL)
    crowd.finish()

    assert victim.process.returncode == -signal.SIGKILL
    assert victim.acks is not None
    assert survivor.acks is not None
    acked = acknowledged(victim.acks)
    assert len(acked) >= 120
    assert missing_writes(crowd.url, acked) == []
    for worker in (survivor, reader):  # the kill, maybe mid-transaction, stopped nobody
        assert worker.process.returncode == 0, worker.name
        assert worker.outcome()["errors"] == [], worker.name
    assert missing_writes(crowd.url, acknowledged(survivor.acks)) == []
    assert integrity(crowd.url) == ("ok", "wal")

"""A worker process for test_processes.py: write or read one SQLite file store, hard.

Usage: python _hammer.py ROLE URL NAME RESULT_FILE [ACK_FILE] [COUNT] [SIGNAL_AFTER]

It opens the store, prints ``ready``, waits for ``go`` on stdin (so every process starts at
once, without sleeps), then works. Every exception is recorded, never fatal, and written
with the number of operations to RESULT_FILE as JSON. A writer appends each key to ACK_FILE
after its write was acknowledged, flushed and fsynced before the next write starts; with
SIGNAL_AFTER it prints ``acked`` after that many acknowledged writes (the signal to kill it).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from typing import Any, TextIO

from plugin_kv import KVService

SHARED = "shared"
TASKS = 2  # concurrent tasks per writer process: several writers inside one service too


def value_of(name: str, i: int) -> dict[str, Any]:
    return {"writer": name, "i": i, "text": "é" * (i % 7)}


def key_of(name: str, i: int) -> str:
    return f"{name}:{i:06d}"


class Writer:
    def __init__(self, kv: KVService, name: str, acks: TextIO, signal_after: int | None) -> None:
        self.kv, self.name, self.acks, self.signal_after = kv, name, acks, signal_after
        self.acked = 0
        self.errors: list[str] = []
        self.ops = 0

    def ack(self, keys: list[str]) -> None:
        self.acks.write("".join(f"{key}\n" for key in keys))  # one write: whole lines
        self.acks.flush()
        os.fsync(self.acks.fileno())
        self.acked += len(keys)
        if self.signal_after is not None and self.acked >= self.signal_after:
            self.signal_after = None
            print("acked", flush=True)

    async def run(self, task: int, count: int) -> None:
        for i in range(task, count, TASKS):
            key = key_of(self.name, i)
            try:
                if i % 5 == 0:  # a batch: the own namespace and the shared one, two keys
                    items = {key: value_of(self.name, i), f"{key}:b": value_of(self.name, i)}
                    await self.kv.set_many(self.name, items)
                    await self.kv.set(SHARED, key, value_of(self.name, i))
                    self.ack([f"{self.name} {k}" for k in items] + [f"{SHARED} {key}"])
                else:
                    await self.kv.set(self.name, key, value_of(self.name, i))
                    self.ack([f"{self.name} {key}"])
                if i % 17 == 0:
                    await self.kv.delete(self.name, f"{self.name}:never-written")
            except Exception:
                self.errors.append(traceback.format_exc())
            self.ops += 1


async def read(kv: KVService, names: list[str], count: int) -> tuple[int, list[str]]:
    """Read the writers' namespaces; counts must never go down (writers only add)."""
    errors: list[str] = []
    seen = dict.fromkeys(names, 0)
    for n in range(count):
        name = names[n % len(names)]
        try:
            found = await kv.count(name, prefix=f"{name}:")
            if found < seen[name]:
                errors.append(f"count of {name} went down from {seen[name]} to {found}")
            seen[name] = found
            keys = await kv.list_keys(name, limit=20)
            values = await kv.get_many(name, keys)
            if sorted(values) != sorted(keys):
                errors.append(f"keys listed but not readable: {sorted(set(keys) - set(values))}")
            await kv.count(SHARED)
        except Exception:
            errors.append(traceback.format_exc())
    return count, errors


async def main(argv: list[str]) -> None:
    role, url, name, result_file = argv[:4]
    ops, errors = 0, []
    try:
        kv = await KVService.open(url)
    except Exception:
        print("ready", flush=True)
        errors.append(traceback.format_exc())
    else:
        print("ready", flush=True)
        sys.stdin.readline()  # "go"
        async with kv:
            if role == "writer":
                count = int(argv[5])
                signal_after = int(argv[6]) if len(argv) > 6 else None
                with open(argv[4], "a", encoding="utf-8") as acks:  # noqa: ASYNC230 (blocking on purpose)
                    writer = Writer(kv, name, acks, signal_after)
                    await asyncio.gather(*(writer.run(task, count) for task in range(TASKS)))
                ops, errors = writer.ops, writer.errors
            else:
                ops, errors = await read(kv, argv[4].split(","), int(argv[5]))
    with open(result_file, "w", encoding="utf-8") as out:  # noqa: ASYNC230 (at the very end)
        json.dump({"ops": ops, "errors": errors}, out)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

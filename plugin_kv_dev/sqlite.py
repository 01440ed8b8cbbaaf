"""Test helpers that reach a SQLite-backed `KVService`'s aiosqlite connection.

The one place tests see past the service's front door: to read back the statements its
worker thread ran (SQLite's trace callback) and to hold that worker busy, so that a batch is
a certainty rather than a matter of thread timing. Both through aiosqlite's public API.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from plugin_kv import KVService
from plugin_kv._sqlite import SQLiteBackend


def connection(kv: KVService) -> aiosqlite.Connection:
    """Return the aiosqlite connection under ``kv`` (a SQLite store)."""
    backend = kv._backend
    assert isinstance(backend, SQLiteBackend)
    return backend._connection


async def trace(kv: KVService) -> list[str]:
    """Return a list that fills with every statement the worker thread runs from now on."""
    statements: list[str] = []
    await connection(kv).set_trace_callback(statements.append)
    return statements


async def hold_worker(db: aiosqlite.Connection, gate: threading.Event) -> asyncio.Future[Any]:
    """Queue a call that keeps ``db``'s worker thread busy until ``gate`` is set."""
    await db.create_function("kv_test_hold", 0, lambda: gate.wait(60))
    hold = asyncio.ensure_future(db.execute_fetchall("SELECT kv_test_hold()"))
    await asyncio.sleep(0)  # one scheduling step: the hold is now queued on the worker
    return hold


@asynccontextmanager
async def held(kv: KVService) -> AsyncIterator[list[Any]]:
    """Hold the worker thread while the body queues writes; then wait for all of them.

    The body appends each write's future (or task) to the yielded list; they are gathered,
    with exceptions returned, once the worker is let go.
    """
    gate = threading.Event()
    hold = await hold_worker(connection(kv), gate)
    started: list[Any] = []  # the futures; once gathered, their outcomes
    try:
        yield started
    finally:
        # Release the worker after the tasks created in the body have taken their first step
        # (which queues their write): callbacks and task steps run in the order scheduled.
        asyncio.get_running_loop().call_soon(gate.set)
        await hold
    started[:] = await asyncio.gather(*started, return_exceptions=True)

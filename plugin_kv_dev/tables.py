"""SQL tables for the ready-made adapters' tests, on any SQLAlchemy URL, sync or async driver.

A table has the shape of the bot project the guide started from: ``plugin_name``, ``key``,
``value_json``. Each test makes its own (a random name) and drops it, so runs and xdist
workers sharing a server never meet.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from . import POSTGRES_URL
from .services import MARIADB

T = TypeVar("T")
Row = tuple[str, str, str]

NAMESPACE, KEY, VALUE = "plugin_name", "key", "value_json"
"""The columns of a test table."""
KINDS = ("sqlite", "sqlite-async", "postgresql", "mariadb")
"""The SQL stores the adapter is tested on: SQLite through both drivers, PostgreSQL through
asyncpg (async), MariaDB through PyMySQL (sync; its collation ignores case)."""


def url_of(kind: str, folder: Path) -> str:
    """Return the SQLAlchemy URL of store ``kind``; SQLite files live in ``folder``."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'store.sqlite3'}"
    if kind == "sqlite-async":
        return f"sqlite+aiosqlite:///{folder / 'store.sqlite3'}"
    if kind == "postgresql":
        return "postgresql+asyncpg://" + POSTGRES_URL.split("://", 1)[1]
    if kind == "mariadb":
        return MARIADB.url
    raise ValueError(f"unknown SQL store {kind!r}: use one of {KINDS}")


def is_async(url: str) -> bool:
    """Whether ``url`` names an async driver (an `AsyncEngine` opens it)."""
    return bool(sa.engine.make_url(url).get_dialect().is_async)


def new_name() -> str:
    """Return a table name no other test uses."""
    return f"kv_test_{secrets.token_hex(4)}"


def table(name: str, metadata: sa.MetaData | None = None) -> sa.Table:
    """Return the test table ``name`` as a `Table`."""
    return sa.Table(
        name,
        metadata or sa.MetaData(),
        sa.Column(NAMESPACE, sa.String(100), primary_key=True),
        sa.Column(KEY, sa.String(255), primary_key=True),
        sa.Column(VALUE, sa.Text, nullable=False),
    )


def on_connection(url: str, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction on ``url``, whatever its driver; return its result.

    Called from a test's event loop, an async driver runs in a loop of its own, in a thread.
    """
    if is_async(url):

        async def run() -> T:
            engine = create_async_engine(url)
            try:
                async with engine.begin() as connection:
                    return await connection.run_sync(work)
            finally:
                await engine.dispose()

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop here: run one
            return asyncio.run(run())
        with concurrent.futures.ThreadPoolExecutor(1) as thread:  # a test's loop: beside it
            return thread.submit(asyncio.run, run()).result()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            return work(connection)
    finally:
        engine.dispose()


def create(url: str, name: str, rows: Iterable[Row] = ()) -> None:
    """Create table ``name`` holding ``rows``."""
    params = _params(rows)

    def work(connection: Connection) -> None:
        made = table(name)
        made.create(connection)
        if params:
            connection.execute(made.insert(), params)

    on_connection(url, work)


def insert(url: str, name: str, rows: Iterable[Row]) -> None:
    """Add ``rows`` to table ``name``."""
    params = _params(rows)
    on_connection(url, lambda connection: connection.execute(table(name).insert(), params))


def _params(rows: Iterable[Row]) -> list[dict[str, str]]:
    return [dict(zip((NAMESPACE, KEY, VALUE), row, strict=True)) for row in rows]


def rows_of(url: str, name: str) -> list[Row]:
    """Return every row of table ``name``, sorted."""
    found = on_connection(url, lambda c: c.execute(sa.select(table(name))).all())
    return sorted((str(a), str(b), str(c)) for a, b, c in found)


def drop(url: str, name: str) -> None:
    """Drop table ``name`` if it is there."""
    on_connection(url, lambda c: table(name).drop(c, checkfirst=True))

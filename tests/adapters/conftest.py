"""Fixtures of the ready-made adapters' tests: each SQL store and Redis, real servers only."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from plugin_kv_dev import tables
from plugin_kv_dev.services import MARIADB, REDIS
from tests.conftest import require_postgres

MARKS = {"postgresql": [pytest.mark.postgres], "mariadb": [pytest.mark.mariadb]}


def sql_url(kind: str, folder: Path) -> str:
    """Return the URL of SQL store ``kind``; skip (or fail, when required) if it is away."""
    if kind == "postgresql":
        require_postgres()
    elif kind == "mariadb":
        MARIADB.require()
    return tables.url_of(kind, folder)


@pytest.fixture(params=[pytest.param(k, marks=MARKS.get(k, [])) for k in tables.KINDS])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Return ``(url, table)``: a fresh test table on each SQL store, dropped afterwards."""
    url = sql_url(request.param, tmp_path)
    name = tables.new_name()
    tables.create(url, name)
    yield url, name
    tables.drop(url, name)


@pytest_asyncio.fixture
async def engine(sql_store: tuple[str, str]) -> AsyncIterator[Engine | AsyncEngine]:
    """Return an engine on the test's SQL store: an AsyncEngine for async drivers."""
    url, _ = sql_store
    if tables.is_async(url):
        async_engine = create_async_engine(url)
        yield async_engine
        await async_engine.dispose()
    else:
        sync_engine = sa.create_engine(url)
        yield sync_engine
        sync_engine.dispose()


@pytest.fixture
def redis_url() -> str:
    """Return the Redis server's URL; skip (or fail, when required) if it is away."""
    return REDIS.require()


@pytest_asyncio.fixture(params=["sync", "async"])
async def redis_client(
    request: pytest.FixtureRequest, redis_url: str
) -> AsyncIterator[redis.Redis | redis.asyncio.Redis]:
    """Return a redis-py client of each kind on the test server."""
    if request.param == "sync":
        client = redis.Redis.from_url(redis_url)
        yield client
        client.close()
    else:
        async_client = redis.asyncio.Redis.from_url(redis_url)
        yield async_client
        await aclose(async_client)


async def aclose(client: redis.asyncio.Redis) -> None:
    """Close an async client: ``aclose()`` since redis-py 5.0.1, ``close()`` before.

    redis-py 4.2 leaves the pool of a client made by ``from_url`` open: closed here.
    """
    closing: Any = getattr(client, "aclose", None) or client.close
    await closing()
    await client.connection_pool.disconnect()


@pytest.fixture
def token() -> str:
    """Return a random token: namespaces and keys of this test alone."""
    return secrets.token_hex(4)

"""Helpers for running whole test suites against the plugin in a fresh pytest."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from plugin_kv import KVService
from plugin_kv_dev import inner_config

INNER_FILTERS = ("error", "ignore:.*outside the namespaces it was given:UserWarning")

LEAKY_SUITE = """
import pytest

NAMESPACE = "test"  # every test shares it


@pytest.mark.asyncio
async def test_create_users(kv_service):
    for n in range(5):
        await kv_service.set(NAMESPACE, f"user:{n}", {"name": f"user {n}"})
    assert await kv_service.get(NAMESPACE, "user:0") == {"name": "user 0"}


@pytest.mark.asyncio
async def test_user_sessions(kv_service):
    for n in range(3):
        await kv_service.set(NAMESPACE, f"user:session:{n}", {"active": True})
    assert await kv_service.get(NAMESPACE, "user:session:0") == {"active": True}


@pytest.mark.asyncio
async def test_count_with_prefix(kv_service):
    for key in ("user:a", "user:b", "user:c", "config:theme"):
        await kv_service.set(NAMESPACE, key, 1)
    found = await kv_service.count(NAMESPACE, prefix="user:")
    assert found == 3, f"expected 3 keys with prefix 'user:', found {found}"
"""

FIXED_SUITE = """
import pytest


@pytest.mark.asyncio
async def test_create_users(kv_service, kv_isolated_plugin):
    for n in range(5):
        await kv_service.set(kv_isolated_plugin, f"user:{n}", {"name": f"user {n}"})
    assert await kv_service.get(kv_isolated_plugin, "user:0") == {"name": "user 0"}


@pytest.mark.asyncio
async def test_user_sessions(kv_service, kv_isolated_plugin):
    for n in range(3):
        await kv_service.set(kv_isolated_plugin, f"user:session:{n}", {"active": True})
    assert await kv_service.get(kv_isolated_plugin, "user:session:0") == {"active": True}


@pytest.mark.asyncio
async def test_count_with_prefix(kv_service, kv_isolated_plugin):
    for key in ("user:a", "user:b", "user:c", "config:theme"):
        await kv_service.set(kv_isolated_plugin, key, 1)
    found = await kv_service.count(kv_isolated_plugin, prefix="user:")
    assert found == 3, f"expected 3 keys with prefix 'user:', found {found}"
"""


def configure(
    pytester: pytest.Pytester, *, mode: str = "strict", loop: str = "function", extra: str = ""
) -> None:
    """Give the inner run its own pytest config, so the outer one does not leak in."""
    pytester.makepyprojecttoml(
        inner_config(mode=mode, loop=loop, filterwarnings=INNER_FILTERS, extra=extra)
    )


def store_contents(url: str) -> dict[str, dict[str, Any]]:
    """Return every live key of every namespace in the store at ``url``."""

    async def read() -> dict[str, dict[str, Any]]:
        async with KVService.open(url) as kv:
            contents: dict[str, dict[str, Any]] = {}
            for plugin in await kv.list_plugins():
                keys = await kv.list_keys(plugin)
                contents[plugin] = await kv.get_many(plugin, keys)
            return contents

    return asyncio.run(read())


def seed(url: str, data: dict[str, dict[str, Any]], ttl: float | None = None) -> None:
    """Write ``{namespace: {key: value}}`` into the store at ``url``."""

    async def write() -> None:
        async with KVService.open(url) as kv:
            for plugin, items in data.items():
                await kv.set_many(plugin, items, ttl=ttl)

    asyncio.run(write())


def dedent(source: str) -> str:
    return textwrap.dedent(source).lstrip()


@pytest.fixture
def store_file(pytester: pytest.Pytester) -> Path:
    """A SQLite file the inner runs share, outside pytester's cwd churn."""
    return pytester.path / "shared-store.sqlite3"


@pytest.fixture(params=["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_store(request: pytest.FixtureRequest, store_file: Path) -> str:
    """A store URL several inner runs share: a SQLite file, or the PostgreSQL server."""
    if request.param == "postgresql":
        from tests.conftest import POSTGRES_URL, require_postgres

        require_postgres()
        return POSTGRES_URL
    return str(store_file)

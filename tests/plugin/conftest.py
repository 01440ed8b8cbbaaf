"""Helpers for running whole test suites against the plugin in a fresh pytest."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from plugin_kv import KVService
from plugin_kv_dev import inner_config
from plugin_kv_dev.suites import LEAK_WARNING

INNER_FILTERS = ("error", LEAK_WARNING)


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

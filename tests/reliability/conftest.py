"""Shared pieces of the reliability suite: Hypothesis profiles, stores, exact comparison.

Hypothesis budgets: the ``ci`` profile (default) keeps every property test to a few seconds;
``HYPOTHESIS_PROFILE=deep`` runs many more and longer examples, for a run by hand or nightly.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from plugin_kv import KVService

from ..conftest import POSTGRES_URL, require_postgres

T = TypeVar("T")

_COMMON: dict[str, Any] = {
    "deadline": None,  # store round trips vary with the machine; no timing assertions
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,  # the loop and services are meant to be shared
    ],
    "derandomize": False,
}
settings.register_profile("ci", max_examples=40, stateful_step_count=25, **_COMMON)
settings.register_profile("deep", max_examples=2000, stateful_step_count=100, **_COMMON)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
"""The settings every property test of this suite uses (not loaded globally)."""


class Loop:
    """A private event loop that synchronous test code (Hypothesis) drives step by step."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


@pytest.fixture
def loop() -> Iterator[Loop]:
    """Return a private event loop for driving services from synchronous code."""
    private = Loop()
    yield private
    private.close()


@pytest.fixture(params=["memory", "file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def private_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return a store of this test's own: SQLite in memory, a SQLite file, or PostgreSQL.

    PostgreSQL is shared with everything else on the server: tests that use it write only to
    namespaces of their own and remove them.
    """
    kind = request.param
    if kind == "memory":
        return ":memory:"
    if kind == "file":
        return str(tmp_path / "private.sqlite3")
    require_postgres()
    return POSTGRES_URL


def is_shared(url: str) -> bool:
    """Return whether other tests (or runs) may write to the store at ``url`` meanwhile."""
    return url.startswith("postgres")


def available_urls(tmp_path: Path) -> list[str]:
    """Return one store of each backend available here (PostgreSQL when reachable)."""
    urls = [":memory:", str(tmp_path / "parity.sqlite3")]
    from ..conftest import postgres_unavailable

    if postgres_unavailable() is None:
        urls.append(POSTGRES_URL)
    return urls


async def namespace_contents(kv: KVService, plugin: str) -> dict[str, Any]:
    """Return every live key of ``plugin`` with its value, in key order."""
    keys = await kv.list_keys(plugin)
    found = await kv.get_many(plugin, keys)
    return {key: found[key] for key in keys}


def same(left: object, right: object) -> bool:
    """Return whether two JSON values are identical: types, float reprs and dict key order."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        assert isinstance(right, float)
        return repr(left) == repr(right) or (math.isnan(left) and math.isnan(right))
    if isinstance(left, list):
        assert isinstance(right, list)
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        assert isinstance(right, dict)
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    return left == right


def open_service(loop: Loop, url: str, **options: Any) -> KVService:
    """Open a service on ``loop``; the caller closes it on the same loop."""
    return loop.run(_open(url, **options))


async def _open(url: str, **options: Any) -> KVService:
    return await KVService.open(url, **options)

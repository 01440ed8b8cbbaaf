"""Fixtures of plugin-kv's own suite: every store-backed test runs on each backend."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from plugin_kv import KVService
from plugin_kv_dev import POSTGRES_URL, REQUIRE_POSTGRES
from plugin_kv_dev.postgres import import_driver, postgres_unavailable

import_driver()  # before any pytester run: see its docstring
__all__ = ["POSTGRES_URL", "REQUIRE_POSTGRES", "postgres_unavailable"]


_postgres_reason: list[str | None] = []


def require_postgres() -> None:
    """Skip (or, with PLUGIN_KV_REQUIRE_POSTGRES=1, fail) when PostgreSQL is unavailable."""
    if not _postgres_reason:
        _postgres_reason.append(postgres_unavailable())
    reason = _postgres_reason[0]
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"PLUGIN_KV_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every store-backed test on the run's SQLite file and on PostgreSQL.

    Tests marked ``own_store`` open stores of their own and run once.
    """
    if "kv_store_url" in metafunc.fixturenames and not metafunc.definition.get_closest_marker(
        "own_store"
    ):
        metafunc.parametrize(
            "kv_store_url",
            ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
            indirect=True,
        )


@pytest.fixture
def kv_store_url(request: pytest.FixtureRequest, kv_store_url: str) -> str:
    """Return the store of this parametrization: the run's SQLite file, or PostgreSQL."""
    if getattr(request, "param", "sqlite") == "postgresql":
        require_postgres()
        return POSTGRES_URL
    return kv_store_url


class FakeClock:
    """A clock the test moves by hand: TTLs expire exactly when the test says."""

    def __init__(self) -> None:
        # Start at the real time: the store is shared, and purge_expired() must not see
        # other tests' (or the fixtures' lease) keys as expired.
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """Return a hand-driven clock."""
    return FakeClock()


@pytest_asyncio.fixture
async def kv_clocked(kv_store_url: str, clock: FakeClock) -> AsyncIterator[KVService]:
    """Return a second service on the test's store whose time is `clock`."""
    async with KVService.open(kv_store_url, clock=clock) as kv:
        yield kv

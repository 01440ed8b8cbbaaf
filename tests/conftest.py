"""Fixtures of plugin-kv's own suite: every store-backed test runs on each backend."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from plugin_kv import KVService

# Import asyncpg (a compiled extension) before any pytester run: pytester restores
# sys.modules after each in-process run, and re-importing asyncpg's protocol module in the
# same process crashes it. Loading it here keeps it out of every snapshot.
with contextlib.suppress(ImportError):
    import asyncpg  # noqa: F401

    import plugin_kv._postgres  # noqa: F401

POSTGRES_URL = os.environ.get(
    "PLUGIN_KV_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("PLUGIN_KV_REQUIRE_POSTGRES") == "1"


def postgres_unavailable() -> str | None:
    """Return why the PostgreSQL tests cannot run here, or None when they can."""
    import asyncio
    import socket
    from urllib.parse import urlsplit

    try:
        import asyncpg  # noqa: F401

        from plugin_kv import _postgres  # noqa: F401
    except ImportError as exc:
        return f"PostgreSQL support is not installed ({exc}); install plugin-kv[postgres]"
    parts = urlsplit(POSTGRES_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2).close()
    except OSError as exc:
        return f"no PostgreSQL server at {parts.hostname}:{parts.port or 5432} ({exc})"

    async def probe() -> None:
        async with KVService.open(POSTGRES_URL) as kv:
            await kv.count("probe")

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not usable: {exc}"
    return None


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

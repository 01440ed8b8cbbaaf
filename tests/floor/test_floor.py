"""The plugin's promises, kept at its floor: pytest 8.0 with pytest-asyncio 0.23.

Each test runs whole test files in a fresh pytest (a subprocess, so the installed plugins
load from their entry points) and checks the outcome. `python3 dev.py test` runs these in
.venv-plugin-floor; `pytest tests` runs them again at the newest versions.
"""

from __future__ import annotations

import pytest

from plugin_kv_dev.suites import FIXED_SUITE, LEAKY_SUITE

from .conftest import (
    ASYNCIO,
    LEAK_WARNING,
    POSTGRES_URL,
    configure,
    dedent,
    require_postgres,
    run,
)


def test_leaky_suite_fails_and_isolated_suite_passes(pytester: pytest.Pytester) -> None:
    configure(pytester, filters=LEAK_WARNING)
    pytester.makepyfile(test_leaky=LEAKY_SUITE, test_fixed=FIXED_SUITE)
    result = run(pytester)
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        ["E * AssertionError: expected 3 keys with prefix 'user:', found 11"]
    )


FAILING_THEN_CHECKED = """
import pytest

GIVEN = []


@pytest.mark.asyncio
async def test_fails_with_data(kv_service, kv_isolated_plugin):
    GIVEN.append(kv_isolated_plugin)
    await kv_service.set(kv_isolated_plugin, "order:1", {"total": 12})
    assert await kv_service.count(kv_isolated_plugin) == 2


@pytest.mark.asyncio
async def test_factory_namespaces_are_apart(kv_service, kv_plugin_factory):
    billing, shipping = kv_plugin_factory("billing"), kv_plugin_factory("shipping")
    GIVEN.extend([billing, shipping])
    assert billing != shipping and "billing" in billing and "shipping" in shipping
    await kv_service.set(billing, "k", 1)
    assert await kv_service.get(shipping, "k") is None


@pytest.mark.asyncio
async def test_later_the_namespaces_are_gone(kv_service):
    assert len(GIVEN) == 3
    left = set(await kv_service.list_plugins()) & set(GIVEN)
    counts = [await kv_service.count(namespace) for namespace in GIVEN]
    assert (left, counts) == (set(), [0, 0, 0])
"""


def test_cleanup_after_a_failure_factory_and_snapshot(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(test_cleanup=FAILING_THEN_CHECKED)
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- plugin-kv data -*",
            "namespaces in *, removed after the test:",
            "kvt.*test_fails_with_data: 1 key",
            "  'order:1': {'total': 12}",
        ]
    )


SECRETS = """
import pytest

def test_url(kv_store_url):
    assert kv_store_url == "other"

@pytest.mark.asyncio
async def test_snapshot(kv_service, kv_isolated_plugin):
    await kv_service.set(kv_isolated_plugin, "bot", {"name": "b", "api_token": "tok-FLOOR"})
    assert False
"""


def test_no_secret_printed(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(test_secrets=SECRETS)
    result = run(pytester, "-l", "-vv", "--kv-url=postgresql://bot:pw-FLOOR@127.0.0.1:1/db")
    result.assert_outcomes(failed=1, errors=1)  # the store cannot be opened: not needed
    result.stdout.fnmatch_lines(["E         + postgresql://bot:***@127.0.0.1:1/db"])
    assert "pw-FLOOR" not in result.stdout.str() + result.stderr.str()
    configure(pytester)
    result = run(pytester, "-k", "snapshot")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["  'bot': {'name': 'b', 'api_token': ***}"])


OWN_ASYNC_STORE = """
import aiosqlite
import pytest
import pytest_asyncio

GIVEN = []


class Namespaces:
    def __init__(self, db):
        self.db = db

    async def clear(self, plugin):
        await self.db.execute("DELETE FROM kv WHERE ns = ?", (plugin,))
        await self.db.commit()

    async def list_keys(self, plugin):
        async with self.db.execute("SELECT key FROM kv WHERE ns = ?", (plugin,)) as rows:
            return [row[0] async for row in rows]


@pytest_asyncio.fixture
async def db():
    async with aiosqlite.connect("own-async.db") as db:  # bound to the test's loop
        await db.execute("CREATE TABLE IF NOT EXISTS kv (ns TEXT, key TEXT)")
        yield db


@pytest.fixture
def kv_store(db):
    return Namespaces(db)


@pytest.mark.asyncio
async def test_writes_and_fails(db, kv_isolated_plugin):
    GIVEN.append(kv_isolated_plugin)
    await db.execute("INSERT INTO kv VALUES (?, 'user:1')", (kv_isolated_plugin,))
    await db.commit()
    assert kv_isolated_plugin == "another"


@pytest.mark.asyncio
async def test_later_it_is_empty(db):
    async with db.execute("SELECT count(*) FROM kv WHERE ns = ?", (GIVEN[0],)) as rows:
        assert await rows.fetchone() == (0,)
"""

OWN_SYNC_STORE = """
import sqlite3

import pytest

GIVEN = []


class SyncNamespaces:
    def __init__(self, db):
        self.db = db

    def clear(self, plugin):
        with self.db:
            self.db.execute("DELETE FROM kv WHERE ns = ?", (plugin,))


@pytest.fixture
def db():
    db = sqlite3.connect("own-sync.db")
    db.execute("CREATE TABLE IF NOT EXISTS kv (ns TEXT, key TEXT)")
    yield db
    db.close()


@pytest.fixture
def kv_store(db):
    return SyncNamespaces(db)


def test_writes(db, kv_isolated_plugin):
    GIVEN.append(kv_isolated_plugin)
    with db:
        db.execute("INSERT INTO kv VALUES (?, 'user:1')", (kv_isolated_plugin,))


def test_later_it_is_empty(db):
    assert db.execute("SELECT count(*) FROM kv WHERE ns = ?", (GIVEN[0],)).fetchone() == (0,)
"""


def test_own_stores_async_in_the_test_loop_and_sync(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(test_own_async=OWN_ASYNC_STORE, test_own_sync=OWN_SYNC_STORE)
    result = run(pytester)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- plugin-kv data -*",
            "namespaces in test_own_async.Namespaces, removed after the test:",
            "kvt.*test_writes_and_fails: 1 key",
            "  'user:1'",
            "plugin-kv: kv_store SyncNamespaces: cleanup not checked*no list_keys(namespace)",
        ]
    )


SESSION_LOOP_STORE = """
import asyncio

import aiosqlite
import pytest
import pytest_asyncio


class Namespaces:
    def __init__(self, db):
        self.db = db
        self.loop = asyncio.get_running_loop()

    async def clear(self, plugin):
        assert asyncio.get_running_loop() is self.loop, "used outside the loop it belongs to"
        await self.db.execute("DELETE FROM kv WHERE ns = ?", (plugin,))
        await self.db.commit()


@pytest_asyncio.fixture(scope="session")
async def kv_store():
    async with aiosqlite.connect("own-session.db") as db:
        await db.execute("CREATE TABLE IF NOT EXISTS kv (ns TEXT, key TEXT)")
        yield Namespaces(db)


@pytest.mark.asyncio(scope="session")
async def test_in_the_session_loop(kv_store, kv_isolated_plugin):
    await kv_store.db.execute("INSERT INTO kv VALUES (?, 'k')", (kv_isolated_plugin,))
"""


@pytest.mark.skipif(
    ASYNCIO >= (0, 24), reason="pytest-asyncio 0.24+ has loop_scope: tests/plugin/test_own_store"
)
def test_store_bound_to_a_session_loop_says_it_needs_0_24(pytester: pytest.Pytester) -> None:
    # pytest-asyncio 0.23 runs a function-scoped fixture, so the cleanup, in the function's
    # loop only: the store's check fails, and the error says why and what to upgrade.
    configure(pytester)
    pytester.makepyfile(test_session_loop=SESSION_LOOP_STORE)
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "plugin-kv cleanup failed:",
            "could not remove namespace 'kvt.*test_in_the_session_loop' from *: AssertionError:"
            " used outside the loop it belongs to",
            "(this test runs in pytest-asyncio's session-scoped event loop, but before 0.24*"
            "needs pytest-asyncio 0.24 or newer)",
        ]
    )


def test_leak_check_fails_the_test_that_wrote_elsewhere(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(
        test_leak=dedent(
            """
            import pytest

            @pytest.mark.asyncio
            async def test_writes_elsewhere(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "mine", 1)
                await kv_service.set("shared-config", "theme", "dark")

            @pytest.mark.asyncio
            async def test_writes_its_own(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "mine", 1)
            """
        )
    )
    result = run(pytester, "--kv-leaks=fail")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_leak.py::test_writes_elsewhere left data in * outside the namespaces it was*",
            "*namespace 'shared-config': 1 key: *theme*",
        ]
    )


def test_xdist_two_workers_in_random_order(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(**{f"test_fixed_{n}": FIXED_SUITE for n in range(4)})
    result = pytester.runpytest_subprocess("-n", "2", "-p", "randomly", "--randomly-seed=7")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["Using --randomly-seed=7", "created: 2/2 workers"])


def test_auto_mode(pytester: pytest.Pytester) -> None:
    configure(pytester, mode="auto")
    pytester.makepyfile(test_fixed=FIXED_SUITE.replace("@pytest.mark.asyncio\n", ""))
    run(pytester).assert_outcomes(passed=3)


def test_registered_twice_runs_once(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(test_fixed=FIXED_SUITE)
    result = run(pytester, "-p", "plugin_kv.testing")  # and its entry point
    result.assert_outcomes(passed=3)
    assert (
        len([line for line in result.outlines if line.startswith("plugin-kv: kv_service store")])
        == 1
    )


@pytest.mark.postgres
def test_postgresql(pytester: pytest.Pytester) -> None:
    require_postgres()
    configure(pytester, filters=LEAK_WARNING)
    pytester.makepyfile(test_leaky=LEAKY_SUITE, test_fixed=FIXED_SUITE)
    result = run(pytester, f"--kv-url={POSTGRES_URL}")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        ["plugin-kv: kv_service store postgresql://*", "FAILED test_leaky.py::*"]
    )

"""`kv_store`: the fixtures isolate tests of a project's own store, sync or async."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from .conftest import configure, dedent

# A store of the shape many projects have: a table with a plugin column, here on one
# aiosqlite connection that, like an asyncpg connection or an SQLAlchemy AsyncEngine,
# works only in the event loop that opened it. Closed after its fixture's teardown.
LOOP_BOUND_CONFTEST = """
import asyncio
import aiosqlite
import pytest
import pytest_asyncio

PATH = {path!r}


class BotStore:
    def __init__(self, db):
        self.db = db
        self.loop = asyncio.get_running_loop()
        self.closed = False

    def check(self):
        assert not self.closed, "used after its fixture was torn down"
        assert asyncio.get_running_loop() is self.loop, "used outside the loop it belongs to"

    async def kv_set(self, plugin, key, value):
        self.check()
        await self.db.execute("REPLACE INTO kv VALUES (?, ?, ?)", (plugin, key, value))
        await self.db.commit()

    async def kv_list(self, plugin):
        self.check()
        rows = await self.db.execute_fetchall("SELECT key FROM kv WHERE plugin = ?", (plugin,))
        return sorted(row[0] for row in rows)


class BotNamespaces:
    def __init__(self, store):
        self.store = store

    async def clear(self, plugin):
        self.store.check()
        await self.store.db.execute("DELETE FROM kv WHERE plugin = ?", (plugin,))
        await self.store.db.commit()

    async def list_keys(self, plugin):
        return await self.store.kv_list(plugin)


@pytest_asyncio.fixture({fixture_args})
async def db():
    async with aiosqlite.connect(PATH) as connection:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS kv (plugin TEXT, key TEXT, value TEXT,"
            " PRIMARY KEY (plugin, key))"
        )
        store = BotStore(connection)
        yield store
        store.closed = True


@pytest.fixture
def kv_store(db):
    return BotNamespaces(db)
"""

LOOP_BOUND_TESTS = """
import pytest

{mark}
async def test_writes(db, kv_isolated_plugin):
    await db.kv_set(kv_isolated_plugin, "user:1", "Ada")
    assert await db.kv_list(kv_isolated_plugin) == ["user:1"]

{mark}
async def test_two_namespaces(db, kv_plugin_factory):
    a, b = kv_plugin_factory("a"), kv_plugin_factory("b")
    await db.kv_set(a, "k", "1")
    await db.kv_set(b, "k", "2")
    assert await db.kv_list(a) == await db.kv_list(b) == ["k"]

{mark}
async def test_fails(db, kv_isolated_plugin):
    await db.kv_set(kv_isolated_plugin, "evidence", "11")
    assert False, "fails on purpose"
"""


def rows(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT * FROM kv"))


@pytest.mark.parametrize(
    ("mode", "loop", "fixture_args", "mark"),
    [
        ("strict", "function", "", "@pytest.mark.asyncio"),
        ("auto", "function", "", ""),
        (
            "strict",
            "function",
            'scope="session", loop_scope="session"',
            '@pytest.mark.asyncio(loop_scope="session")',
        ),
        ("auto", "session", 'scope="session"', ""),
        ("strict", "module", 'scope="module"', "@pytest.mark.asyncio"),
    ],
    ids=[
        "strict-function",
        "auto-function",
        "session-loop-by-marker",
        "session-loop-by-default",
        "module-fixture-module-loop",
    ],
)
def test_a_store_bound_to_the_tests_loop_is_cleaned_in_that_loop_before_its_teardown(
    pytester: pytest.Pytester, tmp_path: Path, mode: str, loop: str, fixture_args: str, mark: str
) -> None:
    path = tmp_path / "bot.sqlite3"
    configure(pytester, mode=mode, loop=loop)
    pytester.makeconftest(LOOP_BOUND_CONFTEST.format(path=str(path), fixture_args=fixture_args))
    pytester.makepyfile(test_bot=LOOP_BOUND_TESTS.format(mark=mark))
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: fails on purpose",
            "*- plugin-kv data -*",
            "namespaces in conftest.BotNamespaces, removed after the test:",
            "kvt.*.test_fails: 1 key",
            "  'evidence'",
            "plugin-kv: kv_store BotNamespaces: leak check off: it has no observe_writes*",
            "plugin-kv: kv_store BotNamespaces: sweep off (namespaces of crashed runs*",
        ]
    )
    assert rows(path) == []


SYNC_STORE = """
import sqlite3
import pytest

PATH = {path!r}


class Table:
    \"\"\"A plain, synchronous store: sqlite3, a table with a plugin column.\"\"\"

    def __init__(self):
        self.db = sqlite3.connect(PATH, isolation_level=None)
        self.db.execute("CREATE TABLE IF NOT EXISTS kv (plugin TEXT, key TEXT, value TEXT)")
        self.observers = []

    def set(self, plugin, key, value):
        self.db.execute("INSERT INTO kv VALUES (?, ?, ?)", (plugin, key, value))
        for observer in self.observers:
            observer(plugin, [key])

    def clear(self, plugin):
        self.db.execute("DELETE FROM kv WHERE plugin = ?", (plugin,))

    def list_keys(self, plugin):
        return [r[0] for r in self.db.execute("SELECT key FROM kv WHERE plugin = ?", (plugin,))]

    def get_many(self, plugin, keys):
        return {{k: v for k, v in self.db.execute(
            "SELECT key, value FROM kv WHERE plugin = ?", (plugin,)) if k in keys}}

    def observe_writes(self, observer):
        self.observers.append(observer)
        return lambda: self.observers.remove(observer)


@pytest.fixture
def table():
    store = Table()
    yield store
    store.db.close()


@pytest.fixture
def kv_store(table):
    return table
"""


def test_a_plain_sync_store_is_cleaned_checked_and_watched_for_leaks(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    path = tmp_path / "table.sqlite3"
    configure(pytester)
    pytester.makeconftest(SYNC_STORE.format(path=str(path)))
    pytester.makepyfile(
        test_table=dedent(
            """
            def test_mine(table, kv_isolated_plugin):
                table.set(kv_isolated_plugin, "user:1", "Ada")
                assert table.list_keys(kv_isolated_plugin) == ["user:1"]

            def test_fails(table, kv_isolated_plugin):
                table.set(kv_isolated_plugin, "user:1", "x" * 500)
                assert False

            def test_leaks(table, kv_isolated_plugin):
                table.set("shared", "user:9", "oops")
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly", "--kv-leaks=fail")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_table.py::test_leaks left data in conftest.Table outside*",
            "  namespace 'shared': 1 key: 'user:9'",
            "kvt.*.test_fails: 1 key",
            "  'user:1': 'xxxxx*x... [[]cut: 502 characters[]]",
        ]
    )
    with sqlite3.connect(path) as db:
        assert list(db.execute("SELECT plugin, key FROM kv")) == [("shared", "user:9")]


def test_a_store_without_clear_is_a_usage_error_showing_what_to_add(
    pytester: pytest.Pytester,
) -> None:
    configure(pytester)
    pytester.makeconftest(
        dedent(
            """
            import pytest

            class NoClear:
                def list_keys(self, plugin):
                    return []

            @pytest.fixture
            def kv_store():
                return NoClear()
            """
        )
    )
    pytester.makepyfile(test_x="def test_x(kv_isolated_plugin): pass\ndef test_y(): pass\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*UsageError: plugin-kv: the kv_store fixture returned conftest.NoClear,"
            " which has no clear(namespace) method*",
            "*async def clear(self, plugin: str) -> object:*",
            "*def kv_store(db):*",
        ]
    )


def test_a_clear_that_raises_errors_that_test_naming_namespace_store_and_cause(
    pytester: pytest.Pytester,
) -> None:
    configure(pytester)
    pytester.makeconftest(
        dedent(
            """
            import pytest

            class Broken:
                async def clear(self, plugin):
                    raise ConnectionError("the bot database is away")

                def __repr__(self):
                    return "<Broken store>"

            @pytest.fixture
            def kv_store():
                return Broken()
            """
        )
    )
    pytester.makepyfile(
        test_x=dedent(
            """
            def test_first(kv_isolated_plugin): pass
            def test_second(kv_isolated_plugin): pass
            def test_no_kv(): pass
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*plugin-kv cleanup failed:",
            "could not remove namespace 'kvt.*.test_first' from <Broken store>:"
            " ConnectionError: the bot database is away (it stays in the store: its kv_store"
            " has no list_plugins() for a later run's sweep)",
        ]
    )


def test_a_list_keys_returning_the_wrong_type_is_named(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makeconftest(
        dedent(
            """
            import pytest

            class Odd:
                def clear(self, plugin):
                    pass

                def list_keys(self, plugin):
                    return {"keys": ["a"]}  # the store's own shape, not a list

                def __repr__(self):
                    return "<Odd store>"

            @pytest.fixture
            def kv_store():
                return Odd()
            """
        )
    )
    pytester.makepyfile(test_x="def test_x(kv_isolated_plugin): pass\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "could not check that namespace 'kvt.*.test_x' in <Odd store> is empty: TypeError:"
            " <Odd store>.list_keys('kvt.*.test_x') returned {'keys': [[]'a'[]]}:"
            " it must return a list of str (the keys in the namespace)"
        ]
    )


def test_a_file_backed_store_under_xdist_in_random_order_keeps_nothing(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    path = tmp_path / "table.sqlite3"
    # WAL and the table are set up once, here: switching every worker's connection to WAL
    # can find the file locked, and SQLite's busy handler does not cover that step.
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
        db.execute("CREATE TABLE kv (plugin TEXT, key TEXT, value TEXT)")
    configure(pytester)
    pytester.makeconftest(
        SYNC_STORE.format(path=str(path)).replace(
            "isolation_level=None)", "isolation_level=None, timeout=30)"
        )
    )
    suite = dedent(
        """
        import pytest

        @pytest.mark.parametrize("n", range(10))
        def test_counts_its_own(table, kv_plugin_factory, n):
            mine = kv_plugin_factory(f"n{n}")
            for key in ("user:a", "user:b", "user:c", "config:theme"):
                table.set(mine, key, "1")
            assert len([k for k in table.list_keys(mine) if k.startswith("user:")]) == 3
        """
    )
    pytester.makepyfile(test_a=suite, test_b=suite)
    for seed_value in (1, 2):
        result = pytester.runpytest_subprocess(
            "-n", "2", "-p", "randomly", f"--randomly-seed={seed_value}"
        )
        result.assert_outcomes(passed=20)
        result.stdout.fnmatch_lines(
            ["plugin-kv: kv_store Table: sweep off (namespaces of crashed runs*"]
        )
        assert result.stdout.str().count("plugin-kv: kv_store Table: sweep") == 1
    with sqlite3.connect(path) as db:
        assert list(db.execute("SELECT * FROM kv")) == []


def test_an_own_store_is_cleaned_whatever_the_outcome(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    path = tmp_path / "table.sqlite3"
    configure(pytester)
    pytester.makeconftest(SYNC_STORE.format(path=str(path)))
    pytester.makepyfile(
        test_outcomes=dedent(
            """
            import pytest

            @pytest.fixture
            def broken_teardown(table, kv_isolated_plugin):
                yield
                table.set(kv_isolated_plugin, "written-in-teardown", "1")
                raise RuntimeError("a teardown elsewhere fails")

            @pytest.fixture
            def broken_setup(kv_isolated_plugin):
                raise RuntimeError("a fixture after the namespace fails")

            def test_fails(table, kv_isolated_plugin):
                table.set(kv_isolated_plugin, "k", "1")
                assert False

            def test_setup_errors(table, kv_isolated_plugin, broken_setup):
                pass

            def test_teardown_raises(table, kv_plugin_factory, broken_teardown):
                table.set(kv_plugin_factory("more"), "k", "1")
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly", "--kv-leaks=fail")
    result.assert_outcomes(passed=1, failed=1, errors=2)
    result.stdout.fnmatch_lines(["*RuntimeError: a teardown elsewhere fails*"])
    with sqlite3.connect(path) as db:
        assert list(db.execute("SELECT * FROM kv")) == []

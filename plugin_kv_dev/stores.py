"""A store of a project's own, for inner pytest runs: the plain synchronous table many have.

`table_conftest` writes the ``conftest.py`` of an inner run whose ``table`` fixture is a
sqlite3 table with a namespace column, overriding ``kv_store``; `table_rows` reads the file.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

_CONFTEST = '''
import sqlite3

import pytest

PATH = {path!r}
WITHOUT = {without!r}


class Table:
    """A plain, synchronous store: sqlite3, a table with a plugin column."""

    def __init__(self):
        self.db = sqlite3.connect(PATH, isolation_level=None, timeout=30)
        self.observers = []

    def set(self, plugin, key, value):
        self.db.execute("REPLACE INTO kv VALUES (?, ?, ?)", (plugin, key, value))
        for observer in self.observers:
            observer(plugin, [key])

    def delete(self, plugin, key):
        self.db.execute("DELETE FROM kv WHERE plugin = ? AND key = ?", (plugin, key))

    def clear(self, plugin):
        self.db.execute("DELETE FROM kv WHERE plugin = ?", (plugin,))

    def list_keys(self, plugin):
        rows = self.db.execute("SELECT key FROM kv WHERE plugin = ? ORDER BY key", (plugin,))
        return [row[0] for row in rows]

    def get_many(self, plugin, keys):
        rows = self.db.execute("SELECT key, value FROM kv WHERE plugin = ?", (plugin,))
        return {{key: value for key, value in rows if key in keys}}

    def list_plugins(self):
        return [row[0] for row in self.db.execute("SELECT DISTINCT plugin FROM kv")]

    def observe_writes(self, observer):
        self.observers.append(observer)
        return lambda: self.observers.remove(observer)

    def __getattribute__(self, name):
        if name in WITHOUT:
            raise AttributeError(name)
        return super().__getattribute__(name)


@pytest.fixture
def table():
    store = Table()
    yield store
    store.db.close()


{kv_store}
'''

_OVERRIDE = """
@pytest.fixture
def kv_store(table):
    return table
"""


def table_conftest(path: Path, *, without: tuple[str, ...] = (), override: bool = True) -> str:
    """Return the inner ``conftest.py`` of a table store at ``path``, created here.

    ``without`` names methods the store lacks; ``override=False`` forgets to override
    ``kv_store`` (the tests write to the table, the fixtures clear ``kv_service``).
    """
    with closing(sqlite3.connect(path)) as db:
        # WAL and the table once, here: switching to WAL in several xdist workers at once
        # can find the file locked, and SQLite's busy handler does not cover that step.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS kv (plugin TEXT, key TEXT, value TEXT,"
            " PRIMARY KEY (plugin, key))"
        )
    return _CONFTEST.format(path=str(path), without=without, kv_store=_OVERRIDE if override else "")


def table_rows(path: Path) -> list[tuple[str, str, str]]:
    """Return every row of the table store at ``path``, sorted."""
    with closing(sqlite3.connect(path)) as db:
        return sorted(db.execute("SELECT plugin, key, value FROM kv"))

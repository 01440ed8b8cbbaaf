"""`TableNamespaces` on real SQL stores: SQLite (both drivers), PostgreSQL, MariaDB."""

from __future__ import annotations

import sys

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from plugin_kv.errors import MissingDependencyError
from plugin_kv.testing.sqlalchemy import (
    AsyncTableNamespaces,
    SyncTableNamespaces,
    TableNamespaces,
)
from plugin_kv_dev import settled, tables

MINE = "kvt.0a1b2c3d.1.test_mine"
LONGER = "kvt.0a1b2c3d.1.test_mine2"  # MINE is a prefix of it
OTHER_APP = "billing"  # another application's rows in the same table
ROWS = [
    (MINE, "user:1", '{"name": "Ada"}'),
    (MINE, "user:2 / ünï 'q'", "plain text, not JSON"),
    (MINE, "config:theme", "3"),
    (LONGER, "user:1", '"kept"'),
    (OTHER_APP, "user:1", '{"plan": "pro"}'),
    (OTHER_APP, MINE, "a key that looks like the namespace"),
]


def adapter(
    engine: Engine | AsyncEngine, name: str, **columns: str | None
) -> SyncTableNamespaces | AsyncTableNamespaces:
    options = {"namespace": tables.NAMESPACE, "value": tables.VALUE} | columns
    return TableNamespaces(engine, name, **options)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_clear_removes_the_namespace_and_nothing_else(
    engine: Engine | AsyncEngine, sql_store: tuple[str, str]
) -> None:
    url, name = sql_store
    tables.insert(url, name, ROWS)
    store = adapter(engine, name)
    assert await settled(store.clear(MINE)) == 3
    assert tables.rows_of(url, name) == sorted(r for r in ROWS if r[0] != MINE)
    assert await settled(store.list_keys(MINE)) == []
    assert await settled(store.clear(MINE)) == 0


@pytest.mark.asyncio
async def test_list_keys_and_get_many_give_this_namespace_exactly(
    engine: Engine | AsyncEngine, sql_store: tuple[str, str]
) -> None:
    url, name = sql_store
    tables.insert(url, name, ROWS)
    store = adapter(engine, name)
    assert await settled(store.list_keys(MINE)) == sorted(
        ["user:1", "user:2 / ünï 'q'", "config:theme"]
    )
    # USER:1 differs in case: MariaDB's collation matches it, the adapter does not.
    wanted = ["user:1", "user:2 / ünï 'q'", "config:theme", "USER:1", "missing"]
    assert await settled(store.get_many(MINE, wanted)) == {
        "user:1": {"name": "Ada"},
        "user:2 / ünï 'q'": "plain text, not JSON",
        "config:theme": 3,
    }
    assert await settled(store.get_many(MINE, [])) == {}
    assert await settled(adapter(engine, name, value=None).get_many(MINE, ["user:1"])) is None


@pytest.mark.asyncio
async def test_list_plugins_gives_every_namespace_holding_rows(
    engine: Engine | AsyncEngine, sql_store: tuple[str, str]
) -> None:
    url, name = sql_store
    tables.insert(url, name, ROWS)
    store = adapter(engine, name)
    assert await settled(store.list_plugins()) == sorted([MINE, LONGER, OTHER_APP])
    await settled(store.clear(LONGER))
    assert await settled(store.list_plugins()) == sorted([MINE, OTHER_APP])


@pytest.mark.asyncio
async def test_a_table_object_works_like_its_name(
    engine: Engine | AsyncEngine, sql_store: tuple[str, str]
) -> None:
    url, name = sql_store
    tables.insert(url, name, ROWS)
    store = adapter(engine, tables.table(name))  # type: ignore[arg-type]
    assert await settled(store.get_many(LONGER, ["user:1"])) == {"user:1": "kept"}
    assert await settled(store.clear(LONGER)) == 1


@pytest.mark.asyncio
async def test_a_missing_table_is_named_with_the_columns_looked_for(
    engine: Engine | AsyncEngine, sql_store: tuple[str, str]
) -> None:
    _, name = sql_store
    store = TableNamespaces(engine, "plugin_kv_storag", namespace="plugin_name")
    with pytest.raises(LookupError) as raised:
        await settled(store.clear(MINE))
    assert str(raised.value).startswith(
        "TableNamespaces: there is no table 'plugin_kv_storag' in the "
    )
    assert "looked for columns 'plugin_name', 'key', found no such table" in str(raised.value)
    assert repr(name) in str(raised.value)  # among the tables there
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__  # no driver traceback above it


@pytest.mark.asyncio
async def test_a_missing_column_is_named_with_the_columns_found(
    engine: Engine | AsyncEngine, sql_store: tuple[str, str]
) -> None:
    _, name = sql_store
    store = adapter(engine, name, namespace="plugin", value="value")
    with pytest.raises(LookupError) as raised:
        await settled(store.list_keys(MINE))
    assert str(raised.value) == (
        f"TableNamespaces: table {name!r} in the {engine.url.drivername} database"
        f" {engine.url.database!r} has no column 'plugin', 'value': looked for columns"
        " 'plugin', 'key', 'value', found 'plugin_name', 'key', 'value_json';"
        " name yours with namespace=, key= and value="
    )


def test_a_table_object_without_the_columns_is_refused_at_once() -> None:
    engine = sa.create_engine("sqlite://")
    with pytest.raises(LookupError, match=r"the Table 't' given has no column 'plugin'"):
        TableNamespaces(engine, sa.Table("t", sa.MetaData(), sa.Column("key", sa.String)))
    engine.dispose()


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        (object(), r"got <object object at .*> of type builtins\.object"),
        ("sqlite:///x.db", r"got 'sqlite:///x\.db' of type builtins\.str"),
    ],
)
def test_what_is_not_an_engine_is_a_type_error_saying_what_is_expected(
    engine: object, expected: str
) -> None:
    expected = "needs an SQLAlchemy Engine .* or AsyncEngine .*" + expected
    with pytest.raises(TypeError, match=expected):
        TableNamespaces(engine, "t")  # type: ignore[call-overload]


def test_a_connection_is_not_an_engine() -> None:
    engine = sa.create_engine("sqlite://")
    with (
        engine.connect() as connection,
        pytest.raises(TypeError, match="not a connection or session: pass the engine it came from"),
    ):
        TableNamespaces(connection, "t")  # type: ignore[call-overload]
    engine.dispose()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"table": ""}, "table='' must be a table's name"),
        ({"table": 3}, "table=3 must be a table's name"),
        ({"key": ""}, "key='' must name a column"),
        ({"value": "key"}, "the columns must differ"),
    ],
)
def test_bad_options_are_refused_at_once(options: dict[str, object], message: str) -> None:
    engine = sa.create_engine("sqlite://")
    arguments = {"table": "t"} | options
    with pytest.raises((TypeError, ValueError), match=message):
        TableNamespaces(engine, **arguments)  # type: ignore[call-overload]
    engine.dispose()


def test_an_async_engine_without_greenlet_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine("sqlite+aiosqlite://")
    monkeypatch.setitem(sys.modules, "greenlet", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'SQLAlchemy\[asyncio\]'"):
        TableNamespaces(engine, "t")

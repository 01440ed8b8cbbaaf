"""`TableNamespaces`: isolate the tests of an SQL table that has a namespace column.

For a store that keeps every plugin's keys in one table, reached through SQLAlchemy (1.4 or
2.x, any dialect), one line in ``conftest.py`` tells plugin-kv's fixtures how to empty a
namespace of it::

    from plugin_kv.testing.sqlalchemy import TableNamespaces

    @pytest.fixture
    def kv_store(engine):
        return TableNamespaces(engine, "plugin_kv_storage", namespace="plugin_name",
                               value="value_json")

SQLAlchemy is the project's own: this module imports it, and nothing imports this module
unless the project does. Each method is one statement: ``clear`` one ``DELETE``,
``list_keys``, ``get_many`` and ``list_plugins`` one ``SELECT`` each.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, overload

from plugin_kv.errors import MissingDependencyError

try:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.sql.expression import TableClause
except ImportError as exc:  # pragma: no cover - tested in a process without SQLAlchemy
    raise MissingDependencyError(
        f"plugin_kv.testing.sqlalchemy needs SQLAlchemy 1.4 or newer ({exc}):"
        " pip install SQLAlchemy (for an AsyncEngine: pip install 'SQLAlchemy[asyncio]')"
    ) from exc

from ._shown import key_text, shown_value

__all__ = ["AsyncTableNamespaces", "SyncTableNamespaces", "TableNamespaces"]

TABLES_SHOWN = 20
"""How many of a database's tables a missing-table error lists."""


@overload
def TableNamespaces(
    engine: AsyncEngine,
    table: str | TableClause,
    *,
    namespace: str = "plugin",
    key: str = "key",
    value: str | None = None,
) -> AsyncTableNamespaces: ...


@overload
def TableNamespaces(
    engine: Engine,
    table: str | TableClause,
    *,
    namespace: str = "plugin",
    key: str = "key",
    value: str | None = None,
) -> SyncTableNamespaces: ...


def TableNamespaces(  # a factory, named as the classes it returns read
    engine: Engine | AsyncEngine,
    table: str | TableClause,
    *,
    namespace: str = "plugin",
    key: str = "key",
    value: str | None = None,
) -> SyncTableNamespaces | AsyncTableNamespaces:
    """Return a ``kv_store`` for ``table``, whose rows belong to the namespace in one column.

    Args:
        engine: an `Engine` (the methods are plain), or an `AsyncEngine` (they are
            coroutine functions, and the fixtures run them in the test's event loop).
        table: the table's name, or a `Table` (for a schema, or quoted names).
        namespace: the column holding the namespace (plugin-kv's fixtures: the plugin name).
        key: the column holding the key.
        value: the column holding the value, optional: with it, a failed test's report
            shows values next to keys (JSON text decoded, other values as stored).

    Raises:
        TypeError: ``engine`` is not an SQLAlchemy `Engine` or `AsyncEngine`.
        LookupError: a `Table` given lacks one of the columns. A table or column missing
            from the database is found at first use, by the method that needed it.
        MissingDependencyError: an `AsyncEngine` without the greenlet package.
    """
    if isinstance(engine, AsyncEngine):
        return AsyncTableNamespaces(engine, table, namespace=namespace, key=key, value=value)
    if isinstance(engine, Engine):
        return SyncTableNamespaces(engine, table, namespace=namespace, key=key, value=value)
    hint = ""
    if type(engine).__name__.endswith(("Connection", "Session")):
        hint = " (not a connection or session: pass the engine it came from)"
    raise TypeError(
        f"TableNamespaces needs an SQLAlchemy Engine (create_engine(url)) or AsyncEngine"
        f" (create_async_engine(url)){hint}; got {_short(engine)} of type"
        f" {type(engine).__module__}.{type(engine).__qualname__}"
    )


class _TableStatements:
    """What both kinds share: the table, its four statements, and the errors that explain."""

    def __init__(
        self,
        engine: Engine | AsyncEngine,
        table: str | TableClause,
        *,
        namespace: str,
        key: str,
        value: str | None,
    ) -> None:
        columns = {"namespace": namespace, "key": key} | ({} if value is None else {"value": value})
        for option, name in columns.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"TableNamespaces: {option}={name!r} must name a column (a str)")
        if len(set(columns.values())) < len(columns):
            raise ValueError(f"TableNamespaces: the columns must differ, got {columns!r}")
        self._engine = engine
        self._looked_for = list(columns.values())
        self._table = _table_of(table, self._looked_for)
        where = self._table.c[namespace] == sa.bindparam("ns")
        key_column = self._table.c[key]
        self._delete = sa.delete(self._table).where(where)
        self._keys = sa.select(key_column).where(where)
        self._values = (
            None
            if value is None
            else sa.select(key_column, self._table.c[value]).where(
                where, key_column.in_(sa.bindparam("keys", expanding=True))
            )
        )
        self._plugins = sa.select(self._table.c[namespace]).distinct()

    def __repr__(self) -> str:
        return f"TableNamespaces({self._table.name!r} on {self._engine.url.drivername})"

    def _problem(self, connection: Connection) -> str | None:
        """Say what the database lacks for the statements, or None when it lacks nothing."""
        inspector = sa.inspect(connection)
        name, schema = self._table.name, self._table.schema
        where = f"{self._engine.url.drivername} database {self._engine.url.database!r}"
        looked = ", ".join(map(repr, self._looked_for))
        if not inspector.has_table(name, schema=schema):
            tables = sorted(inspector.get_table_names(schema=schema))
            shown = ", ".join(map(repr, tables[:TABLES_SHOWN])) or "none"
            if len(tables) > TABLES_SHOWN:
                shown += f" and {len(tables) - TABLES_SHOWN} more"
            return (
                f"TableNamespaces: there is no table {name!r} in the {where}: looked for"
                f" columns {looked}, found no such table (tables there: {shown})"
            )
        found = [column["name"] for column in inspector.get_columns(name, schema=schema)]
        missing = [column for column in self._looked_for if column not in found]
        if not missing:
            return None
        return (
            f"TableNamespaces: table {name!r} in the {where} has no column"
            f" {', '.join(map(repr, missing))}: looked for columns {looked}, found"
            f" {', '.join(map(repr, found))}; name yours with namespace=, key= and value="
        )

    @staticmethod
    def _rows_of(rows: Iterable[Any], keys: list[str]) -> dict[str, Any]:
        # A case-insensitive collation (MySQL, MariaDB) also matches keys differing in case.
        wanted = set(keys)
        found = {key_text(key): shown_value(value) for key, value in rows}
        return {key: value for key, value in found.items() if key in wanted}


class SyncTableNamespaces(_TableStatements):
    """`TableNamespaces` on an `Engine`: plain methods, one statement each."""

    _engine: Engine

    def __init__(
        self,
        engine: Engine,
        table: str | TableClause,
        *,
        namespace: str = "plugin",
        key: str = "key",
        value: str | None = None,
    ) -> None:
        """Use ``table`` through ``engine``; see `TableNamespaces`."""
        super().__init__(engine, table, namespace=namespace, key=key, value=value)

    def clear(self, namespace: str) -> int:
        """Remove every row of ``namespace`` (one ``DELETE``); return how many there were."""
        with self._explained(), self._engine.begin() as connection:
            return int(connection.execute(self._delete, {"ns": namespace}).rowcount)

    def list_keys(self, namespace: str) -> list[str]:
        """Return the keys of ``namespace``, sorted."""
        with self._explained(), self._engine.connect() as connection:
            found = connection.execute(self._keys, {"ns": namespace}).scalars()
            return sorted(map(key_text, found))

    def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any] | None:
        """Return ``{key: value}`` for those of ``keys`` in ``namespace`` (None: no value=)."""
        if self._values is None:
            return None
        if not keys:
            return {}
        with self._explained(), self._engine.connect() as connection:
            rows = connection.execute(self._values, {"ns": namespace, "keys": list(keys)})
            return self._rows_of(rows, keys)

    def list_plugins(self) -> list[str]:
        """Return every namespace that holds a row, sorted."""
        with self._explained(), self._engine.connect() as connection:
            return sorted(map(key_text, connection.execute(self._plugins).scalars()))

    @contextlib.contextmanager
    def _explained(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError:
            problem = None
            # When the check fails too, it cannot tell: the driver's error stands.
            with contextlib.suppress(Exception), self._engine.connect() as connection:
                problem = self._problem(connection)
            if problem is None:
                raise
            raise LookupError(problem) from None


class AsyncTableNamespaces(_TableStatements):
    """`TableNamespaces` on an `AsyncEngine`: coroutine methods, one statement each."""

    _engine: AsyncEngine

    def __init__(
        self,
        engine: AsyncEngine,
        table: str | TableClause,
        *,
        namespace: str = "plugin",
        key: str = "key",
        value: str | None = None,
    ) -> None:
        """Use ``table`` through ``engine``; see `TableNamespaces`."""
        try:
            importlib.import_module("greenlet")
        except ImportError as exc:
            raise MissingDependencyError(
                f"TableNamespaces on an AsyncEngine needs SQLAlchemy's asyncio support, the"
                f" greenlet package ({exc}): pip install 'SQLAlchemy[asyncio]'"
            ) from exc
        super().__init__(engine, table, namespace=namespace, key=key, value=value)

    async def clear(self, namespace: str) -> int:
        """Remove every row of ``namespace`` (one ``DELETE``); return how many there were."""
        async with self._explained(), self._engine.begin() as connection:
            return int((await connection.execute(self._delete, {"ns": namespace})).rowcount)

    async def list_keys(self, namespace: str) -> list[str]:
        """Return the keys of ``namespace``, sorted."""
        async with self._explained(), self._engine.connect() as connection:
            found = (await connection.execute(self._keys, {"ns": namespace})).scalars()
            return sorted(map(key_text, found))

    async def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any] | None:
        """Return ``{key: value}`` for those of ``keys`` in ``namespace`` (None: no value=)."""
        if self._values is None:
            return None
        if not keys:
            return {}
        async with self._explained(), self._engine.connect() as connection:
            params = {"ns": namespace, "keys": list(keys)}
            return self._rows_of(await connection.execute(self._values, params), keys)

    async def list_plugins(self) -> list[str]:
        """Return every namespace that holds a row, sorted."""
        async with self._explained(), self._engine.connect() as connection:
            return sorted(map(key_text, (await connection.execute(self._plugins)).scalars()))

    @contextlib.asynccontextmanager
    async def _explained(self) -> AsyncIterator[None]:
        try:
            yield
        except sa.exc.DBAPIError:
            problem = None
            # When the check fails too, it cannot tell: the driver's error stands.
            with contextlib.suppress(Exception):
                async with self._engine.connect() as connection:
                    problem = await connection.run_sync(self._problem)
            if problem is None:
                raise
            raise LookupError(problem) from None


def _table_of(table: object, columns: list[str]) -> TableClause:
    """Return ``table`` as a table clause with ``columns``; a `Table` must have them."""
    if isinstance(table, str) and table:
        return sa.table(table, *(sa.column(name) for name in columns))
    if isinstance(table, TableClause):
        found = list(table.c.keys())
        missing = [name for name in columns if name not in found]
        if missing:
            raise LookupError(
                f"TableNamespaces: the Table {table.name!r} given has no column"
                f" {', '.join(map(repr, missing))}: looked for columns"
                f" {', '.join(map(repr, columns))}, found {', '.join(map(repr, found))};"
                " name yours with namespace=, key= and value="
            )
        return table
    raise TypeError(
        f"TableNamespaces: table={_short(table)} must be a table's name (a non-empty str)"
        " or an SQLAlchemy Table"
    )


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""The tutorial's two suites, run whole in a fresh pytest by the plugin's tests and its floor suite.

``LEAKY_SUITE`` shares one namespace ("found 11"); ``FIXED_SUITE`` gives each test its own.
"""

LEAK_WARNING = "ignore:.*outside the namespaces it was given:UserWarning"
"""The filter that lets the leaky suite run under ``filterwarnings = error``: it writes outside
its namespaces on purpose, and its failure is the point."""

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

# -- The same story on a store of the project's own, isolated by a ready-made adapter -------
# The suites use a fixture `bot`, the project's data layer, with coroutine methods `set`,
# `get` and `count(plugin, prefix)`; each conftest below defines it on one kind of store, and
# `kv_store` with one line. `bot.set` also notes each namespace it writes in the file WRITTEN,
# so the outer test can check that every one of them is gone after the run.

SQL_CONFTEST = '''
import json

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from plugin_kv.testing.sqlalchemy import TableNamespaces

URL = {url!r}
WRITTEN = {written!r}
TABLE = sa.table({table!r}, sa.column("plugin_name"), sa.column("key"), sa.column("value_json"))


class Bot:
    """The project's data layer: JSON values in one table, on an Engine or an AsyncEngine."""

    def __init__(self, engine):
        self.engine = engine

    async def run(self, statement):
        if isinstance(self.engine, sa.engine.Engine):
            with self.engine.begin() as connection:
                result = connection.execute(statement)
                return result.all() if statement.is_select else None
        async with self.engine.begin() as connection:
            result = await connection.execute(statement)
            return result.all() if statement.is_select else None

    async def set(self, plugin, key, value):
        with open(WRITTEN, "a") as written:
            written.write(plugin + "\\n")
        row = {{"plugin_name": plugin, "key": key, "value_json": json.dumps(value)}}
        await self.run(sa.insert(TABLE).values(**row))

    async def get(self, plugin, key):
        rows = await self.run(
            sa.select(TABLE.c.value_json).where(TABLE.c.plugin_name == plugin, TABLE.c.key == key)
        )
        return json.loads(rows[0][0]) if rows else None

    async def count(self, plugin, prefix):
        rows = await self.run(sa.select(TABLE.c.key).where(TABLE.c.plugin_name == plugin))
        return sum(key.startswith(prefix) for (key,) in rows)


@pytest_asyncio.fixture
async def engine():
    """The project's engine, opened in the test's event loop."""
    if sa.engine.make_url(URL).get_dialect().is_async:
        engine = create_async_engine(URL)
        yield engine
        await engine.dispose()
    else:
        engine = sa.create_engine(URL)
        yield engine
        engine.dispose()


@pytest.fixture
def bot(engine):
    return Bot(engine)


@pytest.fixture
def kv_store(engine):
    return TableNamespaces(engine, TABLE.name, namespace="plugin_name", value="value_json")
'''

REDIS_CONFTEST = '''
import json

import pytest
import pytest_asyncio
import redis.asyncio

from plugin_kv.testing.redis import PrefixNamespaces

URL = {url!r}
WRITTEN = {written!r}


class Bot:
    """The project's data layer: JSON values under Redis keys "<plugin>:<key>"."""

    def __init__(self, client):
        self.client = client

    async def set(self, plugin, key, value):
        with open(WRITTEN, "a") as written:
            written.write(plugin + "\\n")
        await self.client.set(f"{{plugin}}:{{key}}", json.dumps(value))

    async def get(self, plugin, key):
        found = await self.client.get(f"{{plugin}}:{{key}}")
        return None if found is None else json.loads(found)

    async def count(self, plugin, prefix):
        return len([k async for k in self.client.scan_iter(match=f"{{plugin}}:{{prefix}}*")])


@pytest_asyncio.fixture
async def client():
    """The project's client, opened in the test's event loop."""
    client = redis.asyncio.Redis.from_url(URL)
    yield client
    await (client.aclose() if hasattr(client, "aclose") else client.close())
    await client.connection_pool.disconnect()  # redis-py 4.2 leaves it open


@pytest.fixture
def bot(client):
    return Bot(client)


@pytest.fixture
def kv_store(client):
    return PrefixNamespaces(client)
'''

STORE_LEAKY_SUITE = LEAKY_SUITE.replace("kv_service", "bot").replace('prefix="user:"', '"user:"')
"""`LEAKY_SUITE` written against a ``bot`` fixture of a store of the project's own."""

STORE_FIXED_SUITE = """
import pytest


@pytest.mark.asyncio
async def test_create_users(bot, kv_isolated_plugin):
    for n in range(5):
        await bot.set(kv_isolated_plugin, f"user:{n}", {"name": f"user {n}"})
    assert await bot.get(kv_isolated_plugin, "user:0") == {"name": "user 0"}


@pytest.mark.asyncio
async def test_user_sessions(bot, kv_isolated_plugin):
    for n in range(3):
        await bot.set(kv_isolated_plugin, f"user:session:{n}", {"active": True})
    assert await bot.get(kv_isolated_plugin, "user:session:0") == {"active": True}


@pytest.mark.asyncio
@pytest.mark.parametrize("n", range(4))
async def test_count_with_prefix(bot, kv_isolated_plugin, n):
    for key in ("user:a", "user:b", "user:c", "config:theme"):
        await bot.set(kv_isolated_plugin, key, n)
    found = await bot.count(kv_isolated_plugin, "user:")
    assert found == 3, f"expected 3 keys with prefix 'user:', found {found}"
"""

STORE_FAILING_TEST = """
import pytest


@pytest.mark.asyncio
async def test_fails_after_writing(bot, kv_plugin_factory):
    billing, search = kv_plugin_factory("billing"), kv_plugin_factory("search")
    await bot.set(billing, "user:1", {"plan": "pro"})
    await bot.set(search, "user:1", {"query": "kv"})
    assert await bot.get(billing, "user:1") == {"plan": "free"}
"""

"""`PrefixNamespaces` on the real Redis server, through redis-py's sync and async clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from plugin_kv.testing.redis import SCAN_COUNT, PrefixNamespaces, RedisValue
from plugin_kv_dev import settled

Client = redis.Redis | redis.asyncio.Redis


@pytest.fixture
def server(redis_url: str, token: str) -> Iterator[redis.Redis]:
    """A plain client on the test server; removes this test's keys (all hold its token)."""
    client = redis.Redis.from_url(redis_url)
    yield client
    left = list(client.scan_iter(match=f"*{token}*", count=1000))
    if left:
        client.unlink(*left)
    client.close()


@pytest.mark.asyncio
async def test_clear_removes_the_namespace_and_nothing_else(
    redis_client: Client, server: redis.Redis, token: str
) -> None:
    mine = f"app-{token}"
    glob = f"app-{token}?"  # unescaped, "app-<token>?:*" would match namespace mine2's keys
    others = [
        f"{mine}2:user:1",  # a namespace that mine is a prefix of
        f"{mine}",  # no separator: not a key of the namespace
        f"other-app:{mine}:user:1",  # another application's key that holds mine
        f"x{mine}:user:1",
        f"{glob}:user:1",
    ]
    server.mset({f"{mine}:user:1": "1", f"{mine}:user:2:deep": "2", **dict.fromkeys(others, "x")})
    store = PrefixNamespaces(redis_client)
    assert await settled(store.clear(mine)) == 2
    # SCAN may return a key twice (while Redis grows its table): compare sets
    assert {k.decode() for k in server.scan_iter(match=f"*{token}*")} == set(others)
    assert await settled(store.clear(mine)) == 0
    assert await settled(store.clear(glob)) == 1  # its own key only
    assert server.exists(*others[:4]) == 4


@pytest.mark.asyncio
async def test_clear_goes_page_by_page_through_many_keys(
    redis_client: Client, server: redis.Redis, token: str
) -> None:
    count = SCAN_COUNT * 2 + 7
    with server.pipeline(transaction=False) as pipe:
        for n in range(count):
            pipe.set(f"big-{token}:k{n}", n)
        pipe.execute()
    store = PrefixNamespaces(redis_client)
    assert len(await settled(store.list_keys(f"big-{token}"))) == count
    assert await settled(store.clear(f"big-{token}")) == count
    assert await settled(store.list_keys(f"big-{token}")) == []


@pytest.mark.asyncio
async def test_list_keys_and_get_many_show_what_the_namespace_holds(
    redis_client: Client, server: redis.Redis, token: str
) -> None:
    mine = f"app-{token}"
    server.mset(
        {
            f"{mine}:user:1": '{"name": "Ada"}',
            f"{mine}:ünï 'q'": "plain text, not JSON",
            f"{mine}:raw": b"\xff\xfe",
            f"{mine}2:user:1": "not mine",
        }
    )
    server.hset(f"{mine}:profile", "name", "Ada")
    store = PrefixNamespaces(redis_client)
    keys = await settled(store.list_keys(mine))
    assert keys == sorted(["user:1", "ünï 'q'", "raw", "profile"])
    assert await settled(store.get_many(mine, [*keys, "missing"])) == {
        "user:1": {"name": "Ada"},
        "ünï 'q'": "plain text, not JSON",
        "raw": b"\xff\xfe",
        "profile": RedisValue("hash"),
    }
    assert repr(RedisValue("hash")) == "<redis hash>"
    assert await settled(store.get_many(mine, [])) == {}


@pytest.mark.asyncio
async def test_a_client_decoding_responses_works_alike(
    redis_url: str, server: redis.Redis, token: str
) -> None:
    server.set(f"app-{token}:user:1", "[1, 2]")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = PrefixNamespaces(client)
    assert store.list_keys(f"app-{token}") == ["user:1"]
    assert store.get_many(f"app-{token}", ["user:1"]) == {"user:1": [1, 2]}
    assert store.clear(f"app-{token}") == 1
    client.close()


@pytest.mark.asyncio
async def test_list_plugins_gives_the_fixtures_namespaces_holding_keys(
    redis_client: Client, server: redis.Redis, token: str
) -> None:
    ours = [f"kvt.{token}.1.test_a", f"kvt.{token}.2.test_a.billing"]
    server.mset({f"{ours[0]}:k": "1", f"{ours[1]}:k:deep": "1", f"other-{token}:k": "1"})
    store = PrefixNamespaces(redis_client)
    found = await settled(store.list_plugins())
    assert set(ours) <= set(found)
    assert all(name.startswith("kvt.") for name in found)
    assert found == sorted(found)
    await settled(store.clear(ours[0]))
    assert ours[0] not in await settled(store.list_plugins())


def test_a_custom_separator_lays_keys_out_with_it(redis_url: str, server: redis.Redis) -> None:
    server.set("kvt.0a1b2c3d.1.t/user:1", "1")
    store = PrefixNamespaces(server, separator="/")
    assert store.list_keys("kvt.0a1b2c3d.1.t") == ["user:1"]
    assert store.clear("kvt.0a1b2c3d.1.t") == 1
    assert repr(store).endswith(", separator='/')")


@pytest.mark.parametrize(
    ("separator", "message"),
    [
        (".", r"separator='\.' holds '\.', which the fixtures' namespaces may hold too"),
        ("-x", r"separator='-x' holds '-x'"),
        ("", "separator='' must be a non-empty str"),
    ],
)
def test_a_separator_the_namespaces_may_hold_is_refused(
    separator: str, message: str, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(ValueError, match=message):
        PrefixNamespaces(client, separator=separator)
    client.close()


@pytest.mark.parametrize("namespace", ["a:b", ""])
def test_a_namespace_holding_the_separator_is_refused(namespace: str, redis_url: str) -> None:
    store = PrefixNamespaces(redis.Redis.from_url(redis_url))
    message = f"namespace {namespace!r} is empty or holds the separator"
    with pytest.raises(ValueError, match=message):
        store.clear(namespace)


def test_what_is_not_a_client_is_a_type_error_saying_what_is_expected() -> None:
    with pytest.raises(
        TypeError,
        match=r"needs a redis-py client, redis\.Redis or redis\.asyncio\.Redis .*"
        r"got 'redis://localhost' of type builtins\.str",
    ):
        PrefixNamespaces("redis://localhost")  # type: ignore[call-overload]

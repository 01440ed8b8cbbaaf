"""The KVService contract, on every backend (see tests/conftest.py for the parametrization)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plugin_kv import KVService
from plugin_kv.testing import KVPluginFactory
from tests.conftest import FakeClock

pytestmark = pytest.mark.asyncio


async def snapshot(kv: KVService, plugin: str) -> dict[str, Any]:
    """Everything stored in ``plugin``: the baseline refusals must leave untouched."""
    keys = await kv.list_keys(plugin)
    return {key: await kv.get(plugin, key) for key in keys}


def explain(expected: list[str], found: list[str], everything: list[str]) -> str:
    """Say how a key listing differs from what a test expected."""
    extra = sorted(set(found) - set(expected))
    missing = sorted(set(expected) - set(found))
    return (
        f"expected {len(expected)} keys, found {len(found)}\n"
        f"  extra:   {extra}\n  missing: {missing}\n  every key in the namespace: {everything}"
    )


# -- the fixed prefix tests -----------------------------------------------------------------


async def test_count_with_prefix(kv_service: KVService, kv_isolated_plugin: str) -> None:
    plugin = kv_isolated_plugin
    for key in ("user:1", "user:2", "user:3", "config:theme"):
        await kv_service.set(plugin, key, {"written_by": "test_count_with_prefix"})

    found = await kv_service.count(plugin, prefix="user:")

    everything = await kv_service.list_keys(plugin)
    users = await kv_service.list_keys(plugin, prefix="user:")
    assert found == 3, explain(["user:1", "user:2", "user:3"], users, everything)


async def test_list_keys_with_prefix(kv_service: KVService, kv_isolated_plugin: str) -> None:
    plugin = kv_isolated_plugin
    for key in ("cache:a", "cache:b", "cache:c", "session:x", "cachex"):
        await kv_service.set(plugin, key, 1)

    found = await kv_service.list_keys(plugin, prefix="cache:")

    expected = ["cache:a", "cache:b", "cache:c"]
    assert found == expected, explain(expected, found, await kv_service.list_keys(plugin))


# -- basic operations -------------------------------------------------------------------------


async def test_set_then_get_returns_the_value(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    await kv_service.set(kv_isolated_plugin, "greeting", "hello")
    assert await kv_service.get(kv_isolated_plugin, "greeting") == "hello"


async def test_set_replaces_the_previous_value(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    await kv_service.set(kv_isolated_plugin, "k", 1)
    await kv_service.set(kv_isolated_plugin, "k", {"now": "a dict"})
    assert await kv_service.get(kv_isolated_plugin, "k") == {"now": "a dict"}
    assert await kv_service.count(kv_isolated_plugin) == 1


async def test_get_missing_returns_default(kv_service: KVService, kv_isolated_plugin: str) -> None:
    assert await kv_service.get(kv_isolated_plugin, "missing") is None
    marker = object()
    assert await kv_service.get(kv_isolated_plugin, "missing", default=marker) is marker


async def test_stored_none_is_not_missing(kv_service: KVService, kv_isolated_plugin: str) -> None:
    await kv_service.set(kv_isolated_plugin, "nothing", None)
    assert await kv_service.get(kv_isolated_plugin, "nothing", default="MISSING") is None
    assert await kv_service.list_keys(kv_isolated_plugin) == ["nothing"]


async def test_delete_says_whether_the_key_existed(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    await kv_service.set(kv_isolated_plugin, "k", 1)
    assert await kv_service.delete(kv_isolated_plugin, "k") is True
    assert await kv_service.delete(kv_isolated_plugin, "k") is False
    assert await kv_service.get(kv_isolated_plugin, "k") is None


async def test_list_keys_is_sorted_by_code_point_and_limited(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    keys = ["b", "a", "B", "é", "a:2", "a:10", "Z", "😀"]
    for key in keys:
        await kv_service.set(kv_isolated_plugin, key, key)
    assert await kv_service.list_keys(kv_isolated_plugin) == sorted(keys)
    assert await kv_service.list_keys(kv_isolated_plugin, limit=3) == sorted(keys)[:3]
    assert await kv_service.list_keys(kv_isolated_plugin, limit=0) == []


async def test_set_many_and_get_many(kv_service: KVService, kv_isolated_plugin: str) -> None:
    items = {f"item:{n:03}": {"n": n} for n in range(250)}
    await kv_service.set_many(kv_isolated_plugin, items)
    assert await kv_service.count(kv_isolated_plugin, "item:") == 250
    wanted = ["item:007", "item:249", "absent", "item:007"]
    assert await kv_service.get_many(kv_isolated_plugin, wanted) == {
        "item:007": {"n": 7},
        "item:249": {"n": 249},
    }
    assert await kv_service.get_many(kv_isolated_plugin, []) == {}


async def test_namespaces_are_isolated(
    kv_service: KVService, kv_plugin_factory: KVPluginFactory
) -> None:
    alpha, beta = kv_plugin_factory("alpha"), kv_plugin_factory("beta")
    await kv_service.set(alpha, "user:1", "alpha's")
    await kv_service.set(beta, "user:1", "beta's")
    await kv_service.set(beta, "user:2", "beta's")

    assert await kv_service.get(alpha, "user:1") == "alpha's"
    assert await kv_service.count(alpha, "user:") == 1
    assert await kv_service.clear(beta) == 2
    assert await kv_service.list_keys(alpha) == ["user:1"]


async def test_clear_with_prefix_removes_only_that_prefix(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    for key in ("tmp:1", "tmp:2", "tmp:3", "tmpx", "keep"):
        await kv_service.set(kv_isolated_plugin, key, 0)
    assert await kv_service.clear(kv_isolated_plugin, "tmp:") == 3
    assert await kv_service.list_keys(kv_isolated_plugin) == ["keep", "tmpx"]
    assert await kv_service.clear(kv_isolated_plugin) == 2
    assert await kv_service.count(kv_isolated_plugin) == 0


async def test_clear_removes_ten_thousand_keys(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    await kv_service.set_many(kv_isolated_plugin, {f"k{n:05}": n for n in range(10_000)})
    assert await kv_service.clear(kv_isolated_plugin) == 10_000
    assert await kv_service.count(kv_isolated_plugin) == 0


async def test_list_plugins_shows_namespaces_holding_live_keys(
    kv_service: KVService, kv_plugin_factory: KVPluginFactory
) -> None:
    full, emptied = kv_plugin_factory("full"), kv_plugin_factory("emptied")
    await kv_service.set(full, "k", 1)
    await kv_service.set(emptied, "k", 1)
    await kv_service.delete(emptied, "k")
    plugins = await kv_service.list_plugins()
    assert full in plugins
    assert emptied not in plugins
    assert plugins == sorted(plugins)
    assert (await kv_service.plugin_sizes())[full] == 1


# -- prefixes are literal, case-sensitive key ranges ----------------------------------------


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("user_", ["user_1"]),  # `_` is not a wildcard
        ("user:", ["user:1", "user:2"]),
        ("User:", ["User:9"]),  # case-sensitive
        ("USER:", []),
        ("100%", ["100%"]),  # `%` is not a wildcard
        ("", ["100%", "User:9", "user:1", "user:2", "userX1", "user_1", "usé", "u\U0010ffff"]),
        ("us", ["user:1", "user:2", "userX1", "user_1", "usé"]),
        ("u\U0010ffff", ["u\U0010ffff"]),  # ends in the highest code point
        ("\U0010ffff", []),
        ("usé", ["usé"]),
    ],
)
async def test_prefix_matches_literally(
    kv_service: KVService, kv_isolated_plugin: str, prefix: str, expected: list[str]
) -> None:
    keys = ["user:1", "user:2", "userX1", "user_1", "User:9", "100%", "usé", "u\U0010ffff"]
    for key in keys:
        await kv_service.set(kv_isolated_plugin, key, key)
    assert await kv_service.list_keys(kv_isolated_plugin, prefix) == sorted(expected)
    assert await kv_service.count(kv_isolated_plugin, prefix) == len(expected)


async def test_prefix_next_to_the_surrogate_range(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    for key in ("a\ud7ff", "a\ud7ffz", "a\ue000", "b"):
        await kv_service.set(kv_isolated_plugin, key, 1)
    assert await kv_service.list_keys(kv_isolated_plugin, "a\ud7ff") == ["a\ud7ff", "a\ud7ffz"]
    assert await kv_service.clear(kv_isolated_plugin, "a\ud7ff") == 2
    assert await kv_service.list_keys(kv_isolated_plugin) == ["a\ue000", "b"]


# -- values survive the round trip with their types ----------------------------------------

ROUND_TRIP_VALUES = [
    0,
    -7,
    2**63 + 1,
    2**200,
    1.0,
    -0.0,
    1e100,
    5e-324,
    0.1 + 0.2,
    True,
    False,
    None,
    "",
    "plain",
    "üñíçødé 😀 \u0000 inside",
    [],
    {},
    [1, 1.0, "1", True, None],
    {"nested": {"list": [{"deep": [1, 2, {"x": None}]}]}, "": "empty key"},
]


@pytest.mark.parametrize("value", ROUND_TRIP_VALUES, ids=repr)
async def test_value_round_trips_with_its_type(
    kv_service: KVService, kv_isolated_plugin: str, value: Any
) -> None:
    await kv_service.set(kv_isolated_plugin, "v", value)
    back = await kv_service.get(kv_isolated_plugin, "v", default="MISSING")
    assert back == value
    assert repr(back) == repr(value)  # 1 stays 1, 1.0 stays 1.0, -0.0 keeps its sign


async def test_value_at_the_size_limit_is_stored(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    value = "x" * (65_536 - 2)  # the JSON text adds two quotes: exactly 65,536 bytes
    await kv_service.set(kv_isolated_plugin, "big", value)
    assert await kv_service.get(kv_isolated_plugin, "big") == value


# -- hostile but valid keys are plain data --------------------------------------------------

HOSTILE_KEYS = [
    "'); DROP TABLE kv_entries; --",
    "quote \" and ' and `",
    "%_*?[]^$\\",
    "spaces and\ttabs\nnewlines",
    "path/to/../key",
    "😀🔥 emoji",
    "ключ",
    "k" * 255,
    "\U0010ffff",
]


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=lambda key: repr(key)[:30])
async def test_hostile_key_is_plain_data(
    kv_service: KVService, kv_isolated_plugin: str, key: str
) -> None:
    await kv_service.set(kv_isolated_plugin, "neighbour", "untouched")
    await kv_service.set(kv_isolated_plugin, key, {"key": key})
    assert await kv_service.get(kv_isolated_plugin, key) == {"key": key}
    assert await kv_service.list_keys(kv_isolated_plugin, key) == [key]
    assert await kv_service.delete(kv_isolated_plugin, key) is True
    assert await snapshot(kv_service, kv_isolated_plugin) == {"neighbour": "untouched"}


# -- expiry, on a clock the test controls ----------------------------------------------------


async def test_key_expires_exactly_at_its_ttl(
    kv_clocked: KVService, clock: FakeClock, kv_isolated_plugin: str
) -> None:
    kv = kv_clocked
    await kv.set(kv_isolated_plugin, "session:1", "soon gone", ttl=10)
    await kv.set(kv_isolated_plugin, "session:2", "stays")

    clock.advance(9.999)
    assert await kv.get(kv_isolated_plugin, "session:1") == "soon gone"

    clock.advance(0.001)
    assert await kv.get(kv_isolated_plugin, "session:1", default="expired") == "expired"
    assert await kv.list_keys(kv_isolated_plugin) == ["session:2"]
    assert await kv.count(kv_isolated_plugin, "session:") == 1
    assert await kv.get_many(kv_isolated_plugin, ["session:1", "session:2"]) == {
        "session:2": "stays"
    }
    assert await kv.delete(kv_isolated_plugin, "session:1") is False


async def test_expired_namespace_disappears_from_list_plugins(
    kv_clocked: KVService, clock: FakeClock, kv_isolated_plugin: str
) -> None:
    await kv_clocked.set(kv_isolated_plugin, "k", 1, ttl=0.5)
    assert kv_isolated_plugin in await kv_clocked.list_plugins()
    clock.advance(0.5)
    assert kv_isolated_plugin not in await kv_clocked.list_plugins()


async def test_purge_expired_removes_only_expired_keys(
    kv_clocked: KVService, clock: FakeClock, kv_isolated_plugin: str
) -> None:
    await kv_clocked.set_many(kv_isolated_plugin, {"a": 1, "b": 2}, ttl=5)
    await kv_clocked.set(kv_isolated_plugin, "c", 3, ttl=50)
    await kv_clocked.set(kv_isolated_plugin, "d", 4)
    clock.advance(6)
    assert await kv_clocked.purge_expired() >= 2  # other tests' expired keys may go too
    assert await kv_clocked.list_keys(kv_isolated_plugin) == ["c", "d"]
    assert await kv_clocked.clear(kv_isolated_plugin) == 2


async def test_set_after_expiry_revives_the_key(
    kv_clocked: KVService, clock: FakeClock, kv_isolated_plugin: str
) -> None:
    await kv_clocked.set(kv_isolated_plugin, "k", "old", ttl=1)
    clock.advance(2)
    await kv_clocked.set(kv_isolated_plugin, "k", "new")
    clock.advance(10_000)
    assert await kv_clocked.get(kv_isolated_plugin, "k") == "new"


async def test_clear_counts_only_live_keys(
    kv_clocked: KVService, clock: FakeClock, kv_isolated_plugin: str
) -> None:
    await kv_clocked.set(kv_isolated_plugin, "gone", 1, ttl=1)
    await kv_clocked.set(kv_isolated_plugin, "live", 1)
    clock.advance(1)
    assert await kv_clocked.clear(kv_isolated_plugin) == 1
    clock.advance(-10)  # even were the clock to go back, the expired key is gone
    assert await kv_clocked.list_keys(kv_isolated_plugin) == []


# -- concurrency ----------------------------------------------------------------------------


async def test_hundreds_of_concurrent_writers_lose_nothing(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    async def write(n: int) -> None:
        await kv_service.set(kv_isolated_plugin, f"task:{n:03}", {"n": n})

    await asyncio.gather(*(write(n) for n in range(500)))

    assert await kv_service.count(kv_isolated_plugin, "task:") == 500
    found = await kv_service.get_many(kv_isolated_plugin, [f"task:{n:03}" for n in range(500)])
    assert found == {f"task:{n:03}": {"n": n} for n in range(500)}


async def test_concurrent_mixed_operations_agree(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    await kv_service.set_many(kv_isolated_plugin, {f"old:{n}": n for n in range(100)})

    async def churn(n: int) -> None:
        await kv_service.set(kv_isolated_plugin, f"new:{n}", n)
        assert await kv_service.delete(kv_isolated_plugin, f"old:{n}") is True

    await asyncio.gather(*(churn(n) for n in range(100)))
    assert await kv_service.count(kv_isolated_plugin, "old:") == 0
    assert await kv_service.count(kv_isolated_plugin, "new:") == 100

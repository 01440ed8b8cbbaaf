"""What the fixtures ask of `KVService`: clear and count in one call, and call ordering."""

from __future__ import annotations

import pytest

from plugin_kv import InvalidPluginError, KVService
from plugin_kv.testing import KVPluginFactory


@pytest.mark.asyncio
async def test_clear_and_count_removes_one_namespace_and_counts_what_is_left(
    kv_service: KVService, kv_plugin_factory: KVPluginFactory
) -> None:
    mine, neighbour = kv_plugin_factory("mine"), kv_plugin_factory("neighbour")
    await kv_service.set_many(mine, {"a": 1, "b": 2, "c:d": 3})
    await kv_service.set(neighbour, "a", 1)
    assert await kv_service.clear_and_count(mine) == (3, 0)
    assert await kv_service.list_keys(mine) == []
    assert await kv_service.list_keys(neighbour) == ["a"]
    assert await kv_service.clear_and_count(mine) == (0, 0)


@pytest.mark.asyncio
async def test_clear_and_count_refuses_a_bad_namespace(kv_service: KVService) -> None:
    with pytest.raises(InvalidPluginError, match="'bad name!'"):
        await kv_service.clear_and_count("bad name!")

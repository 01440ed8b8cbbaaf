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

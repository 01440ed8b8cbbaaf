"""Leaks: data a test wrote outside the namespaces it was given, still there after it.

Each process remembers who left what (`Run.left_by`), so that a failed test that wrote to a
namespace other tests left data in names them: its polluters.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Literal

import pytest

from plugin_kv import KVService

from . import _names
from ._stores import Store

LeakMode = Literal["fail", "warn", "off"]


class KVLeakWarning(UserWarning):
    """A test left data behind outside the namespaces it was given."""


async def find_leaks(
    watched: Store, written: dict[str, set[str]], given: set[str]
) -> dict[str, list[str]]:
    """Return ``{namespace: keys}`` of the keys written outside ``given`` still present."""
    leaks: dict[str, list[str]] = {}
    for plugin, keys in sorted(written.items()):
        if plugin in given or plugin == _names.LEASE_NAMESPACE:
            continue
        found = await _still_there(watched, plugin, keys)
        if found is None:
            return leaks
        if found:
            leaks[plugin] = sorted(found)
    return leaks


async def find_polluters(
    watched: Store, left_by: dict[str, dict[str, str]], touched: Iterable[str], test_id: str
) -> list[str]:
    """Return lines naming the tests that left data, still there, in the ``touched`` namespaces.

    ``left_by`` is ``{namespace: {key: test id}}`` of what earlier tests left; the test
    ``test_id`` itself is never named, nor a test whose keys are gone.
    """
    lines: list[str] = []
    for plugin in sorted(touched):
        others = {key: who for key, who in left_by.get(plugin, {}).items() if who != test_id}
        present = await _still_there(watched, plugin, set(others)) if others else None
        if not present:
            continue
        by_test: dict[str, list[str]] = {}
        for key in sorted(present):
            by_test.setdefault(others[key], []).append(key)
        total = sum(map(len, by_test.values()))
        lines.append(f"namespace {plugin!r} holds {total} keys that other tests left there:")
        for who, keys in sorted(by_test.items(), key=lambda item: (-len(item[1]), item[0])):
            shown = ", ".join(map(repr, keys[:3])) + (", ..." if len(keys) > 3 else "")
            lines.append(f"  {len(keys)} key{'' if len(keys) == 1 else 's'} by {who}: {shown}")
    return lines


async def _still_there(watched: Store, plugin: str, keys: set[str]) -> set[str] | None:
    """Return which of ``keys`` the namespace still holds (None: the store cannot tell)."""
    if watched.is_service:
        service: KVService = watched.target  # type: ignore[assignment]
        if service.closed:
            return None
        return set(await service.get_many(plugin, sorted(keys)))
    if not watched.can_list:
        return None
    return keys & set(await watched.list_keys(plugin))


def report_leaks(
    item: pytest.Item, store_name: str, leaks: dict[str, list[str]], mode: LeakMode
) -> None:
    """Fail the test or warn, per ``mode``, naming each namespace and its keys."""
    __tracebackhide__ = True
    lines = [
        f"namespace {plugin!r}: {len(keys)} key{'' if len(keys) == 1 else 's'}: "
        + ", ".join(map(repr, keys[:5]))
        + (" ..." if len(keys) > 5 else "")
        for plugin, keys in leaks.items()
    ]
    message = (
        f"{item.nodeid} left data in {store_name} outside the namespaces it was given:\n  "
        + "\n  ".join(lines)
        + "\nWrite through kv_isolated_plugin (or kv_plugin_factory) so it is cleaned up."
    )
    if mode == "fail":
        pytest.fail(message, pytrace=False)
    path, line, _ = item.location
    warnings.warn_explicit(KVLeakWarning(message), KVLeakWarning, path, (line or 0) + 1)

"""Leak reports: data a test wrote outside the namespaces it was given, still there after it."""

from __future__ import annotations

import warnings
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
        if watched.is_service:
            service: KVService = watched.target  # type: ignore[assignment]
            if service.closed:
                return leaks
            found = sorted(await service.get_many(plugin, sorted(keys)))
        else:
            found = sorted(keys & set(await watched.list_keys(plugin)))
        if found:
            leaks[plugin] = found
    return leaks


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

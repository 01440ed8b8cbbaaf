"""Per-test cleanup: remove the namespaces a test was given, check them empty, find leaks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from ._leaks import find_leaks
from ._names import LEASE_NAMESPACE
from ._redact import redact
from ._stores import CheckFailed as _CheckFailed
from ._stores import Store


@dataclass
class TestState:
    """What the fixtures know about one test."""

    __test__ = False  # not a test class, whatever pytest's naming rules say

    store: Store | None = None
    """The test's `kv_store`, once a namespace fixture asked for it."""
    pending: list[str] = field(default_factory=list)
    """Namespaces given to the test and not removed yet."""
    given: list[str] = field(default_factory=list)
    """Every namespace given to the test."""
    watched: Store | None = None
    """The store whose writes the leak check follows."""
    written: dict[str, set[str]] = field(default_factory=dict)
    """Keys the test wrote through `watched`, by namespace."""
    stop_watching: Callable[[], None] | None = None
    leaks_checked: bool = False
    failed: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    """The event loop the test's store works in, when it belongs to one."""

    def record_write(self, plugin: str, keys: list[str]) -> None:
        """Remember keys written through the watched store (a write observer)."""
        self.written.setdefault(plugin, set()).update(keys)

    def watch(self, store: Store) -> None:
        """Follow the writes made through ``store`` from now on, for the leak check."""
        if self.watched is None and store.observe_writes is not None:
            self.watched = store
            stop = store.observe_writes(self.record_write)
            self.stop_watching = stop if callable(stop) else None

    def stop(self) -> None:
        """Stop following writes."""
        if self.stop_watching is not None:
            self.stop_watching()
            self.stop_watching = None


async def remove_namespaces(state: TestState, keep: bool) -> list[str]:
    """Clear each pending namespace and check it empty (unless ``keep``); return problems."""
    problems: list[str] = []
    store = state.store
    pending, state.pending = state.pending, []
    if store is None or keep:
        return problems
    for namespace in pending:
        try:
            left = await store.clear_checked(namespace)
        except _CheckFailed as failed:  # removed, but its emptiness could not be checked
            problems.append(
                f"could not check that namespace {namespace!r} in {store.name} is empty:"
                f" {type(failed.cause).__name__}: {failed.cause}"
            )
            continue
        except Exception as exc:  # the store went away, or its clear is broken: say so
            problems.append(_not_removed(store, namespace, exc))
            continue
        if left:
            problems.append(_left_behind(store, namespace, left))
    return problems


def remove_namespaces_now(state: TestState) -> list[str]:
    """Do `remove_namespaces`' work without an event loop, where the store can; problems.

    A `KVService` on a file clears and counts in one quick call of the calling thread.
    What cannot be removed that way stays pending, for `remove_namespaces`.
    """
    store = state.store
    if store is None or not store.is_service:
        return []
    problems: list[str] = []
    pending: list[str] = []
    for namespace in state.pending:
        try:
            left = store.clear_checked_now(namespace)
        except Exception as exc:
            problems.append(_not_removed(store, namespace, exc))
            continue
        if left is None:
            pending.append(namespace)
        elif left:
            problems.append(_left_behind(store, namespace, left))
    state.pending = pending
    return problems


def _not_removed(store: Store, namespace: str, exc: Exception) -> str:
    later = "a later run sweeps it" if store.is_service else "it stays in the store"
    return (
        f"could not remove namespace {namespace!r} from {store.name}:"
        f" {type(exc).__name__}: {exc} ({later})"
    )


def _left_behind(store: Store, namespace: str, left: int) -> str:
    return (
        f"namespace {namespace!r} in {store.name} still holds {left} keys after"
        " clearing it: something wrote to it after the test ended"
    )


def leaks_to_check(state: TestState) -> bool:
    """Return whether the test wrote outside its namespaces, through the watched store."""
    if state.leaks_checked or state.watched is None:
        return False
    given = state.given
    return any(plugin not in given and plugin != LEASE_NAMESPACE for plugin in state.written)


async def check_leaks(state: TestState) -> tuple[list[str], dict[str, list[str]]]:
    """Return problems met and ``{namespace: keys}`` the test left outside its namespaces."""
    if not leaks_to_check(state) or state.watched is None:
        return [], {}
    state.leaks_checked = True
    try:
        return [], await find_leaks(state.watched, state.written, set(state.given))
    except Exception as exc:
        return [f"could not check what the test left in {state.watched.name}: {exc}"], {}


async def settle(
    state: TestState, keep: bool, leaks: bool, remove: bool
) -> tuple[list[str], dict[str, list[str]]]:
    """Remove the pending namespaces (if ``remove``), then (if ``leaks``) find leaks."""
    problems = await remove_namespaces(state, keep) if remove and state.pending else []
    if not leaks:
        return problems, {}
    more, found = await check_leaks(state)
    return problems + more, found


def fail_on(problems: list[str]) -> None:
    """Error the test with every cleanup problem, when there are any."""
    __tracebackhide__ = True
    if problems:
        message = "plugin-kv cleanup failed:\n" + "\n".join(problems)
        pytest.fail(redact(message), pytrace=False)  # a store's error may show its URL

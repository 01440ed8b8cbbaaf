"""After a test: remove → verify → leaks → keep, one pipeline with one error path.

`after_test` runs the steps in order, awaited in the event loop the test's store works in:
a loop of pytest-asyncio's (`_fixtures`), or the run's own (`finish`, from synchronous
teardown code). Whatever the store, `conclude` turns what the steps found into the test's
error or warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from ._leaks import find_leaks, report_leaks
from ._names import LEASE_NAMESPACE
from ._redact import redact
from ._run import Run
from ._stores import CheckFailed, Cleared, Store


@dataclass
class TestState:
    """What the fixtures know about one attempt of one test (a rerun starts afresh)."""

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
    failed: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    """The event loop the test's store works in, when it belongs to one."""
    sweep_due: bool = False
    """Whether this test is the first of its process to use its kind of store: it sweeps it."""

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

    def wrote_outside(self) -> bool:
        """Return whether the test wrote outside its namespaces, through the watched store.

        Only a watched store's writes are known: the fixtures watch one unless leaks are off.
        """
        given = self.given
        return any(plugin not in given and plugin != LEASE_NAMESPACE for plugin in self.written)


@dataclass
class Findings:
    """What the steps after a test found."""

    problems: list[str] = field(default_factory=list)
    """Why the cleanup failed, one line each: the test errors with them."""
    leaks: dict[str, list[str]] = field(default_factory=dict)
    """``{namespace: keys}`` the test left outside its namespaces."""


async def after_test(run: Run, item: pytest.Item, state: TestState, found: Findings) -> None:
    """Keep or remove the test's pending namespaces, verifying each; then look for leaks."""
    store = state.store
    pending, state.pending = state.pending, []
    if store is not None and pending and not _keep(run, item, state, store, pending):
        for namespace in pending:
            try:
                cleared = await store.clear_checked(namespace)
            except CheckFailed as failed:  # removed, but its emptiness could not be checked
                found.problems.append(
                    f"could not check that namespace {namespace!r} in {store.name} is empty:"
                    f" {type(failed.cause).__name__}: {failed.cause}"
                )
                continue
            except Exception as exc:  # the store went away, or its clear is broken: say so
                found.problems.append(_not_removed(store, namespace, exc))
                continue
            _verify(run, state, store, namespace, cleared, found)
    if state.watched is not None and state.wrote_outside():
        await _look_for_leaks(run, item, state, state.watched, found)


def finish(run: Run, item: pytest.Item, state: TestState) -> None:
    """Run `after_test` from synchronous teardown code, in the run's own loop; `conclude`."""
    __tracebackhide__ = True
    found = Findings()
    if state.pending or state.wrote_outside():  # else there is nothing to wait for
        run.call(after_test(run, item, state, found))
    conclude(run, item, state, found)


def conclude(run: Run, item: pytest.Item, state: TestState, found: Findings) -> None:
    """Error the test with every cleanup problem, then report its leaks."""
    __tracebackhide__ = True
    if found.problems:  # a store's error may show its URL: masked
        message = "plugin-kv cleanup failed:\n" + "\n".join(found.problems)
        pytest.fail(redact(message), pytrace=False)
    if found.leaks and state.watched is not None:
        report_leaks(item, state.watched.name, found.leaks, run.leaks)


def _keep(run: Run, item: pytest.Item, state: TestState, store: Store, pending: list[str]) -> bool:
    """Keep a failed test's namespaces with ``--kv-keep-failed``, noting them; say if kept."""
    if not (run.keep_failed and state.failed):
        return False
    run.outbox.kept += [f"{item.nodeid}: {name} in {store.name}" for name in pending]
    run.kept_any = True
    return True


def _verify(
    run: Run, state: TestState, store: Store, namespace: str, cleared: Cleared, found: Findings
) -> None:
    """Check a cleared namespace is empty; count it for the forgotten-override check."""
    if cleared.left:
        found.problems.append(_left_behind(store, namespace, cleared.left))
    observed = state.watched is store
    if cleared.removed is not None or observed:
        run.outbox.handed += 1
        run.outbox.store = store.name
        if (cleared.removed or 0) > 0 or (observed and namespace in state.written):
            run.outbox.written += 1


async def _look_for_leaks(
    run: Run, item: pytest.Item, state: TestState, watched: Store, found: Findings
) -> None:
    """Find what the test left outside its namespaces; remember who left it (polluters)."""
    try:
        found.leaks = await find_leaks(watched, state.written, set(state.given))
    except Exception as exc:
        found.problems.append(f"could not check what the test left in {watched.name}: {exc}")
        return
    for namespace, keys in found.leaks.items():
        left = run.left_by.setdefault(namespace, {})
        left.update(dict.fromkeys(keys, item.nodeid))


def _not_removed(store: Store, namespace: str, exc: Exception) -> str:
    later = (
        "a later run sweeps it"
        if store.is_service or store.can_sweep
        else "it stays in the store: its kv_store has no list_plugins() for a later run's sweep"
    )
    return (
        f"could not remove namespace {namespace!r} from {store.name}:"
        f" {type(exc).__name__}: {exc} ({later})"
    )


def _left_behind(store: Store, namespace: str, left: int) -> str:
    causes = (
        "something wrote to it after the test ended (a task or thread the test started)"
        if store.is_service
        else f"its clear(namespace) did not remove them (does {store.kind}.clear match the"
        " namespace exactly, as list_keys does?), or something wrote to it after the test ended"
    )
    return (
        f"namespace {namespace!r} in {store.name} still holds {left} keys after clearing it:"
        f" {causes}"
    )

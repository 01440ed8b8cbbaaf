"""The fixtures: the shared store, `kv_store`, namespaces per test and their cleanup."""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from plugin_kv import KVService

from ._cleanup import Findings, TestState, after_test, conclude, finish
from ._redact import StoreURL
from ._run import RUN, Run

DEFAULT_FILE_NAME = "plugin-kv.sqlite3"
LOOP_SCOPES = ("function", "class", "module", "package", "session")

_TEST = pytest.StashKey[TestState]()


class KVPluginFactory:
    """Make namespaces for one test; each is removed from `kv_store` after the test.

    ``kv_plugin_factory()`` returns a fresh namespace; ``kv_plugin_factory("billing")``
    adds a label to its name, to tell several apart in failure output.
    """

    def __init__(self, run: Run, state: TestState, item: pytest.Item) -> None:
        """Bind the factory to a run and a test; pytest does this for you."""
        self._run = run
        self._state = state
        self._item = item

    def __call__(self, label: str = "") -> str:
        """Return a new namespace, unique across workers and runs, readable from the test."""
        namespace = self._run.new_namespace(self._item.name, label)
        self._state.pending.append(namespace)
        self._state.given.append(namespace)
        return namespace


def test_state(item: pytest.Item) -> TestState:
    """Return the fixtures' state for ``item``, made on first use."""
    state = item.stash.get(_TEST, None)
    if state is None:
        state = item.stash[_TEST] = TestState()
    return state


def existing_state(item: pytest.Item) -> TestState | None:
    """Return the fixtures' state for ``item`` if a fixture made one."""
    return item.stash.get(_TEST, None)


def forget_state(item: pytest.Item) -> None:
    """Start an attempt of ``item`` afresh: a rerun gets new namespaces, removed after it."""
    if _TEST in item.stash:
        del item.stash[_TEST]


@pytest.fixture(scope="session")
def kv_store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of the store that kv_service opens (override it to choose per test).

    A ``str`` whose repr masks its password (`StoreURL`): pytest shows it masked.
    """
    run = request.config.stash[RUN]
    if run.url is None:  # the default store: one file in the run's temp dir
        base = tmp_path_factory.getbasetemp()
        if hasattr(request.config, "workerinput"):  # xdist workers share their parent's dir
            base = base.parent
        run.url = str(base / DEFAULT_FILE_NAME)
    return StoreURL(run.url)


@pytest.fixture
def kv_service(kv_store_url: str, request: pytest.FixtureRequest) -> Iterator[KVService]:
    """Return the KVService on the store shared by the whole run (all tests, all workers)."""
    run = request.config.stash[RUN]
    service = run.service(kv_store_url)
    state = test_state(request.node)
    if run.leaks != "off":
        state.watch(run.store(service))
    try:
        yield service
    finally:
        state.stop()
    # Torn down after every fixture that uses it or its namespaces: the steps after the test,
    # unless they belong to a kv_store of the project's own (its own teardown runs them).
    if state.store is None or state.store.is_service:
        finish(run, request.node, state)


@pytest.fixture
def kv_store(kv_service: KVService) -> object:
    """Return the store whose namespaces the fixtures remove: kv_service; override for yours.

    Any object with ``clear(namespace)`` (and optionally ``list_keys(namespace)``), each a
    coroutine function or a plain one, see `plugin_kv.testing.NamespaceStore`.
    """
    return kv_service


@pytest.fixture
def kv_plugin_factory(kv_store: object, request: pytest.FixtureRequest) -> KVPluginFactory:
    """Return a factory of namespaces for this test, each removed after it."""
    run = request.config.stash[RUN]
    return KVPluginFactory(run, _bind(run, kv_store, request), request.node)


@pytest.fixture
def kv_isolated_plugin(kv_store: object, request: pytest.FixtureRequest) -> str:
    """Return a namespace of this test's own, removed after the test, even if it fails."""
    # The factory's work without its fixture: one fixture less to set up per test.
    run = request.config.stash[RUN]
    return KVPluginFactory(run, _bind(run, kv_store, request), request.node)()


def _bind(run: Run, kv_store: object, request: pytest.FixtureRequest) -> TestState:
    """Adopt ``kv_store`` as the test's store and schedule its cleanup; return the state."""
    state = test_state(request.node)
    if state.store is None:
        store = state.store = run.store(kv_store)
        if not store.is_service:
            state.sweep_due = run.meet_own_store(store)
            if run.leaks != "off":
                state.watch(store)
            loops = request.config.stash.get(_LOOPS, None)
            if store.needs_loop and loops:
                # Its sweep and cleanup run in the test's event loop, around the test and
                # before the fixtures it uses are torn down.
                request.getfixturevalue(loops[_test_loop_scope(request.node, loops)])
            else:
                if state.sweep_due:
                    run.call(run.sweep_own_store(store))
                request.addfinalizer(lambda: finish(run, request.node, state))
        # A KVService of the run's: the kv_service fixture's teardown runs the steps after it.
    return state


async def _finish_in_loop(run: Run, item: pytest.Item, state: TestState) -> None:
    """Run the steps after the test inside the event loop its store works in."""
    __tracebackhide__ = True
    found = Findings()
    await after_test(run, item, state, found)
    scope = _fallen_back_from(item)
    if found.problems and scope:
        found.problems.append(
            f"(this test runs in pytest-asyncio's {scope}-scoped event loop, but before 0.24"
            " pytest-asyncio has no loop_scope: plugin-kv cleans up a kv_store with coroutine"
            " methods in the test function's own loop; a store bound to the test's loop needs"
            " pytest-asyncio 0.24 or newer)"
        )
    conclude(run, item, state, found)


def _test_loop_scope(item: pytest.Item, loops: dict[str, str]) -> str:
    """Return the scope of the event loop the test runs in (pytest-asyncio's rules)."""
    marker = item.get_closest_marker("asyncio")
    if marker is not None:
        scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
        if scope in loops:
            return str(scope)
    try:
        default = item.config.getini("asyncio_default_test_loop_scope")
    except ValueError:  # pytest-asyncio before 0.26 runs tests in the function's loop
        default = "function"
    return str(default) if default in loops else "function"


def _fallen_back_from(item: pytest.Item) -> str | None:
    """Return the test's loop scope when its cleanup cannot run in that loop (0.23), else None."""
    loops = item.config.stash.get(_LOOPS, None)
    if not loops:
        return None
    scope = _test_loop_scope(item, loops)
    return scope if scope != "function" and loops[scope] == loops["function"] else None


def _loop_fixture(scope: str, name: str) -> Callable[..., Any]:
    async def cleanup_in_loop(request: pytest.FixtureRequest) -> AsyncIterator[None]:
        run = request.config.stash[RUN]
        state = test_state(request.node)
        state.loop = asyncio.get_running_loop()
        if state.sweep_due and state.store is not None:
            await run.sweep_own_store(state.store)
        yield
        await _finish_in_loop(run, request.node, state)

    cleanup_in_loop.__name__ = cleanup_in_loop.__qualname__ = name
    cleanup_in_loop.__doc__ = f"Clean up a test's namespaces in its {scope}-scoped event loop."
    return cleanup_in_loop


def register_loop_fixtures(config: pytest.Config) -> None:
    """Register the fixtures that clean up in a test's event loop, when pytest-asyncio is here.

    Done at configure time, not at import: importing pytest-asyncio first would keep pytest
    from rewriting its asserts when ``-p pytest_asyncio.plugin`` comes after this plugin.
    """
    name = "plugin_kv.testing.loops"
    if config.pluginmanager.has_plugin(name):
        return
    try:
        import pytest_asyncio
    except ImportError:  # no pytest-asyncio: coroutine stores run in a loop of the plugin's own
        return
    # pytest-asyncio 0.24 added loop_scope; 0.23 runs a function's fixtures in its own loop.
    has_loop_scope = "loop_scope" in inspect.signature(pytest_asyncio.fixture).parameters
    loops: dict[str, str] = {}
    holder = types.ModuleType(name, "plugin-kv's cleanup fixtures, one per event loop scope.")
    for scope in LOOP_SCOPES if has_loop_scope else ("function",):
        fixture_name = f"_kv_cleanup_in_{scope}_loop"
        function = _loop_fixture(scope, fixture_name)
        if has_loop_scope:
            fixture = pytest_asyncio.fixture(loop_scope=scope)(function)  # type: ignore[call-overload]
        else:
            fixture = pytest_asyncio.fixture(function)
        setattr(holder, fixture_name, fixture)
        loops[scope] = fixture_name
    for scope in LOOP_SCOPES:  # 0.23: every scope falls back to the function's loop
        loops.setdefault(scope, "_kv_cleanup_in_function_loop")
    config.pluginmanager.register(holder, name)
    config.stash[_LOOPS] = loops


_LOOPS = pytest.StashKey[dict[str, str]]()
"""``{loop scope: the fixture that cleans up in that loop}``, once registered."""

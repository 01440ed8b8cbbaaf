"""pytest fixtures that give every test its own plugin-kv namespace, and clean it up.

Installed with plugin-kv, this plugin loads by itself (entry point ``plugin_kv.testing``).
Where plugin autoloading is off, enable it with ``-p plugin_kv.testing`` or
``pytest_plugins = ["plugin_kv.testing"]``; or copy this file, unchanged, into your root
``conftest.py``. It imports only pytest and plugin-kv's public API.

Fixtures:
    kv_service: the `KVService` on the store shared by the whole run (all xdist workers).
    kv_isolated_plugin: a namespace of this test's own, removed after the test.
    kv_plugin_factory: makes more namespaces, for tests of several plugins at once.
    kv_store_url: the store `kv_service` opens; override it to run against other stores.

Every namespace a test was given is removed after it with one statement, then checked empty,
also when the test fails. A test that asks for none of these fixtures opens no store.

Each test process holds a lease in every store it uses, renewed from a thread of its own
while the process lives, however long a test runs. A run sweeps the namespaces of processes
whose lease is gone, or that died on this machine: what crashed runs left behind.

Options (command line over ini over environment):
    --kv-url / kv_url / PLUGIN_KV_URL: the store; default one SQLite file for the run.
    --kv-leaks / kv_leaks: fail, warn (default) or off; report data a test left outside
        its namespaces.
    --kv-keep-failed: keep the namespaces of failed tests for inspection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import secrets
import socket
import sys
import threading
import time
import warnings
from collections.abc import Coroutine, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import pytest

from plugin_kv import KVError, KVService

__all__ = ["KVLeakWarning", "KVPluginFactory"]

T = TypeVar("T")
LeakMode = Literal["fail", "warn", "off"]

NAMESPACE_PREFIX = "kvt."
"""Every namespace this plugin makes starts with this; other data is the tests' own."""
LEASE_PLUGIN = "kvt"
"""Namespace holding one lease per live test process, so crashed runs can be told apart."""
LEASE_SECONDS = 3600.0
"""How long a lease outlives its last renewal: a crashed run on another machine is swept
this long after it died."""
LEASE_REFRESH_SECONDS = 300.0
"""How often the lease keeper renews this process's leases."""
DEFAULT_FILE_NAME = "plugin-kv.sqlite3"
KV_FIXTURES = ("kv_service", "kv_isolated_plugin", "kv_plugin_factory", "kv_store_url")

_NAME_LIMIT = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")


class KVLeakWarning(UserWarning):
    """A test left data behind outside the namespaces it was given."""


class KVPluginFactory:
    """Make namespaces for one test; each is removed after the test.

    ``kv_plugin_factory()`` returns a fresh namespace; ``kv_plugin_factory("billing")``
    adds a label to its name, to tell several apart in failure output.
    """

    def __init__(self, run: _Run, service: KVService, item: pytest.Item) -> None:
        """Bind the factory to a run, a store and a test; pytest does this for you."""
        self._run = run
        self._service = service
        self._item = item

    def __call__(self, label: str = "") -> str:
        """Return a new namespace, unique across workers and runs, readable from the test."""
        namespace = self._run.new_namespace(self._item.name, label)
        _test_state(self._item).namespaces.append((self._service, namespace))
        return namespace


# -- options -----------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--kv-*`` options and their ini settings."""
    group = parser.getgroup("kv", "plugin-kv test isolation")
    options: list[tuple[str, dict[str, Any]]] = [
        (
            "--kv-url",
            {
                "dest": "kv_url",
                "metavar": "URL",
                "help": "Store for kv_service: a SQLite path or postgresql:// URL. Overrides the "
                "kv_url ini setting and PLUGIN_KV_URL. Default: one SQLite file for the run.",
            },
        ),
        (
            "--kv-leaks",
            {
                "dest": "kv_leaks",
                "choices": ("fail", "warn", "off"),
                "help": "What to do when a test leaves data outside the namespaces it was "
                "given: fail (error the test), warn (default), off (do not check).",
            },
        ),
        (
            "--kv-keep-failed",
            {
                "dest": "kv_keep_failed",
                "action": "store_true",
                "default": None,
                "help": "Keep the namespaces of failed tests, to inspect their data; "
                "a later run sweeps them.",
            },
        ),
    ]
    for name, settings in options:
        with contextlib.suppress(ValueError):  # a copy of this module registered them
            group.addoption(name, **settings)
    parser.addini("kv_url", "plugin-kv store URL for kv_service (see --kv-url).", default="")
    parser.addini("kv_leaks", "plugin-kv leak check: fail, warn or off.", default="warn")
    parser.addini("kv_keep_failed", "Keep failed tests' namespaces.", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    """Check the options and set up this run's state."""
    if not _is_active_copy(config, globals()):
        return
    leaks = config.getoption("kv_leaks") or config.getini("kv_leaks")
    if leaks not in ("fail", "warn", "off"):
        raise pytest.UsageError(
            f"plugin-kv: kv_leaks = {leaks!r} is not valid: use fail, warn or off"
        )
    url = config.getoption("kv_url") or config.getini("kv_url") or os.environ.get("PLUGIN_KV_URL")
    keep = config.getoption("kv_keep_failed")
    config.stash[_RUN] = _Run(
        url=url or None,
        leaks=cast(LeakMode, leaks),
        keep_failed=bool(config.getini("kv_keep_failed") if keep is None else keep),
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    """Show the store and the leak mode at the top of the run."""
    run = config.stash.get(_RUN, None)
    if run is None:
        return None
    store = run.url or "one SQLite file for the run, in its base temp directory"
    return f"plugin-kv: store {store}; leaks: {run.leaks}"


@pytest.hookimpl(trylast=True)  # after pytest tears down an interrupted test's fixtures
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Close the stores this process opened and give up its lease."""
    run = session.config.stash.get(_RUN, None)
    if run is None:
        return
    for problem in run.close():
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"plugin-kv: {problem}", yellow=True)
        else:
            print(f"plugin-kv: {problem}", file=sys.stderr)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Report namespaces kept for inspection and stale ones swept."""
    run = config.stash.get(_RUN, None)
    if run is None:
        return
    for line in run.summary_lines():
        terminalreporter.write_line(f"plugin-kv: {line}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's outcome, and name the test's namespaces when it fails."""
    report = yield
    state = item.stash.get(_TEST, None)
    if state is not None:
        state.failed = state.failed or report.failed
        if report.failed and state.namespaces:
            run = item.config.stash[_RUN]
            fate = (
                "kept for inspection"
                if run.keep_failed
                else "removed after the test (rerun with --kv-keep-failed to keep them)"
            )
            lines = [f"{service.url}  {name}" for service, name in state.namespaces]
            report.sections.append(("plugin-kv namespaces", f"{fate}:\n" + "\n".join(lines)))
    return report


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _kv_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> _Run:
    """This run's plugin-kv state, with the default store placed in the run's temp dir."""
    run = request.config.stash[_RUN]
    if run.url is None:
        base = tmp_path_factory.getbasetemp()
        if hasattr(request.config, "workerinput"):  # xdist workers share their parent's dir
            base = base.parent
        run.url = str(base / DEFAULT_FILE_NAME)
    return run


@pytest.fixture
def kv_store_url(_kv_run: _Run) -> str:
    """Return the URL of the store that kv_service opens for this test."""
    assert _kv_run.url is not None
    return _kv_run.url


@pytest.fixture
def kv_service(_kv_run: _Run, kv_store_url: str) -> KVService:
    """Return the KVService on the store shared by the whole run (all tests, all workers)."""
    return _kv_run.service(kv_store_url)


@pytest.fixture
def kv_plugin_factory(
    _kv_run: _Run, kv_service: KVService, request: pytest.FixtureRequest
) -> KVPluginFactory:
    """Return a factory of namespaces for this test, each removed after it."""
    return KVPluginFactory(_kv_run, kv_service, request.node)


@pytest.fixture
def kv_isolated_plugin(_kv_run: _Run, kv_service: KVService, request: pytest.FixtureRequest) -> str:
    """Return a namespace of this test's own, removed after the test, even if it fails."""
    return KVPluginFactory(_kv_run, kv_service, request.node)()  # one fixture less to set up


@pytest.fixture(autouse=True)
def _kv_isolation(request: pytest.FixtureRequest) -> Iterator[None]:
    """Clean up the namespaces the test was given and check it left nothing elsewhere."""
    state = _test_state(request.node)
    run = request.config.stash[_RUN]
    if run.leaks != "off" and any(name in request.fixturenames for name in KV_FIXTURES):
        state.watched = request.getfixturevalue("kv_service")
        stop_watching = state.watched.observe_writes(state.record_write)
    else:
        stop_watching = None
    try:
        yield
    finally:
        if stop_watching is not None:
            stop_watching()
    if state.namespaces or state.written:
        run.clean_up(request.node, state)


# -- per-run and per-test state ------------------------------------------------------------


@dataclass
class _TestState:
    namespaces: list[tuple[KVService, str]] = field(default_factory=list)
    watched: KVService | None = None
    written: dict[str, set[str]] = field(default_factory=dict)
    """Keys the test wrote through `watched`, by namespace."""
    failed: bool = False

    def record_write(self, plugin: str, keys: list[str]) -> None:
        """Remember keys written through the watched service (a write observer)."""
        self.written.setdefault(plugin, set()).update(keys)


@dataclass
class _Run:
    """Stores opened by this process, its lease, and what to report at the end."""

    url: str | None
    leaks: LeakMode
    keep_failed: bool
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    counter: int = 0
    services: dict[str, KVService] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None
    keeper: _LeaseKeeper = field(init=False)

    def __post_init__(self) -> None:
        self.keeper = _LeaseKeeper(self.token)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` to completion from synchronous fixture code."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            return self.loop.run_until_complete(coroutine)
        # Called from inside a running loop (getfixturevalue in an async test): use a thread.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    def service(self, url: str) -> KVService:
        """Return this process's service for ``url``, opening it (and sweeping) on first use."""
        service = self.services.get(url)
        if service is None or service.closed:  # a test may have closed the shared service
            try:
                service = self.call(_open(url))
            except KVError as exc:
                __tracebackhide__ = True
                pytest.fail(
                    f"plugin-kv could not open the store for kv_service: {type(exc).__name__}:"
                    f" {exc}\n(the store comes from --kv-url, the kv_url ini setting or"
                    " PLUGIN_KV_URL)",
                    pytrace=False,
                )
            self.services[url] = service
            self.call(_take_lease(service, self.token))
            self.keeper.keep(url)  # renews it from now on
            self.swept.extend(self.call(_sweep_stale(service, self.token)))
        return service

    def new_namespace(self, test_name: str, label: str) -> str:
        """Return a fresh namespace name: ``kvt.<process>.<n>.<test name>[.<label>]``."""
        self.counter += 1
        head = f"{NAMESPACE_PREFIX}{self.token}.{self.counter}."
        readable = _UNSAFE.sub("_", test_name).strip("_") or "test"
        if label:
            tail = "." + (_UNSAFE.sub("_", label).strip("_") or "x")
            readable = readable[: max(8, _NAME_LIMIT - len(head) - len(tail))] + tail
        return (head + readable)[:_NAME_LIMIT]

    def clean_up(self, item: pytest.Item, state: _TestState) -> None:
        """Remove the test's namespaces, check them empty, then look for leaks."""
        __tracebackhide__ = True
        given = {name for _, name in state.namespaces}
        if self.keep_failed and state.failed:
            self.kept += [f"{item.nodeid}: {name} in {kv.url}" for kv, name in state.namespaces]
            state.namespaces.clear()
        elsewhere = {
            plugin: keys
            for plugin, keys in state.written.items()
            if plugin not in given and plugin != LEASE_PLUGIN
        }
        problems, leaks = self.call(_clean(state.namespaces, state.watched, elsewhere))
        state.namespaces.clear()
        state.written.clear()
        if problems:
            pytest.fail("plugin-kv cleanup failed:\n" + "\n".join(problems), pytrace=False)
        if leaks and state.watched is not None:
            self._report_leaks(item, state.watched, leaks)

    def _report_leaks(
        self, item: pytest.Item, service: KVService, leaks: dict[str, list[str]]
    ) -> None:
        __tracebackhide__ = True
        lines = [
            f"namespace {plugin!r}: {len(keys)} key{'' if len(keys) == 1 else 's'}: "
            + ", ".join(map(repr, keys[:5]))
            + (" ..." if len(keys) > 5 else "")
            for plugin, keys in leaks.items()
        ]
        message = (
            f"{item.nodeid} left data in {service.url} outside the namespaces it was given:\n  "
            + "\n  ".join(lines)
            + "\nWrite through kv_isolated_plugin (or kv_plugin_factory) so it is cleaned up."
        )
        if self.leaks == "fail":
            pytest.fail(message, pytrace=False)
        path, line, _ = item.location
        warnings.warn_explicit(KVLeakWarning(message), KVLeakWarning, path, (line or 0) + 1)

    def summary_lines(self) -> list[str]:
        """Return what the end of the run should say about kept and swept namespaces."""
        lines = [f"kept {entry}" for entry in self.kept]
        if self.swept:
            lines.append(
                f"swept {len(self.swept)} namespaces left by runs that ended without cleanup: "
                + ", ".join(self.swept[:5])
                + (" ..." if len(self.swept) > 5 else "")
            )
        return lines

    def close(self) -> list[str]:
        """Give up the lease and close every store this process opened; return failures."""
        errors = self.keeper.stop()  # first, so that it renews no lease given up below
        for service in self.services.values():
            if service.closed:
                continue
            try:
                self.call(_release(service, self.token))
            except Exception as exc:
                errors.append(f"could not close {service.url} cleanly: {exc}")
        self.services.clear()
        if self.loop is not None:
            self.loop.close()
            self.loop = None
        return errors


class _LeaseKeeper:
    """Renews this process's leases every `LEASE_REFRESH_SECONDS`, from a thread of its own.

    A test may run for longer than a lease lasts, and it makes no call to the store while it
    runs; the thread keeps its namespaces safe from other runs' sweeps meanwhile. It uses a
    service of its own per store, in its own event loop, so it never shares the tests'.
    """

    def __init__(self, token: str) -> None:
        self._token = token
        self._urls: list[str] = []
        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def keep(self, url: str) -> None:
        """Renew the lease on ``url`` from now on; start the thread on first use."""
        with self._lock:
            if url not in self._urls:
                self._urls.append(url)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="plugin-kv lease keeper", daemon=True
                )
                self._thread.start()

    def stop(self) -> list[str]:
        """Stop the thread; return the stores on which a renewal failed, and why."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        return [
            f"could not renew this process's lease on {url}: {why} (another run may have"
            " swept its namespaces)"
            for url, why in self._failures.items()
        ]

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        services: dict[str, KVService] = {}
        try:
            while not self._stopping.wait(LEASE_REFRESH_SECONDS):
                with self._lock:
                    urls = list(self._urls)
                for url in urls:
                    try:
                        if url not in services:
                            services[url] = loop.run_until_complete(_open(url))
                        loop.run_until_complete(_take_lease(services[url], self._token))
                        self._failures.pop(url, None)
                    except Exception as exc:  # the store is away: retry at the next turn
                        self._failures[url] = f"{type(exc).__name__}: {exc}"
        finally:
            for service in services.values():
                with contextlib.suppress(Exception):
                    loop.run_until_complete(service.close())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


_RUN = pytest.StashKey[_Run]()
_TEST = pytest.StashKey[_TestState]()


def _test_state(item: pytest.Item) -> _TestState:
    state = item.stash.get(_TEST, None)
    if state is None:
        state = item.stash[_TEST] = _TestState()
    return state


def _is_active_copy(config: pytest.Config, namespace: dict[str, Any]) -> bool:
    """Return whether this copy of the module runs the hooks (a conftest copy wins)."""
    copies = [
        plugin
        for plugin in config.pluginmanager.get_plugins()
        if getattr(plugin, "_PLUGIN_KV_TESTING", False)
    ]
    copies.sort(key=lambda plugin: getattr(plugin, "__name__", "") == "plugin_kv.testing")
    return not copies or getattr(copies[0], "__dict__", None) is namespace


_PLUGIN_KV_TESTING = True


def _lease_value() -> dict[str, Any]:
    return {"machine": _machine_id(), "pid": os.getpid(), "since": time.time()}


def _machine_id() -> str:
    """Identify this host and process namespace, so a pid can be checked for liveness."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("no-proc")
    return "/".join(parts)


def _process_is_gone(lease: object) -> bool:
    """Return True only when ``lease`` names a process on this machine that has exited."""
    if not isinstance(lease, dict) or lease.get("machine") != _machine_id():
        return False
    if "no-proc" in str(lease.get("machine")):
        return False
    pid = lease.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def _open(url: str) -> KVService:
    return await KVService.open(url)


async def _take_lease(service: KVService, token: str) -> None:
    """Take, or renew, process ``token``'s lease on ``service`` for `LEASE_SECONDS`."""
    await service.set(LEASE_PLUGIN, token, _lease_value(), ttl=LEASE_SECONDS)


async def _clean(
    namespaces: list[tuple[KVService, str]],
    watched: KVService | None,
    elsewhere: dict[str, set[str]],
) -> tuple[list[str], dict[str, list[str]]]:
    """Clear each namespace with one statement and check it is empty; find leftover writes.

    Returns the problems met, and ``{namespace: keys}`` for the keys the test wrote outside
    its namespaces that are still there.
    """
    problems: list[str] = []
    for service, namespace in namespaces:
        try:
            if service.url.startswith("sqlite:"):
                # One connection runs calls in the order they are issued, so the check can
                # be queued behind the clear at once: one thread wake-up instead of two.
                _, left = await asyncio.gather(service.clear(namespace), service.count(namespace))
            else:  # a pool may run the two on different connections, in either order
                await service.clear(namespace)
                left = await service.count(namespace)
        except Exception as exc:  # the store went away: say so, do not hide the namespace
            problems.append(
                f"could not remove namespace {namespace!r} from {service.url}: {exc}"
                " (a later run sweeps it)"
            )
            continue
        if left:
            problems.append(
                f"namespace {namespace!r} still holds {left} keys after clearing it:"
                " something wrote to it after the test ended"
            )
    leaks: dict[str, list[str]] = {}
    if watched is not None and not watched.closed:
        for plugin, keys in sorted(elsewhere.items()):
            try:
                found = await watched.get_many(plugin, sorted(keys))
            except Exception as exc:
                problems.append(f"could not check what the test left in {plugin!r}: {exc}")
                continue
            if found:
                leaks[plugin] = sorted(found)
    return problems, leaks


async def _sweep_stale(service: KVService, own_token: str) -> list[str]:
    """Remove namespaces of processes that ended without cleaning up, and only those.

    A namespace belongs to the process whose token it carries. It is stale when that
    process's lease is gone (expired or released) or names a process on this machine that
    has exited. Live runs, even on other machines, keep their lease, so their data stays.
    """
    verdicts: dict[str, bool] = {}
    swept: list[str] = []
    for namespace in await service.list_plugins():
        if not namespace.startswith(NAMESPACE_PREFIX):
            continue
        token = namespace[len(NAMESPACE_PREFIX) :].split(".", 1)[0]
        if token == own_token:
            continue
        if token not in verdicts:
            lease = await service.get(LEASE_PLUGIN, token)
            verdicts[token] = lease is None or _process_is_gone(lease)
            if verdicts[token] and lease is not None:
                await service.delete(LEASE_PLUGIN, token)
        if verdicts[token]:
            await service.clear(namespace)
            swept.append(namespace)
    return swept


async def _release(service: KVService, token: str) -> None:
    try:
        await service.delete(LEASE_PLUGIN, token)
    finally:
        await service.close()

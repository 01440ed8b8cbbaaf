"""Options and hooks: settings, the run header, failure snapshots, masked diffs, the run's end."""

from __future__ import annotations

import os
import sys
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar, cast

import pytest

from . import _snapshots
from ._cleanup import TestState
from ._fixtures import existing_state, forget_state, register_loop_fixtures
from ._leaks import LeakMode, find_polluters
from ._redact import (
    SecretKeys,
    StoreURL,
    configure_secret_keys,
    explain_comparison,
    redact,
    secret_keys,
)
from ._run import RUN, Run
from ._stores import Store

T = TypeVar("T")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--kv-*`` options and their ini settings."""
    group = parser.getgroup("kv", "plugin-kv test isolation")
    group.addoption(
        "--kv-url",
        dest="kv_url",
        metavar="URL",
        help="Store for kv_service: a SQLite path or postgresql:// URL. Overrides the "
        "kv_url ini setting and PLUGIN_KV_URL. Default: one SQLite file for the run.",
    )
    group.addoption(
        "--kv-leaks",
        dest="kv_leaks",
        choices=("fail", "warn", "off"),
        help="What to do when a test leaves data outside the namespaces it was "
        "given: fail (error the test), warn (default), off (do not check).",
    )
    group.addoption(
        "--kv-keep-failed",
        dest="kv_keep_failed",
        action="store_true",
        default=None,
        help="Keep the namespaces of failed tests, to inspect their data; a later run sweeps them.",
    )
    parser.addini("kv_url", "plugin-kv store URL for kv_service (see --kv-url).", default="")
    parser.addini("kv_leaks", "plugin-kv leak check: fail, warn or off.", default="warn")
    parser.addini("kv_keep_failed", "Keep failed tests' namespaces.", type="bool", default=False)
    parser.addini(
        "kv_redact",
        "plugin-kv: more secret-looking keys, whose values failure snapshots mask: regular"
        " expressions searched in each key, ignoring case, one per line.",
        type="linelist",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check the options and set up this run's state."""
    leaks = config.getoption("kv_leaks") or config.getini("kv_leaks")
    if leaks not in ("fail", "warn", "off"):
        raise pytest.UsageError(
            f"plugin-kv: kv_leaks = {leaks!r} is not valid: use fail, warn or off"
        )
    url = config.getoption("kv_url") or config.getini("kv_url") or os.environ.get("PLUGIN_KV_URL")
    keep = config.getoption("kv_keep_failed")
    register_loop_fixtures(config)
    configure_secret_keys(config)
    worker: dict[str, Any] = getattr(config, "workerinput", {})  # an xdist worker's
    run = config.stash[RUN] = Run(
        url=StoreURL(url) if url else None,
        leaks=cast(LeakMode, leaks),
        keep_failed=bool(config.getini("kv_keep_failed") if keep is None else keep),
        run_id=str(worker.get("testrunuid") or ""),
    )
    name = "plugin_kv.testing.gatherer"
    if config.pluginmanager.has_plugin(name):  # configured again: gather into the new run
        config.pluginmanager.unregister(name=name)
    config.pluginmanager.register(_Gatherer(run), name)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Show the store (password masked) and the leak mode at the top of the run."""
    run = config.stash.get(RUN, None)
    if run is None:
        return None
    default = "one SQLite file for the run, in its base temp directory"
    store = redact(run.url) if run.url else default
    return f"plugin-kv: kv_service store {store}; leaks: {run.leaks}"


@pytest.hookimpl(tryfirst=True)  # before pytest's own, which prints string diffs unmasked
def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    """Explain a failed comparison with ``kv_store_url`` without showing its password."""
    if isinstance(left, StoreURL) or isinstance(right, StoreURL):
        return explain_comparison(config, op, left, right)
    return None


@pytest.hookimpl(trylast=True)  # after pytest tears down an interrupted test's fixtures
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Close the stores this process opened and give up its lease."""
    run = session.config.stash.get(RUN, None)
    if run is None:
        return
    for problem in run.close():
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"plugin-kv: {problem}", yellow=True)
        else:
            print(f"plugin-kv: {problem}", file=sys.stderr)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start each attempt of a test afresh (pytest-rerunfailures runs one item again)."""
    forget_state(item)


class _Gatherer:
    """Gathers the facts each test's process sent for the end of the run (xdist: workers').

    A process's facts ride on the next report it logs: not every report is logged
    (pytest-rerunfailures before 16 drops a rerun attempt's teardown report), and xdist's
    controller, which prints the summary, hears of a worker's facts only that way.
    """

    def __init__(self, run: Run) -> None:
        self.run = run

    @pytest.hookimpl(tryfirst=True)  # before xdist's worker sends the report on
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Attach this process's unsent facts to ``report``; merge what it carries."""
        facts = getattr(report, "plugin_kv", None)
        if not isinstance(facts, dict):
            facts = self.run.take_outbox()
            if not facts:
                return
            report.plugin_kv = facts  # type: ignore[attr-defined]
        self.run.summary.merge(facts)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Report namespaces kept for inspection, stale ones swept, and what is off."""
    run = config.stash.get(RUN, None)
    if run is None:
        return
    for line in run.summary.lines():
        terminalreporter.write_line(f"plugin-kv: {line}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's outcome; show what a failed test's namespaces held."""
    report = yield
    state = existing_state(item)
    if state is None:
        return report
    run = item.config.stash[RUN]
    if report.failed:
        state.failed = True
        if report.when in ("setup", "call"):
            if state.pending:
                section = _snapshot_section(run, state, secret_keys(item.config))
                report.sections.append(("plugin-kv data", section))
            polluters = _polluters_section(run, item, state)
            if polluters:
                report.sections.append(("plugin-kv polluters", polluters))
    return report


def _snapshot_section(run: Run, state: TestState, secrets: SecretKeys) -> str:
    """Return what each of the test's namespaces holds now, for its failure report."""
    store = state.store
    if store is None:  # pragma: no cover - a namespace implies a store
        return ""

    async def take_all() -> list[_snapshots.Snapshot]:
        return [await _snapshots.take(store, namespace) for namespace in state.pending]

    snapshots = _in_store_loop(run, state, store, take_all())
    fate = "kept for inspection" if run.keep_failed else "removed after the test"
    lines = [f"namespaces in {store.name}, {fate}:"]
    lines += _snapshots.render(snapshots, secrets)
    if not run.keep_failed:
        lines.append("(rerun with --kv-keep-failed to keep them)")
    return redact("\n".join(lines))


def _polluters_section(run: Run, item: pytest.Item, state: TestState) -> str:
    """Name the tests that left data where the failed test wrote, or return ""."""
    watched = state.watched
    touched = [plugin for plugin in state.written if plugin in run.left_by]
    if watched is None or not touched:
        return ""
    try:
        lines = _in_store_loop(
            run, state, watched, find_polluters(watched, run.left_by, touched, item.nodeid)
        )
    except Exception as exc:
        return f"could not check what other tests left in {watched.name}: {exc}"
    return redact("\n".join(lines))


def _in_store_loop(
    run: Run, state: TestState, store: Store, coroutine: Coroutine[Any, Any, T]
) -> T:
    """Run ``coroutine`` in the event loop ``store`` works in (the test's), else the run's."""
    loop = state.loop
    if store.needs_loop and loop is not None and not loop.is_closed() and not loop.is_running():
        return loop.run_until_complete(coroutine)
    return run.call(coroutine)


__all__ = [
    "pytest_addoption",
    "pytest_assertrepr_compare",
    "pytest_configure",
    "pytest_report_header",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
]

"""Make `pytest docs/` check the guide: see `_harness` for the engine and its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from _harness import ROOT, UPDATE_PROPERTY, OutputUpdate, apply_updates, pages_to_check

from plugin_kv_dev.postgres import import_driver

import_driver()  # before any pytester run: see its docstring


@pytest.fixture
def example_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the example in a fresh temporary directory, so the files it makes stay there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_report_header(config: pytest.Config) -> str:
    """Say which pages are checked."""
    pages = pages_to_check()
    return f"docs: checking the examples of {len(pages)} pages under {ROOT}"


class OutputUpdates:
    """Rewrites drifted ``output-of`` blocks when a ``--update-examples`` session ends.

    Tests send their blocks' new lines in their reports (`pytest.TestReport.user_properties`),
    so with xdist they reach the main process, which alone writes the pages.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.updates: list[OutputUpdate] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the output updates a test sent along in its report."""
        if report.when == "call":
            self.updates += [
                OutputUpdate.from_json(str(value))
                for name, value in report.user_properties
                if name == UPDATE_PROPERTY
            ]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Rewrite the pages, once, in the main process (not in an xdist worker)."""
        if not self.updates or hasattr(self.config, "workerinput"):
            return
        done = apply_updates(ROOT, self.updates)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"docs: {len(done)} output blocks to update")
            for line in done:
                reporter.write_line(f"  {line}")


def pytest_configure(config: pytest.Config) -> None:
    """Register the rewriting of output blocks."""
    config.pluginmanager.register(OutputUpdates(config), "docs-output-updates")

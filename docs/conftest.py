"""Make `pytest docs/` check the guide: see `_harness` for the engine and its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from _harness.edits import PageWriter
from _harness.pages import ROOT, pages_to_check

from plugin_kv_dev.postgres import import_driver

import_driver()  # before any pytester run: see its docstring


@pytest.fixture
def example_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the example in a fresh temporary directory, so the files it makes stay there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_report_header(config: pytest.Config) -> str:
    """Say which pages are checked."""
    return f"docs: checking the examples of {len(pages_to_check())} pages under {ROOT}"


def pytest_configure(config: pytest.Config) -> None:
    """Register the one writer of the pages (``--update-examples``)."""
    config.pluginmanager.register(PageWriter(ROOT), "docs-page-writer")

"""Make `pytest docs/` check the guide: see `_harness.py` for the engine and its settings."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from _harness import ROOT, pages_to_check

# Import asyncpg (a compiled extension) before any test runs. The `pytester` fixture restores
# sys.modules when its test ends, so a driver first imported during such a test (the
# PostgreSQL probe of a ``needs="postgres"`` example) would be imported again by a later
# example, and asyncpg's protocol module crashes the process when re-imported.
with contextlib.suppress(ImportError):
    import asyncpg  # noqa: F401

    import plugin_kv._postgres  # noqa: F401


@pytest.fixture
def example_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the example in a fresh temporary directory, so the files it makes stay there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_report_header(config: pytest.Config) -> str:
    """Say which pages are checked."""
    pages = pages_to_check()
    return f"docs: checking the examples of {len(pages)} pages under {ROOT}"

"""The plugin at its floor: whole test files run in a fresh pytest, in a subprocess.

Each inner run gets a config of its own that the installed pytest-asyncio knows: at the
plugin's floor (0.23) no loop-scope keys, from 0.24 on the ones it would warn about unset.
"""

from __future__ import annotations

import importlib.metadata
import textwrap

import pytest

from plugin_kv_dev import POSTGRES_URL, REQUIRE_POSTGRES
from plugin_kv_dev.postgres import import_driver, postgres_unavailable
from plugin_kv_dev.suites import LEAK_WARNING

import_driver()  # before any pytester run: see its docstring
__all__ = ["LEAK_WARNING", "POSTGRES_URL", "postgres_unavailable"]

ASYNCIO = tuple(int(part) for part in importlib.metadata.version("pytest-asyncio").split(".")[:2])
"""The installed pytest-asyncio's (major, minor)."""

OWN_DEPRECATIONS = "ignore::DeprecationWarning:pytest_asyncio"
"""pytest-asyncio 0.23 on Python 3.14 calls asyncio functions deprecated there: not ours."""


def configure(pytester: pytest.Pytester, *, mode: str = "strict", filters: str = "") -> None:
    """Give the inner run a ``pytest.ini`` of its own, valid for the installed pytest-asyncio."""
    lines = ["[pytest]", f"asyncio_mode = {mode}"]
    if ASYNCIO >= (0, 24):
        lines.append("asyncio_default_fixture_loop_scope = function")
    if ASYNCIO >= (0, 26):
        lines.append("asyncio_default_test_loop_scope = function")
    lines += ["filterwarnings =", "    error"] + [f"    {f}" for f in filters.split("\n") if f]
    if ASYNCIO < (0, 24):
        lines.append(f"    {OWN_DEPRECATIONS}")
    pytester.makeini("\n".join(lines) + "\n")


def dedent(source: str) -> str:
    return textwrap.dedent(source).lstrip()


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in a subprocess: the installed plugins load from their entry points."""
    return pytester.runpytest_subprocess("-p", "no:randomly", *args)


def require_postgres() -> None:
    """Skip (or, with PLUGIN_KV_REQUIRE_POSTGRES=1, fail) when PostgreSQL is unavailable."""
    reason = postgres_unavailable()
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"PLUGIN_KV_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)

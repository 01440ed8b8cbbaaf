"""The adapters cost nothing unless imported, and a missing driver names what to install."""

from __future__ import annotations

import subprocess
import sys

import pytest


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_plugin_imports_neither_driver() -> None:
    done = python(
        "import sys, plugin_kv.testing\n"
        "print(sorted(m for m in ('sqlalchemy', 'redis') if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "driver", "advice"),
    [
        ("sqlalchemy", "sqlalchemy", "needs SQLAlchemy 1.4 or newer (import of sqlalchemy halted;"),
        ("sqlalchemy", "sqlalchemy", "pip install SQLAlchemy (for an AsyncEngine: pip install"),
        ("redis", "redis", "needs redis-py 4.2 or newer, with redis.asyncio (import of redis"),
        ("redis", "redis", "pip install redis"),
    ],
)
def test_a_missing_driver_is_an_import_error_naming_the_package(
    module: str, driver: str, advice: str
) -> None:
    done = python(
        f"import sys; sys.modules[{driver!r}] = None\n"
        "from plugin_kv.errors import MissingDependencyError\n"
        "try:\n"
        f"    import plugin_kv.testing.{module}\n"
        "except MissingDependencyError as exc:\n"
        "    assert isinstance(exc, ImportError)\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert advice in done.stdout

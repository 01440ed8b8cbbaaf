"""What plugin-kv's own checks share: ``tests/``, ``docs/``, ``benchmarks/`` and ``dev.py``.

A development package, not part of plugin-kv: the wheel ships ``src/plugin_kv`` only (as
pytest-django keeps ``pytest_django_test/`` beside its package). This module imports the
standard library alone, because ``dev.py`` reads it before ``.venv`` exists; the probes of
the test servers (PostgreSQL, MariaDB, Redis) live in `plugin_kv_dev.services`, the asyncpg
pre-import in `plugin_kv_dev.postgres`, the ready-made adapters' test tables in
`plugin_kv_dev.tables`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Sequence
from typing import Any

POSTGRES_VAR = "PLUGIN_KV_TEST_POSTGRES_URL"
"""The variable naming the PostgreSQL server of the tests, the docs and the benchmarks."""
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
"""The server used when `POSTGRES_VAR` is unset or empty."""
REQUIRE_VAR = "PLUGIN_KV_REQUIRE_POSTGRES"
"""Set to ``1`` to fail, instead of skip, what needs an unreachable server."""

POSTGRES_URL = os.environ.get(POSTGRES_VAR) or DEFAULT_POSTGRES_URL
"""The PostgreSQL test server of this process."""
REQUIRE_POSTGRES = os.environ.get(REQUIRE_VAR) == "1"
"""Whether an unreachable PostgreSQL server is a failure rather than a skip."""

MARIADB_VAR = "PLUGIN_KV_TEST_MARIADB_URL"
"""The variable naming the MariaDB server of the adapter tests (an SQLAlchemy URL)."""
DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
REQUIRE_MARIADB_VAR = "PLUGIN_KV_REQUIRE_MARIADB"
"""Set to ``1`` to fail, instead of skip, what needs an unreachable MariaDB server."""
REDIS_VAR = "PLUGIN_KV_TEST_REDIS_URL"
"""The variable naming the Redis server (and database) of the adapter tests."""
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REQUIRE_REDIS_VAR = "PLUGIN_KV_REQUIRE_REDIS"
"""Set to ``1`` to fail, instead of skip, what needs an unreachable Redis server."""

_INNER_CONFIG = """\
[tool.pytest.ini_options]
asyncio_mode = "{mode}"
asyncio_default_fixture_loop_scope = "{loop}"
asyncio_default_test_loop_scope = "{loop}"
filterwarnings = [{filters}]
{extra}"""


def inner_config(
    *,
    mode: str = "strict",
    loop: str = "function",
    filterwarnings: Sequence[str] = ("error",),
    extra: str = "",
) -> str:
    """Return the ``pyproject.toml`` of a pytest run inside a test (pytester).

    The inner run gets a config of its own, so the project's (``--kv-leaks=fail``, markers,
    addopts) does not leak in: pytest-asyncio's strict mode with function-scoped loops, and
    warnings as errors unless ``filterwarnings`` says otherwise.
    """
    filters = ", ".join(f'"{f}"' for f in filterwarnings)
    text = _INNER_CONFIG.format(mode=mode, loop=loop, filters=filters, extra=extra)
    return text.rstrip("\n") + "\n"


async def settled(value: Awaitable[Any] | Any) -> Any:
    """Return ``value``, awaited when it is awaitable: a store's method may be either."""
    return await value if inspect.isawaitable(value) else value

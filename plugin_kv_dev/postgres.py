"""The PostgreSQL test server: its probe, and the driver imported before any pytester run."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from urllib.parse import urlsplit

from . import POSTGRES_URL

PROBE_TIMEOUT = 10.0
"""Seconds the probe may take once the port answers."""


def import_driver() -> None:
    """Import asyncpg (a compiled extension) and plugin-kv's PostgreSQL backend now.

    The ``pytester`` fixture restores ``sys.modules`` when its test ends, so a driver first
    imported during such a test would be imported again by a later one, and asyncpg's
    protocol module crashes the process when re-imported. Call this from a ``conftest.py``
    before any test runs. Without the ``postgres`` extra it does nothing.
    """
    with contextlib.suppress(ImportError):
        import asyncpg  # noqa: F401

        import plugin_kv._postgres  # noqa: F401


@functools.cache
def postgres_unavailable(url: str = POSTGRES_URL) -> str | None:
    """Return why the PostgreSQL server at ``url`` cannot be used here, or None when it can.

    Checked once per process and URL: the extra is installed, the port answers, and a
    `plugin_kv.KVService` opened on it can count a namespace.
    """
    try:
        import asyncpg  # noqa: F401

        from plugin_kv import _postgres  # noqa: F401
    except ImportError as exc:
        return f"PostgreSQL support is not installed ({exc}); install plugin-kv[postgres]"
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc})"

    async def probe() -> None:
        from plugin_kv import KVService

        async with KVService.open(url) as kv:
            await kv.count("probe")

    try:
        asyncio.run(asyncio.wait_for(probe(), PROBE_TIMEOUT))
    except Exception as exc:
        return f"cannot use {url}: {type(exc).__name__}: {exc}"
    return None

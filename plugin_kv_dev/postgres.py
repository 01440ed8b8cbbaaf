"""The PostgreSQL test server: its probe (`plugin_kv_dev.services`), and asyncpg imported early."""

from __future__ import annotations

import contextlib

from . import POSTGRES_URL


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


def postgres_unavailable(url: str = POSTGRES_URL) -> str | None:
    """Return why the PostgreSQL server at ``url`` cannot be used here, or None when it can.

    The probe of `plugin_kv_dev.services.POSTGRES`, once per process and URL: the port
    answers, and a `plugin_kv.KVService` opened on it (asyncpg installed) counts a namespace.
    """
    from .services import POSTGRES

    return POSTGRES.unavailable(url)

"""The servers of the tests and docs (PostgreSQL, MariaDB, Redis): where, and whether.

Each `Server` is read from the environment (its URL variable, else the default of this machine),
probed once per process, and either usable, or skipped with the reason, or, when its
``PLUGIN_KV_REQUIRE_...`` variable is ``1`` (CI), a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from . import (
    DEFAULT_MARIADB_URL,
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    MARIADB_VAR,
    POSTGRES_VAR,
    REDIS_VAR,
    REQUIRE_MARIADB_VAR,
    REQUIRE_REDIS_VAR,
    REQUIRE_VAR,
)

PROBE_TIMEOUT = 5.0
"""Seconds a probe may wait for the server."""


@dataclasses.dataclass(frozen=True)
class Server:
    """A server the tests need: its name, its URL variable, and what makes it required."""

    name: str
    url_var: str
    default_url: str
    require_var: str
    default_port: int
    probe: Callable[[str], None]
    """Use the server at a URL a little; raise when it cannot be used."""

    @property
    def url(self) -> str:
        """The URL of this process's server."""
        return os.environ.get(self.url_var) or self.default_url

    @property
    def required(self) -> bool:
        """Whether an unusable server is a failure rather than a skip."""
        return os.environ.get(self.require_var) == "1"

    def unavailable(self, url: str | None = None) -> str | None:
        """Return why the server (at ``url``, else at its own) cannot be used, or None."""
        return _unavailable(self, url or self.url)

    def require(self) -> str:
        """Return the server's URL; skip (or, when required, fail) when it is unavailable."""
        __tracebackhide__ = True
        reason = self.unavailable()
        if reason is None:
            return self.url
        if self.required:
            pytest.fail(f"{self.require_var}=1 but {reason}", pytrace=False)
        pytest.skip(f"{self.name}: {reason}; set {self.url_var} to use another server")


@functools.cache
def _unavailable(server: Server, url: str) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or server.default_port
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT).close()
    except OSError as exc:
        return f"cannot reach {server.name} at {host}:{port} ({exc})"
    try:
        server.probe(url)
    except ImportError as exc:
        return f"the {server.name} driver is not installed ({exc}); install the test group"
    except Exception as exc:
        return f"cannot use {server.name} at {host}:{port}: {type(exc).__name__}: {exc}"
    return None


def _probe_mariadb(url: str) -> None:
    import sqlalchemy as sa  # and the driver the URL names (PyMySQL)

    engine = sa.create_engine(url, connect_args={"connect_timeout": int(PROBE_TIMEOUT)})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()


def _probe_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


def _probe_postgres(url: str) -> None:
    from plugin_kv import KVService  # and asyncpg, when the URL is opened

    async def count() -> None:
        async with KVService.open(url) as kv:
            await kv.count("probe")

    asyncio.run(asyncio.wait_for(count(), PROBE_TIMEOUT))


POSTGRES = Server(
    "PostgreSQL", POSTGRES_VAR, DEFAULT_POSTGRES_URL, REQUIRE_VAR, 5432, _probe_postgres
)
"""The PostgreSQL server (reached through plugin-kv's own backend)."""
MARIADB = Server(
    "MariaDB", MARIADB_VAR, DEFAULT_MARIADB_URL, REQUIRE_MARIADB_VAR, 3306, _probe_mariadb
)
"""The MariaDB server (reached through SQLAlchemy and PyMySQL)."""
REDIS = Server("Redis", REDIS_VAR, DEFAULT_REDIS_URL, REQUIRE_REDIS_VAR, 6379, _probe_redis)
"""The Redis server, and the database the tests share with whatever else uses it."""
SERVERS = {"postgres": POSTGRES, "mariadb": MARIADB, "redis": REDIS}
"""The servers by the name a docs fence gives them (``needs="redis"``) and their pytest mark."""

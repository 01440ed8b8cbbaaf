"""`PrefixNamespaces`: isolate the tests of a Redis store whose keys read ``<namespace>:<key>``.

One line in ``conftest.py`` tells plugin-kv's fixtures how to empty a namespace of it::

    from plugin_kv.testing.redis import PrefixNamespaces

    @pytest.fixture
    def kv_store(redis_client):
        return PrefixNamespaces(redis_client)

It finds a namespace's keys with ``SCAN MATCH <namespace>:*`` and removes them with
``UNLINK``, a page of ``SCAN`` at a time: never ``KEYS`` (which blocks the server), never
``FLUSHDB`` or ``FLUSHALL`` (which would remove every other run's and application's keys).
So runs, xdist workers and other applications can share one server and one database. The
cost: ``SCAN`` walks the whole database, so one ``clear`` takes about one round trip per
`SCAN_COUNT` keys in the database. redis-py is the project's own: this module imports it, and
nothing imports this module unless the project does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any, overload

from plugin_kv.errors import MissingDependencyError

try:
    import redis
    import redis.asyncio
except ImportError as exc:  # pragma: no cover - tested in a process without redis-py
    raise MissingDependencyError(
        f"plugin_kv.testing.redis needs redis-py 4.2 or newer, with redis.asyncio ({exc}):"
        " pip install redis"
    ) from exc

from ._names import CHARACTERS, PREFIX
from ._shown import key_text, shown_value

__all__ = ["AsyncPrefixNamespaces", "PrefixNamespaces", "RedisValue", "SyncPrefixNamespaces"]

SCAN_COUNT = 1000
"""Keys ``SCAN`` looks at per call (its ``COUNT``); each page found is one ``UNLINK``."""

_GLOB = frozenset(b"\\*?[]")


@dataclasses.dataclass(frozen=True)
class RedisValue:
    """A value that is not a string (a hash, a list, a set...), shown by its type."""

    kind: str

    def __repr__(self) -> str:
        """Show the type: ``<redis hash>``."""
        return f"<redis {self.kind}>"


@overload
def PrefixNamespaces(
    client: redis.asyncio.Redis, *, separator: str = ":"
) -> AsyncPrefixNamespaces: ...


@overload
def PrefixNamespaces(client: redis.Redis, *, separator: str = ":") -> SyncPrefixNamespaces: ...


def PrefixNamespaces(  # a factory, named as the classes it returns read
    client: redis.Redis | redis.asyncio.Redis, *, separator: str = ":"
) -> SyncPrefixNamespaces | AsyncPrefixNamespaces:
    """Return a ``kv_store`` for the keys ``<namespace><separator><key>`` of ``client``'s database.

    Args:
        client: a `redis.Redis` (the methods are plain), or a `redis.asyncio.Redis` (they are
            coroutine functions, and the fixtures run them in the test's event loop).
        separator: what stands between namespace and key. It may not hold a character of the
            fixtures' namespaces (``a-z 0-9 _ - .``): then ``clear("a")`` could not tell the
            keys of namespace ``a`` from those of ``a.b``.

    Raises:
        TypeError: ``client`` is not a redis-py client.
        ValueError: ``separator`` is empty or holds a character of the fixtures' namespaces.
    """
    if isinstance(client, redis.asyncio.Redis):
        return AsyncPrefixNamespaces(client, separator=separator)
    if isinstance(client, redis.Redis):
        return SyncPrefixNamespaces(client, separator=separator)
    raise TypeError(
        "PrefixNamespaces needs a redis-py client, redis.Redis or redis.asyncio.Redis"
        f" (redis.Redis.from_url(url)); got {_short(client)} of type"
        f" {type(client).__module__}.{type(client).__qualname__}"
    )


class _Prefixes:
    """What both kinds share: the key layout, the ``SCAN`` patterns, and the checks."""

    def __init__(self, client: Any, separator: str) -> None:
        if not isinstance(separator, str) or not separator:
            raise ValueError(f"PrefixNamespaces: separator={separator!r} must be a non-empty str")
        clashing = sorted(set(separator) & CHARACTERS)
        if clashing:
            raise ValueError(
                f"PrefixNamespaces: separator={separator!r} holds {''.join(clashing)!r}, which"
                " the fixtures' namespaces may hold too (a-z 0-9 _ - .): clear('a') would also"
                " remove the keys of namespace 'a.b'. Use another separator, such as ':'"
            )
        # redis-py's annotations differ from release to release: held as Any, checked by
        # the factory and the tests on the oldest and newest releases.
        self._client: Any = client
        self._separator = separator.encode("utf-8")
        self._plugins_match = _glob_escape(PREFIX.encode("utf-8")) + b"*"

    def __repr__(self) -> str:
        kwargs = getattr(getattr(self._client, "connection_pool", None), "connection_kwargs", {})
        db = kwargs.get("db", 0)
        if "path" in kwargs:
            where = f"unix://{kwargs['path']}?db={db}"
        else:
            where = f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{db}"
        return f"PrefixNamespaces({where}, separator={self._separator.decode()!r})"

    def _prefix(self, namespace: str) -> bytes:
        """Return the bytes every key of ``namespace`` starts with; refuse an ambiguous one."""
        if not isinstance(namespace, str):
            raise TypeError(f"PrefixNamespaces: namespace {namespace!r} must be a str")
        separator = self._separator.decode()
        if not namespace or separator in namespace:
            raise ValueError(
                f"PrefixNamespaces: namespace {namespace!r} is empty or holds the separator"
                f" {separator!r}: its keys could not be told apart from another namespace's"
            )
        return namespace.encode("utf-8", "surrogateescape") + self._separator

    def _match(self, namespace: str) -> bytes:
        return _glob_escape(self._prefix(namespace)) + b"*"

    def _namespace_of(self, full_key: bytes | str) -> str | None:
        head, found, _ = _raw(full_key).partition(self._separator)
        return key_text(head) if found else None

    @staticmethod
    def _shown(keys: list[str], values: list[Any]) -> tuple[dict[str, Any], list[str]]:
        """Split MGET's answer into values shown, and keys that hold no string (or nothing)."""
        pairs = list(zip(keys, values, strict=True))
        shown = {key: shown_value(value) for key, value in pairs if value is not None}
        return shown, [key for key, value in pairs if value is None]


class SyncPrefixNamespaces(_Prefixes):
    """`PrefixNamespaces` on a `redis.Redis`: plain methods."""

    def __init__(self, client: redis.Redis, *, separator: str = ":") -> None:
        """Use the keys of ``client``'s database; see `PrefixNamespaces`."""
        super().__init__(client, separator)

    def clear(self, namespace: str) -> int:
        """Remove every key of ``namespace``: ``SCAN`` + ``UNLINK``; return how many went."""
        removed = 0
        for page in self._pages(self._match(namespace)):
            removed += self._client.unlink(*page)
        return removed

    def list_keys(self, namespace: str) -> list[str]:
        """Return the keys of ``namespace``, without the prefix, sorted."""
        prefix = len(self._prefix(namespace))
        found = {_raw(key)[prefix:] for page in self._pages(self._match(namespace)) for key in page}
        return sorted(map(key_text, found))  # a set: SCAN may return a key twice

    def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any]:
        """Return ``{key: value}`` for those of ``keys`` in ``namespace`` (one ``MGET``)."""
        if not keys:
            return {}
        prefix = self._prefix(namespace)
        full = [prefix + _raw(key) for key in keys]
        shown, others = self._shown(keys, self._client.mget(full))
        for key in others:  # not strings: MGET gives None for them as for missing keys
            kind = key_text(self._client.type(prefix + _raw(key)))
            if kind != "none":
                shown[key] = RedisValue(kind)
        return shown

    def list_plugins(self) -> list[str]:
        """Return the fixtures' namespaces (``kvt.*``) that hold keys, sorted.

        Only those: listing every namespace of a database another application shares would
        be to read all its keys; the sweep of crashed runs needs the fixtures' alone.
        """
        pages = self._pages(self._plugins_match)
        found = {self._namespace_of(key) for page in pages for key in page}
        return sorted(name for name in found if name is not None)

    def _pages(self, match: bytes) -> Iterator[list[Any]]:
        cursor = 0
        while True:
            cursor, keys = self._client.scan(cursor, match=match, count=SCAN_COUNT)
            if keys:
                yield keys
            if not cursor:
                return


class AsyncPrefixNamespaces(_Prefixes):
    """`PrefixNamespaces` on a `redis.asyncio.Redis`: coroutine methods."""

    def __init__(self, client: redis.asyncio.Redis, *, separator: str = ":") -> None:
        """Use the keys of ``client``'s database; see `PrefixNamespaces`."""
        super().__init__(client, separator)

    async def clear(self, namespace: str) -> int:
        """Remove every key of ``namespace``: ``SCAN`` + ``UNLINK``; return how many went."""
        removed = 0
        async for page in self._pages(self._match(namespace)):
            removed += await self._client.unlink(*page)
        return removed

    async def list_keys(self, namespace: str) -> list[str]:
        """Return the keys of ``namespace``, without the prefix, sorted."""
        prefix = len(self._prefix(namespace))
        pages = self._pages(self._match(namespace))
        found = {_raw(key)[prefix:] async for page in pages for key in page}
        return sorted(map(key_text, found))  # a set: SCAN may return a key twice

    async def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any]:
        """Return ``{key: value}`` for those of ``keys`` in ``namespace`` (one ``MGET``)."""
        if not keys:
            return {}
        prefix = self._prefix(namespace)
        full = [prefix + _raw(key) for key in keys]
        shown, others = self._shown(keys, await self._client.mget(full))
        for key in others:  # not strings: MGET gives None for them as for missing keys
            kind = key_text(await self._client.type(prefix + _raw(key)))
            if kind != "none":
                shown[key] = RedisValue(kind)
        return shown

    async def list_plugins(self) -> list[str]:
        """Return the fixtures' namespaces (``kvt.*``) that hold keys, sorted.

        Only those: listing every namespace of a database another application shares would
        be to read all its keys; the sweep of crashed runs needs the fixtures' alone.
        """
        pages = self._pages(self._plugins_match)
        found = {self._namespace_of(key) async for page in pages for key in page}
        return sorted(name for name in found if name is not None)

    async def _pages(self, match: bytes) -> AsyncIterator[list[Any]]:
        cursor = 0
        while True:
            cursor, keys = await self._client.scan(cursor, match=match, count=SCAN_COUNT)
            if keys:
                yield keys
            if not cursor:
                return


def _raw(key: bytes | str) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8", "surrogateescape")


def _glob_escape(text: bytes) -> bytes:
    """Return ``text`` as a ``MATCH`` pattern matching exactly itself."""
    return b"".join(b"\\" + bytes([c]) if c in _GLOB else bytes([c]) for c in text)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

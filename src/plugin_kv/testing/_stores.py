"""`kv_store`: what the fixtures need of a store, and how they call it.

A store is any object with ``clear(namespace)``, and optionally ``list_keys(namespace)``;
each may be a coroutine function or a plain one. `KVService` is such a store. More methods
turn more on (see `Store.missing_features`): ``observe_writes(observer)`` the leak check and
the polluters' names, ``get_many(namespace, keys)`` the values in failure snapshots,
``list_plugins()`` the sweep of namespaces that ended runs left behind.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

import pytest

from plugin_kv import KVService

from ._redact import redact

T = TypeVar("T")

CLEAR_EXAMPLE = """\
    class MyNamespaces:
        def __init__(self, db):
            self.db = db

        async def clear(self, plugin: str) -> object:  # required: remove every key of it
            ...

        async def list_keys(self, plugin: str) -> list[str]:  # optional: proves the cleanup
            ...

    @pytest.fixture
    def kv_store(db):
        return MyNamespaces(db)"""


@runtime_checkable
class NamespaceStore(Protocol):
    """What `kv_store` must offer: ``clear(namespace)``, a coroutine function or a plain one.

    Optional, each a coroutine function or a plain one: ``list_keys(namespace) -> list[str]``
    (checks the cleanup, lists keys in failure snapshots), ``get_many(namespace, keys) ->
    dict`` (values in failure snapshots), ``list_plugins() -> list[str]`` (the sweep of
    namespaces left by runs that ended), ``observe_writes(observer) -> stop`` (leak check and
    polluters: call ``observer(namespace, keys)`` after each write).
    """

    def clear(self, plugin: str, /) -> Any:
        """Remove every key of namespace ``plugin``."""


async def resolved(value: T | Awaitable[T]) -> T:
    """Return ``value``, awaiting it first when it is awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


class Store:
    """The `kv_store` of a test, checked once, with what it can do."""

    def __init__(self, store: object) -> None:
        """Check ``store`` has ``clear``; raise `pytest.UsageError` saying what to add."""
        clear = getattr(store, "clear", None)
        if not callable(clear):
            raise pytest.UsageError(
                f"plugin-kv: the kv_store fixture returned {_describe(store)}, which has no"
                " clear(namespace) method: the fixtures need it to remove each test's"
                " namespace. Return an object that has one, for example:\n\n" + CLEAR_EXAMPLE
            )
        self.target = store
        self.is_service = isinstance(store, KVService)
        self._clear: Callable[[str], Any] = clear
        self._list_keys = _method(store, "list_keys")
        self._get_many = _method(store, "get_many")
        self._list_plugins = _method(store, "list_plugins")
        self.observe_writes = _method(store, "observe_writes")
        self.needs_loop = not self.is_service and any(
            inspect.iscoroutinefunction(method)
            for method in (self._clear, self._list_keys, self._get_many, self._list_plugins)
            if method is not None
        )
        """Whether its calls are coroutines that may belong to the test's event loop."""

    @property
    def name(self) -> str:
        """Name the store in messages: its URL (password masked), its repr, or its type."""
        if self.is_service:
            return str(self.target.url)  # type: ignore[attr-defined]
        return _describe(self.target)

    @property
    def kind(self) -> str:
        """Name the store's type: what is off is said once per kind of store."""
        return type(self.target).__qualname__

    @property
    def can_list(self) -> bool:
        """Whether the store can list a namespace's keys."""
        return self._list_keys is not None

    @property
    def can_sweep(self) -> bool:
        """Whether the store can list its namespaces, so that a run can sweep ended runs'."""
        return self._list_plugins is not None

    def missing_features(self) -> list[str]:
        """Return what is off for this store, and why, one line each."""
        if self.is_service:
            return []
        lines = []
        if self._list_keys is None:
            lines.append(
                "cleanup not checked, no keys in failure snapshots: it has no list_keys(namespace)"
            )
        if self.observe_writes is None:
            lines.append(
                "leak check off: it has no observe_writes(observer) calling observer(namespace,"
                " keys) after each write"
            )
        if self._list_plugins is None:
            lines.append(
                "sweep off (namespaces of crashed runs and --kv-keep-failed data stay): it has"
                " no list_plugins() returning the namespaces that hold keys"
            )
        return lines

    async def clear(self, namespace: str) -> int | None:
        """Remove every key of ``namespace``; return how many, where the store's clear says."""
        returned = await resolved(self._clear(namespace))
        return returned if type(returned) is int else None

    async def list_keys(self, namespace: str) -> list[str]:
        """Return the keys of ``namespace``; a wrong return type is a `TypeError` naming it."""
        assert self._list_keys is not None
        keys = await resolved(self._list_keys(namespace))
        return self._strings(keys, f"list_keys({namespace!r})", "the keys in the namespace")

    async def list_plugins(self) -> list[str]:
        """Return the store's namespaces; a wrong return type is a `TypeError` naming it."""
        assert self._list_plugins is not None
        plugins = await resolved(self._list_plugins())
        return self._strings(plugins, "list_plugins()", "the namespaces that hold keys")

    async def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, Any] | None:
        """Return ``{key: value}`` for ``keys``, or None when the store cannot give values."""
        if self._get_many is None:
            return None
        found = await resolved(self._get_many(namespace, list(keys)))
        return found if isinstance(found, dict) else None

    async def clear_checked(self, namespace: str) -> Cleared:
        """Clear ``namespace``, then count what it still holds where the store can tell."""
        if self.is_service:
            service: KVService = self.target  # type: ignore[assignment]
            return Cleared(*await service.clear_and_count(namespace))
        removed = await self.clear(namespace)
        if self._list_keys is None:
            return Cleared(removed, None)
        try:
            return Cleared(removed, len(await self.list_keys(namespace)))
        except Exception as exc:
            raise CheckFailed(exc) from exc

    def _strings(self, value: object, call: str, meaning: str) -> list[str]:
        """Return ``value``, which ``call`` returned, if it is a list of str; else TypeError."""
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise TypeError(
                f"{self.name}.{call} returned {_short_repr(value)}: it must return a list of"
                f" str ({meaning})"
            )
        return value


class Cleared(NamedTuple):
    """What clearing a namespace found: keys removed and keys left (None: not known)."""

    removed: int | None
    left: int | None


class CheckFailed(Exception):
    """The namespace was cleared, but listing it to check failed with `cause`."""

    def __init__(self, cause: Exception) -> None:
        """Wrap ``cause``."""
        super().__init__(str(cause))
        self.cause = cause


def _method(store: object, name: str) -> Callable[..., Any] | None:
    method = getattr(store, name, None)
    return method if callable(method) else None


def _describe(store: object) -> str:
    """Name a store of the project's own: its repr, or its type where that is the default."""
    kind = type(store)
    if kind.__repr__ is object.__repr__:  # "<x.Y object at 0x...>" changes every run
        return f"{kind.__module__}.{kind.__qualname__}"
    return redact(_short_repr(store))


def _short_repr(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

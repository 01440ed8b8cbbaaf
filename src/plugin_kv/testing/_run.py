"""Per-run state: the stores this process opened, its lease, what to report at the end."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from plugin_kv import KVError, KVService

from . import _leases, _names
from ._leaks import LeakMode
from ._redact import redact
from ._stores import Store

T = TypeVar("T")


@dataclass
class Run:
    """Settings and state of one test process."""

    url: str | None
    leaks: LeakMode
    keep_failed: bool
    token: str = field(default_factory=_names.new_token)
    counter: int = 0
    services: dict[str, KVService] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    """What is off for each kind of custom store, said once."""
    unsent: dict[str, list[str]] = field(default_factory=dict)
    service_stores: dict[int, Store] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None
    keeper: _leases.LeaseKeeper = field(init=False)

    def __post_init__(self) -> None:
        self.keeper = _leases.LeaseKeeper(self.token)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` to completion from synchronous fixture code."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            running = False  # the usual case; the loop runs below, not in this except block,
        else:  # so that its errors do not arrive chained to "no running event loop"
            running = True
        if not running:
            return self._own_loop().run_until_complete(coroutine)
        # Called from inside a running loop (getfixturevalue in an async test): use a thread.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop

    def service(self, url: str) -> KVService:
        """Return this process's service for ``url``, opening it (and sweeping) on first use."""
        __tracebackhide__ = True
        service = self.services.get(url)
        if service is None or service.closed:  # a test may have closed the shared service
            failure = ""
            try:
                service = self.call(KVService.open(url))  # type: ignore[arg-type]
            except KVError as exc:
                failure = redact(f"{type(exc).__name__}: {exc}")
            if failure:  # outside the except block: the message alone, no chained tangle
                pytest.fail(
                    f"plugin-kv could not open the store for kv_service: {failure}\n"
                    "(the store comes from --kv-url, the kv_url ini setting or PLUGIN_KV_URL)",
                    pytrace=False,
                )
            assert service is not None
            self.services[url] = service
            self.call(_leases.take_lease(service, self.token))
            self.keeper.keep(url)  # renews it from now on
            self.swept.extend(self.call(_leases.sweep_stale(service, self.token)))
        return service

    def store(self, target: object) -> Store:
        """Return ``target`` as a `Store`; a `KVService`'s is made once and kept."""
        if not isinstance(target, KVService):
            return Store(target)
        known = self.service_stores.get(id(target))
        if known is None or known.target is not target:
            known = self.service_stores[id(target)] = Store(target)
        return known

    def new_namespace(self, test_name: str, label: str) -> str:
        """Return a fresh namespace name for ``test_name`` (see `_names.build`)."""
        self.counter += 1
        return _names.build(self.token, self.counter, test_name, label)

    def note(self, store: Store) -> None:
        """Remember, once per kind of store, what is off for it and why."""
        kind = type(store.target).__qualname__
        if kind not in self.notes:
            self.notes[kind] = store.off()
            self.unsent[kind] = self.notes[kind]

    def take_unsent_notes(self) -> dict[str, list[str]]:
        """Return the notes not yet passed on in a test report (for xdist's controller)."""
        unsent, self.unsent = self.unsent, {}
        return unsent

    def summary_lines(self) -> list[str]:
        """Return what the end of the run should say about kept and swept namespaces."""
        lines = [redact(f"kept {entry}") for entry in self.kept]
        if self.swept:
            lines.append(
                f"swept {len(self.swept)} namespaces left by runs that ended without cleanup: "
                + ", ".join(self.swept[:5])
                + (" ..." if len(self.swept) > 5 else "")
            )
        for kind, off in self.notes.items():
            lines += [f"kv_store {kind}: {line}" for line in off]
        return lines

    def close(self) -> list[str]:
        """Give up the lease and close every store this process opened; return failures."""
        errors = self.keeper.stop()  # first, so that it renews no lease given up below
        for service in self.services.values():
            if service.closed:
                continue
            try:
                self.call(_leases.release(service, self.token))
            except Exception as exc:
                errors.append(redact(f"could not close {service.url} cleanly: {exc}"))
        self.services.clear()
        if self.loop is not None:
            self.loop.close()
            self.loop = None
        return errors


RUN = pytest.StashKey[Run]()
"""This process's `Run`, in ``config.stash``."""

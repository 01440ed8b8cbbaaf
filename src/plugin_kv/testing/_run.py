"""Per-run state: the stores this process opened, its lease, what to report at the end."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from plugin_kv import KVError, KVService

from . import _leases, _names, _registry
from ._leaks import LeakMode
from ._redact import redact
from ._stores import Store

T = TypeVar("T")


OWN_STORE_PAGE = "the guide's page 'Isolate tests of your own store' (docs/how-to/own-store.md)"
"""Where a reader learns to override `kv_store`."""


@dataclass
class Summary:
    """What the end of the run says, merged from the test reports of every process.

    Each process gathers its facts in its own `Run.outbox`; they travel on test reports
    (`Run.take_outbox`), so that xdist's controller, which prints the summary, hears every
    worker's.
    """

    kept: list[str] = field(default_factory=list)
    """``"<test id>: <namespace> in <store>"`` of each namespace kept for inspection."""
    swept: list[str] = field(default_factory=list)
    """Namespaces removed because the runs that made them are over."""
    missing: dict[str, list[str]] = field(default_factory=dict)
    """What is off for each kind of `kv_store`, and why."""
    problems: list[str] = field(default_factory=list)
    """What went wrong outside any one test (a sweep that failed)."""
    handed: int = 0
    """Namespaces handed out whose use the fixtures can judge (see `written`)."""
    written: int = 0
    """How many of those the tests wrote to: zero means `kv_store` is not their store."""
    store: str = ""
    """The `kv_store` the namespaces were handed out from (the last one seen)."""

    def merge(self, facts: dict[str, Any]) -> None:
        """Add the facts one process sent (see `as_facts`)."""
        self.kept += [str(entry) for entry in facts.get("kept", [])]
        self.swept += [str(entry) for entry in facts.get("swept", [])]
        self.problems += [str(entry) for entry in facts.get("problems", [])]
        for kind, lines in dict(facts.get("missing", {})).items():
            self.missing.setdefault(str(kind), [str(line) for line in lines])
        self.handed += int(facts.get("handed", 0))
        self.written += int(facts.get("written", 0))
        self.store = str(facts.get("store") or self.store)

    def as_facts(self) -> dict[str, Any]:
        """Return the facts as plain JSON data, to travel on a test report (none: empty)."""
        return {key: value for key, value in vars(self).items() if value}

    def lines(self) -> list[str]:
        """Return what the end of the run should say, one line each."""
        lines = [redact(f"kept {entry}") for entry in self.kept]
        if self.swept:
            lines.append(
                f"swept {len(self.swept)} namespaces left by runs that are over: "
                + ", ".join(self.swept[:5])
                + (" ..." if len(self.swept) > 5 else "")
            )
        lines += [redact(problem) for problem in self.problems]
        for kind, off in self.missing.items():
            lines += [f"kv_store {kind}: {line}" for line in off]
        if self.handed and not self.written:
            lines.append(
                redact(
                    f"the tests were handed {self.handed} namespaces of kv_store ({self.store}),"
                    " but nothing was ever written to them there: if your tests write to a store"
                    " of their own, override the kv_store fixture to return it (see"
                    f" {OWN_STORE_PAGE})"
                )
            )
        return lines


@dataclass
class Run:
    """Settings and state of one test process."""

    url: str | None
    leaks: LeakMode
    keep_failed: bool
    token: str = field(default_factory=_names.new_token)
    run_id: str = ""
    """The test run this process belongs to: xdist's run id in a worker, else its token."""
    kept_any: bool = False
    """Whether this process kept namespaces (``--kv-keep-failed``): its lease stays, ended."""
    counter: int = 0
    services: dict[str, KVService] = field(default_factory=dict)
    outbox: Summary = field(default_factory=Summary)
    """Facts for the end of the run, not yet sent on a test report."""
    summary: Summary = field(default_factory=Summary)
    """Facts every process sent: what the end of this run says."""
    left_by: dict[str, dict[str, str]] = field(default_factory=dict)
    """``{namespace: {key: test id}}``: data tests left outside their namespaces (polluters)."""
    own_kinds: set[str] = field(default_factory=set)
    """Kinds of `kv_store` of the project's own met so far (each swept and described once)."""
    registry: _registry.Registry | None = None
    """This machine's record of its runs, once a store of the project's own is used."""
    service_stores: dict[int, Store] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None
    keeper: _leases.LeaseKeeper = field(init=False)

    def __post_init__(self) -> None:
        self.run_id = self.run_id or self.token
        self.keeper = _leases.LeaseKeeper(self.token, self.run_id)

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
            self.call(_leases.take_lease(service, self.token, self.run_id))
            self.keeper.keep(url)  # renews it from now on
            self.outbox.swept += self.call(_leases.sweep_stale(service, self.token, self.run_id))
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

    def meet_own_store(self, store: Store) -> bool:
        """Take note of a `kv_store` of the project's own; return True the first time per kind.

        The first time, its missing features are noted for the summary, and this process is
        recorded as running (`_registry`), before it hands out any namespace of the store.
        """
        if store.kind in self.own_kinds:
            return False
        self.own_kinds.add(store.kind)
        self.outbox.missing[store.kind] = store.missing_features()
        if self.registry is None:
            self.registry = _registry.Registry()
            try:
                self.registry.start(self.token, self.run_id)
            except OSError as exc:  # a read-only home, say: later runs cannot sweep ours
                self.outbox.problems.append(
                    f"could not record this run in {self.registry.directory} ({exc}): what it"
                    " keeps or leaves in a kv_store of your own is not swept by later runs"
                    f" (set {_registry.RUNS_DIR_VAR} to a writable directory)"
                )
            self.registry.forget_old()
        return True

    async def sweep_own_store(self, store: Store) -> None:
        """Remove the namespaces ``store`` holds of runs this machine's record proves over."""
        registry = self.registry
        if registry is None or not store.can_sweep:
            return

        async def recorded_over(token: str) -> bool:
            return registry.is_over(token, self.run_id)

        try:
            self.outbox.swept += await _leases.sweep(store, self.token, recorded_over)
        except Exception as exc:
            self.outbox.problems.append(
                f"could not sweep kv_store {store.name}: {type(exc).__name__}: {exc}"
            )

    def take_outbox(self) -> dict[str, Any]:
        """Return the facts not yet sent, as plain data for a test report, and forget them."""
        facts = self.outbox.as_facts()
        if facts:  # the usual test has none: nothing to make anew
            self.outbox = Summary()
        return facts

    def close(self) -> list[str]:
        """Give up the lease and close every store this process opened; return failures."""
        errors = self.keeper.stop()  # first, so that it renews no lease given up below
        if self.registry is not None:
            try:
                self.registry.end(self.token)
            except OSError as exc:
                errors.append(
                    f"could not record this run's end in {self.registry.directory}: {exc}"
                )
        for service in self.services.values():
            if service.closed:
                continue
            try:
                self.call(_leases.release(service, self.token, self.run_id, kept=self.kept_any))
            except Exception as exc:
                errors.append(redact(f"could not close {service.url} cleanly: {exc}"))
        self.services.clear()
        if self.loop is not None:
            self.loop.close()
            self.loop = None
        return errors


RUN = pytest.StashKey[Run]()
"""This process's `Run`, in ``config.stash``."""

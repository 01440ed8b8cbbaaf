"""Leases of live test processes, and the sweep of what crashed runs left behind.

Each test process holds a lease in every `KVService` store it opens (namespace
`LEASE_NAMESPACE`, key: its token), renewed from a thread of its own while the process
lives, however long a test runs. A run sweeps the namespaces of processes whose lease is
gone, or names a process on this machine that has exited: what crashed runs left behind, and
what ended runs kept with ``--kv-keep-failed``. Live runs, even on other machines, keep
their lease, so their namespaces stay. A store of a project's own holds no lease: the proof
comes from this machine's record of its runs instead (`_registry`), through the same `sweep`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from plugin_kv import KVService

from . import _names
from ._redact import redact
from ._stores import Store

LEASE_SECONDS = 3600.0
"""How long a lease outlives its last renewal: a crashed run on another machine is swept
this long after it died."""
LEASE_REFRESH_SECONDS = 300.0
"""How often the lease keeper renews this process's leases."""


class LeaseKeeper:
    """Renews this process's leases every `LEASE_REFRESH_SECONDS`, from a thread of its own.

    A test may run for longer than a lease lasts, and it makes no call to the store while it
    runs; the thread keeps its namespaces safe from other runs' sweeps meanwhile. It uses a
    service of its own per store, in its own event loop, so it never shares the tests'.
    """

    def __init__(self, token: str, run: str) -> None:
        """Keep the leases of process ``token`` of test run ``run``."""
        self._token = token
        self._run_id = run
        self._urls: list[str] = []
        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def keep(self, url: str) -> None:
        """Renew the lease on ``url`` from now on; start the thread on first use."""
        with self._lock:
            if url not in self._urls:
                self._urls.append(url)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="plugin-kv lease keeper", daemon=True
                )
                self._thread.start()

    @property
    def failures(self) -> dict[str, str]:
        """Return ``{store: why}`` for each store whose last renewal failed."""
        return dict(self._failures)

    def stop(self) -> list[str]:
        """Stop the thread; return the stores on which a renewal failed, and why."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        return [
            redact(
                f"could not renew this process's lease on {url}: {why} (another run may have"
                " swept its namespaces)"
            )
            for url, why in self._failures.items()
        ]

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        services: dict[str, KVService] = {}
        try:
            # Read the module setting each turn, so that a test can shorten it.
            while not self._stopping.wait(_refresh_seconds()):
                with self._lock:
                    urls = list(self._urls)
                for url in urls:
                    try:
                        if url not in services:
                            services[url] = loop.run_until_complete(_open(url))
                        lease = take_lease(services[url], self._token, self._run_id)
                        loop.run_until_complete(lease)
                        self._failures.pop(url, None)
                    except Exception as exc:  # the store is away: retry at the next turn
                        self._failures[url] = f"{type(exc).__name__}: {exc}"
        finally:
            for service in services.values():
                with contextlib.suppress(Exception):
                    loop.run_until_complete(service.close())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _refresh_seconds() -> float:
    return LEASE_REFRESH_SECONDS


async def _open(url: str) -> KVService:
    return await KVService.open(url)


def machine_id() -> str:
    """Identify this host and process namespace, so a pid can be checked for liveness."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("no-proc")
    return "/".join(parts)


def process_is_gone(lease: object) -> bool:
    """Return True only when ``lease`` names a process on this machine that has exited."""
    if not isinstance(lease, dict) or lease.get("machine") != machine_id():
        return False
    if "no-proc" in str(lease.get("machine")):
        return False
    pid = lease.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def process_record(run: str) -> dict[str, Any]:
    """Return what a lease (or a run record) says of this process, part of test run ``run``."""
    return {"machine": machine_id(), "pid": os.getpid(), "run": run, "since": time.time()}


def is_over(record: object, own_run: str) -> bool:
    """Return whether a process's ``record`` proves it over, seen from test run ``own_run``.

    Over: it says it ended, or names a process on this machine that has exited; never a
    process of ``own_run`` itself (an xdist worker that ended keeps what it kept for the run).
    """
    if not isinstance(record, dict) or record.get("run") == own_run:
        return False
    return "ended" in record or process_is_gone(record)


async def take_lease(service: KVService, token: str, run: str) -> None:
    """Take, or renew, process ``token``'s lease on ``service`` for `LEASE_SECONDS`."""
    await service.set(_names.LEASE_NAMESPACE, token, process_record(run), ttl=LEASE_SECONDS)


async def release(service: KVService, token: str, run: str, *, kept: bool = False) -> None:
    """Give up process ``token``'s lease on ``service``, then close it.

    A process that ``kept`` namespaces leaves its lease marked ended instead: later runs
    sweep what it kept, the other processes of its own run (xdist workers) do not.
    """
    try:
        if kept:
            ended = {**process_record(run), "ended": time.time()}
            await service.set(_names.LEASE_NAMESPACE, token, ended, ttl=LEASE_SECONDS)
        else:
            await service.delete(_names.LEASE_NAMESPACE, token)
    finally:
        await service.close()


async def sweep_stale(service: KVService, own_token: str, own_run: str = "") -> list[str]:
    """Remove the namespaces on ``service`` of processes whose lease proves them over.

    A process is over when its lease is gone (expired or released) or `is_over` says so,
    seen from test run ``own_run`` (default: this process alone); its lease, if any, goes too.
    """

    async def lease_is_over(token: str) -> bool:
        lease = await service.get(_names.LEASE_NAMESPACE, token)
        over = lease is None or is_over(lease, own_run or own_token)
        if over and lease is not None:
            await service.delete(_names.LEASE_NAMESPACE, token)
        return over

    return await sweep(Store(service), own_token, lease_is_over)


async def sweep(
    store: Store, own_token: str, is_over: Callable[[str], Awaitable[bool]]
) -> list[str]:
    """Remove the namespaces of ``store`` whose owner ``is_over``, and only those; list them.

    A namespace belongs to the process whose token `plugin_kv.testing._names.owner` finds in
    it; a name the fixtures did not build has no owner and is never touched.
    """
    verdicts: dict[str, bool] = {}
    swept: list[str] = []
    for namespace in await store.list_plugins():
        token = _names.owner(namespace)
        if token is None or token == own_token:
            continue
        if token not in verdicts:
            verdicts[token] = await is_over(token)
        if verdicts[token]:
            await store.clear(namespace)
            swept.append(namespace)
    return swept

"""pytest fixtures that give every test its own namespace, and clean it up.

Installed with plugin-kv, this plugin loads by itself (entry point ``plugin_kv.testing``).
Where plugin autoloading is off, enable it with ``-p plugin_kv.testing`` or
``pytest_plugins = ["plugin_kv.testing"]``; enabling it more than once is harmless.

Fixtures:
    kv_service: the `KVService` on the store shared by the whole run (all xdist workers).
    kv_store: the store whose namespaces are handed out and removed; default kv_service.
        Override it to isolate tests of your own store (see `NamespaceStore`).
    kv_isolated_plugin: a namespace of this test's own, removed after the test.
    kv_plugin_factory: makes more namespaces, for tests of several plugins at once.
    kv_store_url: the store `kv_service` opens; override it to run against other stores.
        Its value is a `StoreURL`: the URL, shown with its password masked.

Every namespace a test was given is removed from ``kv_store`` after it, then checked empty
where the store can list it, also when the test fails, and for every attempt of a rerun
test. A failed test's report shows what its namespaces held, and names the tests that left
data where it wrote. A test that asks for none of these fixtures opens no store.

One module per job: ``_hooks`` (options, header, failure reports, end of run), ``_fixtures``,
``_cleanup`` (the steps after a test: remove, verify, leaks, keep), ``_names`` (the namespace
format, built and parsed), ``_leases`` (leases and the sweep), ``_registry`` (this machine's
record of its runs: the sweep's proof on a store of your own), ``_leaks`` (leaks and their
polluters), ``_snapshots``, ``_stores`` (what a ``kv_store`` offers), ``_redact`` (no secrets
in output), ``_run`` (per-run state and what the end of the run says).
"""

from __future__ import annotations

import pytest

if pytest.version_tuple < (8, 0):  # pragma: no cover - checked by hand on pytest 7
    raise pytest.UsageError(
        f"plugin-kv's pytest plugin (plugin_kv.testing) needs pytest 8.0 or newer; this is"
        f" pytest {pytest.__version__}: upgrade pytest, or disable the plugin with"
        " -p no:plugin_kv.testing"
    )

# What pytest finds in this module: the fixtures and hooks, re-exported (``x as x``) for it.
from ._fixtures import KVPluginFactory
from ._fixtures import kv_isolated_plugin as kv_isolated_plugin
from ._fixtures import kv_plugin_factory as kv_plugin_factory
from ._fixtures import kv_service as kv_service
from ._fixtures import kv_store as kv_store
from ._fixtures import kv_store_url as kv_store_url
from ._hooks import pytest_addoption as pytest_addoption
from ._hooks import pytest_assertrepr_compare as pytest_assertrepr_compare
from ._hooks import pytest_configure as pytest_configure
from ._hooks import pytest_report_header as pytest_report_header
from ._hooks import pytest_runtest_makereport as pytest_runtest_makereport
from ._hooks import pytest_runtest_setup as pytest_runtest_setup
from ._hooks import pytest_sessionfinish as pytest_sessionfinish
from ._hooks import pytest_terminal_summary as pytest_terminal_summary
from ._leaks import KVLeakWarning
from ._redact import StoreURL
from ._stores import NamespaceStore

__all__ = ["KVLeakWarning", "KVPluginFactory", "NamespaceStore", "StoreURL"]

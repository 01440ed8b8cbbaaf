"""Reruns (pytest-rerunfailures): every attempt gets fresh namespaces, and each is removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin_kv_dev.stores import table_conftest, table_rows

from .conftest import configure, store_contents

# Fails on its first two attempts, passes on the third; each attempt writes its own evidence.
FLAKY_ON_TABLE = """
import pytest

ATTEMPTS = []


def test_flaky(table, kv_isolated_plugin, request):
    ATTEMPTS.append(kv_isolated_plugin)
    table.set(kv_isolated_plugin, "attempt", str(len(ATTEMPTS)))
    assert len(set(ATTEMPTS)) == len(ATTEMPTS), "an attempt got an earlier one's namespace"
    assert len(ATTEMPTS) >= 3, f"attempt {len(ATTEMPTS)} fails on purpose"


def test_steady(table, kv_isolated_plugin):
    table.set(kv_isolated_plugin, "k", "v")
"""

FLAKY_ON_SERVICE = """
import pytest

ATTEMPTS = []


@pytest.mark.asyncio
async def test_flaky(kv_service, kv_isolated_plugin):
    ATTEMPTS.append(kv_isolated_plugin)
    await kv_service.set(kv_isolated_plugin, "attempt", len(ATTEMPTS))
    assert len(set(ATTEMPTS)) == len(ATTEMPTS), "an attempt got an earlier one's namespace"
    assert len(ATTEMPTS) >= 3, f"attempt {len(ATTEMPTS)} fails on purpose"


@pytest.mark.asyncio
async def test_steady(kv_service, kv_isolated_plugin):
    await kv_service.set(kv_isolated_plugin, "k", "v")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep-failed"])
def test_each_attempt_on_an_own_store_is_removed_and_only_failed_ones_kept(
    pytester: pytest.Pytester, tmp_path: Path, workers: list[str], keep: bool
) -> None:
    path = tmp_path / "table.sqlite3"
    configure(pytester)
    pytester.makeconftest(table_conftest(path))
    pytester.makepyfile(test_flaky=FLAKY_ON_TABLE)
    flags = ["--kv-keep-failed"] if keep else []
    result = pytester.runpytest_subprocess(
        "--reruns", "3", "-p", "no:randomly", *workers, *flags, "--kv-leaks=fail"
    )
    assert result.parseoutcomes() == {"passed": 2, "rerun": 2}
    left = table_rows(path)
    if keep:  # attempts 1 and 2 failed: kept; attempt 3 passed: removed
        assert [(key, value) for _, key, value in left] == [("attempt", "1"), ("attempt", "2")]
        assert len({plugin for plugin, _, _ in left}) == 2
        result.stdout.fnmatch_lines(["plugin-kv: kept test_flaky.py::test_flaky: kvt.*"] * 2)
        assert result.stdout.str().count("plugin-kv: kept ") == 2
    else:
        assert left == []


def test_each_attempt_on_kv_service_is_removed(
    pytester: pytest.Pytester, shared_store: str
) -> None:
    configure(pytester)
    pytester.makepyfile(test_flaky=FLAKY_ON_SERVICE)
    before = set(store_contents(shared_store))
    result = pytester.runpytest_subprocess(
        "--reruns", "3", "-p", "no:randomly", "-n", "2", f"--kv-url={shared_store}"
    )
    assert result.parseoutcomes() == {"passed": 2, "rerun": 2}
    left = [p for p in set(store_contents(shared_store)) - before if ".test_flaky" in p]
    assert left == []


def test_only_failed_attempts_on_kv_service_are_kept(
    pytester: pytest.Pytester, store_file: Path
) -> None:
    configure(pytester)
    pytester.makepyfile(test_flaky=FLAKY_ON_SERVICE)
    result = pytester.runpytest_subprocess(
        "--reruns",
        "3",
        "-p",
        "no:randomly",
        "-n",
        "2",
        f"--kv-url={store_file}",
        "--kv-keep-failed",
    )
    assert result.parseoutcomes() == {"passed": 2, "rerun": 2}
    contents = store_contents(str(store_file))
    kept = sorted(keys["attempt"] for plugin, keys in contents.items() if ".test_flaky" in plugin)
    assert kept == [1, 2]  # attempts 1 and 2 failed: kept; attempt 3 passed: removed
    assert not [plugin for plugin in contents if ".test_steady" in plugin]

"""The sweep on a store of your own: a later run removes what ended runs left, nothing else.

A store of the project's own holds no lease; the proof that a namespace's owner is over is
this machine's record of its runs (``PLUGIN_KV_RUNS_DIR`` here, one per simulated machine).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from plugin_kv_dev.stores import table_conftest, table_rows

from .conftest import configure, dedent

FAILS_AND_IS_KEPT = """
def test_kept(table, kv_isolated_plugin):
    table.set(kv_isolated_plugin, "evidence", "1")
    assert False, "fails on purpose; --kv-keep-failed keeps its data"
"""

PASSES = """
def test_later(table, kv_isolated_plugin):
    table.set(kv_isolated_plugin, "k", "v")
"""

CRASHES = """
import os


def test_crash(table, kv_isolated_plugin):
    table.set(kv_isolated_plugin, "evidence", "1")
    os._exit(1)  # the process dies mid-test: no teardown, no end recorded
"""

WAITS = """
import time
from pathlib import Path


def test_alive(table, kv_isolated_plugin):
    table.set(kv_isolated_plugin, "evidence", "1")
    Path({ready!r}).write_text(kv_isolated_plugin)
    deadline = time.monotonic() + 60
    while not Path({go!r}).exists():  # held open until the other run has ended
        assert time.monotonic() < deadline, "never told to go on"
        time.sleep(0.01)
    assert table.list_keys(kv_isolated_plugin) == ["evidence"], "another run swept it"
"""


@pytest.fixture
def table(pytester: pytest.Pytester, tmp_path: Path) -> Path:
    """A table store shared by the inner runs, with a row of another application."""
    path = tmp_path / "table.sqlite3"
    configure(pytester)
    pytester.makeconftest(table_conftest(path))
    return path


def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    """Let the next inner runs keep their run records where machine ``name`` would."""
    monkeypatch.setenv("PLUGIN_KV_RUNS_DIR", str(tmp_path / f"runs-{name}"))


def namespaces(path: Path) -> set[str]:
    return {plugin for plugin, _, _ in table_rows(path)}


def seed_foreign_rows(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO kv VALUES (?, ?, ?)",
            [("users", "alice", "1"), ("kvt.not-a-token.1.test_x", "k", "1")],
        )


FOREIGN = {"users", "kvt.not-a-token.1.test_x"}


def test_kept_data_of_an_ended_run_is_swept_by_a_later_run_of_its_machine_only(
    pytester: pytest.Pytester, table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_foreign_rows(table)
    machine(monkeypatch, tmp_path, "a")
    pytester.makepyfile(test_kept=FAILS_AND_IS_KEPT)
    pytester.runpytest_subprocess("--kv-keep-failed").assert_outcomes(failed=1)
    kept = namespaces(table) - FOREIGN
    assert len(kept) == 1

    pytester.makepyfile(test_kept="", test_later=PASSES)
    machine(monkeypatch, tmp_path, "b")  # another machine sharing the store: cannot prove it
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert namespaces(table) - FOREIGN == kept
    assert "plugin-kv: swept" not in result.stdout.str()

    machine(monkeypatch, tmp_path, "a")  # the machine that ran it: its record proves it over
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"plugin-kv: swept 1 namespaces left by runs that are over: {kept.pop()}"]
    )
    assert namespaces(table) == FOREIGN  # another application's rows and foreign names stay


def test_a_crashed_run_is_swept_and_a_live_run_is_never_touched(
    pytester: pytest.Pytester, table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine(monkeypatch, tmp_path, "a")
    pytester.makepyfile(test_crash=CRASHES)
    crashed = pytester.runpytest_subprocess()
    assert crashed.ret != 0
    assert len(namespaces(table)) == 1

    ready, go = tmp_path / "ready", tmp_path / "go"
    pytester.makepyfile(test_crash="", test_alive=WAITS.format(ready=str(ready), go=str(go)))
    alive = pytester.popen(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "test_alive.py"],
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():  # until the live run has written its namespace
            assert alive.poll() is None, "the live run ended early"
            assert time.monotonic() < deadline, "the live run never wrote its namespace"
            time.sleep(0.01)
        live = ready.read_text()
        assert namespaces(table) == {live}  # the next run on the machine swept the crashed one
        pytester.makepyfile(test_alive="", test_later=PASSES)
        later = pytester.runpytest_subprocess("-p", "no:randomly")
        later.assert_outcomes(passed=1)
        assert "plugin-kv: swept" not in later.stdout.str()
        assert namespaces(table) == {live}  # the live run's namespace stays
    finally:
        go.touch()
        assert alive.wait(timeout=60) == 0
    assert namespaces(table) == set()


def test_a_list_plugins_of_the_wrong_type_is_named_and_the_run_goes_on(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine(monkeypatch, tmp_path, "a")
    configure(pytester)
    pytester.makeconftest(
        dedent(
            """
            import pytest

            class Odd:
                def clear(self, plugin):
                    pass

                def list_plugins(self):
                    return {"plugins": ["x"]}

                def __repr__(self):
                    return "<Odd store>"

            @pytest.fixture
            def kv_store():
                return Odd()
            """
        )
    )
    pytester.makepyfile(test_x="def test_x(kv_isolated_plugin): pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "plugin-kv: could not sweep kv_store <Odd store>: TypeError: <Odd store>.list_plugins()"
            " returned {'plugins': [[]'x'[]]}: it must return a list of str*"
        ]
    )


def test_a_run_record_that_cannot_be_written_is_named_and_the_run_goes_on(
    pytester: pytest.Pytester, table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("PLUGIN_KV_RUNS_DIR", str(blocker / "runs"))
    pytester.makepyfile(test_later=PASSES)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"plugin-kv: could not record this run in {blocker / 'runs'} (*): what it keeps or"
            " leaves in a kv_store of your own is not swept by later runs (set"
            " PLUGIN_KV_RUNS_DIR to a writable directory)"
        ]
    )
    assert namespaces(table) == set()

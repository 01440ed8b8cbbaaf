"""This machine's record of its runs: what proves a run over on a store of your own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugin_kv import KVService
from plugin_kv.testing import _leases, _registry


def test_a_running_process_is_not_over_until_it_ends(tmp_path: Path) -> None:
    registry = _registry.Registry(tmp_path)
    registry.start("0123abcd", "run-1")
    assert not registry.is_over("0123abcd", "run-2")  # this very process: alive
    registry.end("0123abcd")
    assert registry.is_over("0123abcd", "run-2")
    assert not registry.is_over("0123abcd", "run-1")  # its own run's workers keep its data


def test_a_process_that_exited_without_ending_is_over(tmp_path: Path) -> None:
    code = "from pathlib import Path; from plugin_kv.testing import _registry;"
    code += f" _registry.Registry(Path({str(tmp_path)!r})).start('0badc0de', 'run-1')"
    subprocess.run([sys.executable, "-c", code], check=True)  # started, never ended
    assert json.loads((tmp_path / "0badc0de.json").read_text())["pid"] != os.getpid()
    assert _registry.Registry(tmp_path).is_over("0badc0de", "run-2")


def test_a_token_without_a_record_is_never_over(tmp_path: Path) -> None:
    assert not _registry.Registry(tmp_path).is_over("feedface", "run-2")  # a run elsewhere


def test_a_record_of_another_machine_is_not_proof(tmp_path: Path) -> None:
    record = {"machine": "elsewhere/boot/ns", "pid": 999_999_999, "run": "r", "since": 1.0}
    (tmp_path / "0a0b0c0d.json").write_text(json.dumps(record))
    assert not _registry.Registry(tmp_path).is_over("0a0b0c0d", "run-2")


def test_old_ended_records_are_forgotten_and_others_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _registry.Registry(tmp_path)
    for token in ("00000001", "00000002", "00000003"):
        registry.start(token, "run-1")
    registry.end("00000001")
    registry.end("00000002")
    monkeypatch.setattr(_registry, "_now", lambda: 1e12)  # far later
    registry.end("00000002")  # ended just now, in that later time
    registry.forget_old()
    assert sorted(path.stem for path in tmp_path.glob("*.json")) == ["00000002", "00000003"]


def test_the_directory_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGIN_KV_RUNS_DIR", "/somewhere/runs")
    assert _registry.runs_dir() == Path("/somewhere/runs")
    monkeypatch.delenv("PLUGIN_KV_RUNS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/cache")
    assert _registry.runs_dir() == Path("/cache/plugin-kv/runs")


def test_a_bad_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"invalid process token '\.\./x': use 8 hex digits"):
        _registry.Registry(tmp_path).start("../x", "run-1")


def test_an_ended_lease_of_another_worker_of_this_run_is_not_swept(tmp_path: Path) -> None:
    """A worker that kept namespaces and ended: its siblings leave them, a later run sweeps."""

    async def scenario() -> tuple[list[str], list[str]]:
        async with KVService.open(tmp_path / "store.sqlite3") as kv:
            await kv.set("kvt.0a0b0c0d.1.test_kept", "evidence", 1)
            await _leases.take_lease(kv, "0a0b0c0d", "run-1")
            await _leases.release(kv, "0a0b0c0d", "run-1", kept=True)  # closes it
        async with KVService.open(tmp_path / "store.sqlite3") as kv:
            sibling = await _leases.sweep_stale(kv, "1a2b3c4d", "run-1")
            later = await _leases.sweep_stale(kv, "2a3b4c5d", "run-2")
            return sibling, later

    sibling, later = asyncio.run(scenario())
    assert sibling == []
    assert later == ["kvt.0a0b0c0d.1.test_kept"]

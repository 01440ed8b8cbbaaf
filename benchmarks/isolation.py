"""Per-test cost of isolation strategies, from pytest's own phase durations over real runs."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from ._stats import Sample, interleave, one_cpu

RECORDER = """
import asyncio, json, os
import aiosqlite
import pytest
import pytest_asyncio
from plugin_kv import KVService

_durations = {}


def pytest_runtest_logreport(report):
    _durations.setdefault(report.nodeid, 0.0)
    _durations[report.nodeid] += report.duration


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_DURATIONS"], "w") as out:
        json.dump(_durations, out)


@pytest_asyncio.fixture
async def fresh_memory():
    async with KVService.open() as kv:
        yield kv


@pytest_asyncio.fixture
async def fresh_file(tmp_path):
    async with KVService.open(tmp_path / "kv.sqlite3") as kv:
        yield kv


class RawKV:
    \"\"\"set/get as plain SQL on one aiosqlite connection: all a rolled-back test can use.\"\"\"

    UPSERT = (
        "INSERT INTO kv_entries (plugin, key, value, expires_at) VALUES (?, ?, ?, NULL)"
        " ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value"
    )
    GET = "SELECT value FROM kv_entries WHERE plugin = ? AND key = ?"

    def __init__(self, db):
        self.db = db

    async def set(self, plugin, key, value):
        await self.db.execute(self.UPSERT, (plugin, key, json.dumps(value)))

    async def get(self, plugin, key):
        rows = await self.db.execute_fetchall(self.GET, (plugin, key))
        return json.loads(rows[0][0]) if rows else None


@pytest.fixture(scope="session")
def _shared_connection(tmp_path_factory):
    path = tmp_path_factory.mktemp("rollback") / "kv.sqlite3"

    async def connect():
        async with KVService.open(path):  # the schema
            pass
        db = await aiosqlite.connect(path, isolation_level=None)
        await db.execute("PRAGMA synchronous=NORMAL")
        return db

    db = asyncio.run(connect())
    yield db
    asyncio.run(db.close())


@pytest_asyncio.fixture
async def rolled_back(_shared_connection):
    await _shared_connection.execute("BEGIN")
    yield RawKV(_shared_connection)
    await _shared_connection.execute("ROLLBACK")
"""

BODY = """
    await kv.set(namespace, "user:1", {{"name": "Ada", "n": n}})
    assert await kv.get(namespace, "user:1") == {{"name": "Ada", "n": n}}
"""

STRATEGIES: dict[str, tuple[str, str, list[str]]] = {
    # name: (fixtures, namespace expression, extra pytest args)
    "shared store, no cleanup (baseline)": ("kv_service", '"shared"', ["--kv-leaks=off"]),
    "plugin-kv fixtures, leak check off": (
        "kv_service, kv_isolated_plugin",
        "kv_isolated_plugin",
        ["--kv-leaks=off"],
    ),
    "plugin-kv fixtures, leak check on (default)": (
        "kv_service, kv_isolated_plugin",
        "kv_isolated_plugin",
        ["--kv-leaks=warn"],
    ),
    "fresh in-memory store per test": ("fresh_memory", '"shared"', []),
    "fresh file store per test": ("fresh_file", '"shared"', []),
    "transaction rolled back per test (raw SQL; cannot hold KVService writes)": (
        "rolled_back",
        '"shared"',
        [],
    ),
}
BASELINE = "shared store, no cleanup (baseline)"
FRESH_MEMORY = "fresh in-memory store per test"


def measure_isolation(rounds: int, tests: int) -> list[dict[str, Any]]:
    """Return one row per strategy: median seconds per test and overhead over the baseline."""
    with tempfile.TemporaryDirectory() as directory:
        project = Path(directory)
        (project / "conftest.py").write_text(RECORDER)
        (project / "pyproject.toml").write_text(
            "[tool.pytest.ini_options]\n"
            'asyncio_default_fixture_loop_scope = "function"\n'
            'asyncio_default_test_loop_scope = "function"\n'
        )
        files = {}
        for index, (name, (fixtures, namespace, _)) in enumerate(STRATEGIES.items()):
            kv = fixtures.split(",")[0].strip()
            source = (
                "import pytest\n\n"
                f"@pytest.mark.parametrize('n', range({tests}))\n"
                "@pytest.mark.asyncio\n"
                f"async def test_strategy({fixtures}, n):\n"
                f"    kv = {kv}\n    namespace = {namespace}\n"
                + textwrap.dedent(BODY).replace("\n", "\n    ").rstrip(" ").format()
            )
            files[name] = project / f"test_strategy_{index}.py"
            files[name].write_text(source)
        with one_cpu():  # the pytest runs inherit it: see `one_cpu`
            samples = interleave(
                f"{tests} tests a run",
                rounds,
                {
                    name: lambda f=files[name], a=args: _median_test_seconds(project, f, a)
                    for name, (_, _, args) in STRATEGIES.items()
                },
            )
    baseline, fresh = samples[BASELINE], samples[FRESH_MEMORY]
    rows = []
    for name, sample in samples.items():
        # Overhead over the baseline as a share of a fresh store's, paired round by round.
        shares = [
            (mine - base) / (new - base)
            for mine, base, new in zip(sample.values, baseline.values, fresh.values, strict=True)
            if new > base
        ]
        rows.append(
            {
                "strategy": name,
                "per_test_us": sample.median * 1e6,
                "overhead_us": (sample.median - baseline.median) * 1e6,
                "overhead_vs_fresh_memory": Sample(name, shares).summary() if shares else None,
                "spread": sample.spread,
            }
        )
    return rows


def _median_test_seconds(project: Path, test_file: Path, args: list[str]) -> float:
    durations = project / "durations.json"
    env = {**os.environ, "BENCH_DURATIONS": str(durations)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(test_file),
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-W",
        "error",
        *args,
    ]
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark run failed:\n{result.stdout}\n{result.stderr}")
    per_test = json.loads(durations.read_text())
    return statistics.median(per_test.values())


def rollback_holds_service_writes() -> dict[str, Any]:
    """Check what a per-test rollback does to writes made through `KVService`.

    A test wrapped in BEGIN ... ROLLBACK on its own connection cannot hold the service's
    writes: the service commits on its connection. Returns what happened, for the notes.
    """
    import asyncio

    import aiosqlite

    from plugin_kv import KVError, KVService

    async def check(path: Path) -> dict[str, Any]:
        async with (
            KVService.open(path, busy_timeout=0.2) as kv,
            aiosqlite.connect(path, isolation_level=None) as db,
        ):
            await db.execute("BEGIN")
            await db.execute_fetchall("SELECT count(*) FROM kv_entries")
            await kv.set("test", "k", 1)
            await db.execute("ROLLBACK")
            survived = await kv.get("test", "k") == 1
            await db.execute("BEGIN IMMEDIATE")  # the test's own connection writes first
            try:
                await kv.set("test", "k", 2)
                blocked = "no"
            except KVError as exc:
                blocked = str(exc).split(": ", 1)[-1]
            await db.execute("ROLLBACK")
        return {"service_write_survives_rollback": survived, "service_write_while_held": blocked}

    with tempfile.TemporaryDirectory() as directory:
        return asyncio.run(check(Path(directory) / "kv.sqlite3"))

"""Per-test cost of isolation strategies, from pytest's own phase durations over real runs."""

from __future__ import annotations

import statistics
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from ._stats import TAKE_TURNS, Sample, by_test_function, progress, run_recorded

RECORDER = (
    """
import asyncio, json, os
import aiosqlite
import pytest
import pytest_asyncio
from plugin_kv import KVService

_durations = {}


"""
    + TAKE_TURNS
    + """

def pytest_sessionfinish(session):
    with open(os.environ["BENCH_DURATIONS"], "w") as out:
        json.dump(_durations, out)


@pytest.fixture(scope="session")
def shared_service(tmp_path_factory):
    # One service for the whole run, no cleanup: what a suite without isolation does.
    path = tmp_path_factory.mktemp("shared") / "kv.sqlite3"

    async def open_store():
        return await KVService.open(path)

    kv = asyncio.run(open_store())
    yield kv
    asyncio.run(kv.close())


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
        await self.db.execute(self.UPSERT, (plugin, key, json.dumps(value, separators=(",", ":"))))

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
)

BODY = """
    await kv.set(namespace, "user:1", {{"name": "Ada", "n": n}})
    assert await kv.get(namespace, "user:1") == {{"name": "Ada", "n": n}}
"""

STRATEGIES: dict[str, tuple[str, str]] = {
    # name: (fixtures, namespace expression)
    "shared store, no cleanup (baseline)": ("shared_service", '"shared"'),
    "plugin-kv fixtures": ("kv_service, kv_isolated_plugin", "kv_isolated_plugin"),
    "fresh in-memory store per test": ("fresh_memory", '"shared"'),
    "fresh file store per test": ("fresh_file", '"shared"'),
    "transaction rolled back per test (raw SQL; cannot hold KVService writes)": (
        "rolled_back",
        '"shared"',
    ),
}
BASELINE = "shared store, no cleanup (baseline)"
FIXTURES = "plugin-kv fixtures"
FRESH_MEMORY = "fresh in-memory store per test"
RUNS = {
    # run: (pytest arguments, strategies in it, how the plugin-kv row is labelled)
    "leak check off": (["--kv-leaks=off"], list(STRATEGIES), "plugin-kv fixtures, leak check off"),
    "leak check on": (
        ["--kv-leaks=warn"],
        [BASELINE, FIXTURES, FRESH_MEMORY],
        "plugin-kv fixtures, leak check on (default)",
    ),
}


def measure_isolation(rounds: int, tests: int) -> list[dict[str, Any]]:
    """Return one row per strategy: median seconds per test and overhead over the baseline.

    Each run holds every strategy's tests, taking turns test by test (see the recorder's
    ``pytest_collection_modifyitems``): a busy patch of a shared machine then hits all of
    them alike, and each run yields its own paired overhead ratio.
    """
    with tempfile.TemporaryDirectory() as directory:
        project = Path(directory)
        (project / "conftest.py").write_text(RECORDER)
        (project / "pyproject.toml").write_text(
            "[tool.pytest.ini_options]\n"
            'asyncio_default_fixture_loop_scope = "function"\n'
            'asyncio_default_test_loop_scope = "function"\n'
        )
        files = {
            run: _write_tests(project, run, names, tests) for run, (_, names, _) in RUNS.items()
        }
        per_run: dict[str, list[dict[str, float]]] = {run: [] for run in RUNS}
        for round_number in range(1, rounds + 1):
            for run, (args, _, _) in RUNS.items():
                progress(
                    f"{tests} tests of each strategy a run: round {round_number}/{rounds}, {run}"
                )
                per_run[run].append(_run_strategies(project, files[run], args))
        progress(f"{tests} tests of each strategy a run: done ({rounds} rounds)", end=True)

    def row(run: str, name: str, label: str) -> dict[str, Any]:
        mine = [measured[name] for measured in per_run[run]]
        base = [measured[BASELINE] for measured in per_run[run]]
        fresh = [measured[FRESH_MEMORY] for measured in per_run[run]]
        shares = [(m - b) / (f - b) for m, b, f in zip(mine, base, fresh, strict=True)]
        return {
            "strategy": label,
            "per_test_us": statistics.median(mine) * 1e6,
            "overhead_us": statistics.median(m - b for m, b in zip(mine, base, strict=True)) * 1e6,
            "overhead_vs_fresh_memory": Sample(label, shares).summary(),
            "spread": Sample(label, mine).spread,
        }

    off, on = "leak check off", "leak check on"
    return [
        row(off, BASELINE, BASELINE),
        row(off, FIXTURES, RUNS[off][2]),
        row(on, FIXTURES, RUNS[on][2]),
        *(row(off, name, name) for name in list(STRATEGIES)[2:]),
    ]


def _write_tests(project: Path, run: str, names: list[str], tests: int) -> Path:
    """Write one test file holding ``tests`` tests of each strategy in ``names``."""
    source = "import pytest\n"
    for index, name in enumerate(names):
        fixtures, namespace = STRATEGIES[name]
        kv = fixtures.split(",")[0].strip()
        source += (
            f"\n\n@pytest.mark.parametrize('n', range({tests}))\n"
            "@pytest.mark.asyncio\n"
            f"async def test_s{index}({fixtures}, n):  # {name}\n"
            f"    kv = {kv}\n    namespace = {namespace}\n"
            + textwrap.dedent(BODY).replace("\n", "\n    ").rstrip(" ").format()
        )
    path = project / f"test_{run.replace(' ', '_')}.py"
    path.write_text(source)
    return path


def _run_strategies(project: Path, test_file: Path, args: list[str]) -> dict[str, float]:
    """Run ``test_file``; return ``{strategy: median seconds per test}`` for this run."""
    by_function = by_test_function(run_recorded(project, str(test_file), *args))
    names = [line.split("# ", 1)[1] for line in test_file.read_text().splitlines() if "# " in line]
    return {name: statistics.median(by_function[f"test_s{i}"]) for i, name in enumerate(names)}


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

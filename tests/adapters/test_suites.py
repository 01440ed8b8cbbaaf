"""The tutorial's story on stores of one's own, each isolated by one line: a ready-made adapter.

On each store (SQLite through SQLAlchemy, sync and async; PostgreSQL; MariaDB; Redis): the
leaky suite finds 11; the isolated one passes in random order under ``-n 2`` on the shared
store; a failing test's data is shown, then removed; nothing is left; another application's
data survives. Every store reachable here takes part in the same two inner runs (one folder
each), so their start-up is paid once; each store's verdict is a test of its own below, which
skips (or, when required, fails) saying why when its server is away.

On Redis, also: a run started while another is alive leaves that run's keys alone.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from plugin_kv.testing.redis import PrefixNamespaces
from plugin_kv_dev import inner_config, suites, tables
from plugin_kv_dev.postgres import postgres_unavailable
from plugin_kv_dev.services import MARIADB, REDIS

from .conftest import MARKS, sql_url

KINDS = (*tables.KINDS, "redis")
OTHER_APP = ("billing", "user:1", '{"plan": "pro"}')
"""A row, or a Redis key, of another application sharing the store."""
LEAKY_ROWS = 5 + 3 + 4
FIXED_TESTS = 6
UNSTABLE_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PLUGIN_KV_URL", "CI", "BUILD_NUMBER")


def unavailable(kind: str) -> str | None:
    """Why ``kind``'s server cannot be used here (None: it can), without skipping."""
    if kind == "postgresql":
        return postgres_unavailable()
    server = {"mariadb": MARIADB, "redis": REDIS}.get(kind)
    return None if server is None else server.unavailable()


def inner_env() -> dict[str, str]:
    """The environment of an inner run: none of the outer run's pytest or xdist settings."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in UNSTABLE_ENV and not name.startswith("PYTEST_XDIST_")
    }


@dataclass
class Run:
    """An inner pytest run: its output, and each test's outcome and failure message."""

    output: str
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)
    """``"<folder>/<file>::<test>"`` -> (``passed`` / ``failed`` / ``error`` / ``skipped``,
    message)."""

    @classmethod
    def of(cls, folder: Path, *args: str) -> Run:
        report = folder / "report.xml"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", f"--junitxml={report}", *args],
            cwd=folder,
            env=inner_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        run = cls(done.stdout + done.stderr)
        for case in ET.parse(report).getroot().iter("testcase"):
            path = case.get("classname", "").replace(".", "/")
            verdict, message = "passed", ""
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    verdict, message = child.tag, child.get("message", "")
            run.outcomes[f"{path}.py::{case.get('name')}"] = (verdict, message)
        return run

    def of_folder(self, kind: str) -> dict[str, tuple[str, str]]:
        return {test: found for test, found in self.outcomes.items() if test.startswith(f"{kind}/")}

    def block_after(self, header: str, length: int) -> list[str]:
        """Return the ``length`` lines after the line ``header`` (which must be there once)."""
        lines = self.output.splitlines()
        at = [number for number, line in enumerate(lines) if line == header]
        assert len(at) == 1, f"{header!r} is {len(at)} times in the output:\n{self.output}"
        return lines[at[0] + 1 : at[0] + 1 + length]


@dataclass
class Store:
    """One store's folder in the inner project, and what to read from it afterwards."""

    kind: str
    header: str
    """How the failure snapshot names the store."""
    written: Path
    leftovers: Callable[[], dict[str, object]]
    """What the store holds afterwards: the namespaces the runs wrote, other data."""


@dataclass
class Stories:
    """What the two inner runs showed, per store: JSON, to be shared by xdist workers."""

    headers: dict[str, str]
    leaky: Run
    isolated: Run
    left: dict[str, dict[str, object]]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Stories:
        data = json.loads(text)
        runs = {
            name: Run(
                data[name]["output"], {t: (v, m) for t, (v, m) in data[name]["outcomes"].items()}
            )
            for name in ("leaky", "isolated")
        }
        return cls(data["headers"], runs["leaky"], runs["isolated"], data["left"])


def module_name(kind: str) -> str:
    return kind.replace("-", "_")


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory) -> Stories:
    """Run the story on every store here, once per run: xdist workers share the result."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: each worker runs it
        run_id = None
    if not run_id:
        return tell_stories(tmp_path_factory.mktemp("stories"))
    shared = tmp_path_factory.getbasetemp().parent  # the same for every worker of the run
    with open(shared / "adapter-stories.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits for the result
        saved = shared / f"adapter-stories-{run_id}.json"
        if saved.exists():
            return Stories.from_json(saved.read_text())
        found = tell_stories(tmp_path_factory.mktemp("stories"))
        saved.write_text(found.to_json())
        return found


def tell_stories(root: Path) -> Stories:
    """Run the leaky suite, then the isolated one and a failing test, on every store here."""
    (root / "pyproject.toml").write_text(inner_config())
    stores: dict[str, Store] = {}
    undo: list[Callable[[], None]] = []
    try:
        for kind in KINDS:
            if unavailable(kind) is not None:
                continue
            folder = root / kind
            folder.mkdir()
            written = folder / "written.txt"
            leaky = suites.STORE_LEAKY_SUITE
            if kind == "redis":
                stores[kind] = redis_store(folder, written, undo)
                leaky = leaky.replace('"test"', f'"test-{root.name}"')
            else:
                stores[kind] = sql_store(kind, folder, written, undo)
            name = module_name(kind)
            (folder / f"test_{name}_leaky.py").write_text(leaky)
            (folder / f"test_{name}_fixed.py").write_text(suites.STORE_FIXED_SUITE)
            (folder / f"test_{name}_fails.py").write_text(suites.STORE_FAILING_TEST)
        kinds = list(stores)
        leaky_run = Run.of(
            root, "-p", "no:randomly", *(f"{k}/test_{module_name(k)}_leaky.py" for k in kinds)
        )
        isolated_run = Run.of(
            root,
            "-n",
            "2",
            "-p",
            "randomly",
            *(f"{k}/test_{module_name(k)}_{what}.py" for k in kinds for what in ("fixed", "fails")),
        )
        left = {kind: store.leftovers() for kind, store in stores.items()}
        headers = {kind: store.header for kind, store in stores.items()}
        return Stories(headers, leaky_run, isolated_run, left)
    finally:
        for step in reversed(undo):
            step()


def sql_store(kind: str, folder: Path, written: Path, undo: list[Callable[[], None]]) -> Store:
    url = tables.url_of(kind, folder)
    table = tables.new_name()
    tables.create(url, table, [OTHER_APP])
    undo.append(lambda: tables.drop(url, table))
    (folder / "conftest.py").write_text(
        suites.SQL_CONFTEST.format(url=url, table=table, written=str(written))
    )

    def leftovers() -> dict[str, object]:
        rows = tables.rows_of(url, table)
        return {
            "other kept": OTHER_APP in rows,
            "leaky": len([row for row in rows if row[0] == "test"]),
            "fixtures'": sorted({row[0] for row in rows if row[0].startswith("kvt.")}),
            "rows": len(rows),
        }

    driver = sa.engine.make_url(url).drivername
    return Store(
        kind,
        f"namespaces in TableNamespaces({table!r} on {driver}), removed after the test:",
        written,
        leftovers,
    )


def redis_store(folder: Path, written: Path, undo: list[Callable[[], None]]) -> Store:
    client = redis.Redis.from_url(REDIS.url)
    store = PrefixNamespaces(client)
    other_key = f"{OTHER_APP[0]}-{folder.parent.name}:{OTHER_APP[1]}"
    leaky = f"test-{folder.parent.name}"
    client.set(other_key, OTHER_APP[2])

    def clean() -> None:
        client.unlink(other_key)
        store.clear(leaky)
        client.close()

    undo.append(clean)
    (folder / "conftest.py").write_text(
        suites.REDIS_CONFTEST.format(url=REDIS.url, written=str(written))
    )

    def leftovers() -> dict[str, object]:
        ours = {n for n in written.read_text().split() if n.startswith("kvt.")}
        return {
            "other kept": client.get(other_key) == OTHER_APP[2].encode(),
            "leaky": len(store.list_keys(leaky)),
            "fixture namespaces written": len(ours),
            "fixture keys left": sum(len(store.list_keys(n)) for n in ours),
        }

    return Store("redis", f"namespaces in {store!r}, removed after the test:", written, leftovers)


def require(kind: str) -> None:
    """Skip (or, when required, fail) the verdict of a store whose server is away."""
    if kind in ("postgresql", "mariadb"):
        sql_url(kind, Path("."))
    elif kind == "redis":
        REDIS.require()


PARAMS = [
    pytest.param(k, marks=MARKS.get(k, []) + ([pytest.mark.redis] if k == "redis" else []))
    for k in KINDS
]


@pytest.mark.parametrize("kind", PARAMS)
def test_the_leaky_suite_finds_11(stories: Stories, kind: str) -> None:
    require(kind)
    name = module_name(kind)
    found = stories.leaky.of_folder(kind)
    assert found == {
        f"{kind}/test_{name}_leaky.py::test_create_users": ("passed", ""),
        f"{kind}/test_{name}_leaky.py::test_user_sessions": ("passed", ""),
        f"{kind}/test_{name}_leaky.py::test_count_with_prefix": (
            "failure",
            "AssertionError: expected 3 keys with prefix 'user:', found 11\nassert 11 == 3",
        ),
    }, stories.leaky.output


@pytest.mark.parametrize("kind", PARAMS)
def test_the_isolated_suite_passes_under_xdist_in_random_order_and_shows_failed_data(
    stories: Stories, kind: str
) -> None:
    require(kind)
    found = stories.isolated.of_folder(kind)
    verdicts = sorted(verdict for verdict, _ in found.values())
    assert verdicts == ["failure"] + ["passed"] * FIXED_TESTS, stories.isolated.output
    block = stories.isolated.block_after(stories.headers[kind], 4)
    expected = [
        "kvt.*.test_fails_after_writing.billing: 1 key",
        "  'user:1': {'plan': 'pro'}",
        "kvt.*.test_fails_after_writing.search: 1 key",
        "  'user:1': {'query': 'kv'}",
    ]
    assert all(
        fnmatch.fnmatch(line, pattern) for line, pattern in zip(block, expected, strict=True)
    ), block


@pytest.mark.parametrize("kind", PARAMS)
def test_nothing_is_left_but_the_leaky_suites_and_another_applications_data(
    stories: Stories, kind: str
) -> None:
    require(kind)
    left = stories.left[kind]
    assert left["other kept"] is True
    assert left["leaky"] == LEAKY_ROWS
    if kind == "redis":
        assert left["fixture namespaces written"] == FIXED_TESTS + 2
        assert left["fixture keys left"] == 0
    else:
        assert left["fixtures'"] == []
        assert left["rows"] == 1 + LEAKY_ROWS


HOLDING_TEST = """
import asyncio
import time
from pathlib import Path

import pytest


@pytest.mark.asyncio
async def test_holds_its_keys_while_another_run_goes(bot, kv_isolated_plugin):
    await bot.set(kv_isolated_plugin, "user:1", {"held": True})
    Path("ready.txt").write_text(kv_isolated_plugin)
    deadline = time.monotonic() + 120
    while not Path("go.txt").exists():  # the outer test: the other run is over
        assert time.monotonic() < deadline, "the other run did not end"
        await asyncio.sleep(0.05)
    assert await bot.get(kv_isolated_plugin, "user:1") == {"held": True}
"""


@pytest.mark.redis
def test_a_second_run_on_the_same_redis_database_leaves_a_live_runs_keys_alone(
    tmp_path: Path, redis_url: str
) -> None:
    server = redis.Redis.from_url(redis_url)
    other_key = f"{OTHER_APP[0]}-{tmp_path.name}:{OTHER_APP[1]}"
    server.set(other_key, OTHER_APP[2])
    (tmp_path / "pyproject.toml").write_text(inner_config())
    written = tmp_path / "written.txt"
    (tmp_path / "conftest.py").write_text(
        suites.REDIS_CONFTEST.format(url=redis_url, written=str(written))
    )
    (tmp_path / "test_hold.py").write_text(HOLDING_TEST)
    (tmp_path / "test_fixed.py").write_text(suites.STORE_FIXED_SUITE)
    (tmp_path / "test_fails.py").write_text(suites.STORE_FAILING_TEST)
    first = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "test_hold.py"],
        cwd=tmp_path,
        env=inner_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = tmp_path / "ready.txt"
        deadline = time.monotonic() + 120
        while not ready.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for the first run to have written: an event, not a race
        assert ready.exists(), first.communicate(timeout=60)[0]
        held = f"{ready.read_text()}:user:1"
        assert server.exists(held) == 1

        second = Run.of(tmp_path, "-p", "randomly", "test_fixed.py", "test_fails.py")
        assert (
            sorted(v for v, _ in second.outcomes.values()) == ["failure"] + ["passed"] * FIXED_TESTS
        )
        assert server.exists(held) == 1, "the second run removed the live first run's key"
    finally:
        (tmp_path / "go.txt").write_text("go")
        output = first.communicate(timeout=120)[0]
    assert first.returncode == 0, output
    assert server.exists(held) == 0  # the first run's own cleanup
    assert server.get(other_key) == OTHER_APP[2].encode()
    server.unlink(other_key)
    server.close()

"""Per-test cost of isolating the guide's own-store example, next to that store's own calls.

The store, the ``kv_store`` adapter and the ``conftest.py`` recipe are read from the page that
shows them (``docs/how-to/own-store.md``), so what is measured is what the guide teaches. One
pytest run holds four kinds of test, taking turns test by test; each writes one key and reads
it back through the page's ``BotDB`` (SQLAlchemy, plain methods), opened once per run:

- baseline: a fixed namespace, nothing removed (the leaky suite);
- own calls: a fixture that, after the test, calls the adapter's ``clear`` and ``list_keys``
  on the test's namespace, and nothing else: the floor of any cleanup of this store;
- plugin-kv fixtures: ``kv_isolated_plugin`` with the page's ``kv_store`` override;
- recipe: the page's ``conftest.py`` recipe (``isolated_plugin``), in a folder of its own.

Per test is the sum of pytest's setup, call and teardown durations; overhead is a kind's
median minus the baseline's, in the same run. The ratios are paired run by run: median of
the per-run ratios, spread = (max - min) / median. ``clear`` + ``list_keys`` are also timed
alone, inside the "own calls" fixture. Run it with ``python -m benchmarks.own_store``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import tempfile
from pathlib import Path

from ._report import Figure, Goal
from ._stats import TAKE_TURNS, Sample, by_test_function, one_cpu, progress, run_recorded

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "how-to" / "own-store.md"

RECORDER = (
    """

# -- added by benchmarks/own_store.py -------------------------------------------------------
import json as _json
import os as _os
import time as _time

_durations = {}
_calls = []


"""
    + TAKE_TURNS
    + """

def pytest_sessionfinish(session):
    with open(_os.environ["BENCH_DURATIONS"], "w") as out:
        _json.dump({"durations": _durations, "calls": _calls}, out)


@pytest.fixture
def own_calls(db, request):
    namespace = "own." + request.node.name
    yield namespace
    store = BotNamespaces(db)
    started = _time.perf_counter()
    store.clear(namespace)
    left = store.list_keys(namespace)
    _calls.append(_time.perf_counter() - started)
    assert left == []
"""
)

TEST = """import pytest


@pytest.mark.parametrize("n", range({tests}))
def {name}(db, {fixture}n):
    db.set_value({namespace}, "user:1", {{"name": "Ada", "n": n}})
    assert db.get_value({namespace}, "user:1") == {{"name": "Ada", "n": n}}
"""

KINDS = {
    # test function: (file, fixture, namespace expression)
    "test_baseline": ("test_baseline.py", "", '"shared"'),
    "test_own_calls": ("test_own_calls.py", "own_calls", "own_calls"),
    "test_fixtures": ("test_fixtures.py", "kv_isolated_plugin", "kv_isolated_plugin"),
    "test_recipe": ("recipe/test_recipe.py", "isolated_plugin", "isolated_plugin"),
}

_FILE_FENCE = re.compile(r'```py \{title="(?P<title>[^"]+)" test="file"[^}]*\}')


def page_files(page: Path = PAGE) -> dict[str, list[str]]:
    """Return the page's ``test="file"`` Python fences: title -> their texts, in page order."""
    lines = page.read_text("utf-8").splitlines()
    files: dict[str, list[str]] = {}
    for number, line in enumerate(lines):
        match = _FILE_FENCE.fullmatch(line)
        if match is not None:
            end = lines.index("```", number + 1)
            files.setdefault(match["title"], []).append("\n".join(lines[number + 1 : end]) + "\n")
    return files


def _one(texts: list[str], marker: str) -> str:
    found = [text for text in texts if marker in text]
    if len(found) != 1:
        raise RuntimeError(f"{PAGE.name}: expected one conftest.py holding {marker!r}")
    return found[0]


def write_project(project: Path, tests: int) -> None:
    """Write the page's store, its ``kv_store`` conftest, the recipe, and the four test files."""
    files = page_files()
    conftests = files["conftest.py"]
    for module in ("botdb.py", "karma.py"):
        (project / module).write_text(files[module][0])
    (project / "conftest.py").write_text(_one(conftests, "return BotNamespaces(db)") + RECORDER)
    (project / "recipe").mkdir()
    (project / "recipe" / "conftest.py").write_text(_one(conftests, "pytest only"))
    (project / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'asyncio_mode = "strict"\n'
        'asyncio_default_fixture_loop_scope = "function"\n'
        'asyncio_default_test_loop_scope = "function"\n'
    )
    for name, (path, fixture, namespace) in KINDS.items():
        source = TEST.format(
            tests=tests, name=name, fixture=f"{fixture}, " if fixture else "", namespace=namespace
        )
        (project / path).write_text(source)


def run_once(project: Path) -> tuple[dict[str, float], float]:
    """Run the suite once; return each kind's median seconds per test, and the calls' median."""
    # The store's file lives in --basetemp, on the chosen disk.
    measured = run_recorded(project, f"--basetemp={project / 'tmp'}")
    by_kind = by_test_function(measured["durations"])
    return (
        {name: statistics.median(by_kind[name]) for name in KINDS},
        statistics.median(measured["calls"]),
    )


def measure_own_store(
    rounds: int = 5, tests: int = 300, where: Path | None = None
) -> dict[str, float]:
    """Return the per-test figures in microseconds and the paired ratios, each with its spread.

    ``where`` is the folder that holds the run and the store's file (default: the system's
    temporary folder). The page's store commits every write in WAL mode with SQLite's default
    ``synchronous=FULL``, so on a real disk its flushes dominate; on a RAM disk
    (``/dev/shm``) what remains is the work of the calls and the fixtures.
    """
    runs: list[tuple[dict[str, float], float]] = []
    with tempfile.TemporaryDirectory(dir=where) as directory, one_cpu():
        project = Path(directory)
        write_project(project, tests)
        for number in range(1, rounds + 1):
            progress(f"own store, {tests} tests of each kind a run: round {number}/{rounds}")
            runs.append(run_once(project))
    progress(f"own store, {tests} tests of each kind a run: done ({rounds} rounds)", end=True)

    def overhead(kind: str) -> list[float]:
        return [per[kind] - per["test_baseline"] for per, _ in runs]

    own, fixtures = overhead("test_own_calls"), overhead("test_fixtures")
    recipe = overhead("test_recipe")
    calls = [call for _, call in runs]
    baseline = [per["test_baseline"] for per, _ in runs]
    results: dict[str, float] = {"rounds": rounds, "tests_per_kind": tests}
    for name, seconds in {
        "baseline_per_test_us": baseline,
        "clear_and_list_keys_us": calls,
        "own_calls_overhead_us": own,
        "fixtures_overhead_us": fixtures,
        "recipe_overhead_us": recipe,
    }.items():
        sample = Sample(name, seconds)
        results[name] = sample.median * 1e6
        results[f"{name}_spread"] = sample.spread
    for name, values in {
        "fixtures_over_own_calls": [f / o for f, o in zip(fixtures, own, strict=True)],
        "recipe_over_own_calls": [r / o for r, o in zip(recipe, own, strict=True)],
        "fixtures_over_recipe": [f / r for f, r in zip(fixtures, recipe, strict=True)],
        "fixtures_over_clear_and_list_keys": [f / c for f, c in zip(fixtures, calls, strict=True)],
    }.items():
        sample = Sample(name, values)
        results[name] = sample.median
        results[f"{name}_spread"] = sample.spread
    return results


@dataclasses.dataclass(frozen=True)
class OwnStore:
    """The own-store page's figures, as a section of the report (no goal: a comparison)."""

    figures: dict[str, float]
    name: str = "own_store"

    def goals(self) -> list[Goal]:
        return []

    def _ratio(self, name: str) -> Figure:
        return Figure(self.figures[name], self.figures[f"{name}_spread"], ())

    def markdown(self) -> list[str]:
        f = self.figures
        return [
            "**Your own store** (the store of [Isolate tests of your own store]"
            "(../how-to/own-store.md), its file on disk in WAL mode):"
            f" overhead per test over a test that removes nothing, {int(f['tests_per_kind'])}"
            " tests of each kind a run, taking turns:",
            "",
            "| cleanup | overhead per test µs | over the store's own calls |",
            "|---|---:|---:|",
            f"| the store's own `clear` + `list_keys`, called by hand"
            f" | {f['own_calls_overhead_us']:.0f} | 1.00× |",
            f"| plugin-kv fixtures with a `kv_store` override | {f['fixtures_overhead_us']:.0f}"
            f" | {self._ratio('fixtures_over_own_calls')} |",
            f"| the page's `conftest.py` recipe | {f['recipe_overhead_us']:.0f}"
            f" | {self._ratio('recipe_over_own_calls')} |",
            "",
            f"The two calls alone take {f['clear_and_list_keys_us']:.0f} µs.",
        ]


def main() -> None:
    """Measure, and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.own_store", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="pytest runs")
    parser.add_argument("--tests", type=int, default=300, help="tests of each kind a run")
    parser.add_argument("--dir", type=Path, help="where the run and its store live")
    args = parser.parse_args()
    print(f"store's file in: {args.dir or tempfile.gettempdir()}")
    for name, value in measure_own_store(args.rounds, args.tests, args.dir).items():
        shown = f"{value:.0%}" if name.endswith("_spread") else f"{value:.2f}"
        print(f"{name:42} {shown:>10}")


if __name__ == "__main__":
    main()

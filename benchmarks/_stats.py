"""Repeat measurements, interleaved, and summarise them: median and spread."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Sample:
    """Repeated measurements of one quantity (seconds per operation, per test, or a ratio)."""

    name: str
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the repeats were."""
        return (max(self.values) - min(self.values)) / self.median if self.median else 0.0

    def summary(self, scale: float = 1.0) -> dict[str, Any]:
        return {"median": self.median * scale, "spread": self.spread, "values": self.values}


def repeat(name: str, rounds: int, measure: Callable[[], float]) -> Sample:
    """Run ``measure`` ``rounds`` times, showing progress on stderr."""
    return interleave(name, rounds, {name: measure})[name]


def progress(text: str, *, end: bool = False) -> None:
    """Show ``text`` on stderr, over the previous progress line; ``end`` keeps it."""
    print(f"\r  {text}" + " " * 40, end="\n" if end else "", file=sys.stderr, flush=True)


def interleave(
    label: str, rounds: int, measures: dict[str, Callable[[], float]]
) -> dict[str, Sample]:
    """Run every measure once per round, in turn, so that noise hits them all alike."""
    values: dict[str, list[float]] = {name: [] for name in measures}
    for round_number in range(1, rounds + 1):
        for name, measure in measures.items():
            progress(f"{label}: round {round_number}/{rounds}, {name}")
            values[name].append(measure())
    progress(f"{label}: done ({rounds} rounds)", end=True)
    return {name: Sample(name, found) for name, found in values.items()}


def ratio(top: Sample, bottom: Sample) -> Sample:
    """Return the per-round ratio ``top / bottom`` (paired rounds cancel slow patches out)."""
    pairs = zip(top.values, bottom.values, strict=True)
    return Sample(f"{top.name} / {bottom.name}", [a / b for a, b in pairs])


def run_recorded(project: Path, *args: str) -> Any:
    """Run pytest in ``project`` with ``args``; return what its recorder wrote.

    No random order, no cache, no xdist, warnings as errors. The project's conftest gets the
    file to write in ``BENCH_DURATIONS``; a failed run raises with pytest's output.
    """
    record = project / "durations.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
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
    env = {**os.environ, "BENCH_DURATIONS": str(record)}
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark run failed:\n{done.stdout[-4000:]}\n{done.stderr}")
    return json.loads(record.read_text())


def by_test_function(durations: dict[str, float]) -> dict[str, list[float]]:
    """Group seconds per test by test function, the parametrized cases of each together."""
    grouped: dict[str, list[float]] = {}
    for nodeid, seconds in durations.items():
        grouped.setdefault(nodeid.split("::")[1].split("[")[0], []).append(seconds)
    return grouped


@contextlib.contextmanager
def one_cpu() -> Iterator[str]:
    """Keep this thread, and the threads it starts, on one CPU; yield how it is placed.

    Handing a call to a driver's worker thread costs a context switch when both threads
    share a CPU, but 40-60 µs more when the worker sleeps on another, idle CPU (waking a
    virtual CPU is slow). The scheduler decides that placement per thread, so unpinned, two
    connections that do identical work can differ twofold. Pinned, every way in pays the same.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield "threads not pinned (this platform cannot)"
        return
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        yield "all threads on one CPU"
    finally:
        os.sched_setaffinity(0, allowed)


TAKE_TURNS = """
def pytest_collection_modifyitems(items):
    # The kinds of test take turns, test by test, so that each sees the same machine.
    queues = {}
    for item in items:
        queues.setdefault(item.originalname, []).append(item)
    items[:] = [item for turn in zip(*queues.values()) for item in turn]


def pytest_runtest_logreport(report):
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration
"""
"""conftest.py hooks of a benchmark run: tests of each kind take turns, and each test's
setup, call and teardown durations add up in ``_durations``."""

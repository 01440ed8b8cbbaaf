"""Repeat measurements, interleaved, and summarise them: median and spread."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
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


def interleave(
    label: str, rounds: int, measures: dict[str, Callable[[], float]]
) -> dict[str, Sample]:
    """Run every measure once per round, in turn, so that noise hits them all alike."""
    values: dict[str, list[float]] = {name: [] for name in measures}
    for round_number in range(1, rounds + 1):
        for name, measure in measures.items():
            print(
                f"\r  {label}: round {round_number}/{rounds}, {name}" + " " * 10,
                end="",
                file=sys.stderr,
                flush=True,
            )
            values[name].append(measure())
    print(f"\r  {label}: done ({rounds} rounds)" + " " * 60, file=sys.stderr, flush=True)
    return {name: Sample(name, found) for name, found in values.items()}


def ratio(top: Sample, bottom: Sample) -> Sample:
    """Return the per-round ratio ``top / bottom`` (paired rounds cancel slow patches out)."""
    pairs = zip(top.values, bottom.values, strict=True)
    return Sample(f"{top.name} / {bottom.name}", [a / b for a, b in pairs])

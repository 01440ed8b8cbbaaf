"""Typed benchmark results: a figure with its spread, a goal, and a section of the report.

Each benchmark module returns one `Section`: its rows as small dataclasses, the goals they
are held to, and the Markdown table that shows them, all defined next to the measurement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from ._stats import Sample


@dataclasses.dataclass(frozen=True)
class Figure:
    """A ratio measured over several rounds: the median, and the spread of the rounds."""

    median: float
    spread: float
    """(max - min) / median over the rounds."""
    values: tuple[float, ...]

    @classmethod
    def of(cls, sample: Sample) -> Figure:
        return cls(sample.median, sample.spread, tuple(sample.values))

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> Figure:
        """Read the ``{"median", "spread", "values"}`` dict of `Sample.summary`."""
        return cls(summary["median"], summary["spread"], tuple(summary.get("values", ())))

    def __str__(self) -> str:
        return f"{self.median:.2f}× ± {self.spread:.0%}"


@dataclasses.dataclass(frozen=True)
class Goal:
    """One target of the project, and how the figure measured for it compares."""

    what: str
    target: str
    figure: Figure
    met: bool

    @classmethod
    def check(
        cls,
        what: str,
        target: str,
        figure: Figure,
        test: Callable[[float], bool],
        *,
        max_spread: float | None = None,
    ) -> Goal:
        """Return the goal, met when ``test(median)`` holds (and the spread is small enough)."""
        met = test(figure.median) and (max_spread is None or figure.spread < max_spread)
        return cls(what, target, figure, met)

    def row(self) -> str:
        verdict = "met" if self.met else "**missed**"
        return f"| {self.what} | {self.target} | {self.figure} | {verdict} |"


class Section(Protocol):
    """What every benchmark module returns: its goals, its table, and its data."""

    @property
    def name(self) -> str:
        """Key of the section in ``latest.json``."""
        ...

    def goals(self) -> list[Goal]: ...

    def markdown(self) -> list[str]:
        """Return the section's lines of Markdown (a heading paragraph and a table)."""
        ...


def to_json(section: Section) -> Any:
    """Return ``section``'s data for ``latest.json``."""
    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        return dataclasses.asdict(section)
    raise TypeError(f"not a dataclass section: {section!r}")

"""Thin adapters: the figures of modules that still return dicts, as typed sections.

`cleanup`, `isolation` and `postgres_throughput` return plain dicts; each adapter reads one
shape, once, and gives the report typed rows, goals and tables like every other section.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._report import Figure, Goal
from .postgres_throughput import postgres_goals

CLEAR_GOAL = 2.0
"""`clear()` of 10,000 keys: at most this many times one bare ``DELETE``."""
FIXTURE_GOAL = 0.2
"""The fixtures' per-test overhead, leak check on (the default): at most this fraction of a
fresh in-memory store's."""


@dataclasses.dataclass(frozen=True)
class CleanupRow:
    keys: int
    clear_ms: float
    one_by_one_ms: float
    bare_delete_ms: float
    one_by_one_over_clear: Figure
    clear_over_bare_delete: Figure

    @classmethod
    def of(cls, found: dict[str, Any]) -> CleanupRow:
        return cls(
            keys=found["keys"],
            clear_ms=found["clear_ms"],
            one_by_one_ms=found["one_by_one_ms"],
            bare_delete_ms=found["bare_delete_ms"],
            one_by_one_over_clear=Figure.from_summary(found["one_by_one_over_clear"]),
            clear_over_bare_delete=Figure.from_summary(found["clear_over_bare_delete"]),
        )

    def row(self, digits: int = 2) -> str:
        return (
            f"| {self.keys:,} | {self.clear_ms:.{digits}f} | {self.one_by_one_ms:.1f}"
            f" | {self.bare_delete_ms:.{digits}f} | {self.one_by_one_over_clear}"
            f" | {self.clear_over_bare_delete} |"
        )


CLEANUP_HEADER = [
    "| N | `clear()` ms | list + delete one by one ms | one bare DELETE ms"
    " | one by one / `clear()` | `clear()` / bare DELETE |",
    "|---:|---:|---:|---:|---:|---:|",
]


@dataclasses.dataclass(frozen=True)
class Cleanup:
    """`benchmarks.cleanup`'s figures."""

    rows: list[CleanupRow]
    name: str = "cleanup"

    @classmethod
    def of(cls, found: list[dict[str, Any]]) -> Cleanup:
        return cls([CleanupRow.of(row) for row in found])

    def goals(self) -> list[Goal]:
        if not self.rows:
            return []
        largest = next((r for r in self.rows if r.keys == 10_000), self.rows[-1])
        return [
            Goal.check(
                f"`clear()` of {largest.keys:,} keys against one bare `DELETE`",
                f"≤ {CLEAR_GOAL:g}×",
                largest.clear_over_bare_delete,
                lambda x: x <= CLEAR_GOAL,
            )
        ]

    def markdown(self) -> list[str]:
        return [
            "**Cleanup**: removing a namespace of N keys (file store, 10,000 keys of other"
            " namespaces around it):",
            "",
            *CLEANUP_HEADER,
            *(row.row() for row in self.rows),
        ]


@dataclasses.dataclass(frozen=True)
class IsolationRow:
    strategy: str
    per_test_us: float
    overhead_us: float
    overhead_vs_fresh_memory: Figure
    spread: float

    def row(self) -> str:
        return (
            f"| {self.strategy} | {self.per_test_us:.0f} | {self.overhead_us:+.0f}"
            f" | {self.overhead_vs_fresh_memory} | {self.spread:.0%} |"
        )


@dataclasses.dataclass(frozen=True)
class Isolation:
    """`benchmarks.isolation`'s figures, and whether a rollback holds service writes."""

    rows: list[IsolationRow]
    tests: int
    service_write_survives_rollback: bool
    service_write_while_held: str
    name: str = "isolation"

    @classmethod
    def of(cls, found: list[dict[str, Any]], rollback: dict[str, Any], tests: int) -> Isolation:
        return cls(
            rows=[
                IsolationRow(
                    strategy=row["strategy"],
                    per_test_us=row["per_test_us"],
                    overhead_us=row["overhead_us"],
                    overhead_vs_fresh_memory=Figure.from_summary(row["overhead_vs_fresh_memory"]),
                    spread=row["spread"],
                )
                for row in found
            ],
            tests=tests,
            service_write_survives_rollback=bool(rollback["service_write_survives_rollback"]),
            service_write_while_held=str(rollback["service_write_while_held"]),
        )

    def goals(self) -> list[Goal]:
        fixtures = next((r for r in self.rows if "leak check on" in r.strategy), None)
        if fixtures is None:
            return []
        return [
            Goal.check(
                f"fixture per-test overhead ({fixtures.strategy}) against a fresh in-memory store",
                f"≤ {FIXTURE_GOAL}×",
                fixtures.overhead_vs_fresh_memory,
                lambda x: x <= FIXTURE_GOAL,
            )
        ]

    def chart(self) -> list[str]:
        """Return a Mermaid bar chart of each strategy's overhead per test over the baseline."""
        shown = [row for row in self.rows if row.overhead_us > 0]
        labels = ", ".join(f'"{_short_label(row.strategy)}"' for row in shown)
        bars = ", ".join(f"{row.overhead_us:.0f}" for row in shown)
        top = max((row.overhead_us for row in shown), default=1.0) * 1.1
        return [
            "```mermaid",
            '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#4051b5"}}}}%%',
            "xychart-beta horizontal",
            '    title "Overhead per test over a shared store, no cleanup (µs)"',
            f"    x-axis [{labels}]",
            f'    y-axis "µs per test" 0 --> {top:.0f}',
            f"    bar [{bars}]",
            "```",
        ]

    def markdown(self) -> list[str]:
        return [
            "**Isolation strategies**: per-test cost from pytest's own phase durations"
            f" ({self.tests} tests of each strategy a run, the strategies taking turns test by"
            " test; the ratio is paired run by run):",
            "",
            *self.chart(),
            "",
            "| isolation strategy | per test µs | overhead µs | overhead / fresh in-memory"
            " store's | spread of per test µs |",
            "|---|---:|---:|---:|---:|",
            *(row.row() for row in self.rows),
            "",
            "The rolled-back transaction wraps a raw aiosqlite connection, so its tests write"
            " plain SQL. It cannot hold writes made through `KVService`, which commits on its"
            " own connection: a service write inside the test survived the rollback"
            f" ({'yes' if self.service_write_survives_rollback else 'no'}), and once the"
            " test's connection had written, a service write failed with"
            f" “{self.service_write_while_held}”.",
        ]


@dataclasses.dataclass(frozen=True)
class PostgresCall:
    operation: str
    service_us: float
    driver_us: float
    service_over_driver: Figure

    def row(self) -> str:
        return (
            f"| `{self.operation}` | {self.service_us:.0f} | {self.driver_us:.0f}"
            f" | {self.service_over_driver} |"
        )


@dataclasses.dataclass(frozen=True)
class Postgres:
    """`benchmarks.postgres_throughput`'s figures, or why they were not measured."""

    skipped: str | None
    url: str = ""
    calls: list[PostgresCall] = dataclasses.field(default_factory=list)
    cleanup: CleanupRow | None = None
    targets: list[Goal] = dataclasses.field(default_factory=list)
    name: str = "postgres"

    @classmethod
    def of(cls, found: dict[str, Any]) -> Postgres:
        if "skipped" in found:
            return cls(skipped=str(found["skipped"]))
        return cls(
            targets=[
                Goal(
                    goal["what"],
                    goal["goal"],
                    Figure(goal["measured"], goal["spread"], ()),
                    bool(goal["met"]),
                )
                for goal in postgres_goals(found)
            ],
            skipped=None,
            url=found["url"],
            calls=[
                PostgresCall(
                    operation=row["operation"],
                    service_us=row["service_us"],
                    driver_us=row["driver_us"],
                    service_over_driver=Figure.from_summary(row["service_over_driver"]),
                )
                for row in found["calls"]
            ],
            cleanup=CleanupRow.of(found["cleanup"]),
        )

    def goals(self) -> list[Goal]:
        return self.targets

    def markdown(self) -> list[str]:
        if self.skipped is not None:
            return [f"**PostgreSQL**: not measured ({self.skipped})."]
        lines = [
            f"**PostgreSQL** ({self.url}), against bare asyncpg on one connection:",
            "",
            "| operation | service µs | asyncpg µs | service / asyncpg |",
            "|---|---:|---:|---:|",
            *(call.row() for call in self.calls),
        ]
        if self.cleanup is not None:
            lines += ["", *CLEANUP_HEADER, self.cleanup.row(digits=1)]
        return lines


def _short_label(strategy: str) -> str:
    """Name a strategy in a few words, for the chart's axis."""
    for long, short in (
        ("plugin-kv fixtures, leak check off", "fixtures, no leak check"),
        ("plugin-kv fixtures, leak check on", "fixtures (default)"),
        ("fresh in-memory store", "fresh store, memory"),
        ("fresh file store", "fresh store, file"),
        ("transaction rolled back", "rollback"),
    ):
        if strategy.startswith(long):
            return short
    return strategy.split(" (")[0]

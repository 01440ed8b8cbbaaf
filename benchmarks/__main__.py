"""Run the benchmarks: ``python -m benchmarks`` (or ``make bench``).

Shows progress on stderr, prints the tables, writes ``benchmarks/results/latest.json`` and the
Markdown that the docs include (``benchmarks/results/table.md``, and the ready-made adapters'
``benchmarks/results/ready_made.md``). Every figure that matters is
a ratio to a floor measured in the same run, rounds interleaved: median of the per-round
ratios, spread = (max - min) / median.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sqlite3
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ._report import Goal, Section, to_json
from .adapters import Cleanup, Isolation, Postgres
from .batches import measure_batches
from .calls import measure_calls
from .cleanup import SIZES, measure_cleanup
from .concurrency import measure_concurrency
from .isolation import measure_isolation, rollback_holds_service_writes
from .own_store import OwnStore, measure_own_store
from .postgres_throughput import measure_postgres, unreachable
from .prefix import measure_prefix
from .ready_made import measure_ready_made, write_markdown

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
DOCS_TABLE = ROOT / "benchmarks" / "results" / "table.md"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="repeats of each measurement")
    parser.add_argument("--operations", type=int, default=3000, help="calls per round")
    parser.add_argument("--tests", type=int, default=500, help="tests per isolation run")
    parser.add_argument("--batch", type=int, default=10_000, help="keys per batch call")
    parser.add_argument("--prefix-keys", type=int, default=100_000, help="keys under the prefix")
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke check")
    args = parser.parse_args()
    sizes: tuple[int, ...] = SIZES
    if args.quick:
        args.rounds, args.operations, args.tests, args.batch = 2, 300, 30, 1000
        args.prefix_keys, sizes = 10_000, (10, 100, 1000)

    started = time.perf_counter()

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    sections: list[Section] = []
    say("per-call cost (file store, WAL, synchronous=NORMAL), pinned and unpinned:")
    sections.append(measure_calls(args.rounds, args.operations))
    say("concurrent sets:")
    sections.append(measure_concurrency(args.rounds, args.operations))
    say("batches:")
    sections.append(measure_batches(args.rounds * 3, args.batch))  # short and noisy: more
    say("cleanup:")
    sections.append(Cleanup.of(measure_cleanup(args.rounds, sizes)))
    say("prefix queries:")
    sections.append(measure_prefix(args.rounds, args.prefix_keys))
    say(f"per-test cost of isolation strategies ({args.tests} tests a run):")
    isolation = measure_isolation(args.rounds, args.tests)
    sections.append(Isolation.of(isolation, rollback_holds_service_writes(), args.tests))
    say("your own store (the own-store page's example):")
    sections.append(OwnStore(measure_own_store(args.rounds, max(args.tests // 2, 20))))
    reason = unreachable()
    if reason is None:
        say("PostgreSQL:")
        operations = max(args.operations // 3, 100)
        keys = 1000 if args.quick else 2000
        sections.append(Postgres.of(measure_postgres(args.rounds, operations, keys)))
    else:
        say(f"PostgreSQL: skipped ({reason})")
        sections.append(Postgres(skipped=reason))

    say("ready-made adapters (written to their own table, which the page includes):")
    ready = measure_ready_made(args.rounds * 3)  # short and noisy: more

    goals = [goal for section in sections for goal in section.goals()]
    header = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "aiosqlite": version("aiosqlite"),
        "machine": f"{platform.machine()}, {platform.system()}",
        "settings": vars(args),
    }
    results: dict[str, Any] = {
        **header,
        **{section.name: to_json(section) for section in [*sections, ready]},
        "goals": [dataclasses.asdict(goal) for goal in [*goals, *ready.goals()]],
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    table = render(header, goals, sections)
    if not args.quick:
        DOCS_TABLE.write_text(table)
        write_markdown(ready, table.splitlines()[1])
    print(table)
    print(
        f"wrote {RESULTS.relative_to(ROOT)}"
        + ("" if args.quick else f" and {DOCS_TABLE.relative_to(ROOT)}")
        + f" in {results['seconds']:.0f} s"
    )


def render(header: dict[str, Any], goals: list[Goal], sections: list[Section]) -> str:
    """Return the results as Markdown: the goals, then each section's table."""
    lines = [
        "<!-- generated by `make bench` (python -m benchmarks); do not edit by hand -->",
        f"Measured {header['when']} on Python {header['python']}, SQLite {header['sqlite']},"
        f" aiosqlite {header['aiosqlite']} ({header['machine']}),"
        f" {header['settings']['rounds']} interleaved rounds. Ratios are medians of per-round"
        " ratios; ± is their spread, (max - min) / median.",
        "",
        "**Goals**",
        "",
        "| goal | target | measured | |",
        "|---|---:|---:|---|",
        *(goal.row() for goal in goals),
    ]
    for section in sections:
        lines += ["", *section.markdown()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

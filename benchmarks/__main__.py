"""Run the benchmarks: ``python -m benchmarks`` (or ``make bench``).

Shows progress on stderr, prints the tables, writes ``benchmarks/results/latest.json`` and the
Markdown that the docs include (``benchmarks/results/table.md``). Every figure that matters is
a ratio to a floor measured in the same run, rounds interleaved: median of the per-round
ratios, spread = (max - min) / median.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from .batches import measure_batches
from .calls import measure_calls
from .cleanup import SIZES, measure_cleanup
from .isolation import measure_isolation, rollback_holds_service_writes
from .postgres_throughput import measure_postgres, unreachable
from .prefix import measure_prefix

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
    sizes = SIZES
    if args.quick:
        args.rounds, args.operations, args.tests, args.batch = 2, 300, 30, 1000
        args.prefix_keys, sizes = 10_000, (10, 100, 1000)

    started = time.perf_counter()
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    say("per-call cost (file store, WAL, synchronous=NORMAL):")
    calls = measure_calls(args.rounds, args.operations)
    say("batches:")
    batches = measure_batches(args.rounds * 3, args.batch)  # short and noisy: more rounds
    say("cleanup:")
    cleanup = measure_cleanup(args.rounds, sizes)
    say("prefix queries:")
    prefix = measure_prefix(args.rounds, args.prefix_keys)
    say(f"per-test cost of isolation strategies ({args.tests} tests a run):")
    isolation = measure_isolation(args.rounds, args.tests)
    rollback = rollback_holds_service_writes()
    reason = unreachable()
    if reason is None:
        say("PostgreSQL:")
        postgres: dict[str, Any] = measure_postgres(
            args.rounds, max(args.operations // 3, 100), 1000 if args.quick else 2000
        )
    else:
        say(f"PostgreSQL: skipped ({reason})")
        postgres = {"skipped": reason}
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "sqlite": __import__("sqlite3").sqlite_version,
        "machine": f"{platform.machine()}, {platform.system()}",
        "settings": vars(args),
        **calls,
        "batches": batches,
        "cleanup": cleanup,
        "prefix": prefix,
        "isolation": isolation,
        "rollback": rollback,
        "postgres": postgres,
    }
    results["goals"] = goals(results)
    results["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    table = render(results)
    if not args.quick:
        DOCS_TABLE.write_text(table)
    print(table)
    print(
        f"wrote {RESULTS.relative_to(ROOT)}"
        + ("" if args.quick else f" and {DOCS_TABLE.relative_to(ROOT)}")
        + f" in {results['seconds']:.0f} s"
    )


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Return each goal of issue 6 with its measured ratio, and whether it is met."""
    worst_call = max(results["calls"], key=lambda row: row["service_over_driver"]["median"])
    clear_10k = next((r for r in results["cleanup"] if r["keys"] == 10_000), results["cleanup"][-1])
    set_many = next(r for r in results["batches"] if r["call"] == "set_many")
    fixtures = next(r for r in results["isolation"] if r["strategy"].startswith("plugin-kv"))
    rows = [
        (
            "service overhead over the driver floor, per call"
            f" (worst: `{worst_call['operation']}`)",
            "≤ 1.1×",
            worst_call["service_over_driver"],
            lambda x: x <= 1.1,
        ),
        (
            f"{results['tasks']} concurrent writers against sequential writes, file store",
            "≥ 5×",
            results["concurrent"]["service"]["speedup"],
            lambda x: x >= 5,
        ),
        (
            "`set_many` throughput against raw sqlite3 `executemany`",
            "≥ 0.8×",
            set_many["throughput_vs_floor"],
            lambda x: x >= 0.8,
        ),
        (
            f"`clear()` of {clear_10k['keys']:,} keys against one bare `DELETE`",
            "≤ 2×",
            clear_10k["clear_over_bare_delete"],
            lambda x: x <= 2,
        ),
        (
            f"fixture per-test overhead ({fixtures['strategy']}) against a fresh in-memory store",
            "≤ 0.25×",
            fixtures["overhead_vs_fresh_memory"],
            lambda x: x <= 0.25,
        ),
    ]
    return [
        {
            "what": what,
            "goal": goal,
            "measured": measured["median"],
            "spread": measured["spread"],
            "met": measured["median"] is not None and bool(test(measured["median"])),
        }
        for what, goal, measured, test in rows
    ]


def _x(summary: dict[str, Any]) -> str:
    return f"{summary['median']:.2f}× ± {summary['spread']:.0%}"


def render(results: dict[str, Any]) -> str:
    """Return the results as Markdown tables."""
    lines = [
        "<!-- generated by `make bench` (python -m benchmarks); do not edit by hand -->",
        f"Measured {results['when']} on Python {results['python']}, SQLite {results['sqlite']}"
        f" ({results['machine']}), {results['settings']['rounds']} interleaved rounds. Ratios are"
        " medians of per-round ratios; ± is their spread, (max - min) / median.",
        "",
        "**Goals**",
        "",
        "| goal | target | measured | |",
        "|---|---:|---:|---|",
    ]
    for goal in results["goals"]:
        spread = "" if goal["spread"] is None else f" ± {goal['spread']:.0%}"
        lines.append(
            f"| {goal['what']} | {goal['goal']} | {goal['measured']:.2f}×{spread}"
            f" | {'met' if goal['met'] else '**missed**'} |"
        )
    lines += [
        "",
        "**Per call**, file store (WAL, synchronous=NORMAL), sequential, the three ways in"
        f" taking turns of {results['calls_block']} calls ({results['calls_placement']})."
        " aiosqlite does the service's job by hand (`json.dumps` / `json.loads` around one"
        " call); sqlite3 only runs the statement:",
        "",
        "| operation | service µs | aiosqlite µs | sqlite3 µs | service / aiosqlite"
        " | service / sqlite3 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["calls"]:
        lines.append(
            f"| `{row['operation']}` | {row['service_us']:.1f} | {row['driver_us']:.1f}"
            f" | {row['raw_us']:.1f} | {_x(row['service_over_driver'])}"
            f" | {_x(row['service_over_raw'])} |"
        )
    lines += [
        "",
        f"**Concurrent writers**: `set` from {results['tasks']} tasks against the same sets one"
        " after another, file store:",
        "",
        "| through | sequential µs / set | concurrent µs / set | throughput gain |",
        "|---|---:|---:|---:|",
    ]
    for who, row in results["concurrent"].items():
        label = "service (group commit)" if who == "service" else "plain aiosqlite (autocommit)"
        lines.append(
            f"| {label} | {row['sequential_us']:.1f} | {row['concurrent_us']:.1f}"
            f" | {_x(row['speedup'])} |"
        )
    lines += [
        "",
        "**Batches**, one call for all keys:",
        "",
        "| call | keys | service µs / key | floor | floor µs / key | throughput / floor's |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for row in results["batches"]:
        lines.append(
            f"| `{row['call']}` | {row['keys']:,} | {row['service_us_per_key']:.2f}"
            f" | {row['floor']} | {row['floor_us_per_key']:.2f}"
            f" | {_x(row['throughput_vs_floor'])} |"
        )
    lines += [
        "",
        "**Cleanup**: removing a namespace of N keys (file store, 10,000 keys of other"
        " namespaces around it):",
        "",
        "| N | `clear()` ms | list + delete one by one ms | one bare DELETE ms"
        " | one by one / `clear()` | `clear()` / bare DELETE |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["cleanup"]:
        lines.append(
            f"| {row['keys']:,} | {row['clear_ms']:.2f} | {row['one_by_one_ms']:.1f}"
            f" | {row['bare_delete_ms']:.2f} | {_x(row['one_by_one_over_clear'])}"
            f" | {_x(row['clear_over_bare_delete'])} |"
        )
    lines += [
        "",
        "**Prefix queries**: 100 matching keys among"
        f" {results['prefix'][0]['keys']:,} in the namespace (file store):",
        "",
        "| query | service µs | sqlite3 key range µs | sqlite3 `LIKE` µs | `LIKE` / range"
        " | service / range |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["prefix"]:
        lines.append(
            f"| {row['query']} | {row['service_us']:.1f} | {row['range_us']:.1f}"
            f" | {row['like_us']:.1f} | {_x(row['like_over_range'])}"
            f" | {_x(row['service_over_range'])} |"
        )
    lines += [
        "",
        "**Isolation strategies**: per-test cost from pytest's own phase durations"
        f" ({results['settings']['tests']} tests of each strategy a run, the strategies taking"
        " turns test by test; the ratio is paired run by run):",
        "",
        "| isolation strategy | per test µs | overhead µs | overhead / fresh in-memory store's"
        " | spread of per test µs |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in results["isolation"]:
        ratio = row["overhead_vs_fresh_memory"]
        lines.append(
            f"| {row['strategy']} | {row['per_test_us']:.0f} | {row['overhead_us']:+.0f}"
            f" | {_x(ratio)} | {row['spread']:.0%} |"
        )
    rollback = results["rollback"]
    lines += [
        "",
        "The rolled-back transaction wraps a raw aiosqlite connection, so its tests write plain"
        " SQL. It cannot hold writes made through `KVService`, which commits on its own"
        " connection: a service write inside the test survived the rollback"
        f" ({'yes' if rollback['service_write_survives_rollback'] else 'no'}), and once the"
        " test's connection had written, a service write failed with"
        f" “{rollback['service_write_while_held']}”.",
    ]
    postgres = results["postgres"]
    if "skipped" in postgres:
        lines += ["", f"**PostgreSQL**: not measured ({postgres['skipped']})."]
    else:
        lines += [
            "",
            f"**PostgreSQL** ({postgres['url']}), against bare asyncpg on one connection:",
            "",
            "| operation | service µs | asyncpg µs | service / asyncpg |",
            "|---|---:|---:|---:|",
        ]
        for row in postgres["calls"]:
            lines.append(
                f"| `{row['operation']}` | {row['service_us']:.0f} | {row['driver_us']:.0f}"
                f" | {_x(row['service_over_driver'])} |"
            )
        c = postgres["cleanup"]
        lines += [
            "",
            "| N | `clear()` ms | list + delete one by one ms | one bare DELETE ms"
            " | one by one / `clear()` | `clear()` / bare DELETE |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {c['keys']:,} | {c['clear_ms']:.1f} | {c['one_by_one_ms']:.0f}"
            f" | {c['bare_delete_ms']:.1f} | {_x(c['one_by_one_over_clear'])}"
            f" | {_x(c['clear_over_bare_delete'])} |",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

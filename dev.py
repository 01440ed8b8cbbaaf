"""Set up and run plugin-kv's checks with nothing but Python 3: ``python3 dev.py test``.

Commands:
    test     every check: ruff, mypy, actionlint and check-jsonschema over the workflows,
             pytest tests (tests/packaging among them: the sdist and the wheel built,
             the wheel installed alone outside the checkout and run), pytest docs,
             mkdocs build --strict; then the unit, contract, plugin, reliability and
             adapter tests again in ``.venv-lowest``, with every direct dependency at its
             declared floor (``constraints/lowest.txt``); then ``tests/floor`` in
             ``.venv-plugin-floor``, the plugin's own floor
             (``constraints/plugin-floor.txt``: pytest 8.0, pytest-asyncio 0.23)
    docs     serve the guide at http://127.0.0.1:8000
    bench    run the benchmarks (python -m benchmarks)
    browser  only the headless-Chromium check of the built site

Each command first creates ``.venv`` and installs the project with every dependency group,
again whenever ``pyproject.toml`` changes (``.venv-lowest`` and ``.venv-plugin-floor``: or
their constraints).
``PYTEST_ARGS`` adds arguments to the pytest runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

from plugin_kv_dev import DEFAULT_POSTGRES_URL, POSTGRES_VAR  # stdlib only

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
LOWEST = ROOT / ".venv-lowest"
LOWEST_BIN = LOWEST / ("Scripts" if os.name == "nt" else "bin")
LOWEST_PYTHON = LOWEST_BIN / ("python.exe" if os.name == "nt" else "python")
CONSTRAINTS = ROOT / "constraints" / "lowest.txt"
LOWEST_SUITES = ("tests/unit", "tests/plugin", "tests/reliability", "tests/adapters")
"""What runs at the floors too (the docs and the browser check need only the newest)."""
PLUGIN_FLOOR = ROOT / ".venv-plugin-floor"
PLUGIN_FLOOR_BIN = PLUGIN_FLOOR / ("Scripts" if os.name == "nt" else "bin")
PLUGIN_FLOOR_PYTHON = PLUGIN_FLOOR_BIN / ("python.exe" if os.name == "nt" else "python")
PLUGIN_FLOOR_CONSTRAINTS = ROOT / "constraints" / "plugin-floor.txt"
"""The plugin's floor (pytest 8.0, pytest-asyncio 0.23), below the suite's: tests/floor runs
there, with a config of its own (tests/floor/pytest.ini), as the suite's needs newer ones."""
SHOW_PINS = """
import importlib.metadata as m, re, sys
pins = {}
for line in open(sys.argv[1], encoding="utf-8"):
    found = re.match(r"\\s*([\\w.-]+)==([\\w.]+)", line)
    if found:
        pins.setdefault(found[1], set()).add(found[2])
have = {name: m.version(name) for name in pins}
print(f"dev.py: {sys.argv[2]}:", ", ".join(f"{n} {v}" for n, v in have.items()))
wrong = [f"{n} is {have[n]}, not {' or '.join(sorted(v))}"
         for n, v in pins.items() if have[n] not in v]
sys.exit(f"dev.py: {sys.argv[2]} is not at its pins: " + "; ".join(wrong) if wrong else 0)
"""
"""Show the versions a floor environment (argv[2]) has of each pin; fail unless they match."""
FLOORED = ("dependencies", "postgres", "test")
"""The pyproject.toml lists whose floors constraints/lowest.txt must pin, one for one."""


def main(argv: list[str]) -> int:
    """Run the command named in ``argv``; return its exit status."""
    commands = {"test": test, "docs": docs, "bench": bench, "browser": browser}
    if len(argv) != 1 or argv[0] not in commands:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    os.chdir(ROOT)
    os.environ.setdefault(POSTGRES_VAR, DEFAULT_POSTGRES_URL)
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    try:
        set_up()
        commands[argv[0]]()
    except subprocess.CalledProcessError as exc:
        print(f"dev.py: {shlex.join(map(str, exc.cmd))} failed ({exc.returncode})", file=sys.stderr)
        return exc.returncode or 1
    except KeyboardInterrupt:  # Ctrl-C: how `dev.py docs` is stopped; the command saw it too
        print("\ndev.py: interrupted", file=sys.stderr)
        return 130
    return 0


def set_up(lowest: bool = False, plugin_floor: bool = False) -> None:
    """Create .venv and install the project, unless it is up to date with pyproject.toml.

    With ``lowest``, the same for .venv-lowest: the project and its test group, each direct
    dependency held at its floor by constraints/lowest.txt (pip has no lowest resolution).
    With ``plugin_floor``, for .venv-plugin-floor: the project and exactly the packages
    constraints/plugin-floor.txt pins (the test group's floors are above the plugin's).
    """
    if plugin_floor:
        env, python, constraints = PLUGIN_FLOOR, PLUGIN_FLOOR_PYTHON, PLUGIN_FLOOR_CONSTRAINTS
    elif lowest:
        env, python, constraints = LOWEST, LOWEST_PYTHON, CONSTRAINTS
    else:
        env, python, constraints = VENV, PYTHON, None
    stamp = env / ".installed"
    sources = [ROOT / "pyproject.toml"] + ([constraints] if constraints else [])
    if lowest:
        check_floors()
    if stamp.exists() and all(stamp.stat().st_mtime >= f.stat().st_mtime for f in sources):
        return
    name = env.name
    print(f"dev.py: setting up {name} (first run, or its requirements changed)", flush=True)
    try:
        venv.create(env, with_pip=True, clear=not python.exists())
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(
            f"dev.py: could not create {name} ({exc}). This Python lacks venv/ensurepip:"
            " on Debian or Ubuntu, install the python3-venv package."
        ) from exc
    run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    if plugin_floor:
        run(python, "-m", "pip", "install", "--quiet", "-e", ".[postgres]",
            "-r", PLUGIN_FLOOR_CONSTRAINTS)  # fmt: skip
    elif lowest:
        run(python, "-m", "pip", "install", "--quiet", "-c", CONSTRAINTS, "-e", ".[postgres]",
            "--group", "test")  # fmt: skip
    else:
        run(python, "-m", "pip", "install", "--quiet", "-e", ".[postgres]", "--group", "dev")
    stamp.touch()


def check_floors() -> None:
    """Refuse to go on unless constraints/lowest.txt pins exactly the declared floors."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    floors: dict[str, str] = {}
    for name in FLOORED:
        # the list ends at a "]" that ends its line (an extra's brackets do not)
        listed = re.search(rf"^{name} = \[(.*?)\]\s*$", text, re.MULTILINE | re.DOTALL)
        if listed is None:
            raise SystemExit(f"dev.py: pyproject.toml has no list {name!r}")
        for requirement in re.findall(r'"([^"]+)"', listed.group(1)):
            found = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^]]*\])?\s*>=\s*([\w.]+)", requirement)
            if found is None:
                raise SystemExit(
                    f"dev.py: {requirement!r} in pyproject.toml's {name!r} must be"
                    " 'name>=floor' (no upper bound), so that its floor can be tested"
                )
            floors[_normal(found[1])] = found[2]
    pins: dict[str, list[str]] = {}  # a package may have a pin per Python version
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.partition("#")[0].partition(";")[0].strip()
        if line:
            package, _, pinned = line.partition("==")
            pins.setdefault(_normal(package), []).append(pinned.strip())
    wrong = [
        f"{package}: floor {floor!r}, pinned {pins.get(package)!r}"
        for package, floor in sorted(floors.items())
        if min(map(_release, pins.get(package, [""]))) != _release(floor)
    ] + [
        f"{package}: pinned but not a declared floor"
        for package in sorted(pins.keys() - floors.keys())
    ]
    if wrong:
        raise SystemExit(
            "dev.py: constraints/lowest.txt must pin each floor of pyproject.toml"
            " (on the oldest Python that has it):\n  " + "\n  ".join(wrong)
        )


def _normal(package: str) -> str:
    return re.sub(r"[-_.]+", "-", package).lower()


def _release(version: str) -> tuple[int, ...]:
    """``0.19`` and ``0.19.0`` are one release."""
    parts = [int(part) for part in re.findall(r"\d+", version)] or [-1]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test() -> None:
    """Run every check, stopping at the first that fails."""
    extra = shlex.split(os.environ.get("PYTEST_ARGS", ""))
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "mypy")
    workflows = sorted(map(str, (ROOT / ".github" / "workflows").glob("*.yml")))
    run(BIN / "actionlint", *workflows)  # also flags actions on a runtime GitHub retires
    run(BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    run(BIN / "pytest", "tests", "-n", "2", *extra)
    run(BIN / "pytest", "docs", "-n", "2", *extra)
    run(BIN / "mkdocs", "build", "--strict", "--quiet")
    set_up(lowest=True)
    suites = [suite for suite in LOWEST_SUITES if (ROOT / suite).is_dir()]
    run(LOWEST_PYTHON, "-c", SHOW_PINS, CONSTRAINTS, LOWEST.name,
        shown="check .venv-lowest against its pins")  # fmt: skip
    run(LOWEST_BIN / "pytest", *suites, "-n", "2", *extra)
    test_plugin_floor(extra)


def test_plugin_floor(extra: list[str]) -> None:
    """Run tests/floor where the plugin's floor is: pytest 8.0, pytest-asyncio 0.23."""
    set_up(plugin_floor=True)
    run(PLUGIN_FLOOR_PYTHON, "-c", SHOW_PINS, PLUGIN_FLOOR_CONSTRAINTS, PLUGIN_FLOOR.name,
        shown="check .venv-plugin-floor against its pins")  # fmt: skip
    run(PLUGIN_FLOOR_BIN / "pytest", "-c", "tests/floor/pytest.ini", "--rootdir", "tests/floor",
        "tests/floor", *extra)  # fmt: skip


def docs() -> None:
    """Serve the guide, rebuilding on every change."""
    run(BIN / "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000")


def bench() -> None:
    """Run the benchmarks."""
    run(PYTHON, "-m", "benchmarks")


def browser() -> None:
    """Run only the browser check."""
    run(BIN / "pytest", "tests/browser")


def run(*command: str | Path, shown: str = "") -> None:
    """Run ``command``, echoing it (or ``shown``) first; raise if it fails."""
    print("+", shown or shlex.join(map(str, command)), flush=True)
    subprocess.run([str(part) for part in command], check=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

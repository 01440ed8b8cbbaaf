"""Set up and run plugin-kv's checks with nothing but Python 3: ``python3 dev.py test``.

Commands:
    test     every check: ruff, mypy, actionlint and check-jsonschema over the workflows,
             pytest tests, pytest docs, mkdocs build --strict
    docs     serve the guide at http://127.0.0.1:8000
    bench    run the benchmarks (python -m benchmarks)
    browser  only the headless-Chromium check of the built site

Each command first creates ``.venv`` and installs the project with every dependency group,
again whenever ``pyproject.toml`` changes. ``PYTEST_ARGS`` adds arguments to the pytest runs.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import venv
from pathlib import Path

from plugin_kv_dev import DEFAULT_POSTGRES_URL, POSTGRES_VAR  # stdlib only

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


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


def set_up() -> None:
    """Create .venv and install the project, unless it is up to date with pyproject.toml."""
    if STAMP.exists() and STAMP.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime:
        return
    print("dev.py: setting up .venv (first run, or pyproject.toml changed)", flush=True)
    try:
        venv.create(VENV, with_pip=True, clear=not PYTHON.exists())
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(
            f"dev.py: could not create .venv ({exc}). This Python lacks venv/ensurepip:"
            " on Debian or Ubuntu, install the python3-venv package."
        ) from exc
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[postgres]", "--group", "dev")
    STAMP.touch()


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


def docs() -> None:
    """Serve the guide, rebuilding on every change."""
    run(BIN / "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000")


def bench() -> None:
    """Run the benchmarks."""
    run(PYTHON, "-m", "benchmarks")


def browser() -> None:
    """Run only the browser check."""
    run(BIN / "pytest", "tests/browser")


def run(*command: str | Path) -> None:
    """Run ``command``, echoing it first; raise if it fails."""
    print("+", shlex.join(map(str, command)), flush=True)
    subprocess.run([str(part) for part in command], check=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

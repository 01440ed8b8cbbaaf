"""What ``pip install plugin-kv`` gives: the sdist and the wheel, checked outside the checkout.

``python -m plugin_kv_dev.dist_check`` builds both from this checkout with ``python -m build``
(the sdist, then the wheel from the sdist) into a temporary directory and checks them;
``python -m plugin_kv_dev.dist_check DIR --expect-version 1.2.3`` checks the two files already
in ``DIR`` (the release workflow's, built once). `check` does, in order:

1. ``twine check --strict`` on both files; one version in both names (and the expected one);
2. every file the sdist has under ``src/plugin_kv/`` is in the wheel;
3. a fresh virtual environment in a temporary directory gets the wheel alone, with pytest and
   pytest-asyncio from the package index (pip's cache reused): no editable install, no
   ``PYTHONPATH``, Python in isolated mode (``-I``), every command run from a directory outside
   the repository, where nothing of the checkout is;
4. there, ``plugin_kv`` imports from that environment, ``plugin_kv.__version__`` is the built
   version, ``py.typed`` ships, and the ``pytest11`` entry point ``plugin_kv.testing`` is declared;
5. the tutorial's suites (`plugin_kv_dev.suites`), written into that directory, run in a fresh
   pytest with no ``-p`` flag, so the plugin loads from its entry point: the leaky one fails
   with "found 11" (1 failed, 2 passed), the fixed one passes (3 passed).

A test that passes only from the checkout is a packaging bug: this is where it shows.
Standard library only, besides ``build`` and ``twine`` in the running Python.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from plugin_kv_dev import inner_config
from plugin_kv_dev.suites import FIXED_SUITE, LEAK_WARNING, LEAKY_SUITE

ROOT = Path(__file__).resolve().parent.parent
"""The checkout this module belongs to: what `main` builds when given no directory."""
PACKAGE = "plugin_kv"
ENTRY_POINT = ("pytest11", "plugin_kv.testing", "plugin_kv.testing")
"""The plugin's entry point: group, name, value."""
TEST_REQUIREMENTS = ("pytest", "pytest-asyncio")
"""What the fresh environment gets beside the wheel (and the wheel's own dependencies)."""
SUITE_CONFIG = inner_config(filterwarnings=("error", LEAK_WARNING))
"""The suites' ``pyproject.toml``: pytest-asyncio's strict mode, warnings as errors."""
OUTPUT_TAIL = 40
"""Lines of a failed command's output shown in the error."""
CLEARED_VARIABLES = re.compile(r"PYTHON.*|PYTEST_.*|PLUGIN_KV_.*|VIRTUAL_ENV|__PYVENV_LAUNCHER__")
"""Variables the commands run in the fresh environment do not inherit: nothing from the
checkout's environment (its path, pytest options, the plugin's store) reaches them."""
PROBE = """
import importlib.metadata as m, json, pathlib, plugin_kv
here = pathlib.Path(plugin_kv.__file__).parent
print(json.dumps({
    "file": plugin_kv.__file__,
    "version": plugin_kv.__version__,
    "py_typed": (here / "py.typed").is_file(),
    "entry_points": [[e.group, e.name, e.value]
                     for e in m.distribution("plugin-kv").entry_points],
}))
"""
"""Run in the fresh environment: where ``plugin_kv`` came from and what it declares."""


class DistCheckError(Exception):
    """The built distribution is not what ``pip install plugin-kv`` should give."""


@dataclass(frozen=True)
class Suite:
    """A test file run in the fresh environment, and what its run must say."""

    name: str
    source: str
    outcome: dict[str, int]
    """The counts of pytest's closing line, all of them (no warnings, no errors)."""
    line: str | None = None
    """A line its output must hold."""


SUITES = (
    Suite("leaky", LEAKY_SUITE, {"failed": 1, "passed": 2},
          "expected 3 keys with prefix 'user:', found 11"),
    Suite("fixed", FIXED_SUITE, {"passed": 3}),
)  # fmt: skip
"""The tutorial's two suites."""


@dataclass(frozen=True)
class Dist:
    """An sdist and a wheel of one version."""

    sdist: Path
    wheel: Path
    version: str


def build(project: Path, outdir: Path) -> Dist:
    """Build ``project``'s sdist, then the wheel from that sdist, into ``outdir``."""
    _run([sys.executable, "-m", "build", "--outdir", str(outdir), str(project)], "python -m build")
    return find(outdir)


def find(directory: Path) -> Dist:
    """Return the one sdist and the one wheel in ``directory``, which must share a version."""
    sdists = sorted(directory.glob(f"{PACKAGE}-*.tar.gz"))
    wheels = sorted(directory.glob(f"{PACKAGE}-*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        found = sorted(path.name for path in directory.iterdir()) if directory.is_dir() else []
        raise DistCheckError(
            f"{str(directory)!r} must hold exactly one {PACKAGE}-*.tar.gz and one"
            f" {PACKAGE}-*.whl; it holds {found!r}"
        )
    sdist_version = sdists[0].name.removeprefix(f"{PACKAGE}-").removesuffix(".tar.gz")
    wheel_version = wheels[0].name.split("-")[1]
    if sdist_version != wheel_version:
        raise DistCheckError(
            f"the sdist {sdists[0].name!r} and the wheel {wheels[0].name!r} must have one version"
        )
    return Dist(sdists[0], wheels[0], wheel_version)


def check(
    dist: Dist,
    workdir: Path,
    *,
    expect_version: str | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> None:
    """Check ``dist`` as the module docstring says, in ``workdir`` (outside the repository).

    Raises:
        DistCheckError: at the first check that fails, naming it and what it saw.
        ValueError: ``workdir`` is in the checkout, where the checkout's files could be found.
    """
    if workdir.resolve().is_relative_to(ROOT):
        raise ValueError(
            f"the packaging check must run outside the checkout {str(ROOT)!r}, not in"
            f" {str(workdir)!r}: a temporary directory shows what an install alone gives"
        )
    if expect_version is not None and dist.version != expect_version:
        raise DistCheckError(
            f"the built version is {dist.version!r}, but {expect_version!r} was expected"
            " (a release tag v<version> must name pyproject.toml's version)"
        )
    _run([sys.executable, "-m", "twine", "check", "--strict", str(dist.sdist), str(dist.wheel)],
         "twine check --strict")  # fmt: skip
    say(f"twine check --strict: {dist.sdist.name}, {dist.wheel.name}")
    missing = sorted(_sdist_package_files(dist.sdist) - _wheel_package_files(dist.wheel))
    if missing:
        raise DistCheckError(
            f"the wheel lacks files the sdist has under src/{PACKAGE}/: {missing!r}"
        )
    say(f"the wheel holds every file of the sdist's src/{PACKAGE}/")
    python = _fresh_environment(workdir / "env", dist.wheel)
    say(f"installed {dist.wheel.name} alone, with {' and '.join(TEST_REQUIREMENTS)}")
    _check_installed(python, workdir, dist.version)
    say(f"{PACKAGE} {dist.version} imports from there, with py.typed and its entry point")
    for suite in SUITES:
        got = _run_suite(python, workdir / suite.name, suite, dist.version)
        say(f"the {suite.name} suite, the plugin loaded from its entry point: {got}")


def _sdist_package_files(sdist: Path) -> set[str]:
    prefix = f"{sdist.name.removesuffix('.tar.gz')}/src/"
    with tarfile.open(sdist) as archive:
        names = [member.name for member in archive.getmembers() if member.isfile()]
    return {name.removeprefix(prefix) for name in names if name.startswith(prefix + PACKAGE + "/")}


def _wheel_package_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if name.startswith(PACKAGE + "/")}


def _fresh_environment(env: Path, wheel: Path) -> Path:
    """Create a virtual environment at ``env`` holding ``wheel`` and the test requirements.

    The environment gets no pip of its own: this Python's pip installs into it
    (``pip --python``), which saves creating one and reuses pip's cache.
    """
    venv.EnvBuilder(symlinks=os.name != "nt", clear=True).create(env)
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
          str(wheel), *TEST_REQUIREMENTS], "pip install (the fresh environment)",
         cwd=env.parent)  # fmt: skip
    return python


def _check_installed(python: Path, workdir: Path, version: str) -> None:
    """Check what the fresh environment's ``plugin_kv`` is and declares."""
    output = _run([str(python), "-I", "-c", PROBE], "the installed package's probe", cwd=workdir)
    found = json.loads(output.splitlines()[-1])
    site = python.parent.parent.resolve()
    origin = Path(found["file"]).resolve()
    if not origin.is_relative_to(site):
        raise DistCheckError(
            f"plugin_kv imported from {str(origin)!r}, not from the fresh environment"
        )
    if found["version"] != version:
        raise DistCheckError(
            f"plugin_kv.__version__ is {found['version']!r}, but the built version is {version!r}"
        )
    if not found["py_typed"]:
        raise DistCheckError(f"the installed {PACKAGE} has no py.typed: type checkers ignore it")
    if list(ENTRY_POINT) not in found["entry_points"]:
        raise DistCheckError(
            f"the installed plugin-kv declares no {ENTRY_POINT[0]} entry point"
            f" {ENTRY_POINT[1]!r} = {ENTRY_POINT[2]!r}: pytest will not load the plugin;"
            f" it declares {found['entry_points']!r}"
        )


def _run_suite(python: Path, directory: Path, suite: Suite, version: str) -> str:
    """Run ``suite`` in ``directory`` with the fresh environment's pytest; return its outcome.

    No ``-p`` flag and no conftest: the fixtures exist only if pytest loaded the plugin from
    its entry point, which pytest's header confirms (``plugins: ..., plugin-kv-<version>``).
    """
    directory.mkdir()
    (directory / "pyproject.toml").write_text(SUITE_CONFIG, encoding="utf-8")
    (directory / "test_users.py").write_text(suite.source.lstrip(), encoding="utf-8")
    command = [str(python), "-I", "-m", "pytest", "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=directory, env=_clean_environment(), capture_output=True,
                            text=True, check=False)  # fmt: skip
    output = result.stdout + result.stderr
    summary = _summary(output)
    expected = [f"pytest's closing line {_counts(suite.outcome)!r}"]
    if suite.line:
        expected.append(f"the line {suite.line!r}")
    plugins = re.search(r"^plugins: (.*)$", output, re.MULTILINE)
    expected.append(f"'plugin-kv-{version}' among the plugins in pytest's header")
    if (
        summary != suite.outcome
        or (suite.line is not None and suite.line not in output)
        or plugins is None
        or f"plugin-kv-{version}" not in plugins[1].split(", ")
    ):
        raise DistCheckError(
            f"the {suite.name} suite against the installed wheel should show "
            + ", ".join(expected)
            + f"; it closed with {_counts(summary) or 'no summary'!r}, and its output ends:\n"
            + _tail(output)
        )
    return _counts(summary)


def _counts(outcome: dict[str, int]) -> str:
    return ", ".join(f"{count} {word}" for word, count in outcome.items())


def _summary(output: str) -> dict[str, int]:
    """Return the counts of pytest's closing line (``1 failed, 2 passed, 3 warnings in 0.1s``)."""
    for text in reversed(output.splitlines()):
        if re.search(r" in [\d.]+s", text):
            return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", text)}
    return {}


def _clean_environment() -> dict[str, str]:
    return {
        name: value for name, value in os.environ.items() if not CLEARED_VARIABLES.fullmatch(name)
    }


def _run(command: Sequence[str], shown: str, cwd: Path | None = None) -> str:
    """Run ``command``; return its output, or raise `DistCheckError` showing its end."""
    result = subprocess.run(list(command), cwd=cwd, env=_clean_environment(), capture_output=True,
                            text=True, check=False)  # fmt: skip
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise DistCheckError(
            f"{shown} failed ({result.returncode}); its output ends:\n" + _tail(output)
        )
    return output


def _tail(output: str) -> str:
    return "\n".join(output.rstrip().splitlines()[-OUTPUT_TAIL:])


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or take) the distribution, check it, and print what was checked."""
    parser = argparse.ArgumentParser(
        prog="python -m plugin_kv_dev.dist_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("dist", nargs="?", type=Path,
                        help="a directory holding the sdist and the wheel (default: build them"
                        " from this checkout into a temporary directory)")  # fmt: skip
    parser.add_argument("--expect-version", help="fail unless the built version is this one")
    args = parser.parse_args(argv)
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"dist_check: {line}", flush=True)

    with tempfile.TemporaryDirectory(prefix="plugin-kv-dist-") as temporary:
        workdir = Path(temporary)
        try:
            if args.dist is None:
                dist = build(ROOT, workdir / "dist")
                say(f"built {dist.sdist.name}, then {dist.wheel.name} from it")
            else:
                dist = find(args.dist.resolve())
            check(dist, workdir, expect_version=args.expect_version, say=say)
        except DistCheckError as exc:
            print(f"dist_check: FAILED: {exc}", file=sys.stderr)
            return 1
    say(f"passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

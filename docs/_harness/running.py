"""Running the guide's examples: plain examples, whole pytest files, and ruff over both.

Each function is called by a test of ``docs/test_docs.py`` and ends it with a failure naming
the page and line, a skip, or nothing (passed). What an example is and what its settings say
comes from `pages`; what its output shows, from `output`.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import pytest_examples.run_code
from pytest_examples import EvalExample
from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

from plugin_kv_dev import POSTGRES_URL, POSTGRES_VAR, REQUIRE_POSTGRES, REQUIRE_VAR, inner_config
from plugin_kv_dev.postgres import postgres_unavailable
from plugin_kv_dev.services import SERVERS

from .output import WIDTH, missing_line, normalise_output, path_stand_ins, update_excerpt
from .pages import ROOT, Example, Output, parse_outcome

CONFIG_FILES = ("pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg")
"""Files that configure pytest: when the page shows one, the harness adds none."""
DEFAULT_ARGS = {
    "randomly": ["-p", "no:randomly"],  # tests in file order: counters and output are stable
    "cacheprovider": ["-p", "no:cacheprovider"],
}
"""Options of every inner run, unless its ``args`` mention the plugin."""
INNER_TIMEOUT = 300.0
UPDATE_PROPERTY = "docs-output-update"
"""The `pytest.Item.user_properties` name an output update travels under (through xdist)."""

_ENV_VAR = re.compile(r"\$(?:\{(?P<braced>\w+)\}|(?P<plain>\w+))")


@dataclass
class OutputUpdate:
    """New lines for an ``output-of`` block, applied to the page when the session ends."""

    page: str
    """The page, relative to the project root."""
    line_numbers: list[int]
    old: list[str]
    """The page's lines as they were read (indentation included)."""
    new: list[str]

    def to_json(self) -> str:
        """Return the update as JSON, to travel in a report."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> OutputUpdate:
        """Read an update written by `to_json`."""
        return cls(**json.loads(text))


Record = Callable[[OutputUpdate], None]
"""Where `run_pytest` sends the updates of ``--update-examples``."""


def fail_if_invalid(example: Example) -> None:
    """Fail the test of an example whose fence has errors."""
    __tracebackhide__ = True
    if example.errors:
        pytest.fail("\n".join(f"{example.where}: {e}" for e in example.errors), pytrace=False)


def configure(eval_example: EvalExample) -> None:
    """Wrap long ``#>`` output as the project's code: its line length and target version."""
    settings = ruff_settings()
    eval_example.set_config(
        line_length=int(settings.get("line-length", 88)),
        target_version=str(settings.get("target-version", "py310")),  # type: ignore[arg-type]
    )


@functools.cache
def ruff_settings() -> dict[str, Any]:
    """Return ``[tool.ruff]`` of the project's ``pyproject.toml`` (empty without one)."""
    path = ROOT / "pyproject.toml"
    if not path.is_file():
        return {}
    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    data: dict[str, Any] = tomllib.loads(path.read_text("utf-8"))
    ruff: dict[str, Any] = data.get("tool", {}).get("ruff", {})
    return ruff


def run_plain(
    example: Example,
    eval_example: EvalExample,
    monkeypatch: pytest.MonkeyPatch,
    *,
    update: bool,
) -> None:
    """Run an example as ``__main__``, check (or update) its ``#>`` lines, then lint it."""
    __tracebackhide__ = True
    check_needs(example, monkeypatch)
    python_file = eval_example.tmp_path / f"{example.code.module_name}.py"
    run = eval_example.run_print_update if update else eval_example.run_print_check
    reported_at(example, python_file, lambda: run(example.code))
    lint(example)


def lint(example: Example) -> None:
    """Lint the example with ruff, unless its fence says ``lint="false"``."""
    __tracebackhide__ = True
    if not example.lint:
        return
    config = ROOT / "pyproject.toml"
    command = [
        find_ruff_bin(),
        "check",
        *(["--config", str(config)] if config.is_file() else ["--isolated"]),
        "--no-cache",
        "--output-format=concise",
        # linted as a file of docs/: the project's rules, with its per-file ignores for docs/
        f"--stdin-filename={ROOT / 'docs' / example.code.module_name}.py",
        "-",
    ]
    done = subprocess.run(
        command, input=example.code.source, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    if done.returncode == 0:
        return
    offset = example.code.start_line
    found = re.sub(
        r"^[^\n]*?:(\d+):(?=\d+: )",
        lambda m: f"{example.page.rel}:{int(m[1]) + offset}:",
        done.stdout,
        flags=re.MULTILINE,
    )
    pytest.fail(
        f"{example.where}: ruff found problems in the example\n{found}{done.stderr}",
        pytrace=False,
    )


def reported_at(example: Example, python_file: Path, run: Callable[[], object]) -> None:
    """Call ``run``; turn an exception from the example into a failure naming page and line.

    pytest-examples would rewrite the traceback to point into the Markdown file; on Python
    3.11 with pytest >= 8.4 that rewritten traceback crashes pytest (INTERNALERROR). We keep
    the real traceback and map its lines back to the page ourselves, on every Python.
    """
    __tracebackhide__ = True
    main = sys.modules.get("__main__")
    failure = None
    try:
        with mock.patch.object(
            pytest_examples.run_code, "create_example_traceback", _no_traceback_rewrite
        ):
            run()
    except Exception as exc:
        failure = describe_error(exc, example, python_file)
    finally:
        if main is not None:
            sys.modules["__main__"] = main  # pytest-examples replaces it
    if failure is not None:
        pytest.fail(failure, pytrace=False)  # outside `except`: no chained traceback


def _no_traceback_rewrite(*args: object) -> None:
    return None


def describe_error(exc: BaseException, example: Example, python_file: Path) -> str:
    """Say where on the page ``exc`` came from, with the example's part of the traceback."""
    offset = example.code.start_line
    name = str(python_file)
    trail = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == name and frame.lineno is not None:
            line = frame.lineno + offset
            trail.append(
                f"  {example.page.rel}:{line} in {frame.name}\n      {_text(example, line)}"
            )
    if isinstance(exc, SyntaxError) and exc.filename == name and exc.lineno is not None:
        trail.append(f"  {example.page.rel}:{exc.lineno + offset}")
    where = trail[-1].split()[0] if trail else example.where
    what = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    cause = exc.__cause__
    if cause is not None:
        what += "\n  caused by " + "".join(traceback.format_exception_only(type(cause), cause))
    heading = f"{where}: example {example.test_id} raised {what}"
    return "\n".join([heading, "example traceback (most recent call last):", *trail])


def _text(example: Example, line: int) -> str:
    lines = example.page.lines
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def run_pytest(
    example: Example,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    record: Record | None = None,
) -> None:
    """Run a whole test file in a fresh pytest, with the page's files, and check the result.

    ``record`` receives the new lines of drifted ``output-of`` blocks (``--update-examples``).
    """
    __tracebackhide__ = True
    check_needs(example, monkeypatch)
    args = [*_inner_args(example), example.settings["title"]]
    # CI and BUILD_NUMBER make pytest print summary lines untruncated: the shown output is
    # what a reader's terminal prints, on CI too.
    unstable = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PLUGIN_KV_URL", "CI", "BUILD_NUMBER")
    for name in (*unstable, *_xdist_vars()):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.setenv("PY_COLORS", "0")

    files = {**example.files, example.settings["title"]: example.code.source}
    if not any(name in files for name in CONFIG_FILES):
        pytester.makepyprojecttoml(inner_config())
    for name, text in files.items():
        target = pytester.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")

    result = pytester.runpytest_subprocess(*args, timeout=INNER_TIMEOUT)
    check_outcome(example, result, args)
    basetemps = sorted(p for p in pytester.path.glob("runpytest-*") if p.name[10:].isdigit())
    paths = path_stand_ins(str(pytester.path), str(basetemps[-1]) if basetemps else "")
    for output in example.outputs:
        check_output(example, output, result, paths, record)
    lint(example)


def _xdist_vars() -> list[str]:
    return [name for name in os.environ if name.startswith("PYTEST_XDIST_")]


def _inner_args(example: Example) -> list[str]:
    __tracebackhide__ = True
    given = [_expand(word, example) for word in shlex.split(example.settings.get("args", ""))]
    args: list[str] = []
    for plugin, default in DEFAULT_ARGS.items():
        if not any(plugin in word for word in given):
            args += default
    return [*args, *given]


def _expand(word: str, example: Example) -> str:
    __tracebackhide__ = True

    def value(match: re.Match[str]) -> str:
        name = match["braced"] or match["plain"]
        if name not in os.environ:
            pytest.fail(
                f"{example.where}: args uses ${name}, which is not set in the environment",
                pytrace=False,
            )
        return os.environ[name]

    return _ENV_VAR.sub(value, word)


def check_outcome(example: Example, result: pytest.RunResult, args: list[str]) -> None:
    """Check the inner run against ``outcome`` (or, without it, that everything passed)."""
    __tracebackhide__ = True
    command = "pytest " + shlex.join(args)
    declared = example.settings.get("outcome")
    if declared is None:
        if result.ret != 0:
            message = f"{command} did not pass (exit code {int(result.ret)})"
            _fail_run(example, result, f'{message}; if it should fail, say outcome="failed=1 ..."')
        return
    problem = None
    try:
        result.assert_outcomes(**parse_outcome(declared))
    except AssertionError as exc:
        problem = f"{command} does not match outcome={declared!r}:\n{exc}"
    except ValueError as exc:  # no summary line: the run crashed
        problem = f"{command} printed no outcome ({exc})"
    if problem is not None:  # failing outside `except` keeps the report short
        _fail_run(example, result, problem)


def _fail_run(example: Example, result: pytest.RunResult, message: str) -> None:
    __tracebackhide__ = True
    output = "\n".join(result.outlines[-60:])
    errors = "\n".join(result.errlines[-20:])
    pytest.fail(
        f"{example.where}: {message}\n--- output of the run ---\n{output}"
        + (f"\n--- stderr ---\n{errors}" if errors else ""),
        pytrace=False,
    )


def check_output(
    example: Example,
    output: Output,
    result: pytest.RunResult,
    paths: list[tuple[str, str]],
    record: Record | None,
) -> None:
    """Check that an ``output-of`` block's lines appear, in order, in the normalised output.

    With ``record`` (``--update-examples``), send the block's new lines there instead.
    """
    __tracebackhide__ = True
    printed = normalise_output(result.stdout.str(), paths)
    missing = missing_line(output.lines, printed)
    if missing is None:
        return
    title = example.settings["title"]
    if record is not None:
        update = update_excerpt(output.lines, printed)
        if not update.unplaced:
            # the block's own indentation (inside an admonition, a tab) stays
            indents = [
                raw[: len(raw.rstrip()) - len(line)]
                for raw, line in zip(output.raw, output.lines, strict=True)
            ]
            new = [indent + line for indent, line in zip(indents, update.lines, strict=True)]
            record(OutputUpdate(example.page.rel, output.line_numbers, output.raw, new))
            return
        missing = update.unplaced[0]
    line = output.line_numbers[missing]
    shown = "\n".join(f"  {text}" for text in printed if text.strip())
    how = (
        "no similar line to put in its place: edit the block by hand"
        if record is not None
        else "pytest docs/ --update-examples rewrites the block from a real run"
    )
    pytest.fail(
        f"{example.page.rel}:{line}: this line of an output-of={title!r} block is not in the "
        f"run's output (as a whole line, after the lines above it, with stand-ins for "
        f"run-to-run details): {output.lines[missing]!r}\n{how}\n"
        f"--- output of the run, with stand-ins ---\n{shown}",
        pytrace=False,
    )


def apply_updates(root: Path, updates: list[OutputUpdate]) -> list[str]:
    """Rewrite the pages' output blocks; return a line per block rewritten.

    A block is found by its old lines, at the line it was read from or, when ``#>`` updates
    of pytest-examples moved it, at the nearest place holding the same lines.
    """
    done: list[str] = []
    for page in sorted({u.page for u in updates}):
        path = root / page
        lines = path.read_text("utf-8").split("\n")
        for update in (u for u in updates if u.page == page):
            at = _locate(lines, update)
            if at is None:
                done.append(f"{page}:{update.line_numbers[0]}: not rewritten, the page changed")
                continue
            for number, new in zip(update.line_numbers, update.new, strict=True):
                lines[number - 1 + at] = new
            done.append(f"{page}:{update.line_numbers[0] + at}: output block rewritten")
        path.write_text("\n".join(lines), "utf-8")
    return done


def _locate(lines: list[str], update: OutputUpdate) -> int | None:
    """Return how far the block's lines moved since they were read, or None if not found."""
    first = update.line_numbers[0] - 1
    spans = [n - update.line_numbers[0] for n in update.line_numbers]
    shifts = sorted(range(-len(lines), len(lines)), key=abs)
    for shift in shifts:
        if all(
            0 <= first + shift + span < len(lines) and lines[first + shift + span] == old
            for span, old in zip(spans, update.old, strict=True)
        ):
            return shift
    return None


def check_needs(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip (or, when required, fail) an example that needs a service that is not there.

    ``needs="postgres"`` uses the test server of the shared dev module (``plugin_kv_dev``:
    ``PLUGIN_KV_TEST_POSTGRES_URL``, as the test suite) and sets that variable for the example.
    ``needs="mariadb"`` and ``needs="redis"`` do the same with `plugin_kv_dev.services`
    (``PLUGIN_KV_TEST_MARIADB_URL``, ``PLUGIN_KV_TEST_REDIS_URL``).
    """
    __tracebackhide__ = True
    needs = example.settings.get("needs")
    if needs in SERVERS:  # the ready-made adapters' servers: the tests' own probe
        server = SERVERS[needs]
        problem = server.unavailable()
        if problem is not None:
            message = f"{example.where} needs {server.name}: {problem}"
            if server.required:
                pytest.fail(f"{message} (and {server.require_var}=1)", pytrace=False)
            pytest.skip(f"{message}; set {server.url_var} to use another server")
        monkeypatch.setenv(server.url_var, server.url)
        return
    if needs != "postgres":
        return
    url = os.environ.get(POSTGRES_VAR) or POSTGRES_URL
    problem = postgres_unavailable(url)
    if problem is not None:
        message = f"{example.where} needs PostgreSQL: {problem}"
        if REQUIRE_POSTGRES or os.environ.get(REQUIRE_VAR) == "1":
            pytest.fail(f"{message} (and {REQUIRE_VAR}=1)", pytrace=False)
        pytest.skip(f"{message}; set {POSTGRES_VAR}=postgresql://user@host/db")
    monkeypatch.setenv(POSTGRES_VAR, url)


def example_param(example: Example) -> Any:  # pytest's ParameterSet is not public
    """Wrap an example for `pytest.mark.parametrize`, with its id and marks."""
    needs = example.settings.get("needs")
    marks = [getattr(pytest.mark, needs)] if needs in ("postgres", *SERVERS) else []
    return pytest.param(example, id=example.test_id, marks=marks)

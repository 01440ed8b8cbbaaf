"""Running the guide's examples: plain examples, whole pytest files, and ruff over both.

Each function ends a test of ``docs/test_docs.py`` with a failure naming the page and line, a
skip, or nothing (passed); under ``--update-examples`` drifted output goes to `edits`.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
from pytest_examples import CodeExample, EvalExample
from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

from plugin_kv_dev import inner_config
from plugin_kv_dev.services import SERVERS

from .edits import Record, body_edit
from .output import WIDTH, missing_line, normalise_output, path_stand_ins, update_excerpt
from .pages import ROOT, Example, parse_outcome

CONFIG_FILES = ("pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg")
"""Files that configure pytest: when the page shows one, the harness adds none."""
DEFAULT_ARGS = {"randomly": ["-p", "no:randomly"], "cacheprovider": ["-p", "no:cacheprovider"]}
"""Options of every inner run unless its ``args`` name the plugin (file order: stable output)."""
INNER_TIMEOUT = 300.0
UNSTABLE_VARS = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PLUGIN_KV_URL", "CI", "BUILD_NUMBER")
"""Removed for inner runs (with CI set, pytest prints summary lines whole, unlike a terminal)."""

_ENV_VAR = re.compile(r"\$\{?(\w+)")
"""A variable `os.path.expandvars` left: it is not set."""


@functools.cache
def ruff_settings() -> dict[str, Any]:
    """Return ``[tool.ruff]`` of the project's ``pyproject.toml``, with ruff's defaults."""
    tomllib = __import__("tomllib" if sys.version_info >= (3, 11) else "tomli")
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return {"line-length": 88, "target-version": "py310", **data.get("tool", {}).get("ruff", {})}


def run_plain(
    example: Example,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record: Record | None,
) -> None:
    """Run an example as ``__main__`` in ``tmp_path``, check its ``#>`` lines, then lint it.

    With ``record`` (``--update-examples``), drifted ``#>`` lines are sent there as an edit
    of the page instead.
    """
    __tracebackhide__ = True
    check_needs(example, monkeypatch)
    evaluator = EvalExample(tmp_path=tmp_path, pytest_request=request)
    evaluator.set_config(  # ``#>`` lines wrap as the project's code does
        line_length=int(ruff_settings()["line-length"]),
        target_version=ruff_settings()["target-version"],
    )
    code, shown = example.code, example.code.source
    main, failure = sys.modules.get("__main__"), None
    try:
        (evaluator.run_print_update if record else evaluator.run_print_check)(code)
    except Exception as exc:
        failure = describe_error(exc, example, tmp_path / f"{code.module_name}.py")
    finally:
        if main is not None:
            sys.modules["__main__"] = main  # pytest-examples replaces it
    if failure is not None:
        pytest.fail(failure, pytrace=False)  # outside `except`: no chained traceback
    if record is not None and code.source != shown:
        record(body_edit(example.page, code, code.source))
    lint(example)


def describe_error(exc: BaseException, example: Example, python_file: Path) -> str:
    """Say where on the page ``exc`` came from, with the example's part of the traceback.

    pytest-examples points the example's frames at the page (file and line) by building code
    objects of its own; on Python 3.11 their line tables are wrong, so pytest (>= 8.4) and
    the `traceback` module crash formatting them (an INTERNALERROR). So ``exc`` never reaches
    pytest, and its frames are read here through their line numbers and names alone.
    """
    rel, offset, trail = example.page.rel, example.code.start_line, []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        on_page = {str(example.page.path): 0, str(python_file): offset}.get(code.co_filename)
        if on_page is not None:
            line = tb.tb_lineno + on_page
            text = example.page.lines[line - 1].strip() if line <= len(example.page.lines) else ""
            trail.append(f"  {rel}:{line} in {code.co_name}\n      {text}")
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename == str(python_file) and exc.lineno:
        trail.append(f"  {rel}:{exc.lineno + offset}")
    where = trail[-1].split()[0] if trail else example.where
    what = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    if exc.__cause__ is not None:
        cause = exc.__cause__
        what += "\n  caused by " + "".join(traceback.format_exception_only(type(cause), cause))
    heading = f"{where}: example {example.test_id} raised {what}"
    return "\n".join([heading, "example traceback (most recent call last):", *trail])


def lint(example: Example) -> None:
    """Lint the example with ruff as a file of ``docs/``, unless its fence says ``lint="false"``."""
    __tracebackhide__ = True
    if example.settings.get("lint") == "false":
        return
    options = ["--no-cache", "--output-format=concise", f"--config={ROOT / 'pyproject.toml'}"]
    name = f"--stdin-filename={ROOT / 'docs' / example.code.module_name}.py"
    done = subprocess.run(
        [find_ruff_bin(), "check", *options, name, "-"],
        input=example.code.source,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    if done.returncode == 0:
        return
    found = re.sub(
        r"^[^\n]*?:(\d+):(?=\d+: )",
        lambda m: f"{example.page.rel}:{int(m[1]) + example.code.start_line}:",
        done.stdout,
        flags=re.MULTILINE,
    )
    pytest.fail(
        f"{example.where}: ruff found problems in the example\n{found}{done.stderr}",
        pytrace=False,
    )


def run_pytest(
    example: Example,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    record: Record | None,
) -> None:
    """Run a whole test file in a fresh pytest, with the page's files, and check the result.

    With ``record`` (``--update-examples``), drifted ``output-of`` blocks are sent there.
    """
    __tracebackhide__ = True
    check_needs(example, monkeypatch)
    args = [*_inner_args(example), example.settings["title"]]
    for name in (*UNSTABLE_VARS, *(n for n in os.environ if n.startswith("PYTEST_XDIST_"))):
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
    printed = normalise_output(result.stdout.str(), paths)
    for block in example.outputs:
        check_output(example, block, printed, record)
    lint(example)


def _inner_args(example: Example) -> list[str]:
    __tracebackhide__ = True
    given = [os.path.expandvars(word) for word in shlex.split(example.settings.get("args", ""))]
    unset = next((found for word in given for found in _ENV_VAR.findall(word)), None)
    if unset is not None:
        message = f"args uses ${unset}, which is not set in the environment"
        pytest.fail(f"{example.where}: {message}", pytrace=False)
    named = " ".join(given)
    defaults = [arg for plugin, args in DEFAULT_ARGS.items() if plugin not in named for arg in args]
    return [*defaults, *given]


def check_outcome(example: Example, result: pytest.RunResult, args: list[str]) -> None:
    """Check the inner run against ``outcome`` (or, without it, that everything passed)."""
    __tracebackhide__ = True
    command, declared = "pytest " + shlex.join(args), example.settings.get("outcome")
    problem = None
    if declared is None and result.ret != 0:
        problem = f"{command} did not pass (exit code {int(result.ret)}); if it should fail, "
        problem += 'say outcome="failed=1 ..."'
    elif declared is not None:
        try:
            result.assert_outcomes(**parse_outcome(declared))
        except AssertionError as exc:
            problem = f"{command} does not match outcome={declared!r}:\n{exc}"
        except ValueError as exc:  # no summary line: the run crashed
            problem = f"{command} printed no outcome ({exc})"
    if problem is not None:  # failing outside `except` keeps the report short
        output, errors = "\n".join(result.outlines[-60:]), "\n".join(result.errlines[-20:])
        pytest.fail(
            f"{example.where}: {problem}\n--- output of the run ---\n{output}"
            + (f"\n--- stderr ---\n{errors}" if errors else ""),
            pytrace=False,
        )


def check_output(
    example: Example, block: CodeExample, printed: list[str], record: Record | None
) -> None:
    """Check that an ``output-of`` block's lines appear, in order, in the normalised output.

    With ``record`` (``--update-examples``), send the block's new lines there instead.
    """
    __tracebackhide__ = True
    body = block.source.split("\n")[:-1]
    numbers = [block.start_line + 1 + i for i, line in enumerate(body) if line.strip()]
    shown = [line.rstrip() for line in body if line.strip()]
    missing = missing_line(shown, printed)
    if missing is None:
        return
    if record is not None:
        update = update_excerpt(shown, printed)
        if not update.unplaced:
            new = iter(update.lines)
            source = "".join(f"{next(new) if line.strip() else line}\n" for line in body)
            record(body_edit(example.page, block, source))
            return
        missing = update.unplaced[0]
    how = (
        "no similar line to put in its place: edit the block by hand"
        if record is not None
        else "pytest docs/ --update-examples rewrites the block from a real run"
    )
    output = "\n".join(f"  {text}" for text in printed if text.strip())
    pytest.fail(
        f"{example.page.rel}:{numbers[missing]}: this line of an "
        f"output-of={example.settings['title']!r} block is not in the run's output (as a whole "
        f"line, after the lines above it, with stand-ins for run-to-run details): "
        f"{shown[missing]!r}\n{how}\n--- output of the run, with stand-ins ---\n{output}",
        pytrace=False,
    )


def check_needs(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip (or, when required, fail) an example whose ``needs`` server is not there; else
    give it the server's URL in its variable (servers and probes: `plugin_kv_dev.services`)."""
    __tracebackhide__ = True
    server = SERVERS.get(example.settings.get("needs", ""))
    if server is None:
        return
    problem = server.unavailable()
    if problem is not None:
        message = f"{example.where} needs {server.name}: {problem}"
        if server.required:
            pytest.fail(f"{message} (and {server.require_var}=1)", pytrace=False)
        pytest.skip(f"{message}; set {server.url_var} to use another server")
    monkeypatch.setenv(server.url_var, server.url)

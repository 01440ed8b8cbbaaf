"""Read the guide's fenced examples and check them: the engine behind `pytest docs/`.

Every fence whose info string starts with ``py`` (in ``docs/**/*.md`` and ``README.md``) is
an example. Settings ride in Material's attribute braces on the fence line::

    ```py {title="test_leaky.py" test="pytest" outcome="failed=1 passed=2"}

``test`` says what to do with it:

- ``run`` (default): run it against the real service, check ``#>`` lines, lint it with ruff;
- ``pytest``: a whole test file, run in a fresh pytest (pytester) next to the page's
  ``test="file"`` examples so far; ``outcome`` and ``output-of`` blocks are checked;
- ``file``: a supporting file (``conftest.py``, ``pyproject.toml``...) for the later
  ``test="pytest"`` examples of the page; a later file with the same title replaces it;
- ``skip``: not run, and ``reason="..."`` says why.

Other settings: ``title`` (shown by Material; names the file; builds the test id),
``outcome="failed=1 passed=2"`` and ``args="-n 2"`` (``$VAR`` expanded) for ``pytest``,
``needs="postgres"`` (skip without a server, unless PLUGIN_KV_REQUIRE_POSTGRES=1),
``lint="false"``. A non-Python fence ```` ```text {output-of="test_leaky.py"} ```` lists lines
the last run of that file must print, in order (``*`` matches any text). Settings are read
from the raw fence line, with their case; an unknown one fails the example.

pytest-examples finds the examples; markdown-it-py, a real Markdown parser, counts the fences
again, so a fence pytest-examples could not read fails the page instead of vanishing.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shlex
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, cast
from unittest import mock
from urllib.parse import urlsplit

import pytest
import pytest_examples.run_code
from markdown_it import MarkdownIt
from pytest_examples import CodeExample, EvalExample, find_examples
from ruff.__main__ import find_ruff_bin

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

Kind = Literal["run", "pytest", "file", "skip"]

SITE_KEYS = frozenset({"title", "hl_lines", "linenums", "anchor_linenums"})
"""Fence settings MkDocs Material itself reads; the harness accepts and ignores them."""

ALLOWED: dict[str, frozenset[str]] = {
    "run": SITE_KEYS | {"test", "lint", "needs"},
    "pytest": SITE_KEYS | {"test", "lint", "needs", "outcome", "args"},
    "file": SITE_KEYS | {"test", "lint"},
    "skip": SITE_KEYS | {"test", "reason"},
}
"""The settings each kind of Python example accepts."""

OUTPUT_KEYS = SITE_KEYS | {"output-of"}
FILE_KEYS = SITE_KEYS | {"test"}
OUTCOME_KEYS = ("passed", "failed", "errors", "skipped", "xpassed", "xfailed")
OUTCOME_EXTRA_KEYS = ("warnings", "deselected")
NEEDS = ("postgres",)
POSTGRES_VAR = "PLUGIN_KV_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
"""The server ``needs="postgres"`` examples use when the variable is unset (as tests/)."""
CONFIG_FILES = ("pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg")

RUFF_RULES = ["E", "W", "F", "I", "B", "UP", "SIM", "ASYNC", "PT"]
LINE_LENGTH = 100
TARGET_VERSION: Final = "py310"

INNER_PYPROJECT = """\
[tool.pytest.ini_options]
asyncio_mode = "strict"
asyncio_default_fixture_loop_scope = "function"
asyncio_default_test_loop_scope = "function"
filterwarnings = ["error"]
"""
"""The pytest config of a ``test="pytest"`` run, unless the page shows its own."""

DEFAULT_ARGS = {"randomly": ["-p", "no:randomly"], "cacheprovider": ["-p", "no:cacheprovider"]}
INNER_TIMEOUT = 300.0

_FENCE_INFO = re.compile(r"(?P<lang>[^\s{]*)\s*(?:\{(?P<attrs>.*)\})?\s*")
_ATTR = re.compile(
    r"""\s*(?:(?P<key>[A-Za-z_][\w-]*)=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'{}]+))"""
    r"""|\.(?P<cls>[\w-]+)|\#(?P<id>[\w-]+))"""
)
_BLOCK_MARKER = re.compile(r"(?:!!!|\?\?\?\+?|===\+?!?)(?:\s|$)")
_FENCE_OPEN = re.compile(r" {0,3}(?P<marker>`{3,}|~{3,})")
_OUTCOME = re.compile(r"(?P<key>[a-z]+)=(?P<count>\d+)")
_ENV_VAR = re.compile(r"\$(?:\{(?P<braced>\w+)\}|(?P<plain>\w+))")


@dataclass
class Fence:
    """One fenced block as markdown-it-py reads it."""

    line: int
    """The fence line, 1-based."""
    end_line: int
    """The closing fence line (or the page's last line)."""
    info: str
    marker: str
    content: str

    @property
    def is_python(self) -> bool:
        """Whether pytest-examples should have found it (its rule: info starts with ``py``)."""
        return self.info.strip().lower().startswith(("py", "{.py"))


@dataclass
class Output:
    """A ```` ```text {output-of="test_x.py"} ```` block: lines the run must print."""

    line: int
    lines: list[str]


@dataclass
class Example:
    """A Python example of a page, and what the harness must do with it."""

    page: Page
    line: int
    code: CodeExample
    kind: Kind
    settings: dict[str, str]
    test_id: str = ""
    errors: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    """For ``test="pytest"``: the page's supporting files at this point, title -> text."""
    outputs: list[Output] = field(default_factory=list)

    @property
    def title(self) -> str | None:
        """The ``title`` setting, with its case."""
        return self.settings.get("title")

    @property
    def where(self) -> str:
        """``page:line`` of the fence, for messages."""
        return f"{self.page.rel}:{self.line}"

    @property
    def lint(self) -> bool:
        """Whether ruff checks the example."""
        return self.kind != "skip" and self.settings.get("lint", "true") == "true"


@dataclass
class Page:
    """A Markdown page: its examples and what is wrong with its fences."""

    path: Path
    rel: str
    lines: list[str]
    examples: list[Example] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def pages_to_check(root: Path = ROOT) -> list[Path]:
    """Return ``docs/**/*.md`` and ``README.md``, sorted."""
    pages = sorted(p for p in (root / "docs").rglob("*.md") if "__pycache__" not in p.parts)
    readme = root / "README.md"
    return [readme, *pages] if readme.is_file() else pages


def read_pages(root: Path = ROOT) -> list[Page]:
    """Read every page to check."""
    return [read_page(path, root) for path in pages_to_check(root)]


def read_page(path: Path, root: Path = ROOT) -> Page:
    """Read one page: find its examples, their settings, and any fence that went missing."""
    text = path.read_text("utf-8")
    page = Page(path=path, rel=path.relative_to(root).as_posix(), lines=text.splitlines())
    fences = markdown_fences(text)
    found = {code.start_line: code for code in find_examples(path)}
    by_line = {fence.line: fence for fence in fences}

    for line, code in sorted(found.items()):
        fence = by_line.get(line)
        if fence is not None and fence.is_python:
            if code.end_line != fence.end_line:
                page.problems.append(
                    f"{page.rel}:{line}: pytest-examples read this example as lines "
                    f"{line}-{code.end_line}, but the fence ends on line {fence.end_line}; "
                    "is there a line starting with ``` inside it?"
                )
        elif not any(f.line < line <= f.end_line for f in fences):
            page.problems.append(
                f"{page.rel}:{line}: pytest-examples read a Python example here, but it is not "
                "a Python fence; a fence above it was misread (a four-backtick ```` fence?)"
            )
    for fence in fences:
        if fence.is_python and fence.line not in found:
            page.problems.append(f"{page.rel}:{fence.line}: {_missed(fence)}")

    _build_examples(page, fences, found)
    return page


def _missed(fence: Fence) -> str:
    if fence.marker.startswith("~"):
        return (
            f"the Python fence {fence.marker}{fence.info.strip()} is never run: pytest-examples "
            "only reads ``` fences; write ```py (use ~~~ only to show fences as text)"
        )
    return (
        f"pytest-examples did not find the Python fence {fence.marker}{fence.info.strip()}: "
        "a fence above it was misread, and it would silently never run (a four-backtick "
        "```` fence? wrap fences shown as text in ~~~markdown instead)"
    )


def markdown_fences(text: str) -> list[Fence]:
    """Return every fenced block of ``text``, read by markdown-it-py.

    Material's admonitions (``!!!``, ``???``) and content tabs (``===``) indent their body by
    four spaces, which CommonMark reads as an indented code block; their bodies are dedented
    first (the line numbers stay the same).
    """
    tokens = MarkdownIt("commonmark").parse(_unwrap_blocks(text))
    lines = text.count("\n") + 1
    fences = []
    for token in tokens:
        if token.type == "fence" and token.map is not None:
            start, end = token.map
            fences.append(
                Fence(
                    line=start + 1,
                    end_line=min(end, lines),
                    info=token.info,
                    marker=token.markup,
                    content=token.content,
                )
            )
    return fences


def _unwrap_blocks(text: str) -> str:
    out: list[str] = []
    bodies: list[int] = []  # body indents of the open admonitions / tabs
    fence: str | None = None
    for line in text.split("\n"):
        if line.strip():
            indent = len(line) - len(line.lstrip(" "))
            while bodies and indent < bodies[-1]:
                bodies.pop()
            line = line[min(4 * len(bodies), indent) :]
        stripped = line.strip()
        opening = _FENCE_OPEN.match(line)
        if fence is not None:
            if opening and stripped == opening["marker"] and stripped.startswith(fence):
                fence = None
        elif opening:
            fence = opening["marker"]
        elif _BLOCK_MARKER.match(stripped):
            bodies.append(len(line) - len(line.lstrip(" ")) + 4 * (len(bodies) + 1))
            line = ""
        out.append(line)
    return "\n".join(out)


def parse_info(info: str) -> tuple[str, dict[str, str], list[str]]:
    """Split a fence's info string into its language, its settings, and errors."""
    match = _FENCE_INFO.fullmatch(info.strip())
    if match is None:
        return "", {}, [f"cannot read the fence line {info.strip()!r}: {_SYNTAX}"]
    lang, attrs = match["lang"], match["attrs"] or ""
    settings: dict[str, str] = {}
    errors: list[str] = []
    pos = 0
    while attrs[pos:].strip():
        attr = _ATTR.match(attrs, pos)
        if attr is None:
            errors.append(f"cannot read {attrs[pos:].strip()!r} in the fence line: {_SYNTAX}")
            break
        pos = attr.end()
        if attr["cls"] is not None:
            lang = lang or attr["cls"]
        elif attr["key"] is not None:
            key = attr["key"]
            value = next(v for v in (attr["dq"], attr["sq"], attr["bare"]) if v is not None)
            if key in settings:
                errors.append(f"setting {key!r} is given twice")
            settings[key] = value
    return lang, settings, errors


_SYNTAX = 'write settings in braces after the language: ```py {title="x.py" test="run"}'


def check_settings(kind: str, settings: dict[str, str]) -> list[str]:
    """Return what is wrong with the settings of a Python example."""
    if kind not in ALLOWED:
        return [f"unknown test={kind!r}: use one of {', '.join(map(repr, ALLOWED))}"]
    errors = [
        f"unknown setting {key!r} for test={kind!r}: use {', '.join(sorted(ALLOWED[kind]))}"
        for key in settings
        if key not in ALLOWED[kind]
    ]
    if kind == "skip" and not settings.get("reason", "").strip():
        errors.append('test="skip" needs reason="..." saying why the example is not run')
    if kind in ("pytest", "file") and not settings.get("title"):
        errors.append(f'test="{kind}" needs title="..." naming the file, e.g. "test_x.py"')
    if kind in ("pytest", "file") and not _is_safe_name(settings.get("title", "x")):
        errors.append(f"title {settings['title']!r} must be a relative path inside the project")
    if settings.get("lint", "true") not in ("true", "false"):
        errors.append(f'lint={settings["lint"]!r}: use "true" or "false"')
    if "needs" in settings and settings["needs"] not in NEEDS:
        errors.append(f"needs={settings['needs']!r}: use one of {', '.join(map(repr, NEEDS))}")
    if "outcome" in settings:
        try:
            parse_outcome(settings["outcome"])
        except ValueError as exc:
            errors.append(str(exc))
    if "args" in settings:
        try:
            shlex.split(settings["args"])
        except ValueError as exc:
            errors.append(f"cannot split args={settings['args']!r}: {exc}")
    return errors


def _is_safe_name(name: str) -> bool:
    path = Path(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def parse_outcome(text: str) -> dict[str, int]:
    """Read ``outcome="failed=1 passed=2"`` into `pytest.RunResult.assert_outcomes` arguments."""
    counts: dict[str, int] = {}
    for word in text.replace(",", " ").split():
        match = _OUTCOME.fullmatch(word)
        known = (*OUTCOME_KEYS, *OUTCOME_EXTRA_KEYS)
        if match is None or match["key"] not in known:
            raise ValueError(
                f"cannot read {word!r} in outcome={text!r}: write counts like "
                f'"failed=1 passed=2", using {", ".join(known)}'
            )
        counts[match["key"]] = int(match["count"])
    if not counts:
        raise ValueError(f'outcome={text!r} is empty: write counts like "failed=1 passed=2"')
    return counts


def _build_examples(page: Page, fences: list[Fence], found: dict[int, CodeExample]) -> None:
    files: dict[str, tuple[Example | None, Fence]] = {}
    used: set[int] = set()
    last_run: dict[str, Example] = {}
    titles: dict[str, int] = {}
    untitled = 0

    for fence in fences:
        _, settings, errors = parse_info(fence.info)
        where = f"{page.rel}:{fence.line}"
        code = found.get(fence.line)
        if not fence.is_python:
            errors += _check_other(settings)
            page.problems += [f"{where}: {error}" for error in errors]
            if errors:
                continue
            if "output-of" in settings:
                target = last_run.get(settings["output-of"])
                if target is None:
                    page.problems.append(
                        f"{where}: output-of={settings['output-of']!r} names no "
                        'test="pytest" example above it on this page'
                    )
                else:
                    lines = [line.rstrip() for line in fence.content.splitlines() if line.strip()]
                    target.outputs.append(Output(fence.line, lines))
            elif settings.get("test") == "file":
                files[settings["title"]] = (None, fence)
            continue
        if code is None:
            continue  # reported as a problem of the page

        kind = settings.get("test", "run")
        errors += check_settings(kind, settings)
        example = Example(page, fence.line, code, cast(Kind, kind), settings, errors=errors)
        title = example.title
        if title:
            titles[title] = titles.get(title, 0) + 1
            suffix = "" if titles[title] == 1 else f"#{titles[title]}"
            example.test_id = f"{page.rel}:{title}{suffix}"
        else:
            untitled += 1
            example.test_id = f"{page.rel}:example-{untitled}"
        page.examples.append(example)
        if errors:
            continue
        if kind == "file":
            files[settings["title"]] = (example, fence)
        elif kind == "pytest":
            for name, (file_example, file_fence) in files.items():
                used.add(file_fence.line)
                source = file_example.code.source if file_example else file_fence.content
                example.files[name] = source
            last_run[settings["title"]] = example

    for name, (_, fence) in files.items():
        if fence.line not in used:
            page.problems.append(
                f'{page.rel}:{fence.line}: the test="file" example {name!r} is used by no '
                'test="pytest" example after it on this page'
            )


def _check_other(settings: dict[str, str]) -> list[str]:
    """Check the settings of a fence that is not Python: plain text, an output, or a file."""
    if settings.get("test") == "file":
        errors = [
            f'unknown setting {key!r} for a non-Python test="file": use '
            f"{', '.join(sorted(FILE_KEYS))}"
            for key in settings
            if key not in FILE_KEYS
        ]
        if not settings.get("title") or not _is_safe_name(settings["title"]):
            errors.append('test="file" needs title="..." naming the file, e.g. "pyproject.toml"')
        return errors
    if "test" in settings:
        return [f'test={settings["test"]!r} on a fence that is not Python: only "file" applies']
    keys = ", ".join(sorted(OUTPUT_KEYS))
    return [
        f"unknown setting {key!r} on a fence that is not Python: use {keys}"
        for key in settings
        if key not in OUTPUT_KEYS
    ]


# -- running ------------------------------------------------------------------------------


def fail_if_invalid(example: Example) -> None:
    """Fail the test of an example whose fence has errors."""
    __tracebackhide__ = True
    if example.errors:
        pytest.fail("\n".join(f"{example.where}: {e}" for e in example.errors), pytrace=False)


def configure(eval_example: EvalExample) -> None:
    """Wrap long ``#>`` output like the project: lines up to 100 characters."""
    eval_example.set_config(line_length=LINE_LENGTH, target_version=TARGET_VERSION)


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
    command = [
        find_ruff_bin(),
        "check",
        "--isolated",  # the same rules wherever the example happens to run
        "--no-cache",
        "--output-format=concise",
        f"--line-length={LINE_LENGTH}",
        f"--target-version={TARGET_VERSION}",
        f"--extend-select={','.join(RUFF_RULES)}",
        "-",
    ]
    done = subprocess.run(
        command, input=example.code.source, capture_output=True, text=True, timeout=60
    )
    if done.returncode == 0:
        return
    offset = example.code.start_line
    found = re.sub(
        r"^-:(\d+):",
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
) -> None:
    """Run a whole test file in a fresh pytest, with the page's files, and check the result."""
    __tracebackhide__ = True
    check_needs(example, monkeypatch)
    args = [*_inner_args(example), example.settings["title"]]
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PLUGIN_KV_URL", *_xdist_vars()):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("PY_COLORS", "0")

    files = {**example.files, example.settings["title"]: example.code.source}
    if not any(name in files for name in CONFIG_FILES):
        pytester.makepyprojecttoml(INNER_PYPROJECT)
    for name, text in files.items():
        target = pytester.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")

    result = pytester.runpytest_subprocess(*args, timeout=INNER_TIMEOUT)
    check_outcome(example, result, args)
    for output in example.outputs:
        check_output(example, output, result)
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


def check_output(example: Example, output: Output, result: pytest.RunResult) -> None:
    """Check that every line of an ``output-of`` block appears, in order, in the run's output."""
    __tracebackhide__ = True
    try:
        result.stdout.fnmatch_lines([_pattern(line) for line in output.lines])
    except pytest.fail.Exception as exc:
        details = exc.msg
    else:
        return
    pytest.fail(
        f"{example.page.rel}:{output.line}: a line of this output-of="
        f"{example.settings['title']!r} block is not in the run's output "
        f"(lines must appear in order; * matches any text)\n{details}",
        pytrace=False,
    )


def _pattern(line: str) -> str:
    """Make ``*`` the only wildcard: ``[``, ``]`` and ``?`` stand for themselves."""
    return re.sub(r"[\[\]?]", lambda m: f"[{m.group()}]", line)


def check_needs(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip (or, when required, fail) an example that needs a service that is not there.

    ``needs="postgres"`` uses the server of ``PLUGIN_KV_TEST_POSTGRES_URL`` (default
    `DEFAULT_POSTGRES_URL`, as in the test suite) and sets that variable for the example.
    """
    __tracebackhide__ = True
    if example.settings.get("needs") != "postgres":
        return
    url = os.environ.get(POSTGRES_VAR) or DEFAULT_POSTGRES_URL
    problem = postgres_problem(url)
    if problem is not None:
        message = f"{example.where} needs PostgreSQL: {problem}"
        if os.environ.get("PLUGIN_KV_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{message} (and PLUGIN_KV_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(f"{message}; set {POSTGRES_VAR}=postgresql://user@host/db")
    monkeypatch.setenv(POSTGRES_VAR, url)


@functools.cache
def postgres_problem(url: str) -> str | None:
    """Return why the PostgreSQL server at ``url`` is unusable, or None."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc})"

    async def probe() -> None:
        from plugin_kv import KVService

        async with KVService.open(url) as kv:
            await kv.count("docs-probe")

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"cannot use {url}: {exc}"
    return None


def example_param(example: Example) -> Any:
    """Wrap an example for `pytest.mark.parametrize`, with its id and marks."""
    marks = [pytest.mark.postgres] if example.settings.get("needs") == "postgres" else []
    return pytest.param(example, id=example.test_id, marks=marks)

"""Reading the guide: pages, their fences, the fences' settings, outcomes, output blocks.

Pure functions of the page text (plus pytest-examples' own reading of the page): nothing here
runs an example. `docs/_harness/__init__.py` describes the settings; `running` uses them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from markdown_it import MarkdownIt
from pytest_examples import CodeExample, find_examples

ROOT = Path(__file__).resolve().parents[2]
"""The project: ``README.md`` and ``docs/`` are read from here."""

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
NEEDS = ("postgres", "mariadb", "redis")


_FENCE_INFO = re.compile(r"(?P<lang>[^\s{]*)\s*(?:\{(?P<attrs>.*)\})?\s*")
_ATTR = re.compile(
    r"""\s*(?:(?P<key>[A-Za-z_][\w-]*)=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'{}]+))"""
    r"""|\.(?P<cls>[\w-]+)|\#(?P<id>[\w-]+))"""
)
_BLOCK_MARKER = re.compile(r"(?:!!!|\?\?\?\+?|===\+?!?)(?:\s|$)")
_FENCE_OPEN = re.compile(r" {0,3}(?P<marker>`{3,}|~{3,})")
_OUTCOME = re.compile(r"(?P<key>[a-z]+)=(?P<count>\d+)")


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
    """A ```` ```text {output-of="test_x.py"} ```` block: lines the run must print, in order."""

    line: int
    """The fence line, 1-based."""
    lines: list[str]
    """The block's non-blank lines, without trailing spaces."""
    line_numbers: list[int]
    """The page line (1-based) of each of `lines`."""
    raw: list[str]
    """Each of `lines` as the page has it, indentation included (for rewriting the page)."""


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
                    target.outputs.append(_output_block(page, fence))
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


def _output_block(page: Page, fence: Fence) -> Output:
    output = Output(fence.line, [], [], [])
    for offset, line in enumerate(fence.content.splitlines()):
        if line.strip():
            number = fence.line + 1 + offset
            output.lines.append(line.rstrip())
            output.line_numbers.append(number)
            output.raw.append(page.lines[number - 1])
    return output

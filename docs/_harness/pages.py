"""Reading the guide: pages, their fences, the fences' settings, outcomes, output blocks.

One reader: markdown-it-py finds every fence, in Material's admonitions and content tabs too
(the block rule `_container` hands their indented bodies back to markdown-it), and each fence
becomes a pytest-examples `CodeExample` (``prefix`` is the raw info string, case kept). A
line that opens a fence but lies in no fence found, or a fence never closed, fails the page,
so no example can hide. Pure functions of the page text: nothing here runs an example.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from pytest_examples import CodeExample

ROOT = Path(__file__).resolve().parents[2]
"""The project: ``README.md`` and ``docs/`` are read from here."""

SITE_KEYS = frozenset({"title", "hl_lines", "linenums", "anchor_linenums"})
"""Fence settings MkDocs Material itself reads; the harness accepts and ignores them."""
ALLOWED: dict[str, frozenset[str]] = {
    "run": SITE_KEYS | {"test", "lint", "needs"},
    "pytest": SITE_KEYS | {"test", "lint", "needs", "outcome", "args"},
    "file": SITE_KEYS | {"test", "lint"},
    "skip": SITE_KEYS | {"test", "reason"},
}
"""The settings each kind of Python example accepts."""
OTHER_KEYS = {"file": SITE_KEYS | {"test"}, "": SITE_KEYS | {"output-of"}}
"""The settings of a fence that is not Python: a supporting file, or text (output)."""
OUTCOMES = ("passed", "failed", "errors", "skipped", "xpassed", "xfailed", "warnings", "deselected")
NEEDS = ("postgres", "mariadb", "redis")

_INFO = re.compile(r"(?P<lang>[^\s{]*)\s*(?P<rest>.*)", re.DOTALL)
_ATTR = re.compile(
    r"""\s*(?:(?P<key>[A-Za-z_][\w-]*)=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'{}]+))"""
    r"""|\.(?P<cls>[\w-]+)|\#(?P<id>[\w-]+))"""
)
_SYNTAX = 'write settings in braces after the language: ```py {title="x.py" test="run"}'
_CONTAINER = re.compile(r"(?:!!!|\?\?\?\+?|===\+?!?) +\S")
"""An admonition (``!!! note``, ``??? tip``) or a content tab (``=== "SQLite"``)."""
_FENCE = re.compile(r"[\s>]*(?:`{3,}|~{3,})")  # in a blockquote too: "> ```"
_OUTCOME = re.compile(r"(?P<key>[a-z]+)=(?P<count>\d+)")


@dataclass
class Example:
    """A Python example of a page, and what the harness must do with it."""

    page: Page
    code: CodeExample
    kind: str
    settings: dict[str, str]
    test_id: str
    errors: list[str]
    files: dict[str, str] = field(default_factory=dict)
    """For ``test="pytest"``: the page's supporting files at this point, title -> text."""
    outputs: list[CodeExample] = field(default_factory=list)
    """For ``test="pytest"``: its ``output-of`` blocks."""

    @property
    def where(self) -> str:
        """``page:line`` of the fence, for messages."""
        return f"{self.page.rel}:{self.code.start_line}"


@dataclass
class Page:
    """A Markdown page: its lines, its examples and what is wrong with its fences."""

    path: Path
    rel: str
    lines: list[str]
    examples: list[Example] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def pages_to_check(root: Path = ROOT) -> list[Path]:
    """Return ``README.md`` and ``docs/**/*.md``, sorted."""
    pages = sorted(p for p in (root / "docs").rglob("*.md") if "__pycache__" not in p.parts)
    readme = root / "README.md"
    return [readme, *pages] if readme.is_file() else pages


def read_page(path: Path, root: Path = ROOT) -> Page:
    """Read one page: its fences, its examples with their settings, and its problems."""
    text = path.read_text("utf-8")
    page = Page(path=path, rel=path.relative_to(root).as_posix(), lines=text.split("\n"))
    fences = read_fences(text, path)
    page.problems += unread_fences(page, fences)
    _build_examples(page, fences)
    return page


def _container(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Read an admonition or content tab: its body, indented by 4, is Markdown again."""
    indent = state.sCount[start]
    if indent - state.blkIndent >= 4:
        return False  # an indented code block
    if not _CONTAINER.match(state.src, state.bMarks[start] + state.tShift[start]):
        return False
    if silent:
        return True
    line, body = start + 1, indent + 4
    while line < end and (state.isEmpty(line) or state.sCount[line] >= body):
        line += 1
    outer = state.blkIndent, state.lineMax
    state.blkIndent, state.lineMax = body, line
    state.md.block.tokenize(state, start + 1, line)
    state.blkIndent, state.lineMax = outer
    state.line = line
    return True


_MARKDOWN = MarkdownIt("commonmark")
_MARKDOWN.block.ruler.before(
    "fence", "material_container", _container, {"alt": ["paragraph", "blockquote", "list"]}
)


def read_fences(text: str, path: Path) -> list[CodeExample]:
    """Return every fenced block of ``text`` as a `CodeExample` (``start_line``: the fence line).

    ``source`` is the block's text without the fence's indentation, which is ``indent``;
    ``end_line`` is the closing fence line (for an unclosed fence: the line after the block).
    """
    lines = text.split("\n")
    return [
        CodeExample.create(
            token.content,
            path=path,
            start_line=token.map[0] + 1,
            end_line=token.map[0] + token.content.count("\n") + 2,
            prefix=token.info,
            indent=len(lines[token.map[0]]) - len(lines[token.map[0]].lstrip()),
        )
        for token in _MARKDOWN.parse(text)
        if token.type == "fence" and token.map is not None
    ]


def unread_fences(page: Page, fences: list[CodeExample]) -> list[str]:
    """Return a problem for each fence line of ``page`` no fence covers, and each unclosed fence.

    Fence lines are counted here apart from the Markdown reader: one it did not read as a
    fence (say, in a block it took for indented code) would silently never run.
    """
    lines = page.lines
    covered = {n for fence in fences for n in range(fence.start_line, fence.end_line + 1)}
    unread = "is not read as a fence (indented code?), so it would never run: indent it as the"
    problems = [
        (number, f"{line.strip()!r} {unread} text around it (4 spaces under !!!, ???, ===)")
        for number, line in enumerate(lines, start=1)
        if number not in covered and _FENCE.match(line)
    ]
    problems += [
        (fence.start_line, f"the fence {lines[fence.start_line - 1].strip()!r} is never closed")
        for fence in fences
        if fence.end_line > len(lines) or not _FENCE.fullmatch(lines[fence.end_line - 1].rstrip())
    ]
    return [f"{page.rel}:{number}: {problem}" for number, problem in sorted(problems)]


def parse_info(info: str) -> tuple[str, dict[str, str], list[str]]:
    """Split a fence's info string into its language, its settings, and errors."""
    match = _INFO.fullmatch(info.strip())
    assert match is not None  # every string matches
    lang, rest = match["lang"], match["rest"]
    if rest and not (rest.startswith("{") and rest.endswith("}")):
        return lang, {}, [f"cannot read the fence line {info.strip()!r}: {_SYNTAX}"]
    attrs, settings, errors, pos = rest[1:-1], {}, [], 0
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
            if key in settings:
                errors.append(f"setting {key!r} is given twice")
            settings[key] = next(v for v in (attr["dq"], attr["sq"], attr["bare"]) if v is not None)
    return lang, settings, errors


def check_settings(kind: str, settings: dict[str, str]) -> list[str]:
    """Return what is wrong with the settings of a Python example."""
    if kind not in ALLOWED:
        return [f"unknown test={kind!r}: use one of {', '.join(map(repr, ALLOWED))}"]
    errors = [
        f"unknown setting {key!r} for test={kind!r}: use {', '.join(sorted(ALLOWED[kind]))}"
        for key in settings
        if key not in ALLOWED[kind]
    ]
    title = settings.get("title", "")
    if kind == "skip" and not settings.get("reason", "").strip():
        errors.append('test="skip" needs reason="..." saying why the example is not run')
    if kind in ("pytest", "file") and not title:
        errors.append(f'test="{kind}" needs title="..." naming the file, e.g. "test_x.py"')
    elif kind in ("pytest", "file") and not _is_safe_name(title):
        errors.append(f"title {title!r} must be a relative path inside the project")
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
        if match is None or match["key"] not in OUTCOMES:
            raise ValueError(
                f"cannot read {word!r} in outcome={text!r}: write counts like "
                f'"failed=1 passed=2", using {", ".join(OUTCOMES)}'
            )
        counts[match["key"]] = int(match["count"])
    if not counts:
        raise ValueError(f'outcome={text!r} is empty: write counts like "failed=1 passed=2"')
    return counts


def check_other(settings: dict[str, str]) -> list[str]:
    """Return what is wrong with the settings of a fence that is not Python."""
    kind = settings.get("test", "")
    if kind not in OTHER_KEYS:
        return [f'test={kind!r} on a fence that is not Python: only "file" applies']
    errors = [
        f"unknown setting {key!r} on a fence that is not Python: use "
        f"{', '.join(sorted(OTHER_KEYS[kind]))}"
        for key in settings
        if key not in OTHER_KEYS[kind]
    ]
    if kind == "file" and not _is_safe_name(settings.get("title", "")):
        errors.append('test="file" needs title="..." naming the file, e.g. "pyproject.toml"')
    return errors


def _build_examples(page: Page, fences: list[CodeExample]) -> None:
    """Make the page's examples; give each ``test="pytest"`` its files and output blocks."""
    files: dict[str, CodeExample] = {}
    used: set[int] = set()
    last_run: dict[str, Example] = {}
    titles: Counter[str] = Counter()
    for fence in fences:
        lang, settings, errors = parse_info(fence.prefix)
        where = f"{page.rel}:{fence.start_line}"
        if not lang.lower().startswith("py"):  # pytest-examples' rule: `py`, `python`, `pycon`
            errors += check_other(settings)
            target = last_run.get(settings.get("output-of", ""))
            if "output-of" in settings and target is None and not errors:
                errors.append(
                    f'output-of={settings["output-of"]!r} names no test="pytest" example '
                    "above it on this page"
                )
            page.problems += [f"{where}: {error}" for error in errors]
            if errors:
                continue
            if target is not None:
                target.outputs.append(fence)
            elif settings.get("test") == "file":
                files[settings["title"]] = fence
            continue

        kind, title = settings.get("test", "run"), settings.get("title", "")
        errors += check_settings(kind, settings)
        titles[title] += 1  # ids from titles, stable when the page is edited above
        n = titles[title]
        name = (title + (f"#{n}" if n > 1 else "")) if title else f"example-{n}"
        example = Example(page, fence, kind, settings, f"{page.rel}:{name}", errors)
        page.examples.append(example)
        if example.errors:
            continue
        if kind == "file":
            files[title] = fence
        elif kind == "pytest":
            example.files = {name: file.source for name, file in files.items()}
            used.update(file.start_line for file in files.values())
            last_run[title] = example

    page.problems += [
        f'{page.rel}:{fence.start_line}: the test="file" example {name!r} is used by no '
        'test="pytest" example after it on this page'
        for name, fence in files.items()
        if fence.start_line not in used
    ]

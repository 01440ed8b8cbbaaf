"""Rewriting pages for ``--update-examples``: one writer, at the end of the session.

A test that finds drifted output (the ``#>`` lines of a plain example, an ``output-of``
block) leaves the page alone: it sends an `Edit` (the fence's body as read, and as it should
be) in its report, so that under xdist it reaches the main process. There `PageWriter`
applies every edit of a page at once, the lowest fence first, so an edit that changes a
body's length moves no other; an edit whose body changed since it was read is not applied.
The page keeps its line endings, and each body the indentation of its fence line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from pytest_examples import CodeExample

from .pages import Page

EDIT_PROPERTY = "docs-edit"
"""The `pytest.Item.user_properties` name an edit travels under (a dict: xdist carries it)."""


@dataclass
class Edit:
    """The body of the fence on ``line`` of ``page``: as it was read, and as it should be."""

    page: str
    """The page, relative to the project root."""
    line: int
    """The fence line (1-based); the body starts on the line below."""
    old: list[str]
    new: list[str]


Record = Callable[[Edit], None]
"""Where a test sends its edits (``--update-examples``)."""


def body_edit(page: Page, fence: CodeExample, source: str) -> Edit:
    """Return the edit that gives ``fence`` the body ``source``, indented as the fence is."""
    old = page.lines[fence.start_line : fence.end_line - 1]
    opening = page.lines[fence.start_line - 1]
    pad = opening[: len(opening) - len(opening.lstrip(" \t>"))]  # spaces, tabs, "> ": as written
    new = [pad + line if line else pad.rstrip() for line in source.split("\n")[:-1]]
    return Edit(page.rel, fence.start_line, old, new)


def recorder(request: pytest.FixtureRequest) -> Record | None:
    """Return where this test sends its edits, or None unless ``--update-examples`` is on."""
    if not request.config.getoption("update_examples"):
        return None
    return lambda edit: request.node.user_properties.append((EDIT_PROPERTY, asdict(edit)))


def apply_edits(root: Path, edits: list[Edit]) -> list[str]:
    """Apply ``edits`` to the pages under ``root``, each page written once; say what was done."""
    done: list[str] = []
    for page in sorted({edit.page for edit in edits}):
        path = root / page
        text = path.read_bytes().decode("utf-8")
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.replace("\r\n", "\n").split("\n")
        said: list[str] = []
        for edit in sorted((e for e in edits if e.page == page), key=lambda e: -e.line):
            body = slice(edit.line, edit.line + len(edit.old))
            if lines[body] == edit.old:
                lines[body] = edit.new
                said.append(f"{page}:{edit.line}: rewritten")
            else:
                said.append(f"{page}:{edit.line}: not rewritten, the page changed meanwhile")
        path.write_bytes(newline.join(lines).encode("utf-8"))
        done += reversed(said)
    return done


class PageWriter:
    """Collects the edits tests send in their reports and applies them when the session ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.edits: list[Edit] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the edits a test sent along in its report."""
        if report.when == "call":
            sent = [value for name, value in report.user_properties if name == EDIT_PROPERTY]
            self.edits += [Edit(**value) for value in sent if isinstance(value, dict)]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Rewrite the pages, in the main process only (not in an xdist worker)."""
        if not self.edits or hasattr(session.config, "workerinput"):
            return
        done = apply_edits(self.root, self.edits)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("\n  ".join([f"docs: {len(done)} fences to rewrite", *done]))

"""The guide's examples, checked: one test per page (its fences) and one per example."""

from __future__ import annotations

from pathlib import Path

import pytest
from _harness.edits import recorder
from _harness.pages import Example, Page, pages_to_check, read_page
from _harness.running import lint, run_plain, run_pytest

PAGES = [read_page(path) for path in pages_to_check()]
EXAMPLES = [
    pytest.param(e, id=e.test_id, marks=[getattr(pytest.mark, e.settings["needs"])])
    if "needs" in e.settings
    else pytest.param(e, id=e.test_id)
    for page in PAGES
    for e in page.examples
]


@pytest.mark.parametrize("page", [pytest.param(page, id=page.rel) for page in PAGES])
def test_fences(page: Page) -> None:
    """Every fence of the page is read, closed, and has valid settings."""
    if page.problems:
        pytest.fail("\n".join(page.problems), pytrace=False)


@pytest.mark.parametrize("example", EXAMPLES)
def test_example(
    example: Example,
    example_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Run, or lint, one example as its fence says."""
    if example.errors:
        pytest.fail("\n".join(f"{example.where}: {e}" for e in example.errors), pytrace=False)
    if example.kind == "skip":
        pytest.skip(f"{example.where}: {example.settings['reason']}")
    elif example.kind == "run":
        run_plain(example, request, example_dir, monkeypatch, recorder(request))
    elif example.kind == "pytest":
        pytester = request.getfixturevalue("pytester")
        run_pytest(example, pytester, monkeypatch, recorder(request))
    else:
        lint(example)

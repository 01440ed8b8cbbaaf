"""The guide's examples, checked: one test per page (its fences) and one per example."""

from __future__ import annotations

from pathlib import Path

import pytest
from _harness import (
    UPDATE_PROPERTY,
    Example,
    OutputUpdate,
    Page,
    configure,
    example_param,
    fail_if_invalid,
    lint,
    read_pages,
    run_plain,
    run_pytest,
)
from pytest_examples import EvalExample

PAGES = read_pages()


@pytest.mark.parametrize("page", [pytest.param(page, id=page.rel) for page in PAGES])
def test_fences(page: Page) -> None:
    """Every Python fence of the page is found by pytest-examples, and every fence is valid."""
    if page.problems:
        pytest.fail("\n".join(page.problems), pytrace=False)


@pytest.mark.parametrize("example", [example_param(e) for page in PAGES for e in page.examples])
def test_example(
    example: Example,
    eval_example: EvalExample,
    example_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Run, or lint, one example as its fence says."""
    fail_if_invalid(example)
    configure(eval_example)
    if example.kind == "skip":
        pytest.skip(f"{example.where}: {example.settings['reason']}")
    elif example.kind == "run":
        run_plain(example, eval_example, monkeypatch, update=eval_example.update_examples)
    elif example.kind == "pytest":
        pytester = request.getfixturevalue("pytester")
        record = None
        if eval_example.update_examples:

            def record(update: OutputUpdate) -> None:
                request.node.user_properties.append((UPDATE_PROPERTY, update.to_json()))

        run_pytest(example, pytester, monkeypatch, record)
    else:
        lint(example)

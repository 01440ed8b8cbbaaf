"""Every test the Guarantees page cites as proof exists, under the name the page gives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "explanation" / "guarantees.md"
CITATION = re.compile(r"`((?:tests/[\w/]+\.py)?(?:::\w+)?)`")


def cited_tests() -> list[tuple[str, str | None]]:
    """Return (file, test name or None) for each citation; ``::name`` reuses the last file."""
    cited: list[tuple[str, str | None]] = []
    last_file = ""
    for row in PAGE.read_text(encoding="utf-8").splitlines():
        if not row.startswith("|"):
            continue
        for citation in CITATION.findall(row):
            if not citation:
                continue
            file, _, name = citation.partition("::")
            last_file = file or last_file
            cited.append((last_file, name or None))
    return cited


def test_the_page_cites_tests() -> None:
    assert len(cited_tests()) > 20


def test_every_cited_test_exists() -> None:
    missing = []
    for file, name in cited_tests():
        path = ROOT / file
        if not path.is_file():
            missing.append(file)
            continue
        if name is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if name not in defined:
            missing.append(f"{file}::{name}")
    assert not missing, f"{PAGE.name} cites tests that do not exist: {missing}"

"""The guide stays buildable by Zensical, the successor Material's authors build on MkDocs' config.

Zensical reads ``mkdocs.yml`` as it is. It writes ``site/`` and ``.cache/`` into the directory
it runs in and has no option to put them elsewhere, so it builds a copy of the guide's
sources in a temporary directory and the working tree stays untouched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("mkdocs.yml", "docs", "src", "benchmarks/results")
"""What the build reads: the config, the pages, the API reference's code, included tables."""


def test_zensical_builds_the_guide(tmp_path: Path) -> None:
    here = str(Path(sys.executable).parent)  # the virtualenv's scripts, when run from one
    zensical = shutil.which("zensical", path=here) or shutil.which("zensical")
    if zensical is None:
        pytest.skip("zensical is not installed (dependency group 'dev')")
    for source in SOURCES:
        origin, copy = ROOT / source, tmp_path / source
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.tmp")
            shutil.copytree(origin, copy, ignore=ignore)
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, copy)
    done = subprocess.run(
        [zensical, "build", "--strict"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"zensical build --strict failed:\n{output}"
    site = tmp_path / "site"
    pages = sorted(p.relative_to(tmp_path / "docs") for p in (tmp_path / "docs").rglob("*.md"))
    for page in pages:
        if any(part.startswith(("_", ".")) for part in page.parts):
            continue
        built = site / page.with_suffix("") / "index.html"
        if page.stem == "index":
            built = site / page.parent / "index.html"
        assert built.is_file(), f"Zensical built no page for docs/{page}:\n{output}"
    assert (site / "assets" / "mermaid" / "mermaid.min.js").is_file(), output
    assert 'class="mermaid"' in (site / "how-to" / "parallel" / "index.html").read_text()

"""The built site in headless Chromium: pages render, search finds, code copies, no errors.

Needs Debian's chromium (``apt-get install chromium``) or ``PLUGIN_KV_CHROMIUM`` pointing at
another Chromium; skipped without it, unless ``PLUGIN_KV_REQUIRE_BROWSER=1``. Playwright never
downloads a browser here. Screenshots go to ``site-screenshots/`` at the repository root.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "site-screenshots"
CHROMIUM = Path(os.environ.get("PLUGIN_KV_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
COPY_BUTTON = "button[data-md-type='copy'], button.md-clipboard"  # Material 9.7+, older

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    """Skip (or fail, with PLUGIN_KV_REQUIRE_BROWSER=1) when no browser can be driven."""
    __tracebackhide__ = True
    problem = None
    if not CHROMIUM.is_file():
        problem = f"{CHROMIUM} not found: apt-get install chromium, or set PLUGIN_KV_CHROMIUM"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (dependency group 'docs')"
    if problem is None:
        return
    if os.environ.get("PLUGIN_KV_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser check required but {problem}", pytrace=False)
    pytest.skip(f"browser check: {problem}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Build the site with ``mkdocs build --strict`` and serve it on a free local port."""
    _require_browser()
    site = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}", pytrace=False)
    handler = partial(_QuietHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            thread.join()


@pytest.fixture(scope="module")
def browser(site_url: str) -> Iterator[Browser]:
    """Start headless Chromium, never a downloaded one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@dataclass
class Visit:
    """A browser tab on the site, and the errors its pages reported."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    def open(self, path: str = "") -> None:
        """Load a page of the site."""
        response = self.page.goto(self.base + path)
        assert response is not None
        assert response.ok, f"{path or '/'}: HTTP {response.status}"

    def assert_no_errors(self) -> None:
        """Check that no page logged an error to the console."""
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture
def visit(browser: Browser, site_url: str, request: pytest.FixtureRequest) -> Iterator[Visit]:
    """Open a tab that records console errors; save a screenshot of it afterwards."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    visit = Visit(page, site_url)
    page.on("console", lambda msg: visit.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: visit.errors.append(str(exc)))
    try:
        yield visit
    finally:
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
        context.close()


def test_home_page_renders(visit: Visit) -> None:
    visit.open()
    assert "plugin-kv" in visit.page.title()
    assert visit.page.locator("article h1").first.inner_text().strip()
    assert visit.page.locator("nav.md-nav--primary").get_by_text("Tutorial").count() >= 1
    visit.assert_no_errors()


def test_tutorial_renders(visit: Visit) -> None:
    visit.open("tutorial/from-11-to-3/")
    assert visit.page.locator("article h1").first.inner_text().strip()
    assert visit.page.title().endswith(" - plugin-kv")
    assert visit.page.locator("article pre code").count() >= 1
    visit.assert_no_errors()


def test_search_finds_the_fixture(visit: Visit) -> None:
    visit.open()
    search = visit.page.locator("input.md-search__input")
    search.click()
    search.press_sequentially("kv_isolated_plugin", delay=20)
    results = visit.page.locator(".md-search-result__item")
    results.first.wait_for(state="visible")
    assert "kv_isolated_plugin" in results.first.inner_text()
    visit.assert_no_errors()


def test_copy_button_copies_the_code(visit: Visit) -> None:
    visit.open("tutorial/from-11-to-3/")
    block = visit.page.locator("article div.highlight").first
    code = block.locator("pre > code").inner_text()
    block.hover()
    block.locator(COPY_BUTTON).click()
    visit.page.locator(".md-dialog").get_by_text("Copied").wait_for(state="visible")
    copied = visit.page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == code.strip()
    visit.assert_no_errors()

"""The built site in headless Chromium: pages render, search finds, code copies, no errors.

Every page in the nav of ``mkdocs.yml`` is opened in a 1280 px wide window: it must load, log
no console error, ask no other host for anything, draw each of its Mermaid diagrams as an
SVG, and have no code block or table that scrolls sideways.

Needs Debian's chromium (``apt-get install chromium``) or ``PLUGIN_KV_CHROMIUM`` pointing at
another Chromium; skipped without it, unless ``PLUGIN_KV_REQUIRE_BROWSER=1``. Playwright never
downloads a browser here. Screenshots go to ``site-screenshots/`` at the repository root.
"""

from __future__ import annotations

import http.server
import importlib.resources
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from mkdocs.utils.yaml import yaml_load

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MERMAID_JS = DOCS / "assets" / "mermaid" / "mermaid.min.js"
MERMAID_VERSION = "11.17.2"
"""The vendored Mermaid (npm ``mermaid``); Material loads the same major from a CDN without it."""
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


def _nav_pages(nav: object) -> list[str]:
    """Return the Markdown paths of a MkDocs nav, in order, however deeply it nests."""
    if isinstance(nav, str):
        return [] if "://" in nav else [nav]
    if isinstance(nav, list):
        return [page for entry in nav for page in _nav_pages(entry)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    raise TypeError(f"unexpected entry in the nav of mkdocs.yml: {nav!r}")


def _url_of(page: str) -> str:
    """Return the site path MkDocs gives a page (directory URLs): how-to/x.md -> how-to/x/."""
    stem = page.removesuffix(".md")
    if stem == "index" or stem.endswith("/index"):
        return stem.removesuffix("index")
    return stem + "/"


with (ROOT / "mkdocs.yml").open() as config:
    NAV_PAGES = _nav_pages(yaml_load(config)["nav"])
SIDEWAYS_JS = """() => [...document.querySelectorAll(
    'article pre > code, article .md-typeset__scrollwrap')]
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), ''))"""
"""The longest line of each visible code block or table that scrolls sideways."""
MERMAID_FENCE = re.compile(r"^ {0,3}```+\s*mermaid\b", re.MULTILINE)
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)
"""A whole file included by pymdownx.snippets (its base path is the project's root)."""


def _page_source(path: str) -> str:
    """Return a page's Markdown with the files it includes put in, as the build does."""
    text = (DOCS / path).read_text()
    return SNIPPET.sub(lambda found: (ROOT / found.group(1)).read_text(), text)


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
    elsewhere: list[str] = field(default_factory=list)
    """Requests to any host but the local site, which were refused."""

    def open(self, path: str = "") -> None:
        """Load a page of the site."""
        response = self.page.goto(self.base + path)
        assert response is not None
        assert response.ok, f"{path or '/'}: HTTP {response.status}"

    def assert_no_errors(self) -> None:
        """Check that no page logged an error to the console or asked another host."""
        assert self.errors == [], f"console errors: {self.errors}"
        assert self.elsewhere == [], f"requests to other hosts: {self.elsewhere}"


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
    local = urlsplit(site_url).netloc

    def refuse_other_hosts(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != local:
            visit.elsewhere.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", refuse_other_hosts)
    # Material draws each diagram into a closed shadow root; open it, so the test can see the SVG.
    context.add_init_script(
        "const attach = Element.prototype.attachShadow;"
        "Element.prototype.attachShadow = function (init) {"
        " return attach.call(this, { ...init, mode: 'open' }); };"
    )
    try:
        yield visit
    finally:
        SCREENSHOTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w\[\].-]+", "-", request.node.name)  # how-to/x.md: one file
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        context.close()


def test_home_page_renders(visit: Visit) -> None:
    visit.open()
    assert "plugin-kv" in visit.page.title()
    assert visit.page.locator("article h1").first.inner_text().strip()
    assert visit.page.locator("nav.md-nav--primary").get_by_text("Tutorial").count() >= 1
    visit.assert_no_errors()


FOLD: ViewportSize = {"width": 1280, "height": 800}
DOORS = ("Use plugin-kv's store", "You have your own store")
"""The home page's two ways in, each an h2 that must show on its first screen."""


def test_home_page_shows_both_doors_above_the_fold(visit: Visit) -> None:
    visit.page.set_viewport_size(FOLD)
    visit.open()
    for door in DOORS:
        heading = visit.page.locator("article h2").filter(has_text=door)
        assert heading.count() == 1, f"the home page has no heading {door!r}"
        box = heading.bounding_box()
        assert box is not None, f"{door!r} is not shown"
        top, bottom = box["y"], box["y"] + box["height"]
        assert top >= 0, f"{door!r} starts at {top:.0f} px, above the page"
        assert bottom <= FOLD["height"], (
            f"{door!r} ends at {bottom:.0f} px, below the fold of a"
            f" {FOLD['width']}x{FOLD['height']} window"
        )
        # The door's example, whole, on the first screen too.
        door_heading = visit.page.locator("h2", has_text=door)
        example = visit.page.locator("article .grid > div").filter(has=door_heading).locator("pre")
        example_box = example.first.bounding_box()
        assert example_box is not None, f"{door!r} shows no example"
        example_bottom = example_box["y"] + example_box["height"]
        assert example_bottom <= FOLD["height"], (
            f"the example of {door!r} ends at {example_bottom:.0f} px, below the fold"
        )
    SCREENSHOTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(SCREENSHOTS / "home-page-first-screen-1280x800.png"))
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


def test_every_page_is_in_the_nav() -> None:
    on_disk = sorted(
        str(path.relative_to(DOCS))
        for path in DOCS.rglob("*.md")
        if not any(part.startswith((".", "_")) for part in path.relative_to(DOCS).parts)
    )
    assert sorted(NAV_PAGES) == on_disk, "add each page to the nav of mkdocs.yml"


@pytest.mark.parametrize("path", NAV_PAGES)
def test_page_renders_with_its_diagrams(visit: Visit, path: str) -> None:
    diagrams = len(MERMAID_FENCE.findall(_page_source(path)))
    visit.open(_url_of(path))
    assert visit.page.locator("article h1").first.inner_text().strip()
    drawn = visit.page.locator("article div.mermaid")
    if diagrams:
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        try:
            drawn.nth(diagrams - 1).locator("svg").first.wait_for(state="attached")
        except PlaywrightTimeoutError:
            pytest.fail(
                f"{path}: {diagrams} Mermaid fences, {drawn.count()} drawn in time;"
                f" console errors: {visit.errors}; requests to other hosts: {visit.elsewhere}",
                pytrace=False,
            )
    assert drawn.count() == diagrams, f"{path}: {diagrams} Mermaid fences, {drawn.count()} drawn"
    assert visit.page.locator("article pre.mermaid").count() == 0, "a diagram was not drawn"
    for n in range(diagrams):
        svg = drawn.nth(n).locator("svg").first
        assert svg.get_attribute("aria-roledescription"), f"{path}: diagram {n + 1} is no diagram"
        text = svg.text_content() or ""
        assert "Syntax error" not in text, f"{path}: diagram {n + 1} does not parse"
        box = svg.bounding_box()
        assert box is not None, f"{path}: diagram {n + 1} is not shown"
        assert box["width"] > 100, f"{path}: diagram {n + 1} is {box['width']} px wide"
        assert box["height"] > 100, f"{path}: diagram {n + 1} is {box['height']} px high"
    sideways = visit.page.evaluate(SIDEWAYS_JS)
    assert sideways == [], f"{path}: blocks scroll sideways at 1280 px, longest lines: {sideways}"
    visit.assert_no_errors()


def test_vendored_mermaid_is_the_major_material_asks_for() -> None:
    """Material fetches ``mermaid@<major>`` from a CDN when the site does not provide one."""
    scripts = Path(str(importlib.resources.files("material"))) / "templates/assets/javascripts"
    bundles = list(scripts.glob("bundle.*.min.js"))
    asked = {m for b in bundles for m in re.findall(r"mermaid@(\d+)/", b.read_text())}
    assert asked, "no mermaid@<major> URL in Material's bundle: check how it loads Mermaid now"
    assert f'version:"{MERMAID_VERSION}"' in MERMAID_JS.read_text(), MERMAID_JS
    assert asked == {MERMAID_VERSION.split(".")[0]}, (
        f"Material asks for mermaid@{asked}, the site serves {MERMAID_VERSION}: vendor that"
        " major's dist/mermaid.min.js and LICENSE from npm into docs/assets/mermaid/"
    )

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
``needs="postgres"`` (skip without a server, unless PLUGIN_KV_REQUIRE_POSTGRES=1; also
``"mariadb"`` and ``"redis"``, with their own variables: see `plugin_kv_dev.services`),
``lint="false"``. A non-Python fence ```` ```text {output-of="test_leaky.py"} ```` lists lines
the last run of that file must print, in order, each a whole line of the real output once
run-to-run details (temporary paths, durations, process tokens, seeds, pids) are replaced by
stable stand-ins (see `output`); ``--update-examples`` rewrites such blocks from a real run.
Settings are read from the raw fence line, with their case; an unknown one fails the example.

pytest-examples finds the examples; markdown-it-py, a real Markdown parser, counts the fences
again, so a fence pytest-examples could not read fails the page instead of vanishing.

The harness has two parts. Reading, pure functions with direct unit tests: `pages` (pages,
fences, settings, outcomes, output blocks) and `output` (stand-ins, excerpts). Running:
`running` (plain examples, whole pytest files, ruff with the project's ``pyproject.toml``).
"""

from __future__ import annotations

from .pages import ROOT, Example, Page, pages_to_check, read_pages
from .running import (
    UPDATE_PROPERTY,
    OutputUpdate,
    apply_updates,
    configure,
    example_param,
    fail_if_invalid,
    lint,
    run_plain,
    run_pytest,
)

__all__ = [
    "ROOT",
    "UPDATE_PROPERTY",
    "Example",
    "OutputUpdate",
    "Page",
    "apply_updates",
    "configure",
    "example_param",
    "fail_if_invalid",
    "lint",
    "pages_to_check",
    "read_pages",
    "run_plain",
    "run_pytest",
]

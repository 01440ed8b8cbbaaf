"""The docs harness as a whole: ``pytest docs`` run by pytester on small throwaway pages.

Only what a whole run shows is tested here; the reading half has direct tests in
``test_reading.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from textwrap import dedent

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HARNESS_FILES = ("conftest.py", "test_docs.py")

PYPROJECT = """\
[tool.pytest.ini_options]
addopts = ["-p", "pytester", "--strict-markers", "--strict-config", "-ra",
           "-p", "no:randomly", "-p", "no:cacheprovider"]
asyncio_mode = "strict"
asyncio_default_fixture_loop_scope = "function"
asyncio_default_test_loop_scope = "function"
filterwarnings = ["error"]
markers = ["postgres: needs PostgreSQL"]
"""

SUMMARY = "========================= 1 failed, 2 passed in 0.12s =========================="

LEAKY_PAGE = """\
# Leaky

```py {title="conftest.py" test="file"}
import pytest

STORE: dict[str, int] = {}


@pytest.fixture
def store() -> dict[str, int]:
    return STORE
```

```py {title="test_leaky.py" test="pytest" outcome="failed=1 passed=2"}
def test_one(store):
    store["a"] = 1


def test_two(store):
    store["b"] = 2


def test_count(store):
    assert len(store) == 0, f"found {len(store)}"
```

```text {output-of="test_leaky.py"}
E       AssertionError: found 2
FAILED test_leaky.py::test_count - AssertionError: found 2
========================= 1 failed, 2 passed in 0.12s ==========================
```
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """Return a throwaway project holding a copy of the harness in ``docs/``."""
    pytester.makepyprojecttoml(PYPROJECT)
    docs = pytester.mkdir("docs")
    for name in HARNESS_FILES:
        shutil.copy(DOCS / name, docs / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(DOCS / "_harness", docs / "_harness", ignore=ignore)
    shutil.copytree(ROOT / "plugin_kv_dev", pytester.path / "plugin_kv_dev", ignore=ignore)
    return pytester


def run_docs(pytester: pytest.Pytester, page: str, *args: str) -> pytest.RunResult:
    """Write ``docs/page.md`` and run ``pytest docs`` on it in a subprocess."""
    (pytester.path / "docs" / "page.md").write_text(dedent(page), "utf-8")
    return pytester.runpytest_subprocess("docs", *args)


def test_passing_examples_pass(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```py
    print(1 + 1)
    #> 2
    ```

    ```python {title="hello.py"}
    print("hello")
    #> hello
    ```
    """
    result = run_docs(project, page, "-v")
    result.stdout.fnmatch_lines(
        [
            "*test_fences?docs/page.md? PASSED*",
            "*test_example?docs/page.md:example-1? PASSED*",
            "*test_example?docs/page.md:hello.py? PASSED*",
        ]
    )
    result.assert_outcomes(passed=3)


def test_failing_example_is_a_failure_naming_file_and_line(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```py {title="boom.py"}
    def ratio() -> float:
        return 1 / 0


    print(ratio())
    ```
    """
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(
        [
            "docs/page.md:5: example docs/page.md:boom.py raised ZeroDivisionError: *by zero",
            "  docs/page.md:8 in <module>",
            "      print(ratio())",
            "  docs/page.md:5 in ratio",
            "      return 1 / 0",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.assert_outcomes(failed=1, passed=1)


def test_failing_assert_shows_the_values(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```py
    found = 11
    assert found == 3
    ```
    """
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(
        ["docs/page.md:5: example docs/page.md:example-1 raised AssertionError: assert 11 == 3"]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.assert_outcomes(failed=1, passed=1)


def test_wrong_print_line_fails(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```py
    print(1 + 1)
    #> 3
    ```
    """
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(["*Print output changed code:*", "*-#> 3", "*+#> 2"])
    result.assert_outcomes(failed=1, passed=1)


def test_update_examples_rewrites_print_lines(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```py
    print(1 + 1)
    #> 3
    ```
    """
    run_docs(project, page, "--update-examples").assert_outcomes(passed=2)
    assert "#> 2\n" in (project.path / "docs" / "page.md").read_text()
    result = project.runpytest_subprocess("docs")
    result.assert_outcomes(passed=2)


DRIFTED_PRINTS = """\
# Page

```py {title="one.py"}
print("one")
#> one, as it printed long ago
#> over two lines
```

!!! note "In an admonition"
    ```py {title="two.py"}
    import asyncio


    async def main() -> None:
        print("two", [1, 2])
        #> 2


    asyncio.run(main())
    ```

```py {title="three.py"}
print([f"item number {n}" for n in range(7)])
#> []
```

```py {title="four.py"}
print(4)
```
"""

RESTORED_PRINTS = """\
# Page

```py {title="one.py"}
print("one")
#> one
```

!!! note "In an admonition"
    ```py {title="two.py"}
    import asyncio


    async def main() -> None:
        print("two", [1, 2])
        #> two [1, 2]


    asyncio.run(main())
    ```

```py {title="three.py"}
print([f"item number {n}" for n in range(7)])
\"\"\"
[
    'item number 0',
    'item number 1',
    'item number 2',
    'item number 3',
    'item number 4',
    'item number 5',
    'item number 6',
]
\"\"\"
```

```py {title="four.py"}
print(4)
#> 4
```
"""


def test_update_examples_restores_drifted_print_lines_under_xdist(
    project: pytest.Pytester,
) -> None:
    # four examples on one page, each with #> lines of another length than the truth
    result = run_docs(project, DRIFTED_PRINTS, "-n", "2", "--update-examples")
    result.assert_outcomes(passed=5)
    assert (project.path / "docs" / "page.md").read_text("utf-8") == RESTORED_PRINTS
    project.runpytest_subprocess("docs", "-n", "2").assert_outcomes(passed=5)


def test_update_examples_keeps_line_endings_indentation_and_blockquotes(
    project: pytest.Pytester,
) -> None:
    def windows_with_tabs(page: str, shown: str) -> bytes:
        """Windows line endings, the admonition's body indented by a tab, not spaces, and
        one more example in a blockquote, with a blank line in its body."""
        admonition, three, rest = page.partition('```py {title="three.py"}')
        quoted = f'\n> ```py {{title="five.py"}}\n> x = 5\n>\n> print(x)\n> #> {shown}\n> ```\n'
        page = admonition.replace("\n    ", "\n\t") + three + rest + quoted
        return page.replace("\n", "\r\n").encode()

    (project.path / "docs" / "page.md").write_bytes(windows_with_tabs(DRIFTED_PRINTS, "five"))
    result = project.runpytest_subprocess("docs", "-n", "2", "--update-examples")
    result.assert_outcomes(passed=6)
    restored = windows_with_tabs(RESTORED_PRINTS, "5")
    assert b"\t```py" in restored
    assert (project.path / "docs" / "page.md").read_bytes() == restored
    project.runpytest_subprocess("docs", "-n", "2").assert_outcomes(passed=6)


def test_lint_failure_names_the_page_line(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```py
    import os

    print(1)
    #> 1
    ```
    """
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(["docs/page.md:4:8: F401 *`os` imported but unused"])
    result.assert_outcomes(failed=1, passed=1)


def test_lint_false_skips_ruff(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```py {lint="false"}
    import os

    print(1)
    #> 1
    ```
    """
    run_docs(project, page).assert_outcomes(passed=2)


def test_unknown_setting_fails(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```py {tilte="x.py"}
    print(1)
    #> 1
    ```
    """
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(["docs/page.md:3: unknown setting 'tilte' for test='run': *"])
    result.assert_outcomes(failed=1, passed=1)


def test_skip_needs_a_reason(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```pycon {test="skip"}
    >>> 1 + 1
    ```

    ```pycon {test="skip" reason="an interactive session"}
    >>> 1 + 1
    ```
    """
    result = run_docs(project, page)
    result.stdout.fnmatch_lines_random(
        [
            'docs/page.md:3: test="skip" needs reason="..." saying why the example is not run',
            "SKIPPED [[]1[]] docs/test_docs.py:*: docs/page.md:7: an interactive session",
        ]
    )
    result.assert_outcomes(failed=1, passed=1, skipped=1)


def test_pytest_example_with_outcome_and_output_passes(project: pytest.Pytester) -> None:
    result = run_docs(project, LEAKY_PAGE, "-v")
    result.stdout.fnmatch_lines(
        [
            "*test_example?docs/page.md:conftest.py? PASSED*",
            "*test_example?docs/page.md:test_leaky.py? PASSED*",
        ]
    )
    result.assert_outcomes(passed=3)


def test_declared_outcome_that_does_not_match_fails(project: pytest.Pytester) -> None:
    page = LEAKY_PAGE.replace('outcome="failed=1 passed=2"', 'outcome="passed=3"')
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(
        [
            "docs/page.md:14: pytest -p no:randomly -p no:cacheprovider test_leaky.py does not"
            " match outcome='passed=3':",
            "--- output of the run ---",
        ]
    )
    result.assert_outcomes(failed=1, passed=2)


def test_failing_run_without_outcome_fails(project: pytest.Pytester) -> None:
    page = LEAKY_PAGE.replace(' outcome="failed=1 passed=2"', "")
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(
        ["docs/page.md:14: pytest * did not pass (exit code 1); if it should fail, say outcome=*"]
    )
    result.assert_outcomes(failed=1, passed=2)


def test_output_line_not_in_the_run_fails(project: pytest.Pytester) -> None:
    page = LEAKY_PAGE.replace("found 2\nFAILED", "found 3\nFAILED")
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(
        [
            "docs/page.md:28: this line of an output-of='test_leaky.py' block is not in the"
            " run's output *: 'E       AssertionError: found 3'",
            "pytest docs/ --update-examples rewrites the block from a real run",
            "--- output of the run, with stand-ins ---",
        ]
    )
    result.assert_outcomes(failed=1, passed=2)


def test_shown_output_is_a_terminals_also_on_ci(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With CI set, pytest prints summary lines whole; a reader's terminal cuts them at 80.
    message = "found 2 keys, which is more than the none this test expects to find"
    shown = "E       AssertionError: found 2\nFAILED test_leaky.py::test_count - AssertionError"
    page = LEAKY_PAGE.replace('f"found {len(store)}"', f'"{message}"').replace(
        shown + ": found 2",
        f"E       AssertionError: {message}\n"
        "FAILED test_leaky.py::test_count - AssertionError: found 2 keys, which is mor...",
    )
    assert "which is mor..." in page
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("BUILD_NUMBER", "7")
    result = run_docs(project, page, "-v")
    result.stdout.fnmatch_lines(["*test_example?docs/page.md:test_leaky.py? PASSED*"])
    result.assert_outcomes(passed=3)


def test_a_wildcard_is_not_a_pattern(project: pytest.Pytester) -> None:
    page = LEAKY_PAGE.replace(SUMMARY, "*1 failed*")
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(["docs/page.md:30: this line of an output-of=* '*1 failed*'"])
    result.assert_outcomes(failed=1, passed=2)


def test_update_examples_restores_an_output_line_edited_by_hand(project: pytest.Pytester) -> None:
    page = (
        LEAKY_PAGE.replace("found 2\nFAILED", "found 3\nFAILED")
        .replace(SUMMARY, "1 failed, 2 passed")  # shortened by hand
        .replace("```text {output-of", "!!! example\n    ```text {output-of")
    )
    lines = page.split("\n")
    start = lines.index("!!! example")
    lines[start + 2 : start + 6] = ["    " + line for line in lines[start + 2 : start + 6]]
    result = run_docs(project, "\n".join(lines), "--update-examples")
    result.stdout.fnmatch_lines(["docs: 1 fences to rewrite", "  docs/page.md:28: rewritten"])
    result.assert_outcomes(passed=3)
    text = (project.path / "docs" / "page.md").read_text("utf-8")
    assert text.endswith(
        "    E       AssertionError: found 2\n"
        "    FAILED test_leaky.py::test_count - AssertionError: found 2\n"
        "    ========================= 1 failed, 2 passed in 0.12s ==========================\n"
        "    ```\n"
    )
    project.runpytest_subprocess("docs").assert_outcomes(passed=3)


def test_update_examples_reports_a_line_it_cannot_place(project: pytest.Pytester) -> None:
    page = LEAKY_PAGE.replace(
        "E       AssertionError: found 2\n", "nothing like any line printed\n"
    )
    result = run_docs(project, page, "--update-examples")
    result.stdout.fnmatch_lines(
        [
            "docs/page.md:28: this line of an output-of=* 'nothing like any line printed'",
            "no similar line to put in its place: edit the block by hand",
        ]
    )
    result.assert_outcomes(failed=1, passed=2)
    assert "nothing like any line printed" in (project.path / "docs" / "page.md").read_text()


def test_later_file_replaces_earlier_one_and_args_are_passed(project: pytest.Pytester) -> None:
    page = (
        LEAKY_PAGE
        + """
Now clear the store after each test:

```py {title="conftest.py" test="file"}
import pytest

STORE: dict[str, int] = {}


@pytest.fixture
def store():
    yield STORE
    STORE.clear()
```

```py {title="test_leaky.py" test="pytest" args="-k 'not one'" outcome="passed=2 deselected=1"}
def test_one(store):
    store["a"] = 1


def test_two(store):
    store["b"] = 2


def test_count(store):
    assert len(store) == 0, f"found {len(store)}"
```
"""
    )
    result = run_docs(project, page, "-v")
    result.stdout.fnmatch_lines(["*test_example?docs/page.md:test_leaky.py#2? PASSED*"])
    result.assert_outcomes(passed=5)


def test_args_expand_environment_variables(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCS_SELFTEST_K", "test_two")
    page = LEAKY_PAGE.replace(
        'outcome="failed=1 passed=2"', 'args="-k $DOCS_SELFTEST_K" outcome="passed=1 deselected=2"'
    ).replace("```text {output-of", '```text {title="out" output-of')
    page = page[: page.index("```text")]
    run_docs(project, page).assert_outcomes(passed=3)


def test_needs_postgres_skips_without_a_server(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGIN_KV_TEST_POSTGRES_URL", "postgresql://kv@127.0.0.1:1/kv")
    monkeypatch.delenv("PLUGIN_KV_REQUIRE_POSTGRES", raising=False)
    page = """\
    # Page

    ```py {needs="postgres"}
    print(1)
    #> 1
    ```
    """
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED *docs/page.md:3 needs PostgreSQL: cannot reach PostgreSQL at 127.0.0.1:1 *;"
            " set PLUGIN_KV_TEST_POSTGRES_URL to use another server"
        ]
    )
    result.assert_outcomes(passed=1, skipped=1)


def test_needs_postgres_fails_when_required(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGIN_KV_TEST_POSTGRES_URL", "postgresql://kv@127.0.0.1:1/kv")
    monkeypatch.setenv("PLUGIN_KV_REQUIRE_POSTGRES", "1")
    page = """\
    # Page

    ```py {needs="postgres"}
    print(1)
    #> 1
    ```
    """
    result = run_docs(project, page)
    result.stdout.fnmatch_lines(
        [
            "docs/page.md:3 needs PostgreSQL: cannot reach PostgreSQL at 127.0.0.1:1 *"
            "PLUGIN_KV_REQUIRE_POSTGRES=1)"
        ]
    )
    result.assert_outcomes(failed=1, passed=1)


def test_examples_run_in_a_temporary_directory(project: pytest.Pytester) -> None:
    page = """\
    # Page

    ```py
    from pathlib import Path

    Path("kv.db").write_text("data")
    print(Path("kv.db").resolve().parent == Path.cwd())
    #> True
    ```
    """
    result = run_docs(project, page)
    assert not (project.path / "kv.db").exists()
    assert not (project.path / "docs" / "kv.db").exists()
    result.assert_outcomes(passed=2)


def test_readme_is_checked_and_ids_are_stable(project: pytest.Pytester) -> None:
    (project.path / "README.md").write_text("# Readme\n\n```python\nprint(1)\n#> 1\n```\n")
    page = """\
    # Page

    ```py {title="Mixed_Case.py"}
    print(1)
    #> 1
    ```

    ```py
    print(2)
    #> 2
    ```
    """
    result = run_docs(project, page, "--collect-only", "-q")
    result.stdout.fnmatch_lines_random(
        [
            "docs/test_docs.py::test_fences[[]README.md[]]",
            "docs/test_docs.py::test_fences[[]docs/page.md[]]",
            "docs/test_docs.py::test_example[[]README.md:example-1[]]",
            "docs/test_docs.py::test_example[[]docs/page.md:Mixed_Case.py[]]",
            "docs/test_docs.py::test_example[[]docs/page.md:example-1[]]",
            "5 tests collected in *",
        ]
    )


@pytest.mark.parametrize("required", ["", "1"])
def test_needs_redis_skips_without_a_server_or_fails_when_required(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, required: str
) -> None:
    monkeypatch.setenv("PLUGIN_KV_TEST_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("PLUGIN_KV_REQUIRE_REDIS", required)
    page = """\
    # Page

    ```py {needs="redis"}
    print(1)
    #> 1
    ```
    """
    project.makepyprojecttoml(
        PYPROJECT.replace('"postgres: needs PostgreSQL"', '"redis: needs Redis"')
    )
    result = run_docs(project, page)
    line = "*docs/page.md:3 needs Redis: cannot reach Redis at 127.0.0.1:1 *"
    if required:
        result.stdout.fnmatch_lines([line + "(and PLUGIN_KV_REQUIRE_REDIS=1)"])
        result.assert_outcomes(failed=1, passed=1)
    else:
        result.stdout.fnmatch_lines([line + "; set PLUGIN_KV_TEST_REDIS_URL to use another server"])
        result.assert_outcomes(passed=1, skipped=1)

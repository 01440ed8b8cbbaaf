"""The reading half of the docs harness, tested directly: fences, settings, outcomes, output."""

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
sys.path.insert(0, str(DOCS))  # the harness is a package of docs/, as `pytest docs/` sees it

from _harness.output import (  # noqa: E402
    missing_line,
    normalise,
    normalise_output,
    path_stand_ins,
    separator_line,
    update_excerpt,
)
from _harness.pages import (  # noqa: E402
    Page,
    check_settings,
    markdown_fences,
    pages_to_check,
    parse_info,
    parse_outcome,
    read_page,
)

# -- fence lines and settings ----------------------------------------------------------------


def test_parse_info_reads_language_and_settings() -> None:
    lang, settings, errors = parse_info("py {title=\"test_x.py\" test=pytest outcome='passed=1'}")
    assert (lang, settings, errors) == (
        "py",
        {"title": "test_x.py", "test": "pytest", "outcome": "passed=1"},
        [],
    )


def test_parse_info_takes_the_language_from_a_class() -> None:
    assert parse_info('{.py title="x.py"}') == ("py", {"title": "x.py"}, [])


def test_parse_info_reports_a_repeated_setting_and_bad_syntax() -> None:
    _, _, errors = parse_info('py {test="run" test="skip"}')
    assert errors == ["setting 'test' is given twice"]
    _, _, errors = parse_info('py {title="x.py" oops}')
    assert len(errors) == 1
    assert errors[0].startswith("cannot read 'oops}' in the fence line") or "oops" in errors[0]


@pytest.mark.parametrize(
    ("kind", "settings", "expected"),
    [
        ("run", {}, []),
        ("pytest", {"title": "test_x.py", "outcome": "failed=1"}, []),
        ("walk", {}, ["unknown test='walk': use one of 'run', 'pytest', 'file', 'skip'"]),
        ("skip", {}, ['test="skip" needs reason="..." saying why the example is not run']),
        ("run", {"lint": "no"}, ['lint=\'no\': use "true" or "false"']),
        (
            "run",
            {"needs": "mongodb"},
            ["needs='mongodb': use one of 'postgres', 'mariadb', 'redis'"],
        ),
        ("pytest", {"title": "test_x.py", "needs": "redis"}, []),
        (
            "file",
            {"title": "../x.py"},
            ["title '../x.py' must be a relative path inside the project"],
        ),
    ],
)
def test_check_settings(kind: str, settings: dict[str, str], expected: list[str]) -> None:
    assert check_settings(kind, settings) == expected


def test_check_settings_names_an_unknown_setting() -> None:
    (error,) = check_settings("run", {"colour": "red"})
    assert error.startswith("unknown setting 'colour' for test='run': use ")


# -- outcomes ---------------------------------------------------------------------------------


def test_parse_outcome_reads_counts() -> None:
    assert parse_outcome("failed=1 passed=2, warnings=3") == {
        "failed": 1,
        "passed": 2,
        "warnings": 3,
    }


@pytest.mark.parametrize("text", ["", "passed", "passes=2", "passed=-1"])
def test_parse_outcome_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="outcome="):
        parse_outcome(text)


# -- fences -----------------------------------------------------------------------------------


def test_markdown_fences_finds_fences_inside_admonitions_with_their_page_lines() -> None:
    text = dedent(
        """\
        # Page

        !!! note
            ```py
            print(1)
            ```

        ~~~markdown
        ```py
        shown, not run
        ```
        ~~~
        """
    )
    fences = markdown_fences(text)
    assert [(f.line, f.end_line, f.info, f.is_python) for f in fences] == [
        (4, 6, "py", True),
        (8, 12, "markdown", False),
    ]


def test_read_page_reads_output_blocks_with_their_lines(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / "page.md"
    page.write_text(
        dedent(
            """\
            # Page

            ```py {title="test_x.py" test="pytest"}
            def test_x():
                pass
            ```

            !!! example
                ```text {output-of="test_x.py"}
                test_x.py .

                ====== 1 passed in 0.12s ======
                ```
            """
        ),
        "utf-8",
    )
    read = read_page(page, tmp_path)
    assert read.problems == []
    (example,) = read.examples
    (output,) = example.outputs
    assert output.line == 9
    assert output.lines == ["test_x.py .", "====== 1 passed in 0.12s ======"]
    assert output.line_numbers == [10, 12]
    assert output.raw == ["    test_x.py .", "    ====== 1 passed in 0.12s ======"]


def test_read_page_reports_an_output_block_of_no_run(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('# Page\n\n```text {output-of="test_x.py"}\n1 passed\n```\n', "utf-8")
    (problem,) = read_page(page, tmp_path).problems
    assert problem.startswith("page.md:3: output-of='test_x.py' names no test=\"pytest\"")


# -- stand-ins --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "shown"),
    [
        ("namespace: kvt.0a1b2c3d.7.test_x", "namespace: kvt.5f3a9c1e.7.test_x"),
        ("Using --randomly-seed=31337", "Using --randomly-seed=1234"),
        ("reproduce with @seed(98765432)", "reproduce with @seed(1234)"),
        ("lease of pid 81234 expired", "lease of pid 4242 expired"),
        (
            "platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0",
            "platform linux -- Python 3.12.0, pytest-x.y.z, pluggy-x.y.z",
        ),
        ("slowest: 1.25s call test_x.py::test_x", "slowest: 0.12s call test_x.py::test_x"),
        ("kvt.notatoken.1.x and 3.5 GB", "kvt.notatoken.1.x and 3.5 GB"),
    ],
)
def test_normalise_replaces_run_to_run_details(real: str, shown: str) -> None:
    assert normalise(real) == shown


def test_normalise_redraws_separator_lines_around_the_stand_in() -> None:
    real = (
        "========================= 1 failed, 2 passed in 12.05s (0:00:12) ========================"
    )
    assert normalise(real) == separator_line("1 failed, 2 passed in 0.12s", "=")
    assert len(normalise(real)) == 80


def test_separator_line_is_drawn_as_pytest_draws_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    widths = {len(line) for line in result.outlines if line.startswith("=====")}
    assert widths == {len(separator_line("1 passed in 0.12s", "="))}


def test_paths_become_stand_ins_the_longest_first() -> None:
    paths = path_stand_ins(
        "/tmp/pytest-of-me/pytest-9/test_a0", "/tmp/pytest-of-me/pytest-9/test_a0/runpytest-0"
    )
    text = (
        "sqlite:////tmp/pytest-of-me/pytest-9/test_a0/runpytest-0/kv.sqlite3"
        " in /tmp/pytest-of-me/pytest-9/test_a0"
    )
    assert normalise_output(text, paths) == [
        "sqlite:////tmp/pytest-0/kv.sqlite3 in /home/you/project"
    ]


# -- excerpts ---------------------------------------------------------------------------------

OUTPUT = [
    "test_users.py ..F",
    "E       AssertionError: found 11",
    "E       assert 11 == 3",
    "FAILED test_users.py::test_count - AssertionError: found 11",
    "========================= 1 failed, 2 passed in 0.12s ==========================",
]


def test_missing_line_needs_every_line_whole_and_in_order() -> None:
    assert missing_line([OUTPUT[1], OUTPUT[4]], OUTPUT) is None
    assert missing_line([OUTPUT[4], OUTPUT[1]], OUTPUT) == 1
    assert missing_line(["E       assert 11 == 3", "1 failed, 2 passed in 0.12s"], OUTPUT) == 1
    assert missing_line(["*1 failed*"], OUTPUT) == 0  # no wildcards


def test_update_excerpt_keeps_found_lines_and_replaces_drifted_ones() -> None:
    block = [
        "E       AssertionError: found 12",
        "E       assert 11 == 3",
        "*1 failed, 2 passed in *",
    ]
    update = update_excerpt(block, OUTPUT)
    assert update.lines == [OUTPUT[1], OUTPUT[2], OUTPUT[4]]
    assert update.unplaced == []


def test_update_excerpt_reads_an_old_wildcard_line_with_only_star_special() -> None:
    output = ["test_x.py ..                                [100%]", "== 2 passed in 0.12s =="]
    update = update_excerpt(["test_x.py ..*[100%]", "*2 passed*"], output)
    assert update.lines == output


def test_update_excerpt_looks_only_between_the_neighbours() -> None:
    # "found 12" drifted, but its similar line comes after the next line kept: order wins
    block = ["E       AssertionError: found 12", "test_users.py ..F"]
    update = update_excerpt(block, OUTPUT)
    assert update.lines == block
    assert update.unplaced == [0]


def test_update_excerpt_reports_a_line_with_nothing_similar() -> None:
    block = ["E       assert 11 == 3", "something else entirely, long gone"]
    update = update_excerpt(block, OUTPUT)
    assert update.lines == block
    assert update.unplaced == [1]


# -- whole pages ------------------------------------------------------------------------------


def read(tmp_path: Path, text: str) -> Page:
    """Write ``docs/page.md`` under ``tmp_path`` and read it as the harness does."""
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "page.md").write_text(dedent(text), "utf-8")
    return read_page(docs / "page.md", tmp_path)


def test_settings_errors_name_page_and_line(tmp_path: Path) -> None:
    page = read(
        tmp_path,
        """\
        # Page

        ```py {test="pytset"}
        print(1)
        ```

        ```py title="x.py"
        print(1)
        ```

        ```text {output_of="x.py"}
        1
        ```
        """,
    )
    assert [(e.where, e.errors) for e in page.examples] == [
        ("docs/page.md:3", ["unknown test='pytset': use one of 'run', 'pytest', 'file', 'skip'"]),
        (
            "docs/page.md:7",
            [
                "cannot read the fence line 'py title=\"x.py\"': write settings in braces after"
                ' the language: ```py {title="x.py" test="run"}'
            ],
        ),
    ]
    (problem,) = page.problems
    assert problem.startswith("docs/page.md:11: unknown setting 'output_of' on a fence that is not")


def test_a_four_backtick_fence_that_hides_an_example_is_a_problem(tmp_path: Path) -> None:
    page = read(
        tmp_path,
        """\
        # Page

        ````markdown
        ```py {title="shown.py"}
        print(1)
        ```
        ````

        ```py
        print(2)
        ```
        """,
    )
    assert any(
        p.startswith("docs/page.md:9: pytest-examples did not find the Python fence ```py:")
        and "four-backtick" in p
        for p in page.problems
    )


def test_a_tilde_python_fence_is_a_problem(tmp_path: Path) -> None:
    page = read(tmp_path, "# Page\n\n~~~python\nprint(2)\n~~~\n")
    (problem,) = page.problems
    assert problem.startswith("docs/page.md:3: the Python fence ~~~python is never run:")
    assert page.examples == []


def test_fences_shown_in_a_tilde_block_are_not_examples(tmp_path: Path) -> None:
    page = read(
        tmp_path,
        """\
        # Page

        ~~~markdown
        ```py {title="test_x.py" test="pytest"}
        def test_x(): ...
        ```
        ~~~

        ```py
        print(2)
        ```
        """,
    )
    assert page.problems == []
    assert [(e.test_id, e.line) for e in page.examples] == [("docs/page.md:example-1", 9)]


def test_examples_in_admonitions_and_tabs_are_found(tmp_path: Path) -> None:
    page = read(
        tmp_path,
        """\
        # Page

        !!! note

            ```py
            print(1)
            ```

        === "SQLite"

            ```py
            print(2)
            ```

        ??? tip "Folded"
            ```py {test="skip" reason="shown only"}
            print(3)
            ```
        """,
    )
    assert page.problems == []
    assert [(e.line, e.kind) for e in page.examples] == [(5, "run"), (11, "run"), (16, "skip")]


def test_an_unused_file_and_an_orphan_output_are_problems(tmp_path: Path) -> None:
    page = read(
        tmp_path,
        """\
        # Page

        ```toml {title="pyproject.toml" test="file"}
        [tool.pytest.ini_options]
        ```

        ```text {output-of="test_nothing.py"}
        1 passed
        ```
        """,
    )
    assert sorted(page.problems) == [
        "docs/page.md:3: the test=\"file\" example 'pyproject.toml' is used by no"
        ' test="pytest" example after it on this page',
        "docs/page.md:7: output-of='test_nothing.py' names no test=\"pytest\" example above it"
        " on this page",
    ]


def test_files_go_to_later_runs_and_ids_count_repeated_titles(tmp_path: Path) -> None:
    page = read(
        tmp_path,
        """\
        # Page

        ```py {title="conftest.py" test="file"}
        X = 1
        ```

        ```py {title="test_x.py" test="pytest"}
        def test_x(): ...
        ```

        ```py {title="conftest.py" test="file"}
        X = 2
        ```

        ```py {title="test_x.py" test="pytest"}
        def test_x(): ...
        ```

        ```py
        print(1)
        ```
        """,
    )
    assert page.problems == []
    ids = [e.test_id for e in page.examples]
    assert ids == [
        "docs/page.md:conftest.py",
        "docs/page.md:test_x.py",
        "docs/page.md:conftest.py#2",
        "docs/page.md:test_x.py#2",
        "docs/page.md:example-1",
    ]
    assert page.examples[1].files == {"conftest.py": "X = 1\n"}
    assert page.examples[3].files == {"conftest.py": "X = 2\n"}


def test_pages_to_check_are_the_readme_then_the_docs_sorted(tmp_path: Path) -> None:
    (tmp_path / "docs" / "b").mkdir(parents=True)
    for name in ("README.md", "docs/z.md", "docs/b/a.md"):
        (tmp_path / name).write_text("# x\n", "utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in pages_to_check(tmp_path)] == [
        "README.md",
        "docs/b/a.md",
        "docs/z.md",
    ]


# -- rewriting pages (--update-examples) ------------------------------------------------------


def test_apply_updates_finds_a_block_moved_by_print_updates(tmp_path: Path) -> None:
    from _harness.running import OutputUpdate, apply_updates

    page = tmp_path / "page.md"
    page.write_text("# Page\n\n#> inserted by a print update\n\n```text\n  old 1\nkept\n```\n")
    update = OutputUpdate("page.md", [4, 5], ["  old 1", "kept"], ["  new 1", "kept"])
    assert OutputUpdate.from_json(update.to_json()) == update
    assert apply_updates(tmp_path, [update]) == ["page.md:6: output block rewritten"]
    assert (
        page.read_text()
        == "# Page\n\n#> inserted by a print update\n\n```text\n  new 1\nkept\n```\n"
    )


def test_apply_updates_leaves_a_page_whose_block_changed(tmp_path: Path) -> None:
    from _harness.running import OutputUpdate, apply_updates

    page = tmp_path / "page.md"
    page.write_text("```text\nedited meanwhile\n```\n")
    update = OutputUpdate("page.md", [2], ["old"], ["new"])
    assert apply_updates(tmp_path, [update]) == ["page.md:2: not rewritten, the page changed"]
    assert page.read_text() == "```text\nedited meanwhile\n```\n"

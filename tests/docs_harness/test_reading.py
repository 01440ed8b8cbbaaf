"""The reading half of the docs harness, tested directly: fences, settings, outcomes, output."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from _harness.edits import Edit, apply_edits, body_edit
from _harness.output import (
    missing_line,
    normalise,
    normalise_output,
    path_stand_ins,
    separator_line,
    update_excerpt,
)
from _harness.pages import (
    Page,
    check_settings,
    pages_to_check,
    parse_info,
    parse_outcome,
    read_fences,
    read_page,
    unread_fences,
)
from _harness.running import describe_error

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
    syntax = 'write settings in braces after the language: ```py {title="x.py" test="run"}'
    assert parse_info('py {title="x.py" oops}') == (
        "py",
        {"title": "x.py"},
        [f"cannot read 'oops' in the fence line: {syntax}"],
    )
    assert parse_info('py title="x.py"') == (
        "py",
        {},
        [f"cannot read the fence line 'py title=\"x.py\"': {syntax}"],
    )


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


def test_read_fences_reads_admonitions_tabs_and_long_fences_with_page_lines() -> None:
    text = dedent(
        """\
        # Page

        !!! note
            ```py
            print(1)
            ```

        === "Tab"

            ```py {title="Tab.py"}
            print(2)
            ```

        ````markdown
        ```py
        shown, not run
        ```
        ````
        """
    )
    fences = read_fences(text, Path("page.md"))
    assert [(f.start_line, f.end_line, f.prefix, f.indent, f.source) for f in fences] == [
        (4, 6, "py", 4, "print(1)\n"),
        (10, 12, 'py {title="Tab.py"}', 4, "print(2)\n"),
        (14, 18, "markdown", 0, "```py\nshown, not run\n```\n"),
    ]
    assert all(f.path == Path("page.md") for f in fences)


def test_unread_fences_names_fence_lines_outside_fences_and_unclosed_fences() -> None:
    lines = ["# Page", "", "    ```py", "    print(1)", "    ```", "", "```py", "print(2)", ""]
    page = Page(Path("page.md"), "page.md", lines)
    problems = unread_fences(page, read_fences("\n".join(lines), page.path))
    assert [problem.split(" is ")[0] for problem in problems] == [
        "page.md:3: '```py'",
        "page.md:5: '```'",
        "page.md:7: the fence '```py'",
    ]
    assert problems[0].endswith("(4 spaces under !!!, ???, ===)")
    assert problems[2] == "page.md:7: the fence '```py' is never closed"


def test_read_page_gives_a_run_its_output_blocks(tmp_path: Path) -> None:
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
    assert (output.start_line, output.indent) == (9, 4)
    assert output.source == "test_x.py .\n\n====== 1 passed in 0.12s ======\n"


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
        "1 failed, 2 passed",  # shortened by hand
    ]
    update = update_excerpt(block, OUTPUT)
    assert update.lines == [OUTPUT[1], OUTPUT[2], OUTPUT[4]]
    assert update.unplaced == []


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


def test_a_four_backtick_fence_shows_fences_as_text_and_hides_no_example(tmp_path: Path) -> None:
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
    assert page.problems == []
    assert [(e.test_id, e.code.start_line) for e in page.examples] == [
        ("docs/page.md:example-1", 9)
    ]


def test_a_tilde_python_fence_is_an_example(tmp_path: Path) -> None:
    page = read(tmp_path, "# Page\n\n~~~python\nprint(2)\n~~~\n")
    assert page.problems == []
    assert [(e.code.start_line, e.code.source) for e in page.examples] == [(3, "print(2)\n")]


def test_a_fence_read_as_indented_code_is_a_problem(tmp_path: Path) -> None:
    page = read(tmp_path, "# Page\n\nText:\n\n    ```py\n    print(2)\n    ```\n")
    assert [p.split(" is ")[0] for p in page.problems] == [
        "docs/page.md:5: '```py'",
        "docs/page.md:7: '```'",
    ]
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
    assert [(e.test_id, e.code.start_line) for e in page.examples] == [
        ("docs/page.md:example-1", 9)
    ]


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
    assert [(e.code.start_line, e.kind) for e in page.examples] == [
        (5, "run"),
        (11, "run"),
        (16, "skip"),
    ]


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


def test_edits_of_one_page_apply_together_whatever_their_length(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    text = "# Page\n\n!!! note\n    ```py\n    print(1)\n    #> 0\n    #> 0\n    ```\n\n"
    text += "```text\nold\n```\n"
    path.write_text(text, "utf-8")
    page = read_page(path, tmp_path)
    python, output = read_fences(text, path)
    edits = [body_edit(page, python, "print(1)\n#> 1\n"), body_edit(page, output, "new\n\nlines\n")]
    assert edits[0] == Edit(
        "page.md", 4, ["    print(1)", "    #> 0", "    #> 0"], ["    print(1)", "    #> 1"]
    )
    assert apply_edits(tmp_path, edits) == ["page.md:4: rewritten", "page.md:10: rewritten"]
    assert path.read_text("utf-8") == (
        "# Page\n\n!!! note\n    ```py\n    print(1)\n    #> 1\n    ```\n\n"
        "```text\nnew\n\nlines\n```\n"
    )


def test_an_edit_of_a_page_changed_meanwhile_is_not_applied(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text("```text\nold\n```\n", "utf-8")
    (fence,) = read_fences(path.read_text("utf-8"), path)
    edit = body_edit(read_page(path, tmp_path), fence, "new\n")
    path.write_text("```text\nedited meanwhile\n```\n", "utf-8")
    assert apply_edits(tmp_path, [edit]) == ["page.md:1: not rewritten, the page changed meanwhile"]
    assert path.read_text("utf-8") == "```text\nedited meanwhile\n```\n"


# -- describing a failure ---------------------------------------------------------------------


def test_describe_error_maps_the_example_files_lines_to_the_page(tmp_path: Path) -> None:
    page = read(tmp_path, "# Page\n\n```py\nx = 1\nraise ValueError(x)\n```\n")
    (example,) = page.examples
    python_file = tmp_path / "example.py"
    with pytest.raises(ValueError, match="1") as raised:
        exec(compile(example.code.source, str(python_file), "exec"), {})
    assert describe_error(raised.value, example, python_file).splitlines() == [
        "docs/page.md:5: example docs/page.md:example-1 raised ValueError: 1",
        "example traceback (most recent call last):",
        "  docs/page.md:5 in <module>",
        "      raise ValueError(x)",
    ]


def test_describe_error_places_a_syntax_error_on_the_page(tmp_path: Path) -> None:
    page = read(tmp_path, "# Page\n\n```py\nx = (\n```\n")
    (example,) = page.examples
    python_file = tmp_path / "example.py"
    with pytest.raises(SyntaxError) as raised:
        compile(example.code.source, str(python_file), "exec")
    described = describe_error(raised.value, example, python_file).splitlines()
    assert described[0].startswith("docs/page.md:4: example docs/page.md:example-1 raised ")
    assert described[-2:] == ["example traceback (most recent call last):", "  docs/page.md:4"]

"""Read the guide's fenced examples and check them: the engine behind `pytest docs/`.

Every fence whose language starts with ``py`` (in ``README.md`` and ``docs/**/*.md``) is an
example; settings ride in Material's attribute braces on the fence line, e.g.
```` ```py {title="test_leaky.py" test="pytest" outcome="failed=1 passed=2"} ````.
``docs/TESTING.md`` lists the settings and the stand-ins for the reader.

Reading, pure functions with direct unit tests: `pages` (pages, fences, settings, outcomes)
and `output` (stand-ins, excerpts). Running: `running` (plain examples, whole pytest files,
ruff). Rewriting pages for ``--update-examples``: `edits` (one writer, in the main process).
"""

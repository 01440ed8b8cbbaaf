"""What a run tells its reader: the polluters of a failed test, a forgotten kv_store override."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin_kv_dev.stores import table_conftest
from plugin_kv_dev.suites import FIXED_SUITE, LEAKY_SUITE

from .conftest import configure, dedent

FORGOTTEN = (
    "plugin-kv: the tests were handed * namespaces of kv_store (*), but nothing was ever written"
    " to them there: if your tests write to a store of their own, override the kv_store fixture"
    " to return it (see the guide's page 'Isolate tests of your own store'*"
)

# A test that cleans up after itself: it wrote to the shared namespace, but left nothing.
INNOCENT = """

@pytest.mark.asyncio
async def test_tidy(kv_service):
    await kv_service.set(NAMESPACE, "user:tmp", 1)
    await kv_service.delete(NAMESPACE, "user:tmp")
"""


def test_the_failing_test_names_the_tests_that_left_data_where_it_wrote(
    pytester: pytest.Pytester,
) -> None:
    configure(pytester)
    suite = LEAKY_SUITE.replace("async def test_count_with_prefix", "async def test_z_count")
    pytester.makepyfile(test_leaky=suite + INNOCENT)
    result = pytester.runpytest("-p", "no:randomly")  # in file order: the count runs late
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*expected 3 keys with prefix 'user:', found 11",
            "*- plugin-kv polluters -*",
            "namespace 'test' holds 8 keys that other tests left there:",
            "  5 keys by test_leaky.py::test_create_users: 'user:0', 'user:1', 'user:2', ...",
            "  3 keys by test_leaky.py::test_user_sessions: 'user:session:0', *",
        ]
    )
    output = result.stdout.str()
    assert "by test_leaky.py::test_tidy" not in output  # wrote there, left nothing
    assert "by test_leaky.py::test_z_count" not in output  # not its own polluter


def test_a_failing_test_in_a_clean_namespace_names_nobody(pytester: pytest.Pytester) -> None:
    configure(pytester)
    first = dedent(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_fails_first(kv_service):
            await kv_service.set("test", "user:x", 1)
            assert False, "fails before anyone else wrote there"
        """
    )
    pytester.makepyfile(test_a=first, test_b=LEAKY_SUITE)  # test_a runs first
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=2)
    output = result.stdout.str()
    assert output.count("- plugin-kv polluters -") == 1  # test_count_with_prefix's, not test_a's
    assert "1 key by test_a.py::test_fails_first: 'user:x'" in output


def test_polluters_are_named_on_an_own_store_that_reports_its_writes(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    configure(pytester)
    pytester.makeconftest(table_conftest(tmp_path / "table.sqlite3"))
    pytester.makepyfile(
        test_bot=dedent(
            """
            def test_karma(table, kv_isolated_plugin):
                table.set("karma", "alice", "3")  # not its namespace: a leak

            def test_reads_karma(table, kv_isolated_plugin):
                table.set("karma", "bob", "1")
                assert table.list_keys("karma") == ["bob"]
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- plugin-kv polluters -*",
            "namespace 'karma' holds 1 keys that other tests left there:",
            "  1 key by test_bot.py::test_karma: 'alice'",
        ]
    )


def test_a_forgotten_kv_store_override_is_named_once_at_the_end(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    configure(pytester)
    pytester.makeconftest(table_conftest(tmp_path / "table.sqlite3", override=False))
    suite = dedent(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_writes_its_own_store(table, kv_isolated_plugin, n):
            table.set(kv_isolated_plugin, "user:1", "Ada")
        """
    )
    pytester.makepyfile(test_bot=suite)
    for workers in ([], ["-n", "2"]):
        result = pytester.runpytest_subprocess("-p", "no:randomly", *workers)
        result.assert_outcomes(passed=4)
        result.stdout.fnmatch_lines([FORGOTTEN.replace("* namespaces", "4 namespaces")])
        assert result.stdout.str().count("nothing was ever written") == 1


def test_a_run_that_writes_through_kv_service_is_not_told(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(test_fixed=FIXED_SUITE)
    for leaks in ("warn", "off"):
        result = pytester.runpytest_subprocess("-n", "2", f"--kv-leaks={leaks}")
        result.assert_outcomes(passed=3)
        assert "nothing was ever written" not in result.stdout.str()

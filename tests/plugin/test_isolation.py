"""The fixtures isolate tests: unique names, cleanup on every outcome, the leaky suite fixed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from plugin_kv_dev.suites import FIXED_SUITE, LEAKY_SUITE

from .conftest import configure, dedent, seed, store_contents

VALID_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")


def test_a_thousand_names_are_unique_and_valid_for_hostile_test_ids(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    names_file = tmp_path / "names.jsonl"
    configure(pytester)
    pytester.makepyfile(
        test_names=dedent(
            f"""
            import json
            import pytest

            HOSTILE = [
                "brackets[0]", "slash/es\\\\back", "spaces and\\ttabs", "ünïcødé 😀",
                "x" * 500, "..", "::", "", "quote'\\"", "%_*?",
            ]

            @pytest.mark.parametrize("test_id", HOSTILE, ids=HOSTILE)
            @pytest.mark.asyncio
            async def test_names(kv_service, kv_plugin_factory, test_id):
                names = [kv_plugin_factory(label) for label in [test_id] * 50 + [""] * 49]
                names.append(kv_plugin_factory("z" * 500))
                for name in names:
                    await kv_service.set(name, "k", 1)  # the service accepts every one
                with open({str(names_file)!r}, "a") as out:
                    out.write(json.dumps(names) + "\\n")
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=10)

    names = [name for line in names_file.read_text().splitlines() for name in json.loads(line)]
    assert len(names) == 1000
    assert len(set(names)) == 1000
    bad = [name for name in names if not VALID_NAME.fullmatch(name)]
    assert bad == []
    assert any("brackets_0" in name for name in names)  # readable: the test id shows


def test_cleanup_removes_only_the_tests_own_data_whatever_the_outcome(
    pytester: pytest.Pytester, store_file: Path
) -> None:
    url = str(store_file)
    seed(url, {"keep-me": {"a": 1, "b": 2, "c": 3}})
    configure(pytester, extra=f'addopts = ["--kv-url={url}"]')
    pytester.makepyfile(
        test_outcomes=dedent(
            """
            import pytest

            @pytest.fixture
            def broken_teardown():
                yield
                raise RuntimeError("a teardown elsewhere fails")

            @pytest.fixture
            def broken_setup(kv_isolated_plugin):
                raise RuntimeError("a fixture after the namespace fails")

            @pytest.mark.asyncio
            async def test_passes(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "user:1", 1)

            @pytest.mark.asyncio
            async def test_fails(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "user:1", 1)
                assert False, "this test fails"

            @pytest.mark.asyncio
            async def test_setup_errors(kv_service, kv_isolated_plugin, broken_setup):
                pass

            @pytest.mark.asyncio
            async def test_teardown_raises(kv_service, kv_isolated_plugin, broken_teardown):
                await kv_service.set(kv_isolated_plugin, "user:1", 1)

            @pytest.mark.asyncio
            async def test_several(kv_service, kv_plugin_factory):
                for label in ("a", "b", "c"):
                    await kv_service.set(kv_plugin_factory(label), "k", label)
                raise KeyError("and fails")
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=2, errors=2)
    result.stdout.fnmatch_lines(
        ["*- plugin-kv data -*", "*kvt.*.test_fails: 1 key", "  'user:1': 1"]
    )
    assert store_contents(url) == {"keep-me": {"a": 1, "b": 2, "c": 3}}


def test_leaky_suite_finds_11_and_the_fixed_suite_passes(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(test_leaky=LEAKY_SUITE)
    leaky = pytester.runpytest("-p", "no:randomly", "test_leaky.py")
    leaky.assert_outcomes(passed=2, failed=1)
    leaky.stdout.fnmatch_lines(["*AssertionError: expected 3 keys with prefix 'user:', found 11"])

    pytester.makepyfile(test_fixed=FIXED_SUITE)
    fixed = pytester.runpytest("-p", "no:randomly", "test_fixed.py")
    fixed.assert_outcomes(passed=3)


def test_leak_check_names_the_test_the_namespace_and_the_count(
    pytester: pytest.Pytester,
) -> None:
    configure(pytester)
    pytester.makepyfile(test_leaky=LEAKY_SUITE)
    result = pytester.runpytest("-p", "no:randomly", "--kv-leaks=fail", "test_leaky.py")
    result.assert_outcomes(passed=2, failed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*test_leaky.py::test_create_users left data in sqlite:///*outside the namespaces*",
            "  namespace 'test': 5 keys: 'user:0', 'user:1', 'user:2', 'user:3', 'user:4'",
        ]
    )


def test_leak_check_warns_by_default(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(test_leaky=LEAKY_SUITE)
    # This outer suite turns warnings into errors; let the inner run show them as warnings.
    result = pytester.runpytest("-p", "no:randomly", "-W", "always::UserWarning")
    result.assert_outcomes(passed=2, failed=1, warnings=3)
    result.stdout.fnmatch_lines(
        [
            "*KVLeakWarning*test_user_sessions left data*",
            "*namespace 'test': 3 keys: 'user:session:0', 'user:session:1', 'user:session:2'",
        ]
    )


def test_leak_check_off_says_nothing(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(test_leaky=LEAKY_SUITE)
    result = pytester.runpytest("-p", "no:randomly", "--kv-leaks=off", "-W", "error")
    result.assert_outcomes(passed=2, failed=1)
    assert "KVLeakWarning" not in result.stdout.str()


def test_keep_failed_keeps_the_namespace_for_inspection(
    pytester: pytest.Pytester, store_file: Path
) -> None:
    url = str(store_file)
    configure(pytester)
    pytester.makepyfile(
        test_keep=dedent(
            """
            import pytest

            @pytest.mark.asyncio
            async def test_fails(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "evidence", {"saw": 11})
                assert False

            @pytest.mark.asyncio
            async def test_passes(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "fine", 1)
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly", f"--kv-url={url}", "--kv-keep-failed")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*kept for inspection:*", "plugin-kv: kept test_keep.py::test_fails: kvt.*.test_fails*"]
    )
    contents = store_contents(url)
    assert [data for name, data in contents.items() if name.startswith("kvt.")] == [
        {"evidence": {"saw": 11}}
    ]

    # The next run sweeps what the previous one kept: its lease ended with it.
    pytester.makepyfile(test_keep="def test_nothing(kv_service): pass")
    result = pytester.runpytest(f"--kv-url={url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugin-kv: swept 1 namespaces*kvt.*.test_fails*"])
    assert store_contents(url) == {}


def test_a_test_that_never_asks_for_kv_opens_no_store(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    url = tmp_path / "never-opened.sqlite3"
    configure(pytester)
    pytester.makepyfile(
        test_plain=dedent(
            """
            import pytest

            def test_one():
                assert 1 + 1 == 2

            @pytest.mark.asyncio
            async def test_two():
                pass
            """
        )
    )
    result = pytester.runpytest(f"--kv-url={url}")
    result.assert_outcomes(passed=2)
    assert not url.exists()


def test_namespace_from_getfixturevalue_is_cleaned_too(
    pytester: pytest.Pytester, store_file: Path
) -> None:
    url = str(store_file)
    configure(pytester)
    pytester.makepyfile(
        test_dynamic=dedent(
            """
            import pytest

            def test_dynamic(request):
                factory = request.getfixturevalue("kv_plugin_factory")
                service = request.getfixturevalue("kv_service")
                name = factory("late")
                import asyncio
                asyncio.run(service.set(name, "k", 1))
            """
        )
    )
    result = pytester.runpytest(f"--kv-url={url}")
    result.assert_outcomes(passed=1)
    assert store_contents(url) == {}


def test_cleanup_failure_is_an_error_not_silence(
    pytester: pytest.Pytester, store_file: Path
) -> None:
    configure(pytester)
    pytester.makepyfile(
        test_closed=dedent(
            """
            import pytest

            @pytest.mark.asyncio
            async def test_closes_the_service(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "k", 1)
                await kv_service.close()
            """
        )
    )
    result = pytester.runpytest(f"--kv-url={store_file}", "--kv-leaks=off")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*plugin-kv cleanup failed:*", "*could not remove namespace 'kvt.*is closed*"]
    )


def test_leak_check_blames_only_what_the_test_itself_wrote(
    pytester: pytest.Pytester, store_file: Path
) -> None:
    url = str(store_file)
    seed(url, {"test": {"old:1": 1, "old:2": 2}})  # left by someone else, earlier
    configure(pytester)
    pytester.makepyfile(
        test_blame=dedent(
            f"""
            import pytest
            from plugin_kv import KVService

            @pytest.mark.asyncio
            async def test_other_writer_meanwhile(kv_service, kv_isolated_plugin):
                # Another connection (another worker, say) writes during this test.
                async with KVService.open({url!r}) as other:
                    await other.set("test", "theirs", 1)
                await kv_service.set(kv_isolated_plugin, "mine", 1)

            @pytest.mark.asyncio
            async def test_writes_and_removes(kv_service):
                await kv_service.set("test", "temporary", 1)
                await kv_service.delete("test", "temporary")

            @pytest.mark.asyncio
            async def test_writes_into_another_tests_namespace(kv_service, kv_plugin_factory):
                await kv_service.set("kvt.someone-else.1.test_x", "k", 1)

            @pytest.mark.asyncio
            async def test_overwrites_old_data(kv_service):
                await kv_service.set("test", "old:1", "mine now")
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly", f"--kv-url={url}", "--kv-leaks=fail")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_writes_into_another_tests_namespace left data*",
            "  namespace 'kvt.someone-else.1.test_x': 1 key: 'k'",
            "*test_overwrites_old_data left data*",
            "  namespace 'test': 1 key: 'old:1'",
        ]
    )
    assert "test_other_writer_meanwhile left" not in result.stdout.str()
    assert "test_writes_and_removes left" not in result.stdout.str()


def test_a_store_that_cannot_be_opened_is_a_clear_error(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    url = tmp_path / "no-such-dir" / "kv.db"
    configure(pytester)
    pytester.makepyfile(
        test_store="def test_needs_the_store(kv_service):\n    pass\ndef test_does_not(): pass\n"
    )
    result = pytester.runpytest(f"--kv-url={url}")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*plugin-kv could not open the store for kv_service: BackendUnavailableError:"
            " cannot open SQLite store sqlite:///*/no-such-dir/kv.db: directory * does not exist",
            "(the store comes from --kv-url, the kv_url ini setting or PLUGIN_KV_URL)",
        ]
    )

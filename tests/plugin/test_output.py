"""What the plugin prints: failure snapshots, and never a password."""

from __future__ import annotations

import pytest

from .conftest import configure, dedent

SECRET = "s3cret-Pa55"


def test_a_failed_tests_report_shows_its_keys_and_values_cut_to_size(
    pytester: pytest.Pytester,
) -> None:
    configure(pytester)
    pytester.makepyfile(
        test_snapshot=dedent(
            """
            import pytest

            @pytest.mark.asyncio
            async def test_many(kv_service, kv_isolated_plugin):
                await kv_service.set_many(
                    kv_isolated_plugin, {f"user:{n:02}": {"n": n} for n in range(25)}
                )
                await kv_service.set(kv_isolated_plugin, "blob", "y" * 1000)
                assert await kv_service.count(kv_isolated_plugin, "user:") == 3

            @pytest.mark.asyncio
            async def test_two(kv_service, kv_plugin_factory):
                empty, full = kv_plugin_factory("empty"), kv_plugin_factory("full")
                await kv_service.set(full, "only", None)
                assert False
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*- plugin-kv data -*",
            "namespaces in sqlite:///*/plugin-kv.sqlite3, removed after the test:",
            "kvt.*.1.test_many: 26 keys",
            "  'blob': 'yyyy*y... [[]cut: 1,002 characters[]]",
            "  'user:00': {'n': 0}",
            "  'user:01': {'n': 1}",
            "  'user:18': {'n': 18}",
            "  ... and 6 more keys (only the first 20 shown)",
            "*- plugin-kv data -*",
            "kvt.*.test_two.empty: empty",
            "kvt.*.test_two.full: 1 key",
            "  'only': None",
        ]
    )
    assert "'user:19'" not in result.stdout.str()


def test_a_store_that_cannot_be_opened_shows_one_message_and_no_password(
    pytester: pytest.Pytester,
) -> None:
    url = f"postgresql://bot:{SECRET}@127.0.0.1:1/botdb?password={SECRET}"
    configure(pytester)
    pytester.makepyfile(test_x="def test_x(kv_service): pass\ndef test_y(): pass\n")
    result = pytester.runpytest("-p", "no:randomly", f"--kv-url={url}")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "plugin-kv: kv_service store postgresql://bot:***@127.0.0.1:1/botdb?password=***;"
            " leaks: warn",
            "*plugin-kv could not open the store for kv_service: BackendUnavailableError:*",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert SECRET not in output
    assert "During handling" not in output
    assert "no running event loop" not in output


@pytest.mark.postgres
def test_no_password_in_header_failure_warning_or_summary(pytester: pytest.Pytester) -> None:
    from urllib.parse import urlsplit, urlunsplit

    from tests.conftest import POSTGRES_URL, require_postgres

    require_postgres()
    parts = urlsplit(POSTGRES_URL)  # the server trusts this user: any password is accepted
    user = parts.username or "postgres"
    netloc = f"{user}:{SECRET}@{parts.hostname}:{parts.port or 5432}"
    url = urlunsplit(parts._replace(netloc=netloc))
    configure(pytester)
    pytester.makepyfile(
        test_pw=dedent(
            """
            import pytest

            @pytest.mark.asyncio
            async def test_fails(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "k", 1)
                assert False

            @pytest.mark.asyncio
            async def test_leaks(kv_service, kv_isolated_plugin):
                await kv_service.set("pw-test-shared", "k", 1)
                await kv_service.delete("pw-test-shared", "k")
                await kv_service.set("pw-test-shared", "left", 1)

            @pytest.mark.asyncio
            async def test_cleans_the_leak(kv_service):
                await kv_service.delete("pw-test-shared", "left")
            """
        )
    )
    result = pytester.runpytest(
        "-p", "no:randomly", f"--kv-url={url}", "--kv-keep-failed", "-W", "always::UserWarning"
    )
    result.assert_outcomes(passed=2, failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            f"plugin-kv: kv_service store postgresql://{user}:***@*; leaks: warn",
            f"namespaces in postgresql://{user}@*, kept for inspection:",
            f"*test_leaks left data in postgresql://{user}@* outside the namespaces*",
            f"plugin-kv: kept test_pw.py::test_fails: kvt.*.test_fails in postgresql://{user}@*",
        ]
    )
    assert SECRET not in result.stdout.str() + result.stderr.str()

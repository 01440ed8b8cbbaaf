"""No secret printed: the `kv_store_url` value, failure snapshots, ``kv_redact``, cleanup errors."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from plugin_kv.testing._snapshots import MASKED_NOTE

from .conftest import configure, dedent

SECRET = "s3cret-Pa55"
UNREACHABLE = f"postgresql://bot:{SECRET}@127.0.0.1:1/botdb"
"""A URL no test opens: asking for kv_store_url alone opens no store."""
MASKED = "postgresql://bot:***@127.0.0.1:1/botdb"


def shown(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("args", [[], ["-l"], ["-vv"], ["-l", "-vv", "--tb=long"]])
def test_kv_store_url_shows_its_password_masked_and_works_as_the_url(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("KV_URL_GIVEN", UNREACHABLE)
    configure(pytester)
    pytester.makepyfile(
        test_url=dedent(
            """
            import os

            def test_works_as_the_url(kv_store_url):
                assert str(kv_store_url) == os.environ["KV_URL_GIVEN"]
                assert f"{kv_store_url}" == os.environ["KV_URL_GIVEN"]
                assert kv_store_url.partition("@")[2] == "127.0.0.1:1/botdb"

            def test_differs(kv_store_url):
                url = kv_store_url
                assert kv_store_url == "other"

            def test_in_the_password(kv_store_url):
                assert "Pa55" not in kv_store_url

            def test_raises(kv_store_url):
                raise RuntimeError([kv_store_url])
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly", f"--kv-url={UNREACHABLE}", *args)
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            f"plugin-kv: kv_service store {MASKED}; leaks: warn",
            f"kv_store_url = '{MASKED}'",  # the test's arguments, in its traceback
            "E       AssertionError: assert 'postgresql:/*' == 'other'",  # cut unless -vv
            "E         - other",
            f"E         + {MASKED}",
            f"E       AssertionError: assert 'Pa55' not in '{MASKED}'",
            "E         (it is in the password, which plugin-kv masks)",
            f"E       RuntimeError: ['{MASKED}']",
        ]
    )
    if "-l" in args:
        result.stdout.fnmatch_lines([f"url *= '{MASKED}'"])
    assert SECRET not in shown(result)


def test_an_own_kv_store_url_wrapped_in_store_url_is_masked_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KV_URL_GIVEN", UNREACHABLE)
    configure(pytester)
    pytester.makeconftest(
        dedent(
            """
            import os

            import pytest

            from plugin_kv.testing import StoreURL

            @pytest.fixture
            def kv_store_url():
                return StoreURL(os.environ["KV_URL_GIVEN"])
            """
        )
    )
    pytester.makepyfile(test_url="def test_x(kv_store_url):\n    assert kv_store_url == 'x'\n")
    result = pytester.runpytest("-p", "no:randomly", "-vv")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"E         + {MASKED}"])
    assert SECRET not in shown(result)


def test_a_url_that_differs_only_in_its_password_says_so(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(
        test_url="def test_x(kv_store_url):\n    assert kv_store_url == 'postgresql://bot:x@h/d'\n"
    )
    result = pytester.runpytest("-p", "no:randomly", "--kv-url=postgresql://bot:y@h/d")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: assert 'postgresql://bot:***@h/d' == 'postgresql://bot:***@h/d'",
            "E         (the two differ in their passwords, which plugin-kv masks)",
        ]
    )


def password_url() -> str:
    """The PostgreSQL test server's URL with `SECRET` as password: it trusts the user."""
    from tests.conftest import POSTGRES_URL, require_postgres

    require_postgres()
    parts = urlsplit(POSTGRES_URL)
    netloc = f"{parts.username or 'postgres'}:{SECRET}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.postgres
def test_a_postgresql_url_with_a_password_works_and_is_never_shown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = password_url()
    user = urlsplit(url).username
    monkeypatch.setenv("KV_SECRET", SECRET)
    configure(pytester)
    pytester.makepyfile(
        test_pg=dedent(
            """
            import os

            import pytest

            from plugin_kv import KVService

            @pytest.mark.asyncio
            async def test_fails(kv_service, kv_store_url, kv_isolated_plugin):
                await kv_service.set(  # no local holds the secret: -l would show it
                    kv_isolated_plugin, "bot", {"password": os.environ["KV_SECRET"]}
                )
                async with KVService.open(kv_store_url) as kv:  # the value is the URL
                    assert await kv.count(kv_isolated_plugin) == 1
                url = kv_store_url
                assert kv_store_url == "other"
            """
        )
    )
    masked = url.replace(SECRET, "***")
    result = pytester.runpytest("-p", "no:randomly", f"--kv-url={url}", "-l", "-vv")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"plugin-kv: kv_service store {masked}; leaks: warn",
            f"E       AssertionError: assert '{masked}' == 'other'",
            f"E         + {masked}",
            f"url *= '{masked}'",
            f"namespaces in postgresql://{user}@*, removed after the test:",
            "kvt.*.test_fails: 1 key",
            "  'bot': {'password': ***}",
            f"({MASKED_NOTE})",
        ]
    )
    assert SECRET not in shown(result)


NESTED_SECRETS = """
import os

import pytest

@pytest.mark.asyncio
async def test_fails(kv_service, kv_isolated_plugin):
    secret = os.environ["KV_SECRET"]
    await kv_service.set_many(
        kv_isolated_plugin,
        {
            "DB_PASSWORD": secret,
            "user:1": {
                "name": "ann",
                "pin": secret,
                "profile": {"api_token": secret, "tokens_used": 12},
                "sessions": [{"id": 7, "Cookie": secret}, {"id": 8, "customer_ssn": secret}],
            },
        },
    )
    assert False
"""


def test_a_failure_snapshot_masks_values_under_secret_looking_keys_at_any_depth(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KV_SECRET", SECRET)
    configure(pytester)
    pytester.makepyfile(test_nested=dedent(NESTED_SECRETS))
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "kvt.*.test_fails: 2 keys",
            "  'DB_PASSWORD': ***",
            "  'user:1': {'name': 'ann', 'pin': 's3cret-Pa55', 'profile': {'api_token': ***,"
            " 'tokens_used': 12}, 'sessions': [{'id': 7, 'Cookie': ***}, {'id': 8,"
            " 'customer_ssn': 's3cret-Pa55'}]}",
            f"({MASKED_NOTE})",
        ]
    )


def test_kv_redact_adds_key_patterns(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KV_SECRET", SECRET)
    configure(pytester, extra='kv_redact = ["^pin$", "ssn"]')
    pytester.makepyfile(test_nested=dedent(NESTED_SECRETS))
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  'user:1': {'name': 'ann', 'pin': ***, 'profile': {'api_token': ***,"
            " 'tokens_used': 12}, 'sessions': [{'id': 7, 'Cookie': ***}, {'id': 8,"
            " 'customer_ssn': ***}]}",
        ]
    )
    assert SECRET not in shown(result)


def test_a_bad_kv_redact_pattern_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    configure(pytester, extra='kv_redact = ["token", "(unclosed"]')
    pytester.makepyfile(test_x="def test_x(): pass\n")
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: plugin-kv: kv_redact pattern '(unclosed' is not a valid regular expression:"
            " missing ), unterminated subpattern at position 0 (each line of kv_redact is a"
            " regular expression searched in keys, ignoring case)"
        ]
    )


def test_a_cleanup_error_from_an_own_store_shows_no_url_password(
    pytester: pytest.Pytester,
) -> None:
    configure(pytester)
    pytester.makeconftest(
        dedent(
            f"""
            import pytest

            class Broken:
                def clear(self, namespace):
                    raise ConnectionError("cannot reach {UNREACHABLE}")

            @pytest.fixture
            def kv_store():
                return Broken()
            """
        )
    )
    pytester.makepyfile(test_x="def test_x(kv_isolated_plugin): pass\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "plugin-kv cleanup failed:",
            f"could not remove namespace 'kvt.*' from *Broken:"
            f" ConnectionError: cannot reach {MASKED} (it stays in the store*",
        ]
    )
    assert SECRET not in shown(result)

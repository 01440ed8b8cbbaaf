"""Masking, as pure functions: URL passwords, the `StoreURL` value, secret-looking keys."""

from __future__ import annotations

import pprint
from pathlib import Path

import pytest

from plugin_kv import KVService
from plugin_kv.testing._redact import MASKED, SecretKeys, StoreURL, redact
from plugin_kv.testing._snapshots import MASKED_NOTE, Snapshot

URL = "postgresql://bot:s3cret@db:5432/test"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (URL, "postgresql://bot:***@db:5432/test"),
        ("postgres://:s3cret@db/test", "postgres://:***@db/test"),
        (
            "postgresql://bot@db/test?password=s3cret&x=1",
            "postgresql://bot@db/test?password=***&x=1",
        ),
        (
            "a postgresql://u:p@h/d and sqlite:///tmp/kv.db",
            "a postgresql://u:***@h/d and sqlite:///tmp/kv.db",
        ),
        ("sqlite:///tmp/a:b@c.db", "sqlite:///tmp/a:b@c.db"),  # a path, not a password
        ("postgresql://bot:p@ss:w@rd@db/test", "postgresql://bot:***@db/test"),
        ("no url at all", "no url at all"),
    ],
)
def test_redact_masks_passwords_only(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_a_store_url_shows_its_password_masked_and_works_as_the_url() -> None:
    url = StoreURL(URL)
    assert repr(url) == "'postgresql://bot:***@db:5432/test'"
    assert pprint.pformat(url) == "'postgresql://bot:***@db:5432/test'"
    assert repr([url]) == "['postgresql://bot:***@db:5432/test']"
    assert str(url) == f"{url}" == format(url) == URL
    assert type(str(url)) is str
    assert url == URL
    assert {URL: 1}[url] == 1
    assert url.startswith("postgresql://bot:s3cret@")
    assert url.partition("@")[2] == "db:5432/test"
    assert url + "?x=1" == URL + "?x=1"


@pytest.mark.asyncio
async def test_a_store_url_opens_its_store(tmp_path: Path) -> None:
    path = str(tmp_path / "kv.sqlite3")
    async with KVService.open(StoreURL(path)) as kv:
        await kv.set("p", "k", 1)
    async with KVService.open(path) as kv:
        assert await kv.get("p", "k") == 1


SECRET_LOOKING = [
    "password",
    "PASSWORD",
    "DB_PASSWORD",
    "userPassword",
    "password2",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "client_secret",
    "AWS_SECRET_ACCESS_KEY",
    "token",
    "api_token",
    "accessToken",
    "X-Auth-Token",
    "auth",
    "Authorization",
    "Cookie",
    "Set-Cookie",
    "cookies",
    "credentials",
    "api_key",
    "apiKey",
    "APIKey",
    "x-api-key",
    "apikey",
    "private_key",
    "privateKey",
    "access_key",
    "jwt",
    "user:42:password",
]

NOT_SECRET = [
    "tokens_used",
    "max_tokens",
    "prompt_tokens",
    "tokenizer",
    "secretary",
    "passwordless",
    "author",
    "keyboard",
    "monkey",
    "cookiecutter",
    "user:1",
    "name",
    "key",
    "",
]


@pytest.mark.parametrize("key", SECRET_LOOKING)
def test_secret_looking_keys(key: str) -> None:
    assert SecretKeys().is_secret(key)


@pytest.mark.parametrize("key", NOT_SECRET)
def test_keys_that_only_contain_a_secret_word_are_left_alone(key: str) -> None:
    assert not SecretKeys().is_secret(key)


def test_values_under_secret_keys_are_masked_at_any_depth() -> None:
    value = {
        "name": "ann",
        "password": {"old": "pw1", "new": "pw2"},
        "tokens_used": 12,
        "sessions": [{"id": 1, "Cookie": "c1"}, ["x", {"api_token": "t1"}]],
        "pair": ("y", {"secret": 3}),
    }
    shown, masked = SecretKeys().mask("user:1", value)
    assert masked
    assert shown == {
        "name": "ann",
        "password": MASKED,
        "tokens_used": 12,
        "sessions": [{"id": 1, "Cookie": MASKED}, ["x", {"api_token": MASKED}]],
        "pair": ("y", {"secret": MASKED}),
    }
    assert repr(shown["sessions"][0]) == "{'id': 1, 'Cookie': ***}"
    assert value["password"] == {"old": "pw1", "new": "pw2"}  # the stored value is untouched


def test_a_secret_top_level_key_masks_its_whole_value() -> None:
    assert SecretKeys().mask("session_token", {"a": 1}) == (MASKED, True)


def test_a_value_without_secrets_is_returned_as_it_is() -> None:
    value = {"a": [1, {"b": None}], "tokens_used": 3}
    shown, masked = SecretKeys().mask("user:1", value)
    assert shown is value
    assert not masked


def test_kv_redact_patterns_are_searched_in_the_key_ignoring_case() -> None:
    keys = SecretKeys(["^pin$", "ssn"])
    assert keys.is_secret("PIN")
    assert keys.is_secret("customer_SSN")
    assert not keys.is_secret("pincode")
    assert keys.is_secret("password")  # the default words still count


def test_a_bad_kv_redact_pattern_is_a_usage_error_naming_it() -> None:
    with pytest.raises(pytest.UsageError) as caught:
        SecretKeys(["ok", "(unclosed"])
    assert str(caught.value) == (
        "plugin-kv: kv_redact pattern '(unclosed' is not a valid regular expression:"
        " missing ), unterminated subpattern at position 0 (each line of kv_redact is a"
        " regular expression searched in keys, ignoring case)"
    )


def test_a_snapshot_masks_secrets_and_says_so() -> None:
    snapshot = Snapshot(
        "kvt.x",
        total=3,
        keys=["api_token", "user:1", "user:2"],
        values={
            "api_token": "t0",
            "user:1": {"name": "ann", "password": "pw"},
            "user:2": {"name": "bob", "tokens_used": 7},
        },
    )
    assert snapshot.lines() == [
        "kvt.x: 3 keys",
        "  'api_token': ***",
        "  'user:1': {'name': 'ann', 'password': ***}",
        "  'user:2': {'name': 'bob', 'tokens_used': 7}",
        f"({MASKED_NOTE})",
    ]
    assert snapshot.lines(SecretKeys(["^name$"]))[1:3] == [
        "  'api_token': ***",
        "  'user:1': {'name': ***, 'password': ***}",
    ]

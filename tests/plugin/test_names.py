"""The pure parts of the plugin: the namespace format, snapshot lines."""

from __future__ import annotations

import re

import pytest

from plugin_kv.testing import _names
from plugin_kv.testing._snapshots import Snapshot

VALID = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")


@pytest.mark.parametrize(
    ("test_name", "label"),
    [
        ("test_x", ""),
        ("test_x[brackets/and\\slashes]", "billing"),
        ("ünïcødé 😀", "é"),
        ("x" * 500, "y" * 500),
        ("", ""),
        ("..", ".."),
    ],
)
def test_every_built_name_is_valid_and_parses_back_to_its_token(test_name: str, label: str) -> None:
    token = _names.new_token()
    name = _names.build(token, 12, test_name, label)
    assert VALID.fullmatch(name)
    assert _names.owner(name) == token


def test_names_stay_readable() -> None:
    assert _names.build("0123abcd", 3, "test_a[1]", "billing") == "kvt.0123abcd.3.test_a_1.billing"


def test_names_are_lowercase_ascii_so_stores_that_fold_case_match_them() -> None:
    name = _names.build("0123abcd", 7, "test_CountWithPrefix[ÜBER-Case]", "Billing")
    assert name == "kvt.0123abcd.7.test_countwithprefix_ber-case.billing"
    assert name == name.lower()
    assert name.isascii()


@pytest.mark.parametrize(
    "foreign",
    [
        "kvt",  # the leases
        "test",
        "kvt.someone-else.1.test_x",  # not a token
        "kvt.0123abcd",  # no counter, no test name
        "kvt.0123abcd.x.test_x",  # the counter is not a number
        "kvt.0123ABCD.1.test_x",  # tokens are lower-case hex
        "kvt.0123abcd.1.test x",  # a character build never writes
        "prefix.kvt.0123abcd.1.test_x",
    ],
)
def test_names_not_built_here_have_no_owner(foreign: str) -> None:
    assert _names.owner(foreign) is None


def test_a_bad_token_is_refused() -> None:
    with pytest.raises(ValueError, match=r"invalid process token 'xyz': use 8 hex digits"):
        _names.build("xyz", 1, "test_x")


def test_snapshot_lines_say_what_was_cut() -> None:
    snapshot = Snapshot("kvt.x", total=30, keys=["a", "b"], values={"a": "v" * 300})
    assert snapshot.lines() == [
        "kvt.x: 30 keys",
        "  'a': '" + "v" * 199 + "... [cut: 302 characters]",
        "  'b': (gone: expired or removed meanwhile)",
        "  ... and 28 more keys (only the first 2 shown)",
    ]


def test_snapshot_of_a_store_without_values_or_listing() -> None:
    assert Snapshot("kvt.x", total=1, keys=["k"]).lines() == ["kvt.x: 1 key", "  'k'"]
    assert Snapshot("kvt.x").lines() == [
        "kvt.x: (the store has no list_keys(namespace) to show it)"
    ]
    assert Snapshot("kvt.x", error="OSError: gone").lines() == [
        "kvt.x: could not read it: OSError: gone"
    ]


@pytest.mark.parametrize("test_name", ["test_x[ÜBER/ünï 😀]", "A" * 300, "t:x*?[]"])
def test_built_names_hold_only_the_characters_adapters_rely_on(test_name: str) -> None:
    name = _names.build(_names.new_token(), 5, test_name, "Label:1")
    assert set(name) <= _names.CHARACTERS

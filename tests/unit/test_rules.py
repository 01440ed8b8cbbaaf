"""The pure rules: names, key ranges and JSON encoding, without a store."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin_kv import InvalidKeyError, InvalidPluginError
from plugin_kv._rules import (
    MAX_VALUE_BYTES,
    check_key,
    check_plugin,
    decode_value,
    encode_value,
    prefix_upper_bound,
)


def test_longest_plugin_name_is_accepted() -> None:
    name = "A-z_0.9:" + "x" * 92
    assert len(name) == 100
    assert check_plugin(name) == name


@pytest.mark.parametrize(
    ("prefix", "bound"),
    [
        ("", None),
        ("a", "b"),
        ("user:", "user;"),
        ("user_", "user`"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff\U0010ffff", None),
        ("a\ud7ff", "a\ue000"),  # skips the surrogates, which are not text
        ("z\uffff", "z\U00010000"),
    ],
)
def test_prefix_upper_bound(prefix: str, bound: str | None) -> None:
    assert prefix_upper_bound(prefix) == bound


@pytest.mark.parametrize(
    "key",
    ["user:", "user:\U0010ffff\U0010ffff", "user:\x01", "user:zzz"],
)
def test_every_key_with_the_prefix_is_inside_the_range(key: str) -> None:
    bound = prefix_upper_bound("user:")
    assert bound is not None
    assert "user:" <= key < bound
    assert not ("user:" <= "user;" < bound)


def test_encoding_is_compact_utf8_json() -> None:
    assert encode_value({"a": [1, 2.5, None, "é"]}) == '{"a":[1,2.5,null,"é"]}'
    assert decode_value('{"a":[1,2.5,null,"é"]}') == {"a": [1, 2.5, None, "é"]}


def test_size_limit_counts_utf8_bytes() -> None:
    encode_value("€" * ((MAX_VALUE_BYTES - 2) // 3))  # 3 bytes each: fits
    with pytest.raises(ValueError, match="at most 65,536 bytes"):
        encode_value("€" * ((MAX_VALUE_BYTES - 2) // 3 + 1))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values, st.sampled_from([{}, {"indent": 1}, {"separators": (", ", ": ")}]))
def test_decoding_matches_json_loads(value: object, layout: dict[str, object]) -> None:
    text = json.dumps(value, **layout)  # type: ignore[arg-type]
    assert decode_value(text) == json.loads(text)
    assert decode_value(f" {text}\n") == json.loads(f" {text}\n")


@pytest.mark.parametrize("text", ["", "{", '{"a":1}x', "[1,]", "nul"])
def test_decoding_broken_text_fails_as_json_loads_does(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as caught:
        decode_value(text)
    assert str(caught.value) == str(expected.value)


def test_remembered_plugin_names_never_let_a_bad_name_through() -> None:
    names = [f"plugin-{n}" for n in range(5000)]  # more than the memo keeps
    assert [check_plugin(name) for name in names * 2] == names * 2

    class Sneaky(str):
        """Hashes and compares equal to a remembered name, but holds a bad one."""

        def __hash__(self) -> int:
            return hash("plugin-4999")

        def __eq__(self, other: object) -> bool:
            return other == "plugin-4999"

    with pytest.raises(InvalidPluginError):
        check_plugin(Sneaky("bad name"))
    for bad in ["", "has space", "x" * 101, "tab\t", "é"]:
        with pytest.raises(InvalidPluginError):
            check_plugin(bad)


@pytest.mark.parametrize("key", ["a\x00", "\x00", "é\ud800", "\udfff", "😀\x00"])
def test_keys_with_nul_or_a_lone_surrogate_are_refused(key: str) -> None:
    with pytest.raises(InvalidKeyError):
        check_key(key)


@pytest.mark.parametrize("key", ["a", "é", "😀", "\U0010ffff", "\ud7ff\ue000"])
def test_keys_of_valid_unicode_are_accepted(key: str) -> None:
    assert check_key(key) == key

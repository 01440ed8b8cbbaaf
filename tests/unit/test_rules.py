"""The pure rules: names, key ranges and JSON encoding, without a store."""

from __future__ import annotations

import pytest

from plugin_kv._rules import (
    MAX_VALUE_BYTES,
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

"""Hostile input, generated: stored and returned exactly, or refused with a `KVError`.

Every example runs the same operation on one store of each available backend (SQLite in
memory, a SQLite file, PostgreSQL when reachable) and checks:

- nothing but a `KVError` subclass escapes;
- a refusal leaves the namespace exactly as it was (a snapshot before and after);
- an accepted write reads back exactly (type, float repr, dict key order);
- the backends agree: what one refuses, every one refuses, with the same error type;
- the outcome is the one the documented rules predict (an oracle written from DESIGN.md).
"""

from __future__ import annotations

import decimal
import json
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin_kv import KVError, KVService

from ..conftest import FakeClock
from .conftest import PROFILE, Loop, available_urls, namespace_contents, open_service, same

MAX_VALUE_BYTES = 65_536
MAX_DEPTH = 200

# -- strategies ----------------------------------------------------------------------------

any_char = st.characters(exclude_categories=())  # every code point, lone surrogates included
nasty_char = st.sampled_from(
    [
        *("\x00", "\ud800", "\udfff", "\ud7ff", "\ue000", "\ufffe", "\uffff", "\U0010ffff"),
        *("\ufeff", "%", "_", "'", '"', "\\", "\n", "é", "😀", "\u202e"),
    ]
)
hostile_text = st.text(any_char | nasty_char, max_size=12)


def exactly(length: int) -> st.SearchStrategy[str]:
    """Text of exactly ``length`` characters: plain, multi-byte, or any code point."""
    return st.sampled_from(["k", "é", "😀", "\U0010ffff", "\x00"]).map(
        lambda c: c * length
    ) | st.text(any_char, min_size=length, max_size=length)


boundary_keys = st.sampled_from([0, 1, 254, 255, 256]).flatmap(exactly)
not_str: st.SearchStrategy[Any] = st.sampled_from(
    [None, 0, 1.5, b"key", ["k"], ("k",), True, object()]
)
keys = hostile_text | boundary_keys | not_str
prefixes = hostile_text | st.sampled_from([254, 255, 256]).flatmap(exactly) | not_str
limits = (
    st.none()
    | st.integers(-3, 5)
    | st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64, 10**30])
    | st.sampled_from([1.0, True, "3"])
)
ttls = (
    st.none()
    | st.integers(-2, 10**6)
    | st.floats()  # NaN, ±inf, -0.0, subnormals
    | st.sampled_from([10**400, 2**1024, 1e308, 5e-324, True, False, "10", decimal.Decimal(1)])
)

json_floats = st.floats()  # NaN and ±inf included: they must be refused
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([4299, 4300, 4301]).map(lambda n: 10**n - 1)  # int str() limit
    | json_floats
    | st.sampled_from([-0.0, 0.0, 5e-324, 1.7976931348623157e308, 1e16, 0.1])
    | hostile_text
)
not_json: st.SearchStrategy[Any] = st.sampled_from(
    [(1, 2), {1, 2}, b"bytes", bytearray(b"x"), object(), decimal.Decimal("1.5"), 1j, range(2)]
) | st.builds(lambda k: {k: 1}, st.sampled_from([1, None, 1.5, True, ("t",)]))


def nested(depth: int, leaf: Any, dicts: bool) -> Any:
    """Return ``leaf`` inside ``depth`` lists (or dicts)."""
    value = leaf
    for _ in range(depth):
        value = {"k": value} if dicts else [value]
    return value


def sized(total: int, char: str, wrap: str) -> Any:
    """Return a value whose compact UTF-8 JSON text is ``total`` bytes (or just over)."""
    width = len(json.dumps(char, ensure_ascii=False).encode("utf-8", "surrogatepass")) - 2
    overhead = {"bare": 2, "list": 4, "dict": 8}[wrap]  # '""', '[""]', '{"k":""}'
    room = total - overhead
    text = char * (room // width) + "x" * (room % width)
    return text if wrap == "bare" else [text] if wrap == "list" else {"k": text}


deep = st.builds(
    nested, st.integers(MAX_DEPTH - 2, MAX_DEPTH + 2), scalars | st.just([]), st.booleans()
)
giant = st.builds(
    sized,
    st.integers(MAX_VALUE_BYTES - 2, MAX_VALUE_BYTES + 2),
    st.sampled_from(["x", "é", "😀", "\x00", '"', "\ud800"]),
    st.sampled_from(["bare", "list", "dict"]),
)
values = st.recursive(
    scalars | not_json,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=10,
) | st.one_of(deep, giant)


# -- the oracle: the documented rules, written independently of the implementation ---------


def _text_ok(text: str) -> bool:
    return not any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in text)


def key_ok(key: object) -> bool:
    return type(key) is str and 1 <= len(key) <= 255 and _text_ok(key)


def prefix_ok(prefix: object) -> bool:
    return isinstance(prefix, str) and len(prefix) <= 255 and _text_ok(prefix)


def limit_ok(limit: object) -> bool:
    return limit is None or (type(limit) is int and limit >= 0)


def ttl_ok(ttl: object) -> bool:
    if ttl is None:
        return True
    if type(ttl) not in (int, float):
        return False
    number = cast(float, ttl)
    try:
        return math.isfinite(float(number)) and number > 0
    except OverflowError:  # an int beyond float range is not a finite number of seconds
        return False


def value_ok(value: object) -> bool:
    def plain(item: object, depth: int) -> bool:
        if item is None or type(item) in (bool, int):
            return True
        if type(item) is float:
            return math.isfinite(item)
        if type(item) is str:
            return all(not 0xD800 <= ord(c) <= 0xDFFF for c in item)
        if type(item) is list:
            return depth < MAX_DEPTH and all(plain(child, depth + 1) for child in item)
        if type(item) is dict:
            return depth < MAX_DEPTH and all(
                type(name) is str and plain(name, depth) and plain(child, depth + 1)
                for name, child in item.items()
            )
        return False

    if not plain(value, 0):
        return False
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except ValueError:  # an int with more digits than Python will print
        return False
    return len(text.encode("utf-8")) <= MAX_VALUE_BYTES


# -- the stores ------------------------------------------------------------------------------


@dataclass
class Store:
    url: str
    kv: KVService
    plugin: str


BASELINE: dict[str, Any] = {"existing": {"keep": [1, 2.5, None]}, "k": "v", "ké": -0.0}
NOW = 1_800_000_000.0


@pytest.fixture
def stores(loop: Loop, tmp_path: Path) -> Iterator[list[Store]]:
    """Open one store of each available backend, each with a namespace of this test's own."""
    plugin = f"kv-hostile.{secrets.token_hex(6)}"
    opened: list[Store] = []
    try:
        for url in available_urls(tmp_path):
            clock = FakeClock()
            clock.now = NOW  # fixed: a ttl set in an example never runs out within it
            opened.append(Store(url, open_service(loop, url, clock=clock), plugin))
        yield opened
    finally:
        for store in opened:
            loop.run(store.kv.clear(store.plugin))
            loop.run(store.kv.close())


Outcome = tuple[str, Any]


def attempt(loop: Loop, store: Store, operation: str, args: tuple[Any, ...]) -> Outcome:
    """Run ``operation``; return ("ok", result) or ("refused", error type name)."""
    loop.run(store.kv.clear(store.plugin))
    loop.run(store.kv.set_many(store.plugin, BASELINE))
    before = loop.run(namespace_contents(store.kv, store.plugin))
    method = getattr(store.kv, operation)
    try:
        result = loop.run(method(store.plugin, *args))
    except KVError as exc:  # anything else escapes and fails the test
        after = loop.run(namespace_contents(store.kv, store.plugin))
        assert same(after, before), f"{store.url}: a refused {operation} changed the store"
        return "refused", type(exc).__name__
    return "ok", result


def check_everywhere(
    loop: Loop, stores: list[Store], operation: str, args: tuple[Any, ...], valid: bool
) -> list[Outcome]:
    outcomes = [attempt(loop, store, operation, args) for store in stores]
    kinds = {(kind, detail if kind == "refused" else None) for kind, detail in outcomes}
    assert len(kinds) == 1, f"the backends disagree on {operation}{args!r}: " + ", ".join(
        f"{store.url}: {outcome}" for store, outcome in zip(stores, outcomes, strict=True)
    )
    assert outcomes[0][0] == ("ok" if valid else "refused"), (operation, args, outcomes[0])
    return outcomes


# -- the properties ------------------------------------------------------------------------


@PROFILE
@given(key=keys, value=values, ttl=ttls)
def test_set_stores_exactly_or_refuses_cleanly(
    loop: Loop, stores: list[Store], key: Any, value: Any, ttl: Any
) -> None:
    valid = key_ok(key) and value_ok(value) and ttl_ok(ttl)
    check_everywhere(loop, stores, "set", (key, value, ttl), valid)
    if valid:
        expected_live = ttl is None or NOW + float(ttl) > NOW
        for store in stores:
            got = loop.run(store.kv.get(store.plugin, key, default=KeyError))
            if expected_live:
                assert same(got, value), f"{store.url}: {value!r} came back as {got!r}"
            else:
                assert got is KeyError


@PROFILE
@given(items=st.dictionaries(keys.filter(lambda k: k.__hash__ is not None), values, max_size=4))
def test_set_many_is_all_or_nothing(loop: Loop, stores: list[Store], items: Any) -> None:
    valid = all(key_ok(key) and value_ok(value) for key, value in items.items())
    check_everywhere(loop, stores, "set_many", (items,), valid)
    if valid:
        for store in stores:
            got = loop.run(store.kv.get_many(store.plugin, list(items)))
            assert sorted(got) == sorted(items)
            assert all(same(got[key], value) for key, value in items.items())


@PROFILE
@given(
    operation=st.sampled_from(["get", "delete", "count", "clear", "get_many"]),
    key=keys,
)
def test_reads_and_removals_with_hostile_keys(
    loop: Loop, stores: list[Store], operation: str, key: Any
) -> None:
    if operation in ("count", "clear"):
        valid = prefix_ok(key)
        args: tuple[Any, ...] = (key,)
    elif operation == "get_many":
        valid = key_ok(key)
        args = ([key, "k"],)
    else:
        valid = key_ok(key)
        args = (key,)
    outcomes = check_everywhere(loop, stores, operation, args, valid)
    if not valid:
        return
    results = [result for _, result in outcomes]
    assert all(same(result, results[0]) for result in results), results
    for store in stores:  # the namespace holds what the operation should have left
        left = loop.run(namespace_contents(store.kv, store.plugin))
        if operation == "delete":
            expected = {k: v for k, v in BASELINE.items() if k != key}
        elif operation == "clear":
            expected = {k: v for k, v in BASELINE.items() if not k.startswith(key)}
        else:
            expected = BASELINE
        assert same(left, dict(sorted(expected.items()))), (store.url, left)


@PROFILE
@given(prefix=prefixes, limit=limits)
def test_list_keys_with_hostile_prefix_and_limit(
    loop: Loop, stores: list[Store], prefix: Any, limit: Any
) -> None:
    valid = prefix_ok(prefix) and limit_ok(limit)
    outcomes = check_everywhere(loop, stores, "list_keys", (prefix, limit), valid)
    if valid:
        expected = sorted(k for k in BASELINE if k.startswith(prefix))[:limit]
        assert all(result == expected for _, result in outcomes), outcomes


# -- plugin names: checked before any backend is touched; private stores only ------------------

plugin_chars = st.sampled_from("AZaz09_-.:") | any_char | nasty_char
plugins = (
    st.text(plugin_chars, max_size=12)
    | st.sampled_from([0, 1, 99, 100, 101]).flatmap(
        lambda n: st.sampled_from(["p", ":", "é", "\x00", "\ud800"]).map(lambda c: c * n)
    )
    | not_str
)
PLUGIN_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:")


def plugin_ok(plugin: object) -> bool:
    return type(plugin) is str and 1 <= len(plugin) <= 100 and set(plugin) <= PLUGIN_ALPHABET


@pytest.fixture
def private_stores(loop: Loop, tmp_path: Path) -> Iterator[list[KVService]]:
    opened = [
        open_service(loop, url, clock=lambda: NOW)
        for url in (":memory:", str(tmp_path / "plugins.sqlite3"))
    ]
    yield opened
    for kv in opened:
        loop.run(kv.close())


async def whole_store(kv: KVService) -> dict[str, dict[str, Any]]:
    return {plugin: await namespace_contents(kv, plugin) for plugin in await kv.list_plugins()}


@pytest.mark.own_store
@PROFILE
@given(plugin=plugins, operation=st.sampled_from(["set", "get", "count", "clear", "list_keys"]))
def test_plugin_names_are_accepted_or_refused_by_the_rule(
    loop: Loop, private_stores: list[KVService], plugin: Any, operation: str
) -> None:
    args = {"set": ("k", 1), "get": ("k",)}.get(operation, ())
    for kv in private_stores:
        loop.run(kv.set_many("baseline", BASELINE))
        before = loop.run(whole_store(kv))
        refusal: KVError | None = None
        try:
            loop.run(getattr(kv, operation)(plugin, *args))
        except KVError as exc:
            refusal = exc
        if refusal is not None:
            assert not plugin_ok(plugin), f"{plugin!r} is valid but was refused: {refusal}"
            assert repr(plugin)[:40] in str(refusal)  # the message shows the bad value
            assert same(loop.run(whole_store(kv)), before)
        else:
            assert plugin_ok(plugin), f"{plugin!r} breaks the naming rule but was accepted"
            if operation == "set":
                assert loop.run(kv.get(plugin, "k")) == 1
        for name in loop.run(kv.list_plugins()):
            loop.run(kv.clear(name))

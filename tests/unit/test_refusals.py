"""Every rule refuses bad input with a clear error, and the store is left as it was."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from plugin_kv import (
    InvalidKeyError,
    InvalidPluginError,
    InvalidPrefixError,
    InvalidTTLError,
    InvalidValueError,
    KVError,
    KVService,
    UnsupportedTypeError,
)

pytestmark = pytest.mark.asyncio

BASELINE = {"existing": {"keep": [1, 2, 3]}, "user:1": "ada"}


async def snapshot(kv: KVService, plugin: str) -> dict[str, Any]:
    return {key: await kv.get(plugin, key) for key in await kv.list_keys(plugin)}


async def assert_refused(
    kv: KVService,
    plugin: str,
    operation: Callable[[], Awaitable[object]],
    error: type[KVError],
    shows: str,
    rule: str,
) -> None:
    """Run ``operation``; it must raise ``error`` naming the bad value and the rule."""
    await kv.set_many(plugin, BASELINE)
    with pytest.raises(error) as caught:
        await operation()
    message = str(caught.value)
    assert shows in message, f"the message should show {shows!r}: {message}"
    assert rule in message, f"the message should state the rule ({rule!r}): {message}"
    assert await snapshot(kv, plugin) == BASELINE


BAD_PLUGINS: list[object] = ["", "x" * 101, "has space", "a/b", "naïve", "tab\t", "nl\n", None, 7]


@pytest.mark.parametrize("bad", BAD_PLUGINS, ids=repr)
async def test_bad_plugin_name_is_refused(
    kv_service: KVService, kv_isolated_plugin: str, bad: Any
) -> None:
    shown = repr(bad)[:60]
    for operation in (
        lambda: kv_service.set(bad, "k", 1),
        lambda: kv_service.get(bad, "k"),
        lambda: kv_service.count(bad),
        lambda: kv_service.clear(bad),
    ):
        await assert_refused(
            kv_service, kv_isolated_plugin, operation, InvalidPluginError, shown, "1-100 characters"
        )
    if isinstance(bad, str):
        assert bad not in await kv_service.list_plugins()
    assert issubclass(InvalidPluginError, ValueError)


BAD_KEYS: list[object] = ["", "k" * 256, "nul\x00inside", "lone \ud800 surrogate", None, 3, b"k"]


@pytest.mark.parametrize("bad", BAD_KEYS, ids=lambda bad: repr(bad)[:20])
async def test_bad_key_is_refused(kv_service: KVService, kv_isolated_plugin: str, bad: Any) -> None:
    shown = repr(bad)[:60]
    for operation in (
        lambda: kv_service.set(kv_isolated_plugin, bad, 1),
        lambda: kv_service.get(kv_isolated_plugin, bad),
        lambda: kv_service.delete(kv_isolated_plugin, bad),
        lambda: kv_service.set_many(kv_isolated_plugin, {"fine": 1, bad: 2}),
        lambda: kv_service.get_many(kv_isolated_plugin, ["fine", bad]),
    ):
        await assert_refused(
            kv_service, kv_isolated_plugin, operation, InvalidKeyError, shown, "1-255 characters"
        )


@pytest.mark.parametrize("bad", ["k" * 256, "\x00", "\udfff", 5, None], ids=repr)
async def test_bad_prefix_is_refused(
    kv_service: KVService, kv_isolated_plugin: str, bad: Any
) -> None:
    for operation in (
        lambda: kv_service.list_keys(kv_isolated_plugin, bad),
        lambda: kv_service.count(kv_isolated_plugin, bad),
        lambda: kv_service.clear(kv_isolated_plugin, bad),
    ):
        await assert_refused(
            kv_service, kv_isolated_plugin, operation, InvalidPrefixError, repr(bad)[:40], "prefix"
        )


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, -math.inf, "10", True, [5]], ids=repr)
async def test_bad_ttl_is_refused(kv_service: KVService, kv_isolated_plugin: str, bad: Any) -> None:
    await assert_refused(
        kv_service,
        kv_isolated_plugin,
        lambda: kv_service.set(kv_isolated_plugin, "existing", "new", ttl=bad),
        InvalidTTLError,
        repr(bad),
        "finite number of seconds > 0",
    )
    assert issubclass(InvalidTTLError, ValueError)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
async def test_bad_limit_is_refused(
    kv_service: KVService, kv_isolated_plugin: str, bad: Any
) -> None:
    with pytest.raises(ValueError, match=r"limit is None \(no limit\) or an int >= 0"):
        await kv_service.list_keys(kv_isolated_plugin, limit=bad)


class Custom:
    pass


NOT_JSON: list[tuple[object, str]] = [
    ({1, 2}, "of type set"),
    (b"bytes", "of type bytes"),
    ((1, 2), "of type tuple"),
    (Custom(), "of type Custom"),
    ({1: "int key"}, "JSON object keys must be str"),
    ({"ok": [1, {"deep": object()}]}, "value['ok'][1]['deep']"),
    (1 + 2j, "of type complex"),
]


@pytest.mark.parametrize(("bad", "shows"), NOT_JSON, ids=lambda v: type(v).__name__)
async def test_value_that_is_not_json_is_refused(
    kv_service: KVService, kv_isolated_plugin: str, bad: Any, shows: str
) -> None:
    await assert_refused(
        kv_service,
        kv_isolated_plugin,
        lambda: kv_service.set(kv_isolated_plugin, "existing", bad),
        UnsupportedTypeError,
        shows,
        "plain JSON" if "keys must" not in shows else "must be str",
    )
    assert issubclass(UnsupportedTypeError, TypeError)


def deeply_nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


UNSTORABLE: list[tuple[object, str, str]] = [
    (math.nan, "nan", "no NaN or Infinity"),
    ({"t": math.inf}, "inf", "no NaN or Infinity"),
    ("x" * 65_535, "65,537 bytes", "at most 65,536 bytes"),
    ("é" * 32_768, "65,538 bytes", "at most 65,536 bytes"),  # 2 bytes a character
    ("lone \udc80", "'\\udc80'", "lone surrogates"),
    (10**5000, "Exceeds the limit", "cannot be stored"),
    (deeply_nested(201), "more than 200 levels", "at most 200 levels"),
]


@pytest.mark.parametrize(
    ("bad", "shows", "rule"),
    UNSTORABLE,
    ids=["nan", "inf", "too-large", "too-large-utf8", "surrogate", "huge-int", "too-deep"],
)
async def test_unstorable_value_is_refused(
    kv_service: KVService, kv_isolated_plugin: str, bad: Any, shows: str, rule: str
) -> None:
    await assert_refused(
        kv_service,
        kv_isolated_plugin,
        lambda: kv_service.set(kv_isolated_plugin, "existing", bad),
        InvalidValueError,
        shows,
        rule,
    )


async def test_deepest_allowed_value_round_trips(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    value = deeply_nested(200)
    await kv_service.set(kv_isolated_plugin, "deep", value)
    assert await kv_service.get(kv_isolated_plugin, "deep") == value


async def test_one_bad_value_in_a_batch_writes_nothing(
    kv_service: KVService, kv_isolated_plugin: str
) -> None:
    await assert_refused(
        kv_service,
        kv_isolated_plugin,
        lambda: kv_service.set_many(
            kv_isolated_plugin, {"new:1": 1, "existing": "changed", "new:2": {1, 2}}
        ),
        UnsupportedTypeError,
        "of type set",
        "plain JSON",
    )

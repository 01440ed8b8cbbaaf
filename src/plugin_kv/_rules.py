"""The input rules: check names, keys, prefixes, TTLs and values before any write."""

from __future__ import annotations

import json
import json.scanner
import math
import re
from collections.abc import Callable
from typing import Any, TypeAlias, cast

from .errors import (
    InvalidKeyError,
    InvalidPluginError,
    InvalidPrefixError,
    InvalidTTLError,
    InvalidValueError,
    UnsupportedTypeError,
)

MAX_PLUGIN_LENGTH = 100
MAX_KEY_LENGTH = 255
MAX_VALUE_BYTES = 65_536
MAX_VALUE_DEPTH = 200

PLUGIN_RULE = f"a plugin name is a str of 1-{MAX_PLUGIN_LENGTH} characters from A-Z a-z 0-9 _ - . :"
KEY_RULE = (
    f"a key is a str of 1-{MAX_KEY_LENGTH} characters of valid Unicode text"
    " (no NUL, no lone surrogates)"
)
PREFIX_RULE = (
    f"a prefix is a str of 0-{MAX_KEY_LENGTH} characters of valid Unicode text"
    " (no NUL, no lone surrogates)"
)
TTL_RULE = "ttl is None (never expires) or a finite number of seconds > 0"
LIMIT_RULE = "limit is None (no limit) or an int >= 0"

_PLUGIN_PATTERN = re.compile(rf"[A-Za-z0-9_.:\-]{{1,{MAX_PLUGIN_LENGTH}}}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_known_plugins: set[str] = set()
"""Plugin names already found valid: most programs use a few, over and over."""
_KNOWN_PLUGINS_LIMIT = 4096
_HIGHEST_CODE_POINT = 0x10FFFF
_MAX_SQL_INTEGER = 2**63 - 1
_JSON_SCALARS = (str, int, float, bool, type(None))
_PLAIN_SCALARS = frozenset((str, int, bool, type(None)))
"""Scalars that are valid JSON whatever their value (floats need a finiteness check)."""


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON")  # _check_json refuses it first


def _make_encoder() -> Callable[[object], str]:
    """Return a compact, strict JSON encoder: exactly what ``json.dumps`` would write.

    CPython's C encoder is built once here; ``JSONEncoder.encode`` builds a new one on every
    call, which costs more than encoding a small dict. It keeps no circular-reference
    markers: `_check_json`'s depth limit refuses a value that contains itself.
    """
    settings: dict[str, Any] = {"ensure_ascii": False, "allow_nan": False, "separators": (",", ":")}
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # not CPython
        return json.JSONEncoder(**settings).encode
    encode = c_make_encoder(
        None, _refuse, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return lambda value: "".join(encode(value, 0))


_encode = _make_encoder()


def check_plugin(plugin: object) -> str:
    """Return ``plugin`` if it is a valid plugin name, else raise `InvalidPluginError`."""
    if type(plugin) is str and plugin in _known_plugins:
        return plugin
    if isinstance(plugin, str) and _PLUGIN_PATTERN.fullmatch(plugin):
        if type(plugin) is str:
            if len(_known_plugins) >= _KNOWN_PLUGINS_LIMIT:
                _known_plugins.clear()
            _known_plugins.add(plugin)
        return plugin
    raise InvalidPluginError(f"invalid plugin name {_show(plugin)}: {PLUGIN_RULE}")


def check_key(key: object) -> str:
    """Return ``key`` if it is a storable key, else raise `InvalidKeyError`."""
    if isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH and _is_storable_text(key):
        return key
    raise InvalidKeyError(f"invalid key {_show(key)}: {KEY_RULE}")


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if a key could start with it, else raise `InvalidPrefixError`."""
    if isinstance(prefix, str) and len(prefix) <= MAX_KEY_LENGTH and _is_storable_text(prefix):
        return prefix
    raise InvalidPrefixError(f"invalid prefix {_show(prefix)}: {PREFIX_RULE}")


def _is_storable_text(text: str) -> bool:
    """Return whether both backends can store ``text``: no NUL, no lone surrogate."""
    return "\x00" not in text and (text.isascii() or not _SURROGATE.search(text))


def check_ttl(ttl: object) -> float | None:
    """Return ``ttl`` as seconds (or None), else raise `InvalidTTLError`."""
    if ttl is None:
        return None
    if isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        try:
            seconds = float(ttl)
        except OverflowError:  # an int beyond the float range is no finite number of seconds
            seconds = math.inf
        if math.isfinite(seconds) and ttl > 0:
            return seconds
    raise InvalidTTLError(f"invalid ttl {_show(ttl)}: {TTL_RULE}")


def check_limit(limit: object) -> int | None:
    """Return ``limit`` if it is None or an int >= 0, else raise `ValueError`."""
    if limit is None or (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0):
        # Beyond a 64-bit SQL integer no store could hold that many keys: no limit at all.
        return None if limit is None or limit > _MAX_SQL_INTEGER else limit
    raise InvalidValueError(f"invalid limit {_show(limit)}: {LIMIT_RULE}")


def encode_value(value: object) -> str:
    """Return ``value`` as compact JSON text, refusing anything that would not round-trip."""
    _check_json(value)
    try:
        text = _encode(value)
    except ValueError as exc:  # an int too long for str() (sys.get_int_max_str_digits)
        raise InvalidValueError(f"value cannot be stored as JSON: {exc}") from exc
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise InvalidValueError(
                f"value holds text that is not valid Unicode ({exc.reason} at"
                f" {text[exc.start : exc.end]!r}): strings must not hold lone surrogates"
            ) from exc
    if size > MAX_VALUE_BYTES:
        raise InvalidValueError(
            f"value is {size:,} bytes as UTF-8 JSON text: at most {MAX_VALUE_BYTES:,} bytes"
            f" are allowed (value starts {text[:60]!r})"
        )
    return text


def _make_decoder() -> Callable[[str], Any]:
    """Return a JSON decoder for the text this package stored: CPython's C scanner, called once.

    ``json.loads`` wraps the same scanner in type checks and two whitespace regex matches,
    which cost more than scanning a small value. Text the scanner does not consume whole
    (never written by `encode_value`) goes to ``json.loads``, for its usual result or error.
    """
    scanner = getattr(json.scanner, "c_make_scanner", None)
    if scanner is None:  # not CPython
        return json.loads
    scan = scanner(json.JSONDecoder())

    def decode(text: str) -> Any:
        try:
            value, end = scan(text, 0)
        except StopIteration:
            return json.loads(text)
        return value if end == len(text) else json.loads(text)

    return decode


decode_value = _make_decoder()
"""Return the value stored as JSON text."""


def prefix_upper_bound(prefix: str) -> str | None:
    """Return the smallest string above every string starting with ``prefix``.

    ``None`` means no upper bound (empty prefix, or only the highest code point). Keys compare
    by code point (SQLite's BINARY collation, PostgreSQL's "C"), so this range is exactly the
    literal, case-sensitive prefix match.
    """
    stripped = prefix.rstrip(chr(_HIGHEST_CODE_POINT))
    if not stripped:
        return None
    following = ord(stripped[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not text: skip to the next code point
        following = 0xE000
    return stripped[:-1] + chr(following)


_Where: TypeAlias = "tuple[_Where, int | str] | None"
"""Where an item sits: None for the value itself, else (its container's place, index or key)."""


def _check_json(value: object) -> None:
    """Raise unless ``value`` is plain JSON: exact types, str dict keys, finite floats.

    Where a bad item sits (``value['a'][0]``) is spelled out only for the message: the walk
    keeps a (parent, step) link per container item, and skips plain scalars at once.
    """
    pending: list[tuple[object, _Where, int]] = [(value, None, 0)]
    while pending:
        item, where, depth = pending.pop()
        kind = type(item)
        if kind in _JSON_SCALARS:
            if kind is float and not math.isfinite(item):  # type: ignore[arg-type]
                raise InvalidValueError(
                    f"{_spell(where)} is {item!r}: JSON has no NaN or Infinity;"
                    " store None or a string"
                )
            continue
        if depth >= MAX_VALUE_DEPTH:
            raise InvalidValueError(
                f"{_spell(where)} is nested more than {MAX_VALUE_DEPTH} levels deep:"
                f" at most {MAX_VALUE_DEPTH} levels of lists and dicts are allowed"
            )
        if kind is list:
            pending.extend(
                (child, (where, i), depth + 1)
                for i, child in enumerate(cast("list[object]", item))
                if type(child) not in _PLAIN_SCALARS
            )
        elif kind is dict:
            for name, child in cast("dict[object, object]", item).items():
                if type(name) is not str:
                    raise UnsupportedTypeError(
                        f"{_spell(where)} has the key {name!r} of type {type(name).__name__}:"
                        " JSON object keys must be str"
                    )
                if type(child) not in _PLAIN_SCALARS:
                    pending.append((child, (where, name), depth + 1))
        else:
            raise UnsupportedTypeError(
                f"{_spell(where)} is {_show(item)} of type {kind.__name__}: values must be"
                " plain JSON (dict with str keys, list, str, int, float, bool, None);"
                " convert it first"
            )


def _spell(where: _Where) -> str:
    """Return ``where`` as Python would index it: ``value['a'][0]``."""
    steps: list[str] = []
    while where is not None:
        where, step = where
        steps.append(f"[{step}]" if type(step) is int else f"[{step!r}]")
    path = "".join(reversed(steps))
    if len(path) > 80:  # deep inside: keep the start and the end of the path
        path = f"{path[:40]}...{path[-30:]}"
    return "value" + path


def _show(value: object, limit: int = 120) -> str:
    """Return ``repr(value)``, shortened for long inputs."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"

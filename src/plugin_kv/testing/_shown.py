"""How the ready-made adapters hand a store's keys and values to the fixtures.

Keys become `str` (the fixtures list them as such); values are shown as the project would read
them: bytes decoded as UTF-8, and text parsed where it is JSON, else left as stored.
"""

from __future__ import annotations

import json


def key_text(key: object) -> str:
    """Return ``key`` as text: bytes decoded (undecodable bytes kept as escapes), else str()."""
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key).decode("utf-8", "surrogateescape")
    return key if isinstance(key, str) else str(key)


def shown_value(value: object) -> object:
    """Return a stored value as a failure report should show it."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value

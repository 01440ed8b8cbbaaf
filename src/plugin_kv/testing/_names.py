"""The namespace names the fixtures hand out: built and parsed here, side by side.

A name reads ``kvt.<token>.<n>.<test name>[.<label>]``, lowercase ASCII (stores that fold case,
such as MySQL collations, still match it exactly): ``token`` identifies the test process that
made it (its lease carries the same token), ``n`` counts the names that process made.
The sweep of crashed runs deletes a namespace only when `owner` finds a token in it, so a
name this module did not build is never taken for one of ours.
"""

from __future__ import annotations

import re
import secrets

from plugin_kv._rules import MAX_PLUGIN_LENGTH

PREFIX = "kvt."
"""Every namespace the fixtures make starts with this; other data is the tests' own."""
LEASE_NAMESPACE = "kvt"
"""Namespace holding one lease per live test process, keyed by its token."""
LIMIT = MAX_PLUGIN_LENGTH
"""The longest namespace a store accepts."""
TOKEN_PATTERN = r"[0-9a-f]{8}"
"""What a process token looks like (the docs harness replaces it with a stand-in)."""
CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")
"""Every character a name built here may hold (an adapter's key separator must be none of them)."""

_TOKEN = re.compile(TOKEN_PATTERN)
_UNSAFE = re.compile(r"[^a-z0-9_\-]+")
_OURS = re.compile(rf"kvt\.({TOKEN_PATTERN})\.[0-9]+\.[a-z0-9_.\-]+")


def new_token() -> str:
    """Return a fresh process token: 8 hex digits."""
    return secrets.token_hex(4)


def is_token(text: str) -> bool:
    """Return whether ``text`` is a process token (see `new_token`)."""
    return _TOKEN.fullmatch(text) is not None


def build(token: str, counter: int, test_name: str, label: str = "") -> str:
    """Return the namespace number ``counter`` of process ``token`` for ``test_name``.

    At most `LIMIT` characters of ``a-z 0-9 _ - .``, whatever the test name holds; the test
    name (and ``label``) stay readable, lowercased, as far as they fit.
    """
    if not is_token(token):
        raise ValueError(f"invalid process token {token!r}: use 8 hex digits (new_token())")
    head = f"{PREFIX}{token}.{counter}."
    readable = _readable(test_name) or "test"
    if label:
        tail = "." + (_readable(label) or "x")
        readable = readable[: max(8, LIMIT - len(head) - len(tail))] + tail
    return (head + readable)[:LIMIT]


def owner(namespace: str) -> str | None:
    """Return the token of the process that made ``namespace`` with `build`, else None."""
    match = _OURS.fullmatch(namespace)
    return match.group(1) if match else None


def _readable(text: str) -> str:
    """Return ``text`` lowercased, each run of other characters than ``a-z 0-9 _ -`` as ``_``."""
    return _UNSAFE.sub("_", text.lower()).strip("_")

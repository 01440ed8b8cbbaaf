"""The namespace names the fixtures hand out: built and parsed here, side by side.

A name reads ``kvt.<token>.<n>.<test name>[.<label>]``: ``token`` identifies the test process
that made it (its lease carries the same token), ``n`` counts the names that process made.
The sweep of crashed runs deletes a namespace only when `owner` finds a token in it, so a
name this module did not build is never taken for one of ours.
"""

from __future__ import annotations

import re
import secrets

PREFIX = "kvt."
"""Every namespace the fixtures make starts with this; other data is the tests' own."""
LEASE_NAMESPACE = "kvt"
"""Namespace holding one lease per live test process, keyed by its token."""
LIMIT = 100
"""The longest namespace a store accepts."""

_TOKEN = re.compile(r"[0-9a-f]{8}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")
_OURS = re.compile(r"kvt\.([0-9a-f]{8})\.[0-9]+\.[A-Za-z0-9_.\-]+")


def new_token() -> str:
    """Return a fresh process token: 8 hex digits."""
    return secrets.token_hex(4)


def build(token: str, counter: int, test_name: str, label: str = "") -> str:
    """Return the namespace number ``counter`` of process ``token`` for ``test_name``.

    At most `LIMIT` characters of ``A-Z a-z 0-9 _ - .``, whatever the test name holds;
    the test name (and ``label``) stay readable as far as they fit.
    """
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"invalid process token {token!r}: use 8 hex digits (new_token())")
    head = f"{PREFIX}{token}.{counter}."
    readable = _UNSAFE.sub("_", test_name).strip("_") or "test"
    if label:
        tail = "." + (_UNSAFE.sub("_", label).strip("_") or "x")
        readable = readable[: max(8, LIMIT - len(head) - len(tail))] + tail
    return (head + readable)[:LIMIT]


def owner(namespace: str) -> str | None:
    """Return the token of the process that made ``namespace`` with `build`, else None."""
    match = _OURS.fullmatch(namespace)
    return match.group(1) if match else None

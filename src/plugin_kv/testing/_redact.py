"""Keep secrets out of everything the plugin prints.

Three jobs, one rule each: `redact` masks the password of every URL in a text (the header,
reports, warnings, summaries); `StoreURL` is the ``kv_store_url`` value, a ``str`` whose repr
masks it, so pytest shows it masked wherever it shows a value (`explain_comparison` covers
pytest's string diffs, which print the text itself); `SecretKeys` masks the values under
secret-looking keys of a failure snapshot, at any depth of a JSON value.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import pytest

# The password runs to the last "@" before the host: a password may hold "@", never "/".
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<secret>[^/\s]*)@")
_QUERY = re.compile(r"(?P<head>[?&](?:password|sslpassword)=)(?P<secret>[^&\s'\"]*)", re.I)

MASK = "***"
"""What a masked password or value shows as."""


def redact(text: str) -> str:
    """Return ``text`` with the password of every URL in it replaced by ``***``.

    Covers ``scheme://user:password@host`` and ``?password=`` / ``?sslpassword=`` settings.
    """
    text = _USERINFO.sub(rf"\g<head>:{MASK}@", text)
    return _QUERY.sub(rf"\g<head>{MASK}", text)


class StoreURL(str):
    """A store URL that works as the URL, and whose repr masks its password.

    ``str(url)``, f-strings, ``KVService.open(url)`` and every string operation see the
    whole URL; ``repr(url)``, which pytest uses to show values (tracebacks, ``-l``, ``-vv``,
    assertion messages), shows ``postgresql://bot:***@db/test``. The ``kv_store_url``
    fixture's value is one; a ``kv_store_url`` fixture of your own can return one too:
    ``return StoreURL(os.environ["DATABASE_URL"])``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        """Return the repr of the URL with its password masked."""
        return repr(redact(str.__str__(self)))


def explain_comparison(config: pytest.Config, op: str, left: object, right: object) -> list[str]:
    """Explain a failed comparison of a `StoreURL` as pytest would, its password masked.

    pytest's string diffs print the text itself, not its repr: this asks the
    ``pytest_assertrepr_compare`` hook again with each ``str`` side masked (plain ``str``s,
    so this rule does not apply twice), and says when only the passwords differ.
    """
    shown_left, shown_right = _masked(left), _masked(right)
    summary = f"{shown_left!r} {op} {shown_right!r}"
    if op == "not in" and isinstance(shown_right, str) and str(left) not in shown_right:
        return [summary, "(it is in the password, which plugin-kv masks)"]
    lines: list[str] = []
    for answer in config.hook.pytest_assertrepr_compare(
        config=config, op=op, left=shown_left, right=shown_right
    ):
        lines = [redact(line) for line in answer or ()]
        if lines:
            break
    if not lines:
        lines = [summary]
    if shown_left == shown_right and str(left) != str(right):
        lines.append("(the two differ in their passwords, which plugin-kv masks)")
    return lines


def _masked(value: object) -> object:
    return redact(str.__str__(value)) if isinstance(value, str) else value


DEFAULT_SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "jwt",
        "passphrase",
        "passwd",
        "password",
        "passwords",
        "privatekey",
        "pwd",
        "secret",
        "secrets",
        "token",
    }
)
"""Words that make a key secret-looking: one of its words is one of these."""
DEFAULT_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key")})
"""Two words in a row that make a key secret-looking (``api_key``, ``privateKey``)."""

# A key's words: runs of letters and digits, split at every other character and at camelCase
# ("XAuthToken" -> X, Auth, Token; "APIKey" -> API, Key; "db_password2" -> db, password, 2).
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


class _Masked:
    """Stands for a masked value: its repr is ``***``, without quotes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return MASK


MASKED: Any = _Masked()
"""The stand-in of every masked value in a snapshot."""


class SecretKeys:
    """Which keys are secret-looking: the default words, and the ``kv_redact`` patterns.

    A key is secret-looking when one of its words (split at non-alphanumerics and at
    camelCase, compared case-insensitively) is in `DEFAULT_SECRET_WORDS`, two words in a row
    are in `DEFAULT_SECRET_PAIRS`, or one of the extra regular expressions is found in it,
    case-insensitively. ``tokens`` is not a secret word: ``tokens_used`` and ``max_tokens``
    count tokens.
    """

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        """Compile ``patterns``; one that is not a regular expression is a `pytest.UsageError`."""
        self.patterns = [_compile(pattern) for pattern in patterns]

    def is_secret(self, key: object) -> bool:
        """Return whether the value under ``key`` should be masked."""
        text = key if isinstance(key, str) else str(key)
        words = [word.lower() for word in _WORD.findall(text)]
        if any(word in DEFAULT_SECRET_WORDS for word in words):
            return True
        if any(pair in DEFAULT_SECRET_PAIRS for pair in itertools.pairwise(words)):
            return True
        return any(pattern.search(text) for pattern in self.patterns)

    def mask(self, key: object, value: Any) -> tuple[Any, bool]:
        """Return ``value`` (stored under ``key``) with every secret masked, and whether any was."""
        if self.is_secret(key):
            return MASKED, True
        return self._mask_inside(value)

    def _mask_inside(self, value: Any) -> tuple[Any, bool]:
        """Mask inside a dict, list or tuple; return it unchanged when nothing was masked."""
        if isinstance(value, dict):
            pairs = {key: self.mask(key, item) for key, item in value.items()}
            if not any(hit for _, hit in pairs.values()):
                return value, False
            return {key: item for key, (item, _) in pairs.items()}, True
        if isinstance(value, list | tuple):
            items = [self._mask_inside(item) for item in value]
            if not any(hit for _, hit in items):
                return value, False
            shown = [item for item, _ in items]
            return (tuple(shown) if isinstance(value, tuple) else shown), True
        return value, False


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise pytest.UsageError(
            f"plugin-kv: kv_redact pattern {pattern!r} is not a valid regular expression: {exc}"
            " (each line of kv_redact is a regular expression searched in keys, ignoring case)"
        ) from None


DEFAULT_SECRET_KEYS = SecretKeys()
"""The default words only, without ``kv_redact`` patterns."""

SECRET_KEYS = pytest.StashKey[SecretKeys]()
"""This run's `SecretKeys`, in ``config.stash``."""


def secret_keys(config: pytest.Config) -> SecretKeys:
    """Return this run's `SecretKeys` (the defaults before `configure_secret_keys` ran)."""
    return config.stash.get(SECRET_KEYS, DEFAULT_SECRET_KEYS)


def configure_secret_keys(config: pytest.Config) -> None:
    """Read the ``kv_redact`` ini setting; a bad pattern is a `pytest.UsageError` naming it."""
    config.stash[SECRET_KEYS] = SecretKeys(config.getini("kv_redact"))

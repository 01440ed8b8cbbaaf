"""Failure snapshots: what a failed test's namespaces held, shown in its report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugin_kv import KVService

from ._redact import DEFAULT_SECRET_KEYS, SecretKeys
from ._stores import Store

MAX_KEYS = 20
"""Keys shown per namespace; the rest are counted."""
MAX_VALUE_CHARS = 200
"""Characters shown of each value; longer ones are cut, saying how long they were."""
MAX_KEY_CHARS = 100
"""Characters shown of each key."""
MASKED_NOTE = "values under secret-looking keys are masked; the kv_redact ini setting adds patterns"
"""The line that says why a snapshot shows ``***``."""


@dataclass
class Snapshot:
    """What one namespace held when its test failed."""

    namespace: str
    total: int | None = None
    """How many keys it held (None: the store cannot list them)."""
    keys: list[str] | None = None
    """The first keys, sorted."""
    values: dict[str, Any] | None = None
    """Their values, where the store gives them."""
    error: str = ""
    """Why it could not be read."""

    def lines(self, secrets: SecretKeys = DEFAULT_SECRET_KEYS) -> list[str]:
        """Render the snapshot, one line per key, saying what was left out or masked."""
        return render([self], secrets)

    def _lines(self, secrets: SecretKeys) -> tuple[list[str], bool]:
        """Return the snapshot's lines, and whether a value in them was masked."""
        if self.error:
            return [f"{self.namespace}: could not read it: {self.error}"], False
        if self.total is None:
            return [f"{self.namespace}: (the store has no list_keys(namespace) to show it)"], False
        if self.total == 0:
            return [f"{self.namespace}: empty"], False
        plural = "" if self.total == 1 else "s"
        lines = [f"{self.namespace}: {self.total} key{plural}"]
        masked = False
        shown = self.keys or []
        for key in shown:
            text = _cut(repr(key), MAX_KEY_CHARS)
            if self.values is None:
                lines.append(f"  {text}")
                continue
            if key not in self.values:
                lines.append(f"  {text}: (gone: expired or removed meanwhile)")
                continue
            value, hit = secrets.mask(key, self.values[key])
            masked = masked or hit
            lines.append(f"  {text}: {_cut(repr(value), MAX_VALUE_CHARS)}")
        if self.total > len(shown):
            more = self.total - len(shown)
            lines.append(
                f"  ... and {more:,} more key{'' if more == 1 else 's'}"
                f" (only the first {len(shown)} shown)"
            )
        return lines, masked


def render(snapshots: list[Snapshot], secrets: SecretKeys) -> list[str]:
    """Render ``snapshots``, values under ``secrets`` masked, saying so when any was."""
    lines: list[str] = []
    masked = False
    for snapshot in snapshots:
        more, hit = snapshot._lines(secrets)
        lines += more
        masked = masked or hit
    if masked:
        lines.append(f"({MASKED_NOTE})")
    return lines


async def take(store: Store, namespace: str) -> Snapshot:
    """Read what ``namespace`` holds now: its first `MAX_KEYS` keys and their values."""
    snapshot = Snapshot(namespace)
    try:
        if store.is_service:
            service: KVService = store.target  # type: ignore[assignment]
            snapshot.total = await service.count(namespace)
            keys = await service.list_keys(namespace, limit=MAX_KEYS)
        elif store.can_list:
            every = await store.list_keys(namespace)
            snapshot.total, keys = len(every), sorted(every)[:MAX_KEYS]
        else:
            return snapshot
        snapshot.keys = keys
        snapshot.values = await store.get_many(namespace, keys) if keys else {}
    except Exception as exc:
        snapshot.error = f"{type(exc).__name__}: {exc}"
    return snapshot


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [cut: {len(text):,} characters]"

"""This machine's record of its test runs: the proof the sweep needs on a store of your own.

A `KVService` store holds a lease per live test process (`_leases`). A store of a project's
own cannot: the fixtures only clear and list it. So each process that hands out namespaces
of such a store first records its token here, in a file of its own under the user's cache
directory (``$XDG_CACHE_HOME/plugin-kv/runs``, else ``~/.cache/plugin-kv/runs``), and marks
it ended when it ends. A later run sweeps a namespace of such a store only when this record
proves its owner is over: ended, or a process of this machine that has exited. A token this
machine has no record of belongs to a run elsewhere (another machine, container or user
sharing the store): its namespaces are never touched here; a later run where that token was
recorded sweeps them.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from . import _leases, _names

RUNS_DIR_VAR = "PLUGIN_KV_RUNS_DIR"
"""Set to a directory to keep the records elsewhere than the user's cache directory."""
FORGET_AFTER_SECONDS = 30 * 24 * 3600.0
"""Records of runs that ended this long ago are deleted; their kept data is no longer swept."""


def runs_dir() -> Path:
    """Return the directory of this machine's run records (see the module docstring)."""
    chosen = os.environ.get(RUNS_DIR_VAR)
    if chosen:
        return Path(chosen)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "plugin-kv" / "runs"


class Registry:
    """Records of this machine's test runs, one JSON file per process token."""

    def __init__(self, directory: Path | None = None) -> None:
        """Use ``directory`` (default: `runs_dir`)."""
        self.directory = directory or runs_dir()

    def start(self, token: str, run: str) -> None:
        """Record that process ``token`` of test run ``run`` runs from now on."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write(token, _leases.process_record(run))

    def end(self, token: str) -> None:
        """Record that process ``token`` has ended (its namespaces may be swept from now on)."""
        record = self.read(token)
        if record is not None:
            self._write(token, {**record, "ended": _now()})

    def read(self, token: str) -> dict[str, Any] | None:
        """Return the record of process ``token``, or None when this machine has none."""
        try:
            record = json.loads((self.directory / f"{token}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def is_over(self, token: str, own_run: str) -> bool:
        """Return True only when this machine's record proves process ``token`` is over.

        Seen from test run ``own_run``: a process of that run is never over (`_leases.is_over`).
        A token without a record belongs to a run elsewhere, or long forgotten: never over.
        """
        return _leases.is_over(self.read(token), own_run)

    def forget_old(self) -> None:
        """Delete the records of runs that ended more than `FORGET_AFTER_SECONDS` ago."""
        horizon = _now() - FORGET_AFTER_SECONDS
        with contextlib.suppress(OSError):
            for path in self.directory.glob("*.json"):
                record = self.read(path.stem)
                ended = record.get("ended") if record else None
                if isinstance(ended, (int, float)) and ended < horizon:
                    path.unlink(missing_ok=True)

    def _write(self, token: str, record: dict[str, Any]) -> None:
        if not _names.is_token(token):
            raise ValueError(f"invalid process token {token!r}: use 8 hex digits")
        final = self.directory / f"{token}.json"
        partial = final.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(record), encoding="utf-8")
        os.replace(partial, final)  # a reader sees the old record or the new, never half


def _now() -> float:
    return time.time()

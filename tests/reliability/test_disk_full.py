"""A SQLite file store on a disk that fills up: clear refusals, no lost write, recovery.

The disk is a small tmpfs mounted for the test (root, or a container allowed to mount);
where mounting is not allowed the test is skipped and says why.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin_kv import BackendError, KVService

pytestmark = [pytest.mark.own_store]

PLUGIN = "disk-full"
VALUE = "x" * 2000
"""Big enough that a few hundred writes fill the disk."""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """Return the mount point of a 1 MiB tmpfs, unmounted after the test."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=1m", "plugin-kv-test", str(mount_point)]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command here: the disk-full case needs a small tmpfs")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"mounting a small tmpfs is not allowed here: {exc.stderr.strip()!r}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.asyncio
async def test_a_full_disk_refuses_writes_loses_none_and_recovers(small_disk: Path) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 384 * 1024)  # removed later: the space that comes back
    path = small_disk / "kv.sqlite3"
    acknowledged: dict[str, str] = {}
    async with KVService.open(path) as kv:
        refused: BackendError | None = None
        for n in range(10_000):
            try:
                await kv.set(PLUGIN, f"k:{n:05}", VALUE)
            except BackendError as exc:
                refused = exc
                break
            acknowledged[f"k:{n:05}"] = VALUE
        assert refused is not None, "the disk never filled up"
        assert acknowledged, "not a single write fitted"
        assert "database or disk is full" in str(refused)
        assert "no space left" in str(refused)
        assert isinstance(refused.__cause__, sqlite3.OperationalError)

        # Writes issued together on the full disk: each one that is refused says why, and
        # each one that happened to fit is kept like any other acknowledged write.
        keys = [f"together:{n}" for n in range(20)]
        outcomes = await asyncio.gather(
            *(kv.set(PLUGIN, key, VALUE) for key in keys), return_exceptions=True
        )
        for key, outcome in zip(keys, outcomes, strict=True):
            if outcome is None:
                acknowledged[key] = VALUE
            else:
                assert isinstance(outcome, BackendError), outcome
                assert "database or disk is full" in str(outcome)
        assert len(acknowledged) < 10_000

        # Reads still work, and every acknowledged write is there.
        assert await kv.get_many(PLUGIN, list(acknowledged)) == acknowledged

        filler.unlink()  # space again: the same service writes again
        await kv.set(PLUGIN, "after", VALUE)
        acknowledged["after"] = VALUE
        await kv.set_many(PLUGIN, {f"batch:{n}": VALUE for n in range(10)})
        acknowledged.update({f"batch:{n}": VALUE for n in range(10)})

    async with KVService.open(path) as kv:  # and all of it durably, as a new process sees it
        assert await kv.get_many(PLUGIN, list(acknowledged)) == acknowledged
        assert await kv.count(PLUGIN) == len(acknowledged)

"""Distributions broken on purpose, to prove that `plugin_kv_dev.dist_check` catches them.

Two ways a release goes wrong: the project leaves a file out (edit the sdist's tree, then
build both again with `unpack_sdist` and `dist_check.build`), or the wheel alone lacks one
(`wheel_without`, a copy of a good wheel minus one file).
"""

from __future__ import annotations

import re
import shutil
import tarfile
import zipfile
from pathlib import Path

from plugin_kv_dev.dist_check import Dist

ENTRY_POINT_TABLE = re.compile(r"^\[project\.entry-points\.pytest11\]\n(?:[^\[\n].*\n)*", re.M)
"""The pytest11 table of ``pyproject.toml`` (its header and the lines up to the next table)."""


def unpack_sdist(sdist: Path, into: Path) -> Path:
    """Unpack ``sdist`` under ``into``; return the project's directory (the one to build)."""
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+: refuse odd members
            archive.extractall(into, filter="data")
        else:  # pragma: no cover - older patch releases
            archive.extractall(into)
    return into / sdist.name.removesuffix(".tar.gz")


def drop_entry_point(project: Path) -> None:
    """Remove the ``pytest11`` entry-point table from ``project``'s ``pyproject.toml``."""
    pyproject = project / "pyproject.toml"
    text, removed = ENTRY_POINT_TABLE.subn("", pyproject.read_text(encoding="utf-8"))
    if removed != 1:
        raise ValueError(f"{str(pyproject)!r} has no [project.entry-points.pytest11] table to drop")
    pyproject.write_text(text, encoding="utf-8")


def wheel_without(dist: Dist, member: str, outdir: Path) -> Dist:
    """Return a copy of ``dist`` in ``outdir`` whose wheel lacks ``member``; the sdist is kept."""
    outdir.mkdir(parents=True)
    wheel = outdir / dist.wheel.name
    with zipfile.ZipFile(dist.wheel) as good, zipfile.ZipFile(wheel, "w") as broken:
        if member not in good.namelist():
            raise ValueError(f"{dist.wheel.name!r} has no {member!r} to leave out")
        for info in good.infolist():
            if info.filename != member:
                broken.writestr(info, good.read(info))
    sdist = Path(shutil.copy2(dist.sdist, outdir))
    return Dist(sdist, wheel, dist.version)

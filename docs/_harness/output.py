"""Reading a run's output: stable stand-ins for what changes, and ``output-of`` excerpts.

A shown block is an excerpt: its lines appear in the run's output, in order, each a whole
line once run-to-run details are replaced by the stand-ins of `STAND_INS` (paths by
`path_stand_ins`). Nothing is a wildcard. `update_excerpt` brings a drifted block up to date
(``--update-examples``), one line for one line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from plugin_kv.testing._names import TOKEN_PATTERN

BASETEMP_STAND_IN = "/tmp/pytest-0"
"""What the inner run's base temporary directory (where the default store lives) is shown as."""
ROOTDIR_STAND_IN = "/home/you/project"
"""What the directory the inner run starts in (its rootdir) is shown as."""
TOKEN_STAND_IN = "5f3a9c1e"
"""What the random process token of a test namespace (``kvt.<token>.<n>.``) is shown as."""

STAND_INS: tuple[tuple[re.Pattern[str], str], ...] = (
    # durations: "3 passed in 1.87s (0:00:01)", "--durations" lines, "took 0.25s"
    (re.compile(r"(?<![\w.])\d+\.\d+s\b(?: \(\d+:\d\d:\d\d\))?"), "0.12s"),
    # the process token in a test namespace; its counter (the .<n>.) is kept
    (re.compile(rf"\bkvt\.{TOKEN_PATTERN}\."), f"kvt.{TOKEN_STAND_IN}."),
    # random seeds (pytest-randomly, Hypothesis)
    (re.compile(r"(--randomly-seed=|--hypothesis-seed=|@seed\()\d+"), r"\g<1>1234"),
    # process ids
    (re.compile(r"\b(pid[ =:]?\s*)\d+\b"), r"\g<1>4242"),
    # versions in the session header
    (re.compile(r"\bPython \d+\.\d+\.\d+[\w.+]*"), "Python 3.12.0"),
    (re.compile(r"\b(pytest|pluggy)-\d+\.\d+\.\d+[\w.+]*"), r"\g<1>-x.y.z"),
)
"""Run-to-run details in pytest's and plugin-kv's output, and the stand-in each becomes."""

WIDTH = 80
"""The terminal width of inner runs (``COLUMNS``): their separator lines fit a page."""
_SEPARATOR = re.compile(r"(?P<fill>[=_\-!])(?P=fill){2,} (?P<title>.*?) (?P=fill){2,}")

SIMILAR = 0.6
"""How alike (`difflib.SequenceMatcher` ratio) a real line must be to replace a drifted one."""


def path_stand_ins(rootdir: str, basetemp: str) -> list[tuple[str, str]]:
    """Return (real, shown) pairs for the inner run's paths, the longest first."""
    pairs = [(basetemp, BASETEMP_STAND_IN), (rootdir, ROOTDIR_STAND_IN)]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def normalise(line: str, paths: Iterable[tuple[str, str]] = ()) -> str:
    """Return ``line`` with its paths and run-to-run details replaced by stand-ins."""
    for real, shown in paths:
        if real:
            line = line.replace(real, shown)
    for pattern, stand_in in STAND_INS:
        line = pattern.sub(stand_in, line)
    line = line.rstrip()
    separator = _SEPARATOR.fullmatch(line)
    return separator_line(separator["title"], separator["fill"]) if separator else line


def separator_line(title: str, fill: str, width: int = WIDTH) -> str:
    """Return ``title`` centred in ``fill`` characters as pytest draws it ``width`` wide.

    A stand-in may be shorter than what it replaced (``0.12s`` for ``12.05s``), so a
    separator line is drawn again around its new title, as pytest would have drawn it.
    """
    count = max((width - len(title) - 2) // 2, 1)
    line = f"{fill * count} {title} {fill * count}"
    return line + fill if len(line) + 1 <= width else line


def normalise_output(text: str, paths: Sequence[tuple[str, str]] = ()) -> list[str]:
    """Return the lines of a run's output, each normalised."""
    return [normalise(line, paths) for line in text.splitlines()]


def missing_line(block: Sequence[str], output: Sequence[str]) -> int | None:
    """Return the index of the first block line not found in order in ``output``, or None."""
    position = 0
    for index, line in enumerate(block):
        found = _find(output, line, position)
        if found is None:
            return index
        position = found + 1
    return None


@dataclass
class Update:
    """What `update_excerpt` made of a block: its new lines, and lines it could not place."""

    lines: list[str]
    unplaced: list[int]
    """Indexes of block lines with no similar real line (left as they were)."""


def update_excerpt(block: Sequence[str], output: Sequence[str]) -> Update:
    """Return ``block`` brought up to date with ``output``, one line for one line.

    Each block line found (as a whole line, at or after the previous one's place) stays. A
    line not found is replaced by the real line most like it that lies between the previous
    block line's place and the next found block line's place: a line that contains it wins,
    else the most similar one, if at least `SIMILAR` alike. Otherwise the line stays and is
    reported in `Update.unplaced`.
    """
    lines, unplaced, position = list(block), [], 0
    for index, line in enumerate(block):
        found = _find(output, line, position)
        if found is None:
            later = (_find(output, other, position) for other in block[index + 1 :])
            end = next((f for f in later if f is not None), len(output))
            found = _closest(line, output, position, end)
            if found is None:
                unplaced.append(index)
                continue
            lines[index] = output[found]
        position = found + 1
    return Update(lines, unplaced)


def _find(output: Sequence[str], line: str, start: int) -> int | None:
    return output.index(line, start) if line in output[start:] else None


def _closest(line: str, output: Sequence[str], start: int, end: int) -> int | None:
    candidates = [i for i in range(start, end) if output[i].strip()]
    containing = [i for i in candidates if line.strip() in output[i]]
    if containing:
        return containing[0]
    ratios = {i: difflib.SequenceMatcher(None, line, output[i]).ratio() for i in candidates}
    best = max(candidates, key=ratios.__getitem__, default=None)
    return best if best is not None and ratios[best] >= SIMILAR else None

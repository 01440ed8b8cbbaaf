"""The harness's tests import it as ``pytest docs/`` does: as the package ``_harness`` of docs/."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs"))

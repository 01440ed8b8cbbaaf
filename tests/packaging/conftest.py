"""The packaging check is slow (it builds and installs): its tests say so with a marker."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``packaging`` marker (``-m "not packaging"`` leaves these tests out)."""
    config.addinivalue_line(
        "markers",
        "packaging: builds the sdist and the wheel and installs them into fresh virtual"
        " environments (seconds each; needs the package index, or pip's cache)",
    )

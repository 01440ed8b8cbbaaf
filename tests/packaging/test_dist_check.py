"""What ``pip install plugin-kv`` gives, and proof that the check fails on a broken release.

Each test builds (``python -m build``: the sdist, then the wheel from it) and installs into a
fresh virtual environment outside the repository: seconds each, hence the ``packaging`` mark.
The release workflow runs the same check on the files it publishes (``python -m
plugin_kv_dev.dist_check dist``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin_kv_dev.dist_check import ROOT, Dist, DistCheckError, build, check, main
from plugin_kv_dev.dist_faults import drop_entry_point, unpack_sdist, wheel_without

pytestmark = pytest.mark.packaging

PLUGIN_MODULE = "plugin_kv/testing/_fixtures.py"
"""A module the plugin cannot load without, left out of the broken releases."""


@pytest.fixture(scope="module")
def checkout_dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """Return the sdist and the wheel built from this checkout."""
    return build(ROOT, tmp_path_factory.mktemp("dist"))


@pytest.fixture
def project(checkout_dist: Dist, tmp_path: Path) -> Path:
    """Return a copy of the project to break: the checkout's sdist, unpacked."""
    return unpack_sdist(checkout_dist.sdist, tmp_path / "project")


def test_the_checkout_installs_and_runs_the_tutorial(checkout_dist: Dist, tmp_path: Path) -> None:
    said: list[str] = []
    check(checkout_dist, tmp_path, say=said.append)
    assert said[-2:] == [
        "the leaky suite, the plugin loaded from its entry point: 1 failed, 2 passed",
        "the fixed suite, the plugin loaded from its entry point: 3 passed",
    ]


def test_a_module_left_out_of_the_project_fails_the_tutorial(project: Path, tmp_path: Path) -> None:
    (project / "src" / PLUGIN_MODULE).unlink()
    broken = build(project, tmp_path / "dist")
    with pytest.raises(DistCheckError) as caught:
        check(broken, tmp_path / "check")
    message = str(caught.value)
    assert message.startswith("the leaky suite against the installed wheel should show")
    module = PLUGIN_MODULE.removesuffix(".py").replace("/", ".")
    assert f"No module named {module!r}" in message


def test_a_wheel_without_a_module_of_the_sdist_fails(checkout_dist: Dist, tmp_path: Path) -> None:
    broken = wheel_without(checkout_dist, PLUGIN_MODULE, tmp_path / "dist")
    with pytest.raises(DistCheckError, match="the wheel lacks files the sdist has") as caught:
        check(broken, tmp_path / "check")
    assert str(caught.value).endswith(f"[{PLUGIN_MODULE!r}]")


def test_a_project_without_the_entry_point_fails(project: Path, tmp_path: Path) -> None:
    drop_entry_point(project)
    broken = build(project, tmp_path / "dist")
    with pytest.raises(DistCheckError) as caught:
        check(broken, tmp_path / "check")
    assert str(caught.value).startswith(
        "the installed plugin-kv declares no pytest11 entry point"
        " 'plugin_kv.testing' = 'plugin_kv.testing': pytest will not load the plugin"
    )


def test_a_project_without_py_typed_fails(project: Path, tmp_path: Path) -> None:
    (project / "src" / "plugin_kv" / "py.typed").unlink()
    broken = build(project, tmp_path / "dist")
    with pytest.raises(DistCheckError, match=r"the installed plugin_kv has no py\.typed"):
        check(broken, tmp_path / "check")


def test_a_tag_that_is_not_the_version_fails_at_once(
    checkout_dist: Dist, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = f"{checkout_dist.version}.post9"
    assert main([str(checkout_dist.wheel.parent), "--expect-version", tag]) == 1
    assert capsys.readouterr().err == (
        f"dist_check: FAILED: the built version is {checkout_dist.version!r}, but {tag!r} was"
        " expected (a release tag v<version> must name pyproject.toml's version)\n"
    )


def test_the_check_refuses_to_run_in_the_checkout(checkout_dist: Dist) -> None:
    inside = ROOT / "build" / "dist-check"
    with pytest.raises(ValueError, match="must run outside the checkout") as caught:
        check(checkout_dist, inside)
    assert repr(str(inside)) in str(caught.value)
    assert not inside.exists()

"""The fixtures work in every documented setup: loading, asyncio modes, xdist, random order."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugin_kv.testing._leases import machine_id
from plugin_kv_dev.suites import FIXED_SUITE

from .conftest import configure, dedent, seed, store_contents

SUITE_PASSES = {"passed": 3}


@pytest.mark.parametrize(
    ("mode", "loop"),
    [("strict", "function"), ("auto", "function"), ("strict", "session"), ("auto", "module")],
)
def test_fixed_suite_passes_in_every_asyncio_mode_and_loop_scope(
    pytester: pytest.Pytester, mode: str, loop: str
) -> None:
    configure(pytester, mode=mode, loop=loop)
    suite = FIXED_SUITE if mode == "strict" else FIXED_SUITE.replace("@pytest.mark.asyncio\n", "")
    pytester.makepyfile(test_fixed=suite)
    pytester.runpytest("-p", "no:randomly").assert_outcomes(**SUITE_PASSES)


def test_fixed_suite_passes_ten_runs_in_a_row_on_one_store(
    pytester: pytest.Pytester, store_file: Path
) -> None:
    configure(pytester)
    pytester.makepyfile(test_fixed=FIXED_SUITE)
    for _ in range(10):
        result = pytester.runpytest("-p", "no:randomly", f"--kv-url={store_file}")
        result.assert_outcomes(**SUITE_PASSES)
    assert store_contents(str(store_file)) == {}


@pytest.mark.parametrize("seed_value", [1, 2, 3, 12345])
def test_fixed_suite_passes_in_random_orders(pytester: pytest.Pytester, seed_value: int) -> None:
    configure(pytester)
    pytester.makepyfile(test_fixed=FIXED_SUITE, test_more=FIXED_SUITE)
    result = pytester.runpytest(f"--randomly-seed={seed_value}")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines([f"Using --randomly-seed={seed_value}"])


def test_fixed_suite_passes_under_xdist_on_the_default_shared_store(
    pytester: pytest.Pytester,
) -> None:
    configure(pytester)
    for n in range(4):
        pytester.makepyfile(**{f"test_fixed_{n}": FIXED_SUITE})
    pytester.makepyfile(
        test_shared=dedent(
            """
            import os

            def test_workers_share_one_store(kv_store_url, worker_id):
                assert kv_store_url.endswith("plugin-kv.sqlite3")
                assert os.path.basename(os.path.dirname(kv_store_url)) != worker_id
                print("STORE", worker_id, kv_store_url)
            """
        )
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "randomly", "-s")
    result.assert_outcomes(passed=13)
    result.stdout.fnmatch_lines(["*created: 2/2 workers*"])


def test_enabled_every_way_at_once_registers_once(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makeconftest('pytest_plugins = ["plugin_kv.testing"]')
    pytester.makepyfile(test_fixed=FIXED_SUITE)
    # The entry point, -p and pytest_plugins, all three: one plugin, one header line.
    result = pytester.runpytest_subprocess("-p", "plugin_kv.testing", "-p", "no:randomly")
    result.assert_outcomes(**SUITE_PASSES)
    assert (
        len([line for line in result.outlines if line.startswith("plugin-kv: kv_service store")])
        == 1
    )


@pytest.mark.parametrize(
    "setup",
    ["-p plugin_kv.testing", "pytest_plugins", "autoload off, -p", "autoload off, pytest_plugins"],
)
def test_explicit_enabling_never_registers_twice(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, setup: str
) -> None:
    configure(pytester)
    pytester.makepyfile(test_fixed=FIXED_SUITE)
    args = ["-p", "no:randomly"]
    if "pytest_plugins" in setup:
        pytester.makeconftest('pytest_plugins = ["plugin_kv.testing"]')
    else:
        args += ["-p", "plugin_kv.testing"]
    if "autoload off" in setup:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        args += ["-p", "pytest_asyncio.plugin"]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(**SUITE_PASSES)


def test_store_option_beats_ini_beats_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configure(pytester, extra=f'kv_url = "{tmp_path / "from-ini.db"}"')
    pytester.makepyfile(test_url="def test_url(kv_store_url):\n    print('URL', kv_store_url)\n")
    monkeypatch.setenv("PLUGIN_KV_URL", str(tmp_path / "from-env.db"))
    by_option = pytester.runpytest("-s", f"--kv-url={tmp_path / 'from-option.db'}")
    by_option.stdout.fnmatch_lines(["*URL */from-option.db"])
    by_ini = pytester.runpytest("-s")
    by_ini.stdout.fnmatch_lines(["*URL */from-ini.db"])
    configure(pytester)
    by_env = pytester.runpytest("-s")
    by_env.stdout.fnmatch_lines(
        ["plugin-kv: kv_service store */from-env.db; leaks: warn", "*URL */from-env.db"]
    )


def test_bad_leak_setting_is_a_usage_error(pytester: pytest.Pytester) -> None:
    configure(pytester, extra='kv_leaks = "sometimes"')
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*kv_leaks = 'sometimes' is not valid: use fail, warn or off*"])


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    configure(pytester)
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["plugin-kv test isolation:", "*--kv-url=URL*", "*--kv-leaks=*", "*--kv-keep-failed*"]
    )


def test_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    configure(pytester)
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "kv_service -- *",
            "    Return the KVService on the store shared by the whole run*",
        ]
    )
    for name in ("kv_isolated_plugin", "kv_plugin_factory", "kv_store"):
        assert f"{name} -- " in result.stdout.str()
    assert "kv_store_url [session scope] -- " in result.stdout.str()


# -- stale data from crashed runs ----------------------------------------------------------


def test_sweep_removes_only_namespaces_whose_owner_is_gone(
    pytester: pytest.Pytester, store_file: Path
) -> None:
    url = str(store_file)
    machine = machine_id()
    dead_pid = _dead_pid()
    seed(url, {"kvt.0000dead.1.test_no_lease": {"k": 1}})
    seed(url, {"kvt.0000beef.1.test_exited": {"k": 1}})
    seed(url, {"kvt.0000cafe.1.test_elsewhere": {"k": 1}})
    seed(url, {"kvt.0000f00d.1.test_alive_here": {"k": 1}})
    seed(url, {"user-data": {"k": 1}})
    seed(
        url,
        {
            "kvt": {
                "0000beef": {"machine": machine, "pid": dead_pid, "since": 0},
                "0000cafe": {"machine": "another-host/boot/1", "pid": 1, "since": 0},
                "0000f00d": {"machine": machine, "pid": os.getpid(), "since": 0},
            }
        },
        ttl=600,
    )
    configure(pytester)
    pytester.makepyfile(test_x="def test_x(kv_service): pass")
    result = pytester.runpytest(f"--kv-url={url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugin-kv: swept 2 namespaces*"])
    left = store_contents(url)
    assert sorted(left) == [
        "kvt",
        "kvt.0000cafe.1.test_elsewhere",
        "kvt.0000f00d.1.test_alive_here",
        "user-data",
    ]
    assert sorted(left["kvt"]) == ["0000cafe", "0000f00d"]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _ours(url: str, test_name: str) -> dict[str, dict[str, object]]:
    """The fixture namespaces in the store made for ``test_name`` (a shared server has more)."""
    return {
        name: data
        for name, data in store_contents(url).items()
        if name.startswith("kvt.") and name.endswith(f".{test_name}")
    }


def test_a_killed_run_is_swept_by_the_next_run(
    pytester: pytest.Pytester, shared_store: str
) -> None:
    url = shared_store
    configure(pytester)
    pytester.makepyfile(
        test_crash=dedent(
            """
            import os, signal, pytest

            @pytest.mark.asyncio
            async def test_killed_mid_test(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "half-written", 1)
                os.kill(os.getpid(), signal.SIGKILL)
            """
        )
    )
    crashed = pytester.runpytest_subprocess(f"--kv-url={url}")
    assert crashed.ret != 0
    left = _ours(url, "test_killed_mid_test")
    assert list(left.values()) == [{"half-written": 1}]

    pytester.makepyfile(test_crash="def test_next(kv_service): pass")
    result = pytester.runpytest(f"--kv-url={url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"plugin-kv: swept * namespaces*{next(iter(left))}*"])
    assert _ours(url, "test_killed_mid_test") == {}


def test_two_runs_at_once_never_sweep_each_other(
    pytester: pytest.Pytester, shared_store: str, tmp_path: Path
) -> None:
    url = shared_store
    ready, release = tmp_path / "ready", tmp_path / "release"
    configure(pytester)
    pytester.makepyfile(
        test_long=dedent(
            f"""
            import pathlib, time, pytest

            @pytest.mark.asyncio
            async def test_long_running(kv_service, kv_isolated_plugin):
                await kv_service.set(kv_isolated_plugin, "mine", "still here")
                pending = pathlib.Path({str(ready)!r} + ".tmp")
                pending.write_text(kv_isolated_plugin)
                pending.replace({str(ready)!r})  # appears whole: never seen empty
                deadline = time.monotonic() + 60
                while not pathlib.Path({str(release)!r}).exists():
                    assert time.monotonic() < deadline, "never released"
                    time.sleep(0.01)
                assert await kv_service.get(kv_isolated_plugin, "mine") == "still here"
            """
        ),
        test_other="def test_other(kv_service, kv_isolated_plugin): pass",
    )
    first = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--kv-url={url}", "test_long.py", "-q"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():  # wait until the first run is inside its test
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first run never started its test"
            time.sleep(0.01)
        namespace = ready.read_text()
        second = pytester.runpytest(f"--kv-url={url}", "test_other.py")
        second.assert_outcomes(passed=1)
        assert namespace not in second.stdout.str()  # not swept, not even looked at twice
        assert store_contents(url)[namespace] == {"mine": "still here"}
    finally:
        release.write_text("go")
        output = first.communicate(timeout=60)[0]
    assert first.returncode == 0, output
    assert _ours(url, "test_long_running") == {}
    assert _ours(url, "test_other") == {}


def test_fixed_suite_passes_under_xdist_and_random_order_on_one_shared_store(
    pytester: pytest.Pytester, shared_store: str
) -> None:
    configure(pytester)
    for n in range(3):
        pytester.makepyfile(**{f"test_fixed_{n}": FIXED_SUITE})
    for seed_value in (1, 2):
        result = pytester.runpytest_subprocess(
            "-n", "2", "-p", "randomly", f"--randomly-seed={seed_value}", f"--kv-url={shared_store}"
        )
        result.assert_outcomes(passed=9)
    for test_name in ("test_create_users", "test_user_sessions", "test_count_with_prefix"):
        assert _ours(shared_store, test_name) == {}

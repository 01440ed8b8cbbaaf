"""The fixtures under faults: timeouts, interrupts, failing teardowns, a store that goes away.

Each case ends in a clear error, leaves nothing behind silently, and whatever a crash did
leave is swept by the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ..conftest import POSTGRES_URL, require_postgres
from ..plugin.conftest import configure, store_contents

pytestmark = pytest.mark.own_store

WRITES_THEN_BLOCKS = """
import threading
import pytest

@pytest.mark.asyncio
async def test_blocks(kv_service, kv_isolated_plugin):
    await kv_service.set_many(kv_isolated_plugin, {f"k{n}": n for n in range(100)})
    threading.Event().wait()  # never set: only the timeout ends this test
"""


def ours(contents: Mapping[str, Any]) -> dict[str, Any]:
    """Return the namespaces the fixtures made (and their leases), nothing else."""
    return {name: data for name, data in contents.items() if name.startswith("kvt")}


@pytest.fixture
def store(pytester: pytest.Pytester) -> str:
    configure(pytester)
    return str(pytester.path / "store" / "faults.sqlite3")


@pytest.fixture(autouse=True)
def _store_dir(pytester: pytest.Pytester) -> None:
    (pytester.path / "store").mkdir()


def test_a_timeout_inside_the_test_fails_it_and_cleanup_still_runs(
    pytester: pytest.Pytester, store: str
) -> None:
    pytester.makepyfile(test_timeout=WRITES_THEN_BLOCKS)
    result = pytester.runpytest_subprocess(
        f"--kv-url={store}", "--timeout=1", "--timeout-method=signal"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Failed: Timeout (>1.0s) from pytest-timeout*"])
    assert store_contents(store) == {}


def test_a_timeout_that_kills_the_run_is_swept_by_the_next_run(
    pytester: pytest.Pytester, store: str
) -> None:
    pytester.makepyfile(test_timeout=WRITES_THEN_BLOCKS)
    killed = pytester.runpytest_subprocess(
        f"--kv-url={store}", "--timeout=1", "--timeout-method=thread"
    )
    assert killed.ret != 0
    killed.stdout.fnmatch_lines(["*Timeout*"])
    left = ours(store_contents(store))
    assert [len(data) for name, data in left.items() if "test_blocks" in name] == [100]

    pytester.makepyfile(test_timeout="def test_next(kv_service): pass")
    result = pytester.runpytest_subprocess(f"--kv-url={store}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugin-kv: swept 1 namespaces*test_blocks*"])
    assert store_contents(store) == {}


def test_an_interrupt_in_the_middle_of_a_write_ends_the_run_and_leaves_nothing(
    pytester: pytest.Pytester, store: str
) -> None:
    pytester.makepyfile(
        test_interrupt="""
        import asyncio, os, signal
        import pytest

        @pytest.mark.asyncio
        async def test_interrupted(kv_service, kv_isolated_plugin):
            await kv_service.set(kv_isolated_plugin, "before", 1)
            write = asyncio.ensure_future(
                kv_service.set_many(kv_isolated_plugin, {f"k{n}": n for n in range(5000)})
            )
            asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGINT)
            await write

        def test_never_runs(kv_service, kv_isolated_plugin):
            pass
        """
    )
    interrupted = pytester.runpytest_subprocess(f"--kv-url={store}", "-p", "no:randomly")
    assert interrupted.ret == pytest.ExitCode.INTERRUPTED
    interrupted.stdout.fnmatch_lines(["*! KeyboardInterrupt !*", "*no tests ran*"])
    assert "Traceback" not in interrupted.stderr.str()  # a clean stop, not a crash
    assert store_contents(store) == {}  # the interrupted test's namespace was cleaned up


def test_teardowns_that_raise_and_write_cannot_stop_the_cleanup(
    pytester: pytest.Pytester, store: str
) -> None:
    pytester.makepyfile(
        test_teardowns="""
        import pytest

        @pytest.fixture
        def writes_in_teardown(kv_service, kv_isolated_plugin):
            yield
            import asyncio
            asyncio.run(kv_service.set(kv_isolated_plugin, "written-in-teardown", 1))
            raise RuntimeError("teardown after writing")

        @pytest.fixture
        def also_raises():
            yield
            raise OSError("a second teardown fails too")

        @pytest.mark.asyncio
        async def test_two_teardowns_fail(
            also_raises, writes_in_teardown, kv_service, kv_isolated_plugin, kv_plugin_factory
        ):
            await kv_service.set(kv_isolated_plugin, "k", 1)
            await kv_service.set(kv_plugin_factory("second"), "k", 2)
        """
    )
    result = pytester.runpytest(f"--kv-url={store}", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: teardown after writing*"])
    assert store_contents(store) == {}


def test_a_store_directory_removed_mid_run_is_a_clear_error_naming_the_store(
    pytester: pytest.Pytester, store: str
) -> None:
    pytester.makepyfile(
        test_gone="""
        import shutil, os
        import pytest

        @pytest.mark.asyncio
        async def test_a_before(kv_service, kv_isolated_plugin):
            await kv_service.set(kv_isolated_plugin, "k", 1)

        @pytest.mark.asyncio
        async def test_b_removes_the_store(kv_service, kv_store_url):
            shutil.rmtree(os.path.dirname(kv_store_url))
            await kv_service.close()  # the next test must open it again, as a new worker would

        @pytest.mark.asyncio
        async def test_c_after(kv_service, kv_isolated_plugin):
            await kv_service.set(kv_isolated_plugin, "k", 1)
        """
    )
    result = pytester.runpytest(f"--kv-url={store}", "-p", "no:randomly", "--timeout=60")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_c_after*",
            "*BackendUnavailableError: cannot open SQLite store sqlite:///*/store/faults.sqlite3:"
            " directory * does not exist",
        ]
    )
    assert not Path(store).parent.exists()  # nothing was recreated behind the run's back


PROXY_CONFTEST = """
import socket
import threading

import pytest


class Proxy:
    \"\"\"Forward TCP connections to PostgreSQL until stopped, then refuse and cut them.\"\"\"

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    def pump(self, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for sock in self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


PROXY = Proxy(({host!r}, {port}))


@pytest.fixture
def kv_store_url():
    return "postgresql://{user}@127.0.0.1:%d/{database}" % PROXY.port


@pytest.fixture
def proxy():
    return PROXY
"""


@pytest.mark.postgres
def test_postgresql_going_away_mid_run_fails_clearly_and_the_next_run_sweeps(
    pytester: pytest.Pytester,
) -> None:
    require_postgres()
    from urllib.parse import urlsplit

    target = urlsplit(POSTGRES_URL)
    pytester.makeconftest(
        PROXY_CONFTEST.format(
            host=target.hostname or "127.0.0.1",
            port=target.port or 5432,
            user=target.username or "postgres",
            database=target.path.lstrip("/"),
        )
    )
    pytester.makepyfile(
        test_server_gone="""
        import pytest

        @pytest.mark.asyncio
        async def test_a_before(kv_service, kv_isolated_plugin):
            await kv_service.set(kv_isolated_plugin, "k", 1)

        @pytest.mark.asyncio
        async def test_b_server_goes_away(kv_service, kv_isolated_plugin, proxy):
            await kv_service.set(kv_isolated_plugin, "left-behind", 1)
            proxy.stop()
            await kv_service.set(kv_isolated_plugin, "never-written", 1)

        @pytest.mark.asyncio
        async def test_c_after(kv_service, kv_isolated_plugin):
            await kv_service.set(kv_isolated_plugin, "k", 1)
        """
    )
    broken = pytester.runpytest_subprocess("-p", "no:randomly", "--timeout=60")
    broken.assert_outcomes(passed=1, failed=2, errors=2)
    for line in (  # each on its own: the order of the report's sections is pytest's
        "*BackendUnavailableError: set failed: cannot use PostgreSQL at 127.0.0.1:*",
        "*plugin-kv cleanup failed:*",
        "*could not remove namespace 'kvt.*test_b_server_goes_away' from postgresql://*"
        "(a later run sweeps it)",
    ):
        broken.stdout.fnmatch_lines([line])
    output = broken.stdout.str()
    left = output[output.index("could not remove namespace '") :].split("'")[1]

    pytester.makeconftest("")
    pytester.makepyfile(test_server_gone="def test_next(kv_service): pass")
    swept = pytester.runpytest_subprocess(f"--kv-url={POSTGRES_URL}")
    swept.assert_outcomes(passed=1)
    # This run sweeps it, unless another run on the shared server (an xdist worker of the
    # outer suite) opened the store first and swept it already: either way, it is gone.
    assert left not in store_contents(POSTGRES_URL)

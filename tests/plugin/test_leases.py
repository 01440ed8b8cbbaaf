"""A test that outlives its lease keeps its namespaces: the lease keeper renews the lease."""

from __future__ import annotations

import pytest

from .conftest import configure, dedent

LONG_TEST = dedent(
    """
    import asyncio

    import plugin_kv.testing._leases as kvt
    from plugin_kv import KVService
    from plugin_kv.testing._leases import sweep_stale

    kvt.LEASE_SECONDS = 1.0  # renewed every 0.1 s: a stalled keeper has 0.9 s to spare
    kvt.LEASE_REFRESH_SECONDS = {refresh}


    async def outlive_the_lease_then_sweep(url, namespace):
        async with KVService.open(url) as kv:
            await kv.set(namespace, "k", 1)
            token = namespace.split(".")[1]
            first = await kv.get("kvt", token)
            # The scenario itself, not a wait for a race: the test outlives its first lease.
            await asyncio.sleep(1.5 * kvt.LEASE_SECONDS)
            swept = await sweep_stale(kv, "0a0b0c0d")  # another run starting on the store
            lease = await kv.get("kvt", token)
            return namespace in swept, await kv.get(namespace, "k"), first, lease


    def test_long(kv_store_url, kv_isolated_plugin):
        swept, value, first, lease = asyncio.run(
            outlive_the_lease_then_sweep(kv_store_url, kv_isolated_plugin)
        )
        if {kept}:
            assert not swept and value == 1
            assert lease is not None and lease["since"] > first["since"]
        else:  # swept: by this sweep, or first by another run sharing the store
            assert value is None and lease is None
    """
)


@pytest.mark.parametrize(
    ("refresh", "kept"),
    [(0.1, True), (1000.0, False)],
    ids=["renewed-every-0.1s-kept", "control-never-renewed-swept"],
)
def test_a_test_that_outlives_its_lease_keeps_its_namespace(
    pytester: pytest.Pytester, shared_store: str, refresh: float, kept: bool
) -> None:
    configure(pytester)
    pytester.makepyfile(test_long=LONG_TEST.format(refresh=refresh, kept=kept))
    # A subprocess: the inner run shortens the plugin's lease, which must not reach this one.
    result = pytester.runpytest_subprocess(f"--kv-url={shared_store}", "-p", "no:randomly")
    result.assert_outcomes(passed=1)


def test_a_lease_that_cannot_be_renewed_is_reported_at_the_end(
    pytester: pytest.Pytester,
) -> None:
    store = pytester.path / "store-dir" / "store.sqlite3"
    store.parent.mkdir()
    configure(pytester)
    pytester.makepyfile(
        test_gone=dedent(
            """
            import shutil
            import time
            from pathlib import Path

            import plugin_kv.testing._leases as kvt
            from plugin_kv.testing._run import RUN

            kvt.LEASE_REFRESH_SECONDS = 0.05


            def test_store_goes_away(kv_isolated_plugin, kv_store_url, request):
                shutil.rmtree(Path(kv_store_url).parent)  # open connections keep working
                keeper = request.config.stash[RUN].keeper
                deadline = time.monotonic() + 30
                while not keeper.failures:  # until the keeper has tried, and failed
                    assert time.monotonic() < deadline, "the lease keeper never ran"
                    time.sleep(0.01)
            """
        )
    )
    result = pytester.runpytest_subprocess(f"--kv-url={store}", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"plugin-kv: could not renew this process's lease on {store}:"
            " BackendUnavailableError: cannot open SQLite store*does not exist*"
        ]
    )

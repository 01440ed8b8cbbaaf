"""What only the PostgreSQL backend has to get right: collation, plans, pools, failures.

The server comes from ``PLUGIN_KV_TEST_POSTGRES_URL``; without one the module is skipped,
unless ``PLUGIN_KV_REQUIRE_POSTGRES=1`` makes that a failure. Every test writes under
namespaces from the plugin's own fixtures, pointed at the server (removed after each
test, ignored by the leak check of concurrent workers), or in a schema of its own.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import subprocess
import sys
import textwrap
import time
import urllib.parse
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from uuid import uuid4

import pytest
import pytest_asyncio

from plugin_kv import (
    BackendError,
    BackendUnavailableError,
    KVService,
    MissingDependencyError,
    ServiceClosedError,
)
from plugin_kv.testing import KVPluginFactory
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, postgres_unavailable

_reason = postgres_unavailable()
if _reason is not None:
    if REQUIRE_POSTGRES:
        pytest.fail(f"PLUGIN_KV_REQUIRE_POSTGRES=1 but {_reason}", pytrace=False)
    pytest.skip(_reason, allow_module_level=True)

import asyncpg  # noqa: E402 - only once we know the extra is installed

from plugin_kv._postgres import (  # noqa: E402
    _CLEAR_RANGE,
    _COUNT_RANGE,
    _LIST_RANGE,
    PostgresBackend,
    _describe,
    _release_socket,
)

# own_store: these tests open stores of their own and run once, not once per backend.
pytestmark = [pytest.mark.postgres, pytest.mark.own_store]


def with_url(
    url: str, *, password: str | None = None, port: int | None = None, **query: str
) -> str:
    """Return ``url`` with a password, another port on 127.0.0.1, or extra settings."""
    parts = urllib.parse.urlsplit(url)
    user = parts.username or ""
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@" if password else f"{user}@" if user else ""
    netloc += f"{host}:{parts.port or 5432}" if port is None else f"127.0.0.1:{port}"
    query_text = urllib.parse.urlencode({**dict(urllib.parse.parse_qsl(parts.query)), **query})
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query_text, ""))


def database_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


@pytest_asyncio.fixture
async def kv() -> AsyncIterator[KVService]:
    async with KVService.open(POSTGRES_URL) as service:
        yield service


@pytest.fixture
def kv_store_url() -> str:
    """Point the plugin's fixtures at the server: its namespaces are leased and removed there."""
    return POSTGRES_URL


@pytest.fixture
def plugin(kv_plugin_factory: KVPluginFactory) -> str:
    """A namespace of this test's own on the server, removed after the test."""
    return kv_plugin_factory()


@asynccontextmanager
async def own_schema() -> AsyncIterator[str]:
    """Create an empty schema, yield its name, and drop it with everything in it."""
    schema = f"pgtest_{uuid4().hex}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


# -- collation and prefixes ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_prefix_is_literal_and_case_sensitive(kv: KVService, plugin: str) -> None:
    keys = ["user:1", "user:2", "user_1", "userX1", "User:1", "user", "user;", "usera", "%", "_"]
    await kv.set_many(plugin, dict.fromkeys(keys, 1))

    assert await kv.list_keys(plugin, prefix="user:") == ["user:1", "user:2"]
    assert await kv.count(plugin, prefix="user:") == 2
    assert await kv.list_keys(plugin, prefix="user_") == ["user_1"]
    assert await kv.list_keys(plugin, prefix="User:") == ["User:1"]
    assert await kv.list_keys(plugin, prefix="%") == ["%"]
    assert await kv.list_keys(plugin, prefix="_") == ["_"]
    assert await kv.clear(plugin, prefix="user_") == 1
    assert await kv.list_keys(plugin, prefix="user") == [
        "user",
        "user:1",
        "user:2",
        "user;",
        "userX1",
        "usera",
    ]


@pytest.mark.asyncio
async def test_keys_sort_by_code_point_whatever_the_database_locale(
    kv: KVService, plugin: str
) -> None:
    keys = [
        "b",
        "B",
        "a",
        "é",
        "e",
        "Z",
        "ä",
        "\uffff",
        "😀",
        "\U0001d538",
        "a b",
        "a-b",
        "a_b",
        "aB",
        "~",
    ]
    await kv.set_many(plugin, dict.fromkeys(keys, None))

    assert await kv.list_keys(plugin) == sorted(keys)
    assert await kv.list_keys(plugin, limit=3) == sorted(keys)[:3]
    assert await kv.list_keys(plugin, prefix="a") == ["a", "a b", "a-b", "aB", "a_b"]
    assert await kv.list_keys(plugin, prefix="\uffff") == ["\uffff"]


@pytest.mark.asyncio
async def test_key_column_uses_c_collation(kv: KVService) -> None:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        rows = await connection.fetch(
            "SELECT a.attname, c.collname FROM pg_attribute a"
            " JOIN pg_collation c ON c.oid = a.attcollation"
            " WHERE a.attrelid = 'plugin_kv_entries'::regclass AND a.attname IN ('plugin', 'key')"
        )
    finally:
        await connection.close()
    assert {row["attname"]: row["collname"] for row in rows} == {"plugin": "C", "key": "C"}


@pytest.mark.asyncio
async def test_prefix_queries_use_the_primary_key_index(kv: KVService, plugin: str) -> None:
    await kv.set_many(plugin, {f"item:{number:05d}": number for number in range(20_000)})
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute("ANALYZE plugin_kv_entries")
        now = time.time()
        plans = {
            name: await connection.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
            for name, sql, args in [
                ("count", _COUNT_RANGE, (plugin, "item:001", "item:002", now)),
                ("list_keys", _LIST_RANGE, (plugin, "item:001", "item:002", now, None)),
                ("clear", _CLEAR_RANGE, (plugin, "item:001", "item:002", now)),
            ]
        }
    finally:
        await connection.close()

    for name, plan in plans.items():
        nodes = list(plan_nodes(json.loads(plan)[0]["Plan"]))
        scans = [node for node in nodes if "Scan" in node["Node Type"] and "Relation Name" in node]
        assert scans, f"{name}: no scan in {plan}"
        for node in scans:
            assert node["Node Type"] in ("Index Scan", "Index Only Scan"), f"{name}: {plan}"
            assert node["Index Name"] == "plugin_kv_entries_pkey", f"{name}: {plan}"
    assert await kv.count(plugin, prefix="item:001") == 100


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


# -- values and keys survive exactly --------------------------------------------------------

EXACT_VALUES: list[Any] = [
    1e100,
    -0.0,
    0.1,
    1.0,
    1,
    0,
    -1,
    2**200,
    -(2**200),
    True,
    False,
    None,
    "",
    "\u0000 and \\u0000 and \\\\",
    "😀 ünïcødé \u202e \U0001d538",
    "'); DROP TABLE plugin_kv_entries; --",
    [],
    {},
    {"a": [1, 1.0, "1", None, {"b": [True]}], "": 0},
    {"nested": [[[[[[[[[[[["deep"]]]]]]]]]]]]},
]


@pytest.mark.asyncio
@pytest.mark.parametrize("value", EXACT_VALUES, ids=[repr(v)[:30] for v in EXACT_VALUES])
async def test_values_round_trip_exactly(kv: KVService, plugin: str, value: Any) -> None:
    await kv.set(plugin, "value", value)

    found = await kv.get(plugin, "value", default="missing")

    assert found == value
    assert type(found) is type(value)
    assert json.dumps(found) == json.dumps(value)  # -0.0 stays -0.0, 1.0 stays 1.0
    if isinstance(value, float):
        assert math.copysign(1.0, found) == math.copysign(1.0, value)


@pytest.mark.asyncio
async def test_large_and_deep_values_round_trip(kv: KVService, plugin: str) -> None:
    deep: Any = "bottom"
    for _ in range(199):
        deep = [deep]
    large = {f"k{index}": "x" * 50 for index in range(1_000)}  # about 58 KB of JSON

    await kv.set_many(plugin, {"deep": deep, "large": large})

    assert await kv.get_many(plugin, ["deep", "large"]) == {"deep": deep, "large": large}


UNUSUAL_KEYS = [
    "'); DROP TABLE x; --",
    '"; DELETE FROM plugin_kv_entries; --',
    "%_*?[]",
    "%",
    "_",
    "\\",
    "a\\%b",
    "$1",
    " leading and trailing ",
    "tab\tnew\nline",
    "ключ",
    "鍵",
    "😀🎉",
    "e\u0301",
    "\u00e9",
    "k" * 255,
]


@pytest.mark.asyncio
async def test_unusual_keys_round_trip(kv: KVService, plugin: str) -> None:
    await kv.set_many(plugin, {key: index for index, key in enumerate(UNUSUAL_KEYS)})

    assert await kv.list_keys(plugin) == sorted(UNUSUAL_KEYS)
    for index, key in enumerate(UNUSUAL_KEYS):
        assert await kv.get(plugin, key) == index
        assert await kv.count(plugin, prefix=key) >= 1
    assert await kv.list_keys(plugin, prefix="%") == ["%", "%_*?[]"]
    assert await kv.list_keys(plugin, prefix="%_") == ["%_*?[]"]
    assert await kv.list_keys(plugin, prefix="a\\") == ["a\\%b"]
    assert await kv.delete(plugin, "%_*?[]") is True
    assert await kv.count(plugin) == len(UNUSUAL_KEYS) - 1


# -- semantics shared with SQLite, checked against the real server --------------------------


@pytest.mark.asyncio
async def test_expiry_semantics(kv_plugin_factory: KVPluginFactory) -> None:
    # The clock runs behind real time, so purge_expired() only ever removes keys that have
    # expired for everyone: other tests on the shared database keep theirs.
    plugin, other = kv_plugin_factory(), kv_plugin_factory("other")
    now = [time.time() - 1_000]
    async with KVService.open(POSTGRES_URL, clock=lambda: now[0]) as kv:
        await kv.set_many(plugin, {"short:1": 1, "short:2": 2}, ttl=1)
        await kv.set(plugin, "long", 3, ttl=100)
        await kv.set(plugin, "forever", 4)
        await kv.set(other, "short", 5, ttl=1)
        assert await kv.count(plugin) == 4

        now[0] += 10
        assert await kv.get(plugin, "short:1", default="gone") == "gone"
        assert await kv.get_many(plugin, ["short:1", "long"]) == {"long": 3}
        assert await kv.list_keys(plugin) == ["forever", "long"]
        assert await kv.count(plugin, prefix="short") == 0
        assert plugin in await kv.list_plugins()
        assert other not in await kv.list_plugins()
        assert await kv.delete(plugin, "short:1") is False  # expired: not live, but removed
        assert await kv.purge_expired() >= 2  # short:2 and the .b key
        assert await kv.clear(other) == 0

        await kv.set(plugin, "short:3", 6, ttl=1)
        now[0] += 10
        assert await kv.clear(plugin) == 2  # forever and long; short:3 was not live
        assert plugin not in await kv.list_plugins()


@pytest.mark.asyncio
async def test_set_many_is_all_or_nothing_and_driver_errors_are_wrapped(plugin: str) -> None:
    backend = await PostgresBackend.open(POSTGRES_URL)
    try:
        with pytest.raises(BackendError, match="set failed on PostgreSQL at") as caught:
            # The service never sends NULL text; the backend must still fail as a whole.
            await backend.set_many(plugin, [("a", "1", None), ("b", None, None)])  # type: ignore[list-item]
        assert isinstance(caught.value.__cause__, asyncpg.PostgresError)
        assert await backend.count(plugin, "", None, time.time()) == 0

        await backend.set_many(plugin, [("a", "1", None), ("a", "2", None), ("b", "3", None)])
        assert await backend.get_many(plugin, ["a", "b"], time.time()) == {"a": "2", "b": "3"}
    finally:
        await backend.clear(plugin, "", None, time.time())
        await backend.close()


@pytest.mark.asyncio
async def test_500_concurrent_writers_lose_nothing(kv: KVService, plugin: str) -> None:
    keys = [f"task:{index:03d}" for index in range(500)]

    await asyncio.gather(*(kv.set(plugin, key, {"n": index}) for index, key in enumerate(keys)))

    assert await kv.count(plugin) == 500
    found = await kv.get_many(plugin, keys)
    assert found == {key: {"n": index} for index, key in enumerate(keys)}


# -- schema creation -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_simultaneous_opens_create_the_schema_once() -> None:
    async with own_schema() as schema:
        url = with_url(POSTGRES_URL, search_path=schema)

        services = await asyncio.gather(*(KVService.open(url) for _ in range(8)))
        try:
            await asyncio.gather(*(kv.set("pgtest", f"k{n}", n) for n, kv in enumerate(services)))
            assert await services[0].count("pgtest") == 8
        finally:
            await asyncio.gather(*(kv.close() for kv in services))


OPENER = textwrap.dedent(
    """
    import asyncio, sys, time
    from plugin_kv import KVService

    url, start, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]

    async def main():
        time.sleep(max(0.0, start - time.time()))
        async with KVService.open(url) as kv:
            await kv.set("pgtest", name, name)

    asyncio.run(main())
    """
)


@pytest.mark.asyncio
async def test_simultaneous_processes_create_the_schema_once() -> None:
    async with own_schema() as schema:
        url = with_url(POSTGRES_URL, search_path=schema)
        start = time.time() + 2.0  # every process is up and waiting by then
        processes = [
            subprocess.Popen(  # noqa: ASYNC220 - waited for below, off the event loop
                [sys.executable, "-c", OPENER, url, str(start), f"p{n}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for n in range(8)
        ]
        outputs = [
            await asyncio.to_thread(process.communicate, timeout=60) for process in processes
        ]

        failures = [
            out for process, (out, _) in zip(processes, outputs, strict=True) if process.returncode
        ]
        assert not failures, "\n\n".join(failures)
        async with KVService.open(url) as kv:
            assert await kv.list_keys("pgtest") == [f"p{n}" for n in range(8)]


# -- failures: clear errors, no hang, recovery ---------------------------------------------


@pytest.mark.asyncio
async def test_unreachable_server_names_host_and_database_but_not_password() -> None:
    url = with_url(POSTGRES_URL, password="s3cret-pw", port=1)
    started = time.monotonic()

    with pytest.raises(BackendUnavailableError) as caught:
        await KVService.open(url)

    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert repr(database_of(POSTGRES_URL)) in message
    assert "s3cret-pw" not in message
    assert isinstance(caught.value.__cause__, OSError)
    assert time.monotonic() - started < 10


@pytest.mark.asyncio
async def test_url_is_shown_without_password() -> None:
    url = with_url(POSTGRES_URL, password="s3cret-pw")
    async with KVService.open(url) as kv:
        assert "s3cret-pw" not in kv.url
        assert kv.url == with_url(POSTGRES_URL)
        assert "s3cret-pw" not in repr(kv)


class Proxy:
    """A TCP relay to the real server that a test can stop, restart, or make silent."""

    def __init__(self, target: str) -> None:
        parts = urllib.parse.urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = 0
        self.silent = False
        self.stalled = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones, like a server going down."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._server, self._writers, self._tasks = None, [], set()
        self.stalled = False

    def stall(self) -> None:
        """Keep every open connection, but pass nothing on: a server that stopped answering."""
        self.stalled = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self.silent:
            await reader.read()  # accept, then never answer
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers.append(upstream_writer)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._relay(source, sink))
            self._tasks.add(task)

    async def _relay(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65_536):
                if self.stalled:
                    continue
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


@pytest.mark.asyncio
async def test_server_restart_fails_clearly_then_recovers(plugin: str) -> None:
    proxy = Proxy(POSTGRES_URL)
    await proxy.start()
    try:
        async with KVService.open(with_url(POSTGRES_URL, port=proxy.port)) as kv:
            await kv.set(plugin, "before", 1)

            await proxy.stop()
            with pytest.raises(BackendUnavailableError) as caught:
                await kv.get(plugin, "before")
            assert f"127.0.0.1:{proxy.port}" in str(caught.value)
            assert caught.value.__cause__ is not None

            await proxy.start()  # the same port: the server is back
            assert await kv.get(plugin, "before") == 1
            await kv.set(plugin, "after", 2)
            assert await kv.list_keys(plugin) == ["after", "before"]
    finally:
        await proxy.stop()


@pytest.mark.asyncio
async def test_silent_server_times_out_instead_of_hanging() -> None:
    proxy = Proxy(POSTGRES_URL)
    proxy.silent = True
    await proxy.start()
    started = time.monotonic()
    try:
        with pytest.raises(
            BackendUnavailableError, match=r"did not answer within 0\.5 s"
        ) as caught:
            await PostgresBackend.open(with_url(POSTGRES_URL, port=proxy.port), timeout=0.5)
    finally:
        await proxy.stop()
    assert f"127.0.0.1:{proxy.port}" in str(caught.value)
    assert time.monotonic() - started < 5


@pytest.mark.asyncio
async def test_a_server_that_stops_answering_mid_use_times_out_then_recovers(plugin: str) -> None:
    proxy = Proxy(POSTGRES_URL)
    await proxy.start()
    backend = await PostgresBackend.open(with_url(POSTGRES_URL, port=proxy.port), timeout=0.5)
    try:
        await backend.set_many(plugin, [("before", "1", None)])
        proxy.stall()  # the connection stays open; nothing comes back

        with pytest.raises(BackendUnavailableError, match=r"did not answer within 0\.5 s"):
            await backend.get(plugin, "before", time.time())

        await proxy.stop()
        await proxy.start()  # answering again: the next call opens a fresh connection
        assert await backend.get(plugin, "before", time.time()) == "1"
    finally:
        await backend.close()
        await proxy.stop()


# -- event loops and lifecycle --------------------------------------------------------------


@contextmanager
def fresh_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A new event loop, shut down at the end the way ``asyncio.run`` does it."""
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def test_service_works_from_several_event_loops_in_turn(plugin: str) -> None:
    """Open on one loop, use from fresh loops in turn (as pytest-asyncio does), close."""
    opener = asyncio.new_event_loop()
    kv = opener.run_until_complete(KVService.open(POSTGRES_URL))
    try:
        opener.run_until_complete(kv.set(plugin, "opener", 0))
        for turn in (1, 2):
            with fresh_loop() as loop:
                loop.run_until_complete(kv.set(plugin, f"turn:{turn}", turn))
                assert loop.run_until_complete(kv.count(plugin)) == turn + 1

        assert opener.run_until_complete(kv.get_many(plugin, ["opener", "turn:2"])) == {
            "opener": 0,
            "turn:2": 2,
        }
        with fresh_loop() as loop:  # close from a loop that is not the opener's
            assert loop.run_until_complete(kv.clear(plugin)) == 3
            loop.run_until_complete(kv.close())
        opener.run_until_complete(opener.shutdown_asyncgens())
    finally:
        opener.close()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught] == []


def test_loop_closed_without_shutdown_has_its_sockets_released(plugin: str) -> None:
    """pytest-asyncio 0.23 closes each test's loop without shutting down its async generators."""
    careless = asyncio.new_event_loop()
    kv = careless.run_until_complete(KVService.open(POSTGRES_URL))
    careless.run_until_complete(kv.set(plugin, "careless", 3))
    careless.close()  # without loop.shutdown_asyncgens()

    with fresh_loop() as loop:  # a new loop drops the closed loop's connections
        assert loop.run_until_complete(kv.get(plugin, "careless")) == 3
        assert loop.run_until_complete(kv.clear(plugin)) == 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
        loop.run_until_complete(kv.close())

    assert [str(w.message) for w in caught] == []


def test_socket_release_shim_degrades_to_the_collector() -> None:
    """Without the private names it relies on, the shim does nothing rather than fail."""

    class Bare:
        def get_extra_info(self, name: str) -> None:
            raise AssertionError("not reached: no _call_connection_lost")

    _release_socket(None)
    _release_socket(Bare())


@pytest.mark.asyncio
async def test_close_twice_is_harmless_and_later_use_is_refused() -> None:
    kv = await KVService.open(POSTGRES_URL)
    await kv.close()
    await kv.close()
    with pytest.raises(ServiceClosedError):
        await kv.get("pgtest", "k")

    backend = await PostgresBackend.open(POSTGRES_URL)
    await backend.close()
    await backend.close()
    with pytest.raises(ServiceClosedError, match="is closed"):
        await backend.get("pgtest", "k", time.time())


@pytest.mark.asyncio
async def test_missing_extra_says_which_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # "import asyncpg" now fails

    with pytest.raises(MissingDependencyError, match=r"install `plugin-kv\[postgres\]`") as caught:
        await KVService.open(POSTGRES_URL)

    assert isinstance(caught.value, ImportError)
    assert isinstance(caught.value.__cause__, ImportError)


@pytest.mark.asyncio
async def test_missing_database_is_unavailable_and_named() -> None:
    missing = f"pgtest_missing_{uuid4().hex[:8]}"
    url = urllib.parse.urlunsplit(urllib.parse.urlsplit(POSTGRES_URL)._replace(path=f"/{missing}"))

    with pytest.raises(BackendUnavailableError, match=f"database '{missing}'") as caught:
        await KVService.open(url)

    assert isinstance(caught.value.__cause__, asyncpg.PostgresError)


@pytest.mark.parametrize(
    ("url", "shown", "where"),
    [
        (
            "postgresql://kv:s3cret@db.example.com:6432/app",
            "postgresql://kv@db.example.com:6432/app",
            "db.example.com:6432, database 'app'",
        ),
        (
            "postgres://kv@db.example.com/app?sslmode=require&password=s3cret",
            "postgres://kv@db.example.com/app?sslmode=require",
            "db.example.com:5432, database 'app'",
        ),
        (
            "postgresql:///app?host=/run/postgresql",
            "postgresql:///app?host=/run/postgresql",
            "/run/postgresql:5432, database 'app'",
        ),
    ],
)
def test_url_and_location_are_shown_without_password(url: str, shown: str, where: str) -> None:
    assert _describe(url) == (shown, where)

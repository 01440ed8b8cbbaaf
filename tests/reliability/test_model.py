"""Model-based test: random operation sequences agree with a plain dict, on every backend.

A Hypothesis state machine drives `KVService` (through a private event loop) and a model
``{namespace: {key: (value, expires_at)}}`` side by side, with a hand-driven clock, and checks
every answer: set, get, delete, list_keys (prefix, limit), count, clear (prefix), set_many,
get_many, list_plugins, purge_expired and expiry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from plugin_kv import KVService
from plugin_kv.testing import KVPluginFactory

from ..conftest import FakeClock
from .conftest import PROFILE, Loop, open_service, same

# Few characters, so prefixes collide often; plus the edges of the key range logic: the
# highest code point, and both neighbours of the surrogate block.
ALPHABET = "ab:_%Aé\U0010ffff\ud7ff\ue000"
keys = st.text(ALPHABET, min_size=1, max_size=4)
prefixes = st.text(ALPHABET, max_size=3)
limits = st.none() | st.integers(0, 6)
ttls = st.none() | st.sampled_from([1, 2.5, 10, 0.001])
steps = st.sampled_from([0.001, 0.5, 1, 1.5, 2.5, 10])
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
MISSING = object()


def make_machine(
    loop: Loop, kv: KVService, clock: FakeClock, namespaces: list[str], private: bool
) -> type[RuleBasedStateMachine]:
    """Return a state machine class bound to one store and its namespaces.

    On a private store it also checks ``list_plugins`` exactly and runs ``purge_expired``;
    on a shared one (the run's file, PostgreSQL) other tests' data is left alone.
    """

    class KVModel(RuleBasedStateMachine):
        names = Bundle("names")

        def __init__(self) -> None:
            super().__init__()
            self.model: dict[str, dict[str, tuple[Any, float | None]]] = {
                ns: {} for ns in namespaces
            }

        @initialize()
        def start_empty(self) -> None:
            for ns in namespaces:
                loop.run(kv.clear(ns))
            if private:
                loop.run(kv.purge_expired())

        def live(self, ns: str) -> dict[str, Any]:
            return {
                key: value
                for key, (value, expires) in self.model[ns].items()
                if expires is None or expires > clock.now
            }

        def expiry(self, ttl: float | None) -> float | None:
            return None if ttl is None else clock.now + float(ttl)

        @rule(ns=st.sampled_from(namespaces), key=keys, value=values, ttl=ttls)
        def set(self, ns: str, key: str, value: Any, ttl: float | None) -> None:
            loop.run(kv.set(ns, key, value, ttl=ttl))
            self.model[ns][key] = (value, self.expiry(ttl))

        @rule(
            ns=st.sampled_from(namespaces),
            items=st.dictionaries(keys, values, max_size=5),
            ttl=ttls,
        )
        def set_many(self, ns: str, items: dict[str, Any], ttl: float | None) -> None:
            loop.run(kv.set_many(ns, items, ttl=ttl))
            for key, value in items.items():
                self.model[ns][key] = (value, self.expiry(ttl))

        @rule(ns=st.sampled_from(namespaces), key=keys)
        def get(self, ns: str, key: str) -> None:
            got = loop.run(kv.get(ns, key, default=MISSING))
            expected = self.live(ns).get(key, MISSING)
            assert got is expected if expected is MISSING else same(got, expected), (got, expected)

        @rule(ns=st.sampled_from(namespaces), wanted=st.lists(keys, max_size=5))
        def get_many(self, ns: str, wanted: list[str]) -> None:
            got = loop.run(kv.get_many(ns, wanted))
            live = self.live(ns)
            expected = {key: live[key] for key in wanted if key in live}
            assert sorted(got) == sorted(expected)
            assert all(same(got[key], expected[key]) for key in expected), (got, expected)

        @rule(ns=st.sampled_from(namespaces), key=keys)
        def delete(self, ns: str, key: str) -> None:
            existed = loop.run(kv.delete(ns, key))
            assert existed == (key in self.live(ns))
            self.model[ns].pop(key, None)

        @rule(ns=st.sampled_from(namespaces), prefix=prefixes, limit=limits)
        def list_keys(self, ns: str, prefix: str, limit: int | None) -> None:
            got = loop.run(kv.list_keys(ns, prefix=prefix, limit=limit))
            expected = sorted(key for key in self.live(ns) if key.startswith(prefix))
            assert got == expected[:limit]

        @rule(ns=st.sampled_from(namespaces), prefix=prefixes)
        def count(self, ns: str, prefix: str) -> None:
            got = loop.run(kv.count(ns, prefix=prefix))
            assert got == sum(key.startswith(prefix) for key in self.live(ns))

        @rule(ns=st.sampled_from(namespaces), prefix=prefixes)
        def clear(self, ns: str, prefix: str) -> None:
            removed = loop.run(kv.clear(ns, prefix=prefix))
            assert removed == sum(key.startswith(prefix) for key in self.live(ns))
            for key in [key for key in self.model[ns] if key.startswith(prefix)]:
                del self.model[ns][key]

        @rule(seconds=steps)
        def advance_clock(self, seconds: float) -> None:
            clock.advance(seconds)

        @rule()
        def list_plugins(self) -> None:
            got = loop.run(kv.list_plugins())
            holding = sorted(ns for ns in namespaces if self.live(ns))
            if private:
                assert got == holding
            else:
                assert [ns for ns in got if ns in namespaces] == holding

        @rule()
        def purge_expired(self) -> None:
            if not private:  # other tests' keys are not ours to purge on a shared store
                return
            expired = {
                ns: [key for key in self.model[ns] if key not in self.live(ns)] for ns in namespaces
            }
            removed = loop.run(kv.purge_expired())
            assert removed == sum(map(len, expired.values()))
            for ns, gone in expired.items():
                for key in gone:
                    del self.model[ns][key]

        @invariant()
        def counts_agree(self) -> None:
            for ns in namespaces:
                assert loop.run(kv.count(ns)) == len(self.live(ns))

    return KVModel


def run_model(loop: Loop, url: str, namespaces: list[str], private: bool) -> None:
    clock = FakeClock()
    kv = open_service(loop, url, clock=clock)
    try:
        machine = make_machine(loop, kv, clock, namespaces, private)
        run_state_machine_as_test(machine, settings=PROFILE)
    finally:
        loop.run(kv.close())


@pytest.mark.own_store
@pytest.mark.parametrize("where", ["memory", "file"])
def test_service_agrees_with_a_dict_on_a_private_sqlite_store(
    loop: Loop, tmp_path: Path, where: str
) -> None:
    url = ":memory:" if where == "memory" else str(tmp_path / "model.sqlite3")
    run_model(loop, url, ["alpha", "beta", "alpha.x"], private=True)


def test_service_agrees_with_a_dict_on_the_shared_store(
    loop: Loop, kv_store_url: str, kv_plugin_factory: KVPluginFactory
) -> None:
    """Runs on the run's SQLite file and on PostgreSQL, in namespaces of this test's own."""
    make: Callable[[str], str] = kv_plugin_factory
    run_model(loop, kv_store_url, [make("a"), make("b"), make("c")], private=False)

import asyncio, sys, tempfile
from pathlib import Path
from benchmarks.calls import _paired_rounds, _prepare
from benchmarks._stats import ratio
with tempfile.TemporaryDirectory() as d:
    path = Path(d) / "b.sqlite3"
    asyncio.run(_prepare(path, 3000))
    for op in sys.argv[2:]:
        s = _paired_rounds(path, op, int(sys.argv[1]), 600, False)
        r = ratio(s["service"], s["aiosqlite"])
        print(op, "median", round(r.median, 2), sorted(round(v, 2) for v in r.values))
        print("  service us", sorted(round(v*1e6) for v in s["service"].values))
        print("  driver us ", sorted(round(v*1e6) for v in s["aiosqlite"].values))

"""Benchmark: the demo company simulator driving the real engine, at 10k / 100k (and with ``--full`` 1M) simulated
people, with wall time and peak memory (RSS) per size. Writes ``bench/results/demo.json``.

    python bench/demo.py                    # 10,000 and 100,000 people, 30 simulated days each
    python bench/demo.py --full             # also 1,000,000 people
    python bench/demo.py --sizes 2000,5000 --days 60 --workdir DIR --out FILE

Each size runs in a fresh process (so its peak RSS is its own). The baseline, measured in the same run and at the
same size in its own process, is the simulator without the engine: the same seeded world and the same payloads,
day by day, written with one ``executemany`` per day into a bare SQLite table (no validation, identity, scoring,
lifecycle or automation). ``ratio_to_baseline`` = engine seconds / baseline seconds (``cpu_ratio_to_baseline``
the same in CPU seconds, steadier on a shared machine): what driving the real engine costs over just producing and
storing the raw activity. Each run records the machine's load average before and after it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "demo.json"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _cpu_seconds() -> float:
    """CPU time of this process (user + system): on a shared machine, steadier than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_engine(people: int, days: int, seed: int, workdir: Path) -> dict[str, Any]:
    from funnelbridge.demo.runner import run_demo

    url = f"sqlite:///{workdir / f'demo-{people}.db'}"
    start = time.perf_counter()
    result = run_demo(url, people, days, seed, reset=True)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds(),
        "peak_rss_mb": _peak_rss_mb(),
        "events": result.events,
        "identified": result.identified,
        "actions": result.actions,
        "engine": result.engine,
    }


def run_baseline(people: int, days: int, seed: int, workdir: Path) -> dict[str, Any]:
    import sqlite3

    from funnelbridge.demo.behaviour import new_crowd, simulate_day
    from funnelbridge.demo.runner import DEFAULT_START
    from funnelbridge.demo.world import WorldShape, build_world

    path = workdir / f"baseline-{people}.db"
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.execute("create table events (key text, type text, anon text, email text, at text, body text)")
    start = time.perf_counter()
    world = build_world(WorldShape(people, days, seed))
    crowd, n = new_crowd(people), 0
    for day in range(days):
        payloads = simulate_day(world, crowd, day, DEFAULT_START).payloads
        rows = [(p["idempotency_key"], p["type"], p.get("anonymous_id"), p.get("email"), p["timestamp"],
                 json.dumps(p.get("properties"))) for p in payloads]  # fmt: skip
        con.executemany("insert into events values (?, ?, ?, ?, ?, ?)", rows)
        con.commit()
        n += len(rows)
    seconds = time.perf_counter() - start
    con.close()
    return {"seconds": seconds, "cpu_seconds": _cpu_seconds(), "peak_rss_mb": _peak_rss_mb(), "events": n}


def _child(mode: str, people: int, days: int, seed: int, workdir: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--sizes", str(people), "--days", str(days),
           "--seed", str(seed), "--workdir", str(workdir)]  # fmt: skip
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(people: int, days: int, seed: int, workdir: Path) -> dict[str, Any]:
    load_before = _load()
    base = _child("baseline", people, days, seed, workdir)
    ours = _child("engine", people, days, seed, workdir)
    return {
        "people": people,
        "days": days,
        "engine": {**ours, "events_per_s": ours["events"] / ours["seconds"], "people_per_s": people / ours["seconds"]},
        "baseline_raw_sqlite": {**base, "events_per_s": base["events"] / base["seconds"]},
        "ratio_to_baseline": ours["seconds"] / base["seconds"],
        "cpu_ratio_to_baseline": ours["cpu_seconds"] / base["cpu_seconds"],
        "load_average": {"before": load_before, "after": _load(), "cpus": os.cpu_count()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated numbers of simulated people")
    parser.add_argument("--full", action="store_true", help="add 1,000,000 people")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (runs of other sizes are kept)")
    parser.add_argument("--child", choices=("engine", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.full else [])
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fb-bench-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        run = run_engine if args.child == "engine" else run_baseline
        print(json.dumps(run(sizes[0], args.days, args.seed, workdir)))
        return 0
    for people in sizes:
        run = measure(people, args.days, args.seed, workdir)
        print(json.dumps(run), flush=True)
        _record(args.out, args.seed, run)
    return 0


def _record(path: Path, seed: int, run: dict[str, Any]) -> None:
    """Add ``run`` to the results file (after every size, so a long run keeps what it measured), replacing an
    earlier run of the same size, days and seed."""
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    runs = [
        r for r in old.get("runs", []) if (r["people"], r["days"], r.get("seed")) != (run["people"], run["days"], seed)
    ]
    runs.append({**run, "seed": seed})
    runs.sort(key=lambda r: (r["days"], r["people"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": "demo", "runs": runs}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())

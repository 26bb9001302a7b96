"""Benchmark: the demo company simulator driving the real engine, at 10k / 100k (and with ``--full`` 1M) simulated
people, with wall time and peak memory (RSS) per size. Writes ``bench/results/demo.json``.

    python bench/demo.py                    # 10,000 and 100,000 people, 30 simulated days each
    python bench/demo.py --full             # also 1,000,000 people
    python bench/demo.py --sizes 2000,5000 --days 60 --workdir DIR --out FILE
    python bench/demo.py --sizes 1000000 --budget 1800   # stop the engine run after 30 min and project

Each size runs in a fresh process (so its peak RSS is its own). The baseline, measured in the same run and at the
same size in its own process, is the simulator without the engine: the same seeded world and the same payloads,
day by day, written with one ``executemany`` per day into a bare SQLite table (no validation, identity, scoring,
lifecycle or automation). ``ratio_to_baseline`` = engine seconds / baseline seconds (``cpu_ratio_to_baseline``
the same in CPU seconds, steadier on a shared machine): what driving the real engine costs over just producing and
storing the raw activity. Each run records the machine's load average before and after it.

With ``--budget SECONDS`` an engine run that is still going after that much wall time stops at the end of the
simulated day and is recorded as partial (``complete: false``, the days and events done) with a projection of the
full run: its wall and CPU seconds scaled by the baseline's event count over the events stored so far.
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
    """CPU time of this process so far (user + system): on a shared machine, steadier than wall time. Runs
    report the difference over the timed part (imports and process start excluded, as from wall time)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _OutOfBudget(Exception):
    def __init__(self, days_done: int) -> None:
        super().__init__(f"stopped after {days_done} simulated days")
        self.days_done = days_done


def _stop_after(budget: float | None, start: float) -> Any:
    """A progress callback that stops the run at the first day boundary past ``budget`` wall seconds."""

    def progress(done: float, _total: int) -> None:
        if budget is not None and done == int(done) and time.perf_counter() - start > budget:
            raise _OutOfBudget(int(done))

    return progress


def _stored_events(url: str) -> int:
    from sqlalchemy import func, select

    from funnelbridge.store import connect
    from funnelbridge.store.tables import events

    db = connect(url)
    try:
        with db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(events)).scalar_one())
    finally:
        db.dispose()


def run_engine(people: int, days: int, seed: int, workdir: Path, budget: float | None = None) -> dict[str, Any]:
    from funnelbridge.demo.runner import run_demo

    url = f"sqlite:///{workdir / f'demo-{people}.db'}"
    start, cpu0 = time.perf_counter(), _cpu_seconds()
    try:
        result = run_demo(url, people, days, seed, _stop_after(budget, start), reset=True)
    except _OutOfBudget as stop:
        seconds = time.perf_counter() - start
        cpu, rss = _cpu_seconds() - cpu0, _peak_rss_mb()
        return {"complete": False, "days_done": stop.days_done, "seconds": seconds, "cpu_seconds": cpu,
                "peak_rss_mb": rss, "events": _stored_events(url)}  # fmt: skip
    seconds = time.perf_counter() - start
    return {
        "complete": True,
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu0,
        "peak_rss_mb": _peak_rss_mb(),
        "events": result.events,
        "identified": result.identified,
        "actions": result.actions,
        "engine": result.engine,
        "cpu_seconds_by_part": result.cpu_seconds,
        "timing_by_part": getattr(result, "timing", {}),  # wall, run-queue wait, blocked, MB written per part
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
    start, cpu0 = time.perf_counter(), _cpu_seconds()
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
    return {"seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu0, "peak_rss_mb": _peak_rss_mb(), "events": n}


def _child(mode: str, people: int, days: int, seed: int, workdir: Path, budget: float | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--sizes", str(people), "--days", str(days),
           "--seed", str(seed), "--workdir", str(workdir)]  # fmt: skip
    if budget is not None:
        cmd += ["--budget", str(budget)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _projected(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The whole run of a partial engine run, scaled by events (the baseline stored them all)."""
    if ours.get("complete", True):
        return ours
    scale = base["events"] / max(1, ours["events"])
    projection = {"seconds": ours["seconds"] * scale, "cpu_seconds": ours["cpu_seconds"] * scale, "by": "events"}
    return {**ours, "projected_full_run": projection}


def measure(people: int, days: int, seed: int, workdir: Path, budget: float | None = None) -> dict[str, Any]:
    load_before = _load()
    base = _child("baseline", people, days, seed, workdir)
    ours = _projected(_child("engine", people, days, seed, workdir, budget), base)
    full = ours.get("projected_full_run", ours)
    return {
        "people": people,
        "days": days,
        "engine": {**ours, "events_per_s": ours["events"] / ours["seconds"], "people_per_s": people / full["seconds"]},
        "baseline_raw_sqlite": {**base, "events_per_s": base["events"] / base["seconds"]},
        "ratio_to_baseline": full["seconds"] / base["seconds"],
        "cpu_ratio_to_baseline": full["cpu_seconds"] / base["cpu_seconds"],
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
    parser.add_argument("--budget", type=float, default=None, help="wall seconds after which an engine run stops")
    parser.add_argument("--child", choices=("engine", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.full else [])
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fb-bench-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.child == "engine":
        print(json.dumps(run_engine(sizes[0], args.days, args.seed, workdir, args.budget)))
        return 0
    if args.child == "baseline":
        print(json.dumps(run_baseline(sizes[0], args.days, args.seed, workdir)))
        return 0
    for people in sizes:
        run = measure(people, args.days, args.seed, workdir, args.budget)
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
    kept = {k: v for k, v in old.items() if k not in ("benchmark", "runs")}  # notes, earlier results
    path.write_text(json.dumps({"benchmark": "demo", "runs": runs, **kept}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: strict event funnels, the code before the stage-by-stage strict rewrite against the current code, on
bench/event_funnel.py's events (same generator, default 1,000,000 events / 100,000 people), in the same run.

    git archive 3704a26 src | tar -x -C /tmp/fb-baseline      # the code before (any revision)
    python -m bench.event_funnel_strict --baseline-src /tmp/fb-baseline/src
    python -m bench.event_funnel_strict --baseline-src DIR --funnels 3-excl,4 --events 200000 --people 20000 \
        --results bench/results/event_funnel_strict_exclusions.json      # with an exclusion ("!noise")
    python -m bench.event_funnel_strict --baseline-src DIR --funnels 4-excl-step,4-repeated-excl-step,4 --rounds 3 \
        --results bench/results/event_funnel_strict_step_exclusions.json  # exclusions naming a step's event

Each funnel runs in a fresh child process per version (imports funnelbridge from the given ``src``), the versions
alternating, ``--rounds`` times. Recorded per run: wall seconds and CPU seconds of ``run_funnel`` (process time,
every DuckDB thread), the child's whole CPU (``RUSAGE_CHILDREN``), and the counts (both versions must agree on
these events: ties are rare there, so the retake rule seldom applies). Load average at start and end. Results go
to ``bench/results/event_funnel_strict.json``. ``--order ordered`` runs the same funnels ordered (the code before
and after a change to ordered funnels, e.g. ``--order ordered --funnels 4,3-excl --results
bench/results/event_funnel_overlap.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "event_funnel_strict.json"
HERE_SRC = Path(__file__).resolve().parent.parent / "src"
FUNNELS = {
    "4": ["e0", "e1", "e2", "e3"],
    "4-repeated": ["e0", "e1", "e1", "e2"],
    "8": [f"e{i}" for i in range(8)],
    "3-excl": ["e0", "e1", "e2", "!noise"],  # "!": an exclusion over the whole funnel
    "4-excl-step": ["e0", "e1", "e2", "e3", "!e3@1-2"],  # "!E@FROM-TO": over steps FROM-TO; here a step's event
    "4-repeated-excl-step": ["e0", "e1", "e1", "e2", "!e2@1-3"],
}


def child(src: str, parquet: str, steps: list[str], order: str = "strict") -> dict[str, Any]:
    """Run one funnel (strict unless ``order`` says) with the funnelbridge found in ``src`` (in a fresh process)."""
    sys.path.insert(0, src)
    import ibis

    from funnelbridge.analytics.event_funnel import run_funnel
    from funnelbridge.analytics.event_funnel_spec import Exclusion, FunnelSpec, Order, Step

    backend = ibis.duckdb.connect()
    backend.con.execute("CREATE TABLE events AS SELECT * FROM read_parquet($p)", {"p": parquet})
    names = [s for s in steps if not s.startswith("!")]
    excl = tuple(_exclusion(Exclusion, Step, s[1:], len(names)) for s in steps if s.startswith("!"))
    spec = FunnelSpec(tuple(Step(s) for s in names), window=timedelta(days=7), order=Order(order), exclusions=excl)
    start, cpu = time.perf_counter(), time.process_time()
    result = run_funnel(backend.table("events"), spec)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    import funnelbridge

    return {"wall": round(wall, 3), "cpu": round(cpu, 3), "counts": [s.count for s in result.steps],
            "result": result.to_json_dict(), "module": funnelbridge.__file__}  # fmt: skip


def _exclusion(exclusion: Any, step: Any, text: str, n: int) -> Any:
    """``E`` (over the whole funnel) or ``E@FROM-TO``, with the classes of the funnelbridge under test."""
    name, _, span = text.partition("@")
    low, high = (int(x) for x in span.split("-")) if span else (1, n)
    return exclusion(step(name), low, high)


def _run_child(src: Path, parquet: Path, steps: list[str], order: str) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "bench.event_funnel_strict", "--child", str(src), str(parquet), ",".join(steps), order]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    record: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    record["child_cpu"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3)
    return record


def _generate(events: int, people: int, path: Path) -> None:
    import duckdb

    from bench.event_funnel import generate

    con = duckdb.connect()
    generate(con, events, people)
    con.execute("COPY events TO $p (FORMAT parquet)", {"p": str(path)})
    con.close()


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"wall": [r["wall"] for r in runs], "cpu": [r["cpu"] for r in runs],
            "child_cpu": [r["child_cpu"] for r in runs], "best_cpu": min(r["cpu"] for r in runs),
            "median_cpu": statistics.median(r["cpu"] for r in runs), "counts": runs[0]["counts"]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-src", type=Path, required=True, help="the src folder of the code before")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--funnels", default=",".join(FUNNELS))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--order", choices=["strict", "ordered"], default="strict", help="ordered: the same, ordered")
    args = parser.parse_args(argv)
    load_start, started = os.getloadavg(), time.time()
    folder = Path(tempfile.mkdtemp(prefix="fb-strict-bench-"))
    parquet = folder / "events.parquet"
    _generate(args.events, args.people, parquet)
    versions = {"baseline": args.baseline_src.resolve(), "current": HERE_SRC}
    out: dict[str, Any] = {"events": args.events, "people": args.people, "baseline_src": str(versions["baseline"]),
                           "cpus": os.cpu_count(), "funnels": {}}  # fmt: skip
    for name in args.funnels.split(","):
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in versions}
        for i in range(args.rounds):
            order = list(versions) if i % 2 == 0 else list(reversed(versions))  # alternate who goes first
            for version in order:
                runs[version].append(_run_child(versions[version], parquet, FUNNELS[name], args.order))
                print(name, version, {k: runs[version][-1][k] for k in ("wall", "cpu", "child_cpu")}, flush=True)
        entry = {v: _summary(r) for v, r in runs.items()}
        entry["steps"] = " -> ".join(FUNNELS[name]).replace("-> !", "excluding ") + f" {args.order}, 7-day window"
        entry["load_average_after"] = os.getloadavg()
        entry["same_result"] = all(r["result"] == runs["baseline"][0]["result"] for rs in runs.values() for r in rs)
        entry["ratio_median_cpu"] = round(entry["current"]["median_cpu"] / entry["baseline"]["median_cpu"], 3)
        entry["ratio_best_cpu"] = round(entry["current"]["best_cpu"] / entry["baseline"]["best_cpu"], 3)
        out["funnels"][name] = entry
    out.update(load_average_start=load_start, load_average_end=os.getloadavg(),
               children_cpu_seconds=round(sum(r for e in out["funnels"].values() for v in versions
                                              for r in e[v]["child_cpu"]), 1),
               elapsed_seconds=round(time.time() - started, 1))  # fmt: skip
    args.results.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: {m: v.get(m) for m in ("ratio_median_cpu", "same_result")}
                      for k, v in out["funnels"].items()}))  # fmt: skip
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4].split(","), sys.argv[5])))
        sys.exit(0)
    sys.exit(main())

"""Benchmark: event funnels WITH exclusions on DuckDB — SQL size, compile and run time, the current code against a
baseline revision (before PostHog's one-attempt-per-step rule for exclusions), in the same run.

    python -m bench.event_funnel_exclusions [--events 200000] [--people 20000] [--baseline d885501]

Each code version runs in its own process (the baseline from ``git archive REV``, first on ``PYTHONPATH``) on the
same generated events (bench/event_funnel.py's generator, same seed). Per funnel (3, 5 and 8 steps, the longer
ones with repeated steps; ordered and strict; excluding ``noise`` over the whole funnel): the bytes of SQL the
engine is given (the sum over the materialised stages; the baseline runs one statement), the CPU seconds spent
compiling it, wall and CPU seconds of ``run_funnel``, and the counts. The current code's pure single-statement
expression (``funnel_expressions`` without staging, not what ``run_funnel`` runs) is compiled in a child process
with a time limit, to show why exclusion funnels are staged. Results: bench/results/event_funnel_exclusions.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "event_funnel_exclusions.json"
FUNNELS = {
    "3": ["e0", "e1", "e2"],
    "5-repeated": ["e0", "e1", "e0", "e2", "e0"],
    "8-repeated": ["e0", "e1", "e2", "e1", "e3", "e4", "e1", "e5"],
}


def _spec(names: list[str], order: str) -> Any:
    from funnelbridge.analytics.event_funnel_spec import Exclusion, FunnelSpec, Order, Step

    exclusion = Exclusion(Step("noise"), 1, len(names))
    return FunnelSpec(tuple(Step(n) for n in names), window=timedelta(days=7), order=Order(order),
                      exclusions=(exclusion,))  # fmt: skip


def _measure(table: Any, names: list[str], order: str) -> dict[str, Any]:
    """run_funnel with each materialised stage's SQL measured (bytes, compile CPU) just before it is cached."""
    import ibis

    from funnelbridge.analytics import event_funnel

    sizes: list[int] = []
    compile_cpu = [0.0]
    original = event_funnel._Stages.__call__

    def recording(self: Any, stage: Any) -> Any:
        start = time.process_time()
        sizes.append(len(str(ibis.to_sql(stage, dialect="duckdb"))))
        compile_cpu[0] += time.process_time() - start
        return original(self, stage)

    event_funnel._Stages.__call__ = recording  # type: ignore[method-assign, assignment]
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        result = event_funnel.run_funnel(table, _spec(names, order))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        event_funnel._Stages.__call__ = original  # type: ignore[method-assign]
    return {"sql_bytes": sum(sizes), "statements": len(sizes), "largest_statement_bytes": max(sizes, default=0),
            "compile_cpu_seconds": round(compile_cpu[0], 3), "run_seconds": round(wall, 3),
            "run_cpu_seconds": round(cpu, 3), "counts": [s.count for s in result.steps]}  # fmt: skip


def _worker(out: Path, events: Path, key: str) -> None:
    """Measure one funnel (``"3 ordered"``...) with the code importable in this process on the events file."""
    import ibis

    backend = ibis.duckdb.connect()
    backend.con.execute("CREATE TABLE events AS SELECT * FROM read_parquet($p)", {"p": str(events)})
    name, order = key.split()
    out.write_text(json.dumps(_measure(backend.table("events"), FUNNELS[name], order)), encoding="utf-8")


def _events_file(path: Path, events: int, people: int) -> None:
    import ibis

    sys.path.insert(0, str(ROOT))
    from bench.event_funnel import generate

    con = ibis.duckdb.connect().con
    generate(con, events, people)
    con.execute("COPY events TO $p (FORMAT parquet)", {"p": str(path)})


def _pure_sql(names: list[str], order: str, queue: Any) -> None:
    import ibis
    import pandas as pd

    from funnelbridge.analytics.event_funnel import person_table

    frame = pd.DataFrame({"person_id": ["p"], "event": ["e0"], "ts_us": [0], "timestamp": [pd.Timestamp(0, tz="UTC")]})
    table = ibis.duckdb.connect().create_table("ev", frame)
    start = time.process_time()
    sql = ibis.to_sql(person_table(table, _spec(names, order)), dialect="duckdb")
    queue.put({"sql_bytes": len(str(sql)), "compile_cpu_seconds": round(time.process_time() - start, 3)})


def _pure_sizes(limit: float) -> dict[str, Any]:
    """The current code's one-statement expression per funnel, compiled in a child process killed after ``limit``."""
    out: dict[str, Any] = {}
    ctx = multiprocessing.get_context("spawn")
    for name, names in FUNNELS.items():
        for order in ("ordered", "strict"):
            queue = ctx.Queue()
            child = ctx.Process(target=_pure_sql, args=(names, order, queue))
            child.start()
            child.join(limit)
            if child.is_alive():
                child.kill()
                child.join()
                out[f"{name} {order}"] = {"sql_bytes": None, "note": f"did not compile within {limit:.0f} s"}
            else:
                out[f"{name} {order}"] = queue.get() if not queue.empty() else {"note": "failed"}
            print(f"pure {name:>10} {order:8} {out[f'{name} {order}']}", flush=True)
    return out


def _baseline_src(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, check=True, capture_output=True).stdout
    import tarfile
    from io import BytesIO

    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _in_subprocess(src: Path | None, work: Path, key: str, limit: float) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    out = work / f"{key.replace(' ', '-')}-{'base' if src else 'current'}.json"
    command = [sys.executable, "-m", "bench.event_funnel_exclusions", "--worker", str(out),
               "--events-file", str(work / "events.parquet"), "--key", key]  # fmt: skip
    try:
        subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"note": f"did not finish within {limit:.0f} s (compile + run)"}
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    print(f"{'baseline' if src else 'current':8} {key:18} {json.dumps(result)}", flush=True)
    return result


def _ratio(cur: dict[str, Any], base: dict[str, Any], field: str) -> float | None:
    return round(cur[field] / base[field], 2) if field in cur and base.get(field) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--baseline", default="d885501", help="git revision of the code to compare with")
    parser.add_argument("--pure-limit", type=float, default=60.0, help="seconds for a one-statement compile")
    parser.add_argument("--limit", type=float, default=180.0, help="seconds per funnel and code version")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--events-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.events_file, args.key)
        return 0
    load_before, cpu_children = os.getloadavg(), os.times()
    base, current = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _events_file(work / "events.parquet", args.events, args.people)
        src = _baseline_src(args.baseline, work / "rev")
        for key in (f"{name} {order}" for name in FUNNELS for order in ("ordered", "strict")):
            base[key] = _in_subprocess(src, work, key, args.limit)  # alternating: same load for both
            current[key] = _in_subprocess(None, work, key, args.limit)
    pure = _pure_sizes(args.pure_limit)
    ratios = {
        key: {"sql_bytes": _ratio(current[key], base[key], "sql_bytes"),
              "run_cpu": _ratio(current[key], base[key], "run_cpu_seconds"),
              "same_counts": current[key].get("counts") == base[key].get("counts")}
        for key in current
    }  # fmt: skip
    result = {
        "events": args.events, "people": args.people, "baseline_revision": args.baseline,
        "funnels": {k: " -> ".join(v) + ", excluding noise@1-N, 7-day window" for k, v in FUNNELS.items()},
        "cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "children_cpu_seconds": round(os.times().children_user - cpu_children.children_user, 1),
        "note": "ratios are current / baseline in the same run; counts may differ (the baseline lacks PostHog's "
                "one-attempt-per-step rule for exclusions); sql_bytes: the sum over the statements run_funnel runs",
        "baseline": base, "current": current, "current_over_baseline": ratios,
        "current_as_one_statement": pure,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(ratios, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

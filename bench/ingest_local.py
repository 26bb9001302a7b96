"""Benchmark: an events import parsed in the importing process itself (``workers=1``), this code against another
revision in the same run.

Each run is a fresh process with ``PYTHONPATH`` pointing at one revision's ``src``: a new SQLite store (migrated),
then ``import_file(rt, "events", FILE, workers=1, defer=True)`` — reading, converting, checking and storing in one
process, as when no CPU is spare for a parsing process. The run's CPU seconds (``time.process_time`` around the
import), its peak RSS and a digest of the stored tables (``bench.ingest_writer.store_digest``: equal digests, equal
stores) are recorded. Revisions alternate run by run::

    git archive <rev> src | tar -x -C /tmp/local_old
    python bench/ingest_local.py --baseline-src /tmp/local_old/src --rounds 3 --events 200000 [--quoted]

``--parse-only`` times only the reading side (:func:`parse_run`): the part the revisions differ in, which at a
load of 10 or more is smaller than the whole import's noise.

Writes ``bench/results/ingest_local.json``: CPU seconds of every run, medians, microseconds an event, the ratio
and the load average before and after.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import T0, write_events
from bench.ingest_parser import _quoted
from bench.ingest_writer import store_digest

_SRC = Path(__file__).resolve().parents[1] / "src"


def import_run(path: Path, store: Path) -> dict[str, Any]:
    """One import of ``path`` into a new store at ``store``, in this process."""
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.ingest import import_file
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    for stale in store.parent.glob(f"{store.name}*"):
        stale.unlink()
    db = connect(f"sqlite:///{store}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(T0 + timedelta(days=400)))
    cpu, wall = time.process_time(), time.perf_counter()
    summary = import_file(rt, "events", path, workers=1, defer=True, rejects=store.with_suffix(".rejected.csv"))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    db.dispose()
    return {"cpu_seconds": cpu, "seconds": wall, "inserted": summary.inserted, "rejected": summary.rejected,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "store_digest": store_digest(store)}  # fmt: skip


def parse_run(path: Path) -> dict[str, Any]:
    """Only the reading side of such an import, in this process: the chunks ``import_file(workers=1)`` reads
    (``arrowcsv.here_chunks`` where the revision has it, else ``local_chunks``), each chunk's columns taken as the
    writer takes them, the collector paused as in an import; CPU seconds (importing pyarrow included)."""
    from zoneinfo import ZoneInfo

    from funnelbridge.gcpause import gc_paused
    from funnelbridge.ingest.columns import detect_mapping
    from funnelbridge.ingest.pipeline import Source, local_chunks
    from funnelbridge.ingest.readers import open_table

    table = open_table(path)
    source = Source(path, "utf-8", detect_mapping("events", table.headers), ZoneInfo("Europe/Berlin"), 50_000)
    cpu = time.process_time()
    with gc_paused():
        try:
            from funnelbridge.ingest.arrowcsv import here_chunks  # type: ignore[attr-defined]
        except ImportError:  # a revision before it
            here_chunks = local_chunks
        rows = sum(len(chunk.prepared.columns[0]) for chunk in here_chunks(source, table))
    cpu = time.process_time() - cpu
    table.close()
    return {"cpu_seconds": cpu, "seconds": 0.0, "inserted": rows, "rejected": 0,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "store_digest": ""}  # fmt: skip


def _child(src: Path, path: Path, store: Path, parse_only: bool) -> dict[str, Any]:
    out = store.with_suffix(".json")
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--part", str(path), "--store", str(store), "--part-out", str(out)]
    command += ["--parse-only"] * parse_only
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-src", type=Path, default=None, help="another revision's src directory")
    parser.add_argument("--baseline", default="", help="the baseline's revision, recorded in the results")
    parser.add_argument("--current-src", type=Path, default=_SRC, help="this code's src (default: the checkout's)")
    parser.add_argument("--current", default="", help="the current code's revision, recorded in the results")
    parser.add_argument("--quoted", action="store_true", help="every field of the file quoted (CRM exports)")
    parser.add_argument("--parse-only", action="store_true", help="only the reading side (see parse_run)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest_local.json")
    parser.add_argument("--part", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--part-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        done = parse_run(args.part) if args.parse_only else import_run(args.part, args.store)
        args.part_out.write_text(json.dumps(done), encoding="utf-8")
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fb-bench-local-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"events_{args.events}.csv"
    if not path.exists():
        write_events(path, args.events, max(1, args.events // 10), args.seed)
    if args.quoted:
        path = _quoted(path)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"current": [], "baseline": []}
    for _ in range(args.rounds):
        runs["current"].append(_child(args.current_src, path, workdir / "current.db", args.parse_only))
        if args.baseline_src is not None:
            runs["baseline"].append(_child(args.baseline_src, path, workdir / "baseline.db", args.parse_only))
    result: dict[str, Any] = {"events": args.events, "quoted": args.quoted, "parse_only": args.parse_only,
                              "cpus": os.cpu_count(),
                              "baseline": args.baseline, "current": args.current,
                              "command": " ".join(["python", "bench/ingest_local.py", *(argv or sys.argv[1:])]),
                              "load_average_before": load_before, "load_average_after": os.getloadavg(),
                              "runs": runs}  # fmt: skip
    for label, done in runs.items():
        if done:
            cpu = statistics.median(r["cpu_seconds"] for r in done)
            result[f"{label}_median_cpu_seconds"] = cpu
            result[f"{label}_us_per_event"] = cpu / args.events * 1e6
    if runs["baseline"]:
        result["cpu_ratio_baseline_to_current"] = (
            result["baseline_median_cpu_seconds"] / result["current_median_cpu_seconds"]
        )
        result["same_stores"] = len({r["store_digest"] for r in runs["current"] + runs["baseline"]}) == 1
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

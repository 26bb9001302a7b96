"""Benchmark: the events import's *writing* side alone, this code against another revision in the same run.

The events file is parsed and checked beforehand (``local_chunks``, not timed), then the chunks are stored exactly
as :func:`funnelbridge.ingest.import_file` stores them (``defer=True``, a bulk load) into a copy of a store that
already holds the contacts, and the writer's CPU seconds are recorded (``time.process_time``;
``finish_cpu_seconds``: the part after the last chunk — the settle of what the plain chunks owe and the index
rebuild; ``writer_thread_cpu_seconds``: the writing thread's alone, ``time.thread_time``; ``wal``: the WAL file's
size over the run). Revisions alternate run by run, each run in a fresh process with ``PYTHONPATH`` pointing at that
revision's ``src``::

    git worktree add /tmp/ingest_old <rev>
    python bench/ingest_writer.py --baseline-src /tmp/ingest_old/src --rounds 3
    python bench/ingest_writer.py --profile            # cProfile of this code's writer, top functions

Writes ``bench/results/ingest_writer.json`` (CPU seconds per run, the load average at start and end, the ratio of
the medians). Peak RSS of each run is its own process's (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import T0, write_contacts, write_events

_SRC = Path(__file__).resolve().parents[1] / "src"


def _runtime(path: Path) -> Any:
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect

    return Runtime(db=connect(f"sqlite:///{path}"), playbook=load_example("b2b"),
                   clock=FrozenClock(T0 + timedelta(days=400)))  # fmt: skip


def prepare(workdir: Path, contacts: int, events: int, seed: int) -> None:
    """The CSV files and a store holding the contacts (``template.db``), once per workdir."""
    if (workdir / "template.db").exists():
        return
    from funnelbridge.ingest import import_file
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    write_contacts(workdir / "contacts.csv", contacts, seed)
    write_events(workdir / "events.csv", events, contacts, seed)
    db = connect(f"sqlite:///{workdir / 'template.db'}")
    upgrade(db)
    db.dispose()
    rt = _runtime(workdir / "template.db")
    import_file(rt, "contacts", workdir / "contacts.csv", defer=True)
    rt.db.dispose()


def writer_run(workdir: Path, label: str, profile: bool, rerun: bool) -> dict[str, Any]:
    """Store the pre-parsed chunks into a copy of the template; the writer's CPU and wall seconds."""
    from zoneinfo import ZoneInfo

    from funnelbridge.gcpause import gc_paused
    from funnelbridge.ingest import csvimport
    from funnelbridge.ingest.bulkevents import Guess
    from funnelbridge.ingest.columns import detect_mapping
    from funnelbridge.ingest.context import ImportContext
    from funnelbridge.ingest.deadletter import DeadLetterWriter
    from funnelbridge.ingest.pipeline import Source, local_chunks
    from funnelbridge.ingest.readers import open_table
    from funnelbridge.ingest.summary import ImportSummary

    store = workdir / f"{label}.db"
    for stale in workdir.glob(f"{label}.db*"):
        stale.unlink()
    shutil.copy(workdir / "template.db", store)
    rt = _runtime(store)
    from funnelbridge.store.migrate import upgrade

    upgrade(rt.db)  # a template made by an older revision lacks the newer tables (a no-op otherwise)
    path = workdir / "events.csv"
    table = open_table(path)
    mapping = detect_mapping("events", table.headers, None)
    zone = ZoneInfo(rt.playbook.timezone)
    chunks = list(local_chunks(Source(path, "utf-8", mapping, zone, csvimport.EVENT_CHUNK), table))
    table.close()
    plan = csvimport._Plan(None, csvimport.EVENT_CHUNK, True, True, None, 1)
    passes = 2 if rerun else 1
    figures: dict[str, Any] = {}
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
    for number in range(passes):
        summary = ImportSummary(kind="events", path=path, source_format="csv")
        with DeadLetterWriter(workdir / f"{label}.rejected.csv", table.headers) as dead:
            ctx = ImportContext(rt, rt.clock.now(), zone, summary, dead, True)
            load = csvimport._BulkLoad(rt, number == 0, **_fold_of(csvimport, ctx))
            guess = Guess()
            wall, cpu, thread_cpu, wal = time.perf_counter(), time.process_time(), time.thread_time(), _WalWatch(store)
            if profiler is not None:
                profiler.enable()
            with gc_paused(True):
                for chunk in chunks:
                    csvimport._columns_chunk(ctx, chunk, plan, load, guess)
                if hasattr(csvimport, "_held_back"):  # a first load's held-back rows (ingest.firstkeys)
                    csvimport._held_back(ctx, plan, load, guess)
                chunks_cpu = time.process_time() - cpu
                load.finish()
            if profiler is not None:
                profiler.disable()
            name = "rerun" if number else "first"
            figures[name] = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                             "finish_cpu_seconds": time.process_time() - cpu - chunks_cpu,
                             "inserted": summary.inserted, "duplicates": summary.duplicates,
                             "settled_from_fold": getattr(getattr(ctx, "fold", None), "applied", None),
                             "writer_thread_cpu_seconds": time.thread_time() - thread_cpu,
                             "wal": wal.result()}  # fmt: skip
    rt.db.dispose()
    figures["store_digest"] = store_digest(store)
    figures["store_digest_but_versions"] = store_digest(store, versions=False)
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if profiler is not None:
        import pstats

        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
    return figures


class _WalWatch(threading.Thread):
    """The store's WAL file size every 0.25 s (it shrinks only at a TRUNCATE checkpoint): the largest, and every
    5th second's, in MiB."""

    def __init__(self, store: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.done, self.sizes = Path(f"{store}-wal"), threading.Event(), [(0.0, 0)]
        self.start()

    def run(self) -> None:
        begun = time.perf_counter()
        while not self.done.wait(0.25):
            size = self.path.stat().st_size if self.path.exists() else 0
            self.sizes.append((round(time.perf_counter() - begun, 1), size))

    def result(self) -> dict[str, Any]:
        self.done.set()
        self.join()
        return {"max_mib": max(s for _, s in self.sizes) / 2**20,
                "series_mib": [(t, round(s / 2**20, 1)) for t, s in self.sizes[::20]]}  # fmt: skip


def _fold_of(csvimport: Any, ctx: Any) -> dict[str, Any]:
    """The import's fold for the final settle, as ``_run_columns`` passes it (revisions before the fold: none)."""
    from dataclasses import fields

    return {"fold": ctx.fold} if "fold" in {f.name for f in fields(csvimport._BulkLoad)} else {}


def store_digest(path: Path, *, versions: bool = True) -> str:
    """MD5 of the tables an events import writes, every column, in key order (equal digests: equal stores);
    without ``versions``, contacts' ``version`` left out (a settled plain stretch bumps it once per change)."""
    import hashlib
    import sqlite3

    digest = hashlib.md5()
    conn = sqlite3.connect(path)
    for table in ("contacts", "accounts", "events", "identities", "activity_queue", "merges"):
        cursor = conn.execute(f"SELECT * FROM {table} ORDER BY 1")  # a constant table name
        names = [d[0] for d in cursor.description]
        skip = names.index("version") if table == "contacts" and not versions else -1
        for row in cursor:
            digest.update(repr(row if skip < 0 else row[:skip] + row[skip + 1 :]).encode())
    conn.close()
    return digest.hexdigest()


def _child(workdir: Path, label: str, src: Path, profile: bool, rerun: bool) -> dict[str, Any]:
    out = workdir / f"{label}.json"
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--part", label, "--workdir", str(workdir), "--part-out", str(out)]
    command += ["--profile"] * profile + ["--rerun"] * rerun
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline-src", type=Path, default=None, help="another revision's src directory")
    parser.add_argument("--profile", action="store_true", help="cProfile this code's writer (stderr)")
    parser.add_argument("--rerun", action="store_true", help="also store the same chunks again (all duplicates)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest_writer.json")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--part-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        result = writer_run(args.workdir, args.part, args.profile, args.rerun)
        args.part_out.write_text(json.dumps(result), encoding="utf-8")
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fb-bench-writer-"))
    workdir.mkdir(parents=True, exist_ok=True)
    prepare(workdir, args.contacts, args.events, args.seed)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"current": [], "baseline": []}
    for _ in range(args.rounds):
        runs["current"].append(_child(workdir, "current", _SRC, args.profile, args.rerun))
        if args.baseline_src is not None:
            runs["baseline"].append(_child(workdir, "baseline", args.baseline_src, False, args.rerun))
    result: dict[str, Any] = {"contacts": args.contacts, "events": args.events, "cpus": os.cpu_count(),
                              "command": " ".join(["python", "bench/ingest_writer.py", *(argv or sys.argv[1:])]),
                              "load_average_before": load_before, "load_average_after": os.getloadavg(),
                              "runs": runs}  # fmt: skip
    for label, done in runs.items():
        if done:
            cpu = statistics.median(r["first"]["cpu_seconds"] for r in done)
            result[f"{label}_median_cpu_seconds"] = cpu
            result[f"{label}_us_per_event"] = cpu / args.events * 1e6
    if runs["baseline"]:
        result["cpu_ratio_baseline_to_current"] = (
            result["baseline_median_cpu_seconds"] / result["current_median_cpu_seconds"]
        )
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the events import's *parsing process* alone, this code against another revision in the same run.

Each run starts the real parsing process (``python -m funnelbridge.ingest.parser``, what
:func:`funnelbridge.ingest.pipeline.parsed_chunks` starts) with ``PYTHONPATH`` pointing at one revision's ``src``,
feeds it the pickled source (the bench's events CSV, chunks of 50,000) and reads every chunk it writes; the
process's CPU seconds (user + system, interpreter start and imports included) come from ``wait4``, the pickled
stream's size is counted, the CPU this process spends loading the chunks (the writer's share of the pipe) and
taking the times of the contacts' first events (what the writer takes for the contacts it creates: here every
contact, at its first chunk, as into a store without them) is measured, and the chunks of the current code are
compared with the baseline's by a digest of their contents (equal digests: equal chunks). Revisions alternate run
by run::

    git archive <rev> src | tar -x -C /tmp/parser_old
    python bench/ingest_parser.py --baseline-src /tmp/parser_old/src --rounds 3 --events 200000 --events 2000000

(``--current-src`` another tree for this code, e.g. ``git archive HEAD`` when the checkout holds others' edits.)

Writes ``bench/results/ingest_parser.json``: per size the CPU seconds of every run, the medians, microseconds an
event, the ratio, payload bytes, and the load average before and after.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import write_events

_SRC = Path(__file__).resolve().parents[1] / "src"


def _source(path: Path) -> bytes:
    from zoneinfo import ZoneInfo

    from funnelbridge.ingest.columns import detect_mapping
    from funnelbridge.ingest.pipeline import Source
    from funnelbridge.ingest.readers import open_table

    table = open_table(path)
    table.close()
    source = Source(path, "utf-8", detect_mapping("events", table.headers), ZoneInfo("Europe/Berlin"), 50_000)
    return pickle.dumps(source)


def parse_run(src: Path, source: bytes) -> dict[str, Any]:
    """One parsing process over the file: its CPU seconds, the stream's bytes, chunks and rows; the CPU this
    (reading) process spent loading the chunks and taking what the writer takes from them (``load_cpu_seconds``);
    a digest of the chunks' contents (equal digests: equal chunks, whatever form crossed the pipe)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    process = subprocess.Popen([sys.executable, "-m", "funnelbridge.ingest.parser"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=env)  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(source)
    process.stdin.close()
    digest, chunks, rows, load_cpu, times_cpu, seen = hashlib.md5(), 0, 0, 0.0, 0.0, set()
    reader = _Counting(process.stdout)
    while True:
        start = time.process_time()
        item = pickle.load(reader)
        load_cpu += time.process_time() - start
        if item is None:
            break
        start = time.process_time()
        _first_times(item, seen)
        times_cpu += time.process_time() - start
        chunks += 1
        rows += item.read
        _digest(digest, item)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"cpu_seconds": usage.ru_utime + usage.ru_stime, "payload_bytes": reader.size,
            "load_cpu_seconds": load_cpu, "first_times_cpu_seconds": times_cpu, "digest": digest.hexdigest(),
            "chunks": chunks, "rows": rows, "peak_rss_mib": usage.ru_maxrss / 1024}  # fmt: skip


def _first_times(item: Any, seen: set[tuple[str, str]]) -> None:
    """What the writer's plain lane takes from a chunk besides its columns as they are: the time of the first event
    of each contact it creates, three times (``bulkplain._resolve``) — here every group not ``seen`` in an earlier
    chunk, as in an import into a store without those contacts (the most it takes)."""
    chunk = item.prepared
    if chunk.plan is not None:
        at = chunk.columns[3]
        for group, index in zip(chunk.plan.groups, chunk.plan.first, strict=True):
            if group not in seen:
                seen.add(group)
                at[index], at[index], at[index]


def _digest(digest: Any, item: Any) -> None:
    chunk = item.prepared
    columns = [list(column) for column in chunk.columns]
    plan = chunk.plan  # what it compares (a revision's annotations — foresight — are not compared)
    grouped = None if plan is None else (plan.groups, plan.first, plan.index)
    content = (item.read, item.rejected, columns, chunk.repeats, chunk.refused, chunk.special, grouped)
    digest.update(repr(content).encode())


class _Counting:
    """A pipe read through pickle, its bytes counted."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.size = stream, 0

    def read(self, n: int) -> bytes:
        data: bytes = self.stream.read(n)
        self.size += len(data)
        return data

    def readline(self) -> bytes:
        data: bytes = self.stream.readline()
        self.size += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, action="append", help="events per file (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-src", type=Path, default=None, help="another revision's src directory")
    parser.add_argument("--baseline", default="", help="the baseline's revision, recorded in the results")
    parser.add_argument("--current-src", type=Path, default=_SRC, help="this code's src (default: the checkout's)")
    parser.add_argument("--current", default="", help="the current code's revision, recorded in the results")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quoted", action="store_true", help="every field of the file quoted (CRM exports)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest_parser.json")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fb-bench-parser-"))
    workdir.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python", "bench/ingest_parser.py", *(argv or sys.argv[1:])])
    result: dict[str, Any] = {"cpus": os.cpu_count(), "baseline": args.baseline, "current": args.current,
                              "sizes": {}, "command": command}  # fmt: skip
    for events in args.events or [200_000]:
        path = workdir / f"events_{events}.csv"
        if not path.exists():
            write_events(path, events, max(1, events // 10), args.seed)
        if args.quoted:
            path = _quoted(path)
        result["sizes"][f"{events}{'_quoted' * args.quoted}"] = _size(path, events, args)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


def _quoted(path: Path) -> Path:
    """The file with every field quoted (``csv.QUOTE_ALL``), written once beside it."""
    out = path.with_name(f"{path.stem}_quoted.csv")
    if not out.exists():
        with path.open(newline="", encoding="utf-8") as source, out.open("w", newline="", encoding="utf-8") as sink:
            csv.writer(sink, quoting=csv.QUOTE_ALL).writerows(csv.reader(source))
    return out


def _size(path: Path, events: int, args: argparse.Namespace) -> dict[str, Any]:
    source = _source(path)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"current": [], "baseline": []}
    for _ in range(args.rounds):
        runs["current"].append(parse_run(args.current_src, source))
        if args.baseline_src is not None:
            runs["baseline"].append(parse_run(args.baseline_src, source))
    out: dict[str, Any] = {"events": events, "file_bytes": path.stat().st_size, "load_average_before": load_before,
                           "load_average_after": os.getloadavg(), "runs": runs}  # fmt: skip
    for label, done in runs.items():
        if done:
            cpu = statistics.median(r["cpu_seconds"] for r in done)
            out[f"{label}_median_cpu_seconds"] = cpu
            out[f"{label}_us_per_event"] = cpu / events * 1e6
            out[f"{label}_payload_bytes"] = done[0]["payload_bytes"]
            load = statistics.median(r["load_cpu_seconds"] for r in done)
            out[f"{label}_median_load_cpu_seconds"] = load
            out[f"{label}_load_us_per_event"] = load / events * 1e6
            first = statistics.median(r["first_times_cpu_seconds"] for r in done)
            out[f"{label}_first_times_us_per_event"] = first / events * 1e6
    if runs["baseline"]:
        out["cpu_ratio_baseline_to_current"] = out["baseline_median_cpu_seconds"] / out["current_median_cpu_seconds"]
        out["load_cpu_ratio_baseline_to_current"] = (
            out["baseline_median_load_cpu_seconds"] / out["current_median_load_cpu_seconds"]
        )
        out["same_chunks"] = len({r["digest"] for r in runs["current"] + runs["baseline"]}) == 1
    return out


if __name__ == "__main__":
    raise SystemExit(main())

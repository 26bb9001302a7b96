"""Benchmark: the events import's resident memory chunk by chunk — does it grow with the file?

Generates a contacts and an events file (``bench.ingest``'s generators), imports the contacts, then the events
(``import_file(defer=True, workers=2)``, a bulk load as the CLI does), in a fresh process per revision, sampling the
importing process's RSS (``/proc/self/status`` VmRSS) after every chunk, and records the peak (``ru_maxrss``), CPU
seconds and the load average. Revisions run one after the other with ``PYTHONPATH`` at their ``src``::

    python bench/ingest_memory.py --contacts 200000 --events 1200000 --baseline-src /tmp/ingest_old/src

Writes ``bench/results/ingest_memory.json``: per revision the RSS after the contacts, after the first events chunk,
at the middle and at the end (MiB), and the growth per million events over the second half of the file.
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
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import T0, write_contacts, write_events

_SRC = Path(__file__).resolve().parents[1] / "src"


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(workdir: Path, label: str) -> dict[str, Any]:
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.ingest import import_file
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    for stale in workdir.glob(f"{label}.db*"):
        stale.unlink()
    db = connect(f"sqlite:///{workdir / f'{label}.db'}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(T0 + timedelta(days=400)))
    import_file(rt, "contacts", workdir / "contacts.csv", defer=True)
    after_contacts = _rss_mib()
    samples: list[tuple[int, float]] = []
    done = 0

    def progress(rows: int) -> None:
        nonlocal done
        done += rows
        samples.append((done, _rss_mib()))

    cpu, wall = time.process_time(), time.perf_counter()
    summary = import_file(rt, "events", workdir / "events.csv", progress=progress, defer=True, workers=2)
    figures = {"seconds": time.perf_counter() - wall, "cpu_seconds_writer": time.process_time() - cpu}
    db.dispose()
    half = samples[len(samples) // 2]
    growth = (samples[-1][1] - half[1]) / max(1, samples[-1][0] - half[0]) * 1e6
    return {**figures, "inserted": summary.inserted, "rss_mib_after_contacts": after_contacts,
            "rss_mib_first_chunk": samples[0][1], "rss_mib_middle": half[1], "rss_mib_end": samples[-1][1],
            "rss_growth_mib_per_million_events_second_half": growth, "samples": samples,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def _child(workdir: Path, label: str, src: Path) -> dict[str, Any]:
    out = workdir / f"{label}.json"
    command = [sys.executable, __file__, "--part", label, "--workdir", str(workdir), "--part-out", str(out)]
    subprocess.run(command, env={**os.environ, "PYTHONPATH": str(src)}, check=True)
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=1_200_000)
    parser.add_argument("--baseline-src", type=Path, default=None, help="another revision's src directory")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest_memory.json")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--part-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        args.part_out.write_text(json.dumps(run(args.workdir, args.part)), encoding="utf-8")
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fb-bench-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "events.csv").exists():
        write_contacts(workdir / "contacts.csv", args.contacts, args.seed)
        write_events(workdir / "events.csv", args.events, args.contacts, args.seed)
    load_before = os.getloadavg()
    result: dict[str, Any] = {"contacts": args.contacts, "events": args.events, "cpus": os.cpu_count(),
                              "command": " ".join(["python", "bench/ingest_memory.py", *(argv or sys.argv[1:])]),
                              "load_average_before": load_before}  # fmt: skip
    result["current"] = _child(workdir, "current", _SRC)
    if args.baseline_src is not None:
        result["baseline"] = _child(workdir, "baseline", args.baseline_src)
    result["load_average_after"] = os.getloadavg()
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    brief = {k: {n: v for n, v in r.items() if n != "samples"} if isinstance(r, dict) else r for k, r in result.items()}
    json.dump(brief, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

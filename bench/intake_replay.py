"""The demo's intake alone, two code versions on the same payloads: the simulator's days (no sales floor, drain or
housekeeping) through ``ingest_events(..., batch_size=5000, defer=True)`` as the demo sends them, CPU seconds of
intake only, and a digest of every table intake writes — so a faster version can be shown to store the same rows.

    python -m bench.intake_replay --baseline REV [--current REV] [--people 100000] [--days 30] [--rounds 1]

Each version runs in its own process (``git archive`` of the revision first on ``PYTHONPATH``; without
``--current`` the working tree), alternating per round, on a fresh SQLite store; the payloads are made by the
running version's simulator from the same seed (so the simulator must agree between them: it is compared too).
Results: ``bench/results/intake_replay.json`` with ``cpu_ratio`` = baseline CPU / current CPU and ``same_store``.
Python's collector runs as usual here (the demo pauses it during intake: see ``demo/runner.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "intake_replay.json"
TABLES = ("events", "contacts", "identities", "merges", "accounts", "activity_queue")


def replay(people: int, days: int, seed: int, db_path: Path) -> dict[str, Any]:
    """Run the code importable here: intake CPU seconds and a digest of each table intake writes."""
    from sqlalchemy import select

    import funnelbridge
    from funnelbridge.demo.behaviour import day_start, new_crowd, simulate_day
    from funnelbridge.demo.runner import DEFAULT_START
    from funnelbridge.demo.world import Market, WorldShape, build_world
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.domain.events import EventBus
    from funnelbridge.ingest import ingest_events
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect, tables
    from funnelbridge.store.migrate import upgrade

    db = connect(f"sqlite:///{db_path}")
    upgrade(db)
    clock = FrozenClock(day_start(DEFAULT_START, 0))
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=clock, bus=EventBus())
    world = build_world(WorldShape(people=people, days=days, seed=seed, market=Market()))
    crowd, cpu, events, accepted, payload_digest = new_crowd(people), 0.0, 0, 0, hashlib.sha256()
    for day in range(days):
        payloads = simulate_day(world, crowd, day, DEFAULT_START).payloads
        payload_digest.update(json.dumps(payloads, sort_keys=True).encode())
        clock.set(day_start(DEFAULT_START, day) + timedelta(days=1))
        start = time.process_time()
        for lo in range(0, len(payloads), 5000):
            accepted += ingest_events(rt, payloads[lo : lo + 5000], batch_size=5000, defer=True).accepted
        cpu += time.process_time() - start
        events += len(payloads)
    digests = {}
    with db.read() as conn:
        for table in TABLES:
            stored = getattr(tables, table)
            rows = conn.execute(select(stored).order_by(*stored.primary_key.columns)).all()
            digest = hashlib.sha256()
            for row in rows:
                digest.update(repr(tuple(row)).encode())
            digests[table] = [len(rows), digest.hexdigest()]
    db.dispose()
    return {"module": funnelbridge.__file__, "events": events, "accepted": accepted, "cpu_seconds": round(cpu, 3),
            "cpu_us_per_event": round(1e6 * cpu / events, 2), "payloads": payload_digest.hexdigest(),
            "tables": digests}  # fmt: skip


def _source(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _run(src: Path | None, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    out = workdir / "part.json"
    command = [sys.executable, "-m", "bench.intake_replay", "--part", str(out), "--people", str(args.people),
               "--days", str(args.days), "--seed", str(args.seed)]  # fmt: skip
    load = [round(x, 2) for x in os.getloadavg()]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    part: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return {**part, "load_before": load, "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", help="git revision of the code to compare with (required)")
    parser.add_argument("--current", help="git revision to run as the current code (default: the working tree)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--part", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        with tempfile.TemporaryDirectory() as tmp:
            args.part.write_text(json.dumps(replay(args.people, args.days, args.seed, Path(tmp) / "replay.db")))
        return 0
    if not args.baseline:
        parser.error("--baseline is required")
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="fb-intake-replay-") as tmp:
        base = _source(args.baseline, Path(tmp) / "base")
        cur = _source(args.current, Path(tmp) / "cur") if args.current else None
        for i in range(args.rounds):
            for name, src in (("baseline", base), ("current", cur)):
                workdir = Path(tmp) / f"{name}{i}"
                workdir.mkdir()
                runs[name].append(_run(src, args, workdir))
    cpu = {name: min(r["cpu_seconds"] for r in rs) for name, rs in runs.items()}
    first = {name: rs[0] for name, rs in runs.items()}
    result = {
        "benchmark": "intake_replay", "people": args.people, "days": args.days, "seed": args.seed,
        "baseline_revision": args.baseline, "current_revision": args.current or "working tree",
        "cpus": os.cpu_count(), "runs": runs,
        "cpu_ratio": round(cpu["baseline"] / cpu["current"], 2),
        "same_payloads": first["baseline"]["payloads"] == first["current"]["payloads"],
        "same_store": first["baseline"]["tables"] == first["current"]["tables"],
    }  # fmt: skip
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

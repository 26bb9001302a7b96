"""Drain benchmark (library level, SQLite): the activity queue's drain as the demo runs it — the scoring side
(read leads/scores/states/events, score, store score rows and states, threshold crossings) apart from the
lifecycle side — the current code against a baseline git revision, measured in the same run.

    python -m bench.drain [--people 10000] [--days 30] [--baseline REV] [--current REV]

The workload is :func:`bench.intake.workload` (demo-like visitors, forms with traits, email events; deterministic)
fed day by day: each simulated day's events go through ``ingest_events(..., defer=True)`` (not timed), then the
queue is drained with ``drain(rt, batch=2000)`` (timed), as ``funnelbridge demo`` does. About two thirds of the
drained contacts are scored for the first time (no stored state: all their events are read), the rest go on from
their stored state with their new events.

Timed per drain, in CPU seconds of the process (``time.process_time``): the whole drain, and inside it the
scoring side — ``incremental_store.score_leads`` + ``service.store_scored`` (wrapped in timers) and the queue
claim — and the lifecycle side (``lifecycle.batch.advance_many``, not this benchmark's subject). Each code version
runs in its own process (the baseline from ``git archive REV``, first on ``PYTHONPATH``; ``--current REV`` measures
a committed revision the same way instead of the working tree, which others may be editing). Results:
bench/results/drain.json with ``cpu_ratio`` = baseline CPU / current CPU (above 1: the current code is cheaper),
the load average before and after, and ``same_results``: both versions end with the same scores (numbers, bands,
explanations) and pipeline states.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.intake import T0, _baseline_src, workload

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "drain.json"


def _timer(module: Any, name: str, totals: dict[str, float], part: str) -> None:
    """Wrap ``module.name`` so its CPU seconds add up in ``totals[part]``."""
    inner = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[part] += time.process_time() - began

    setattr(module, name, timed)


def _by_day(payloads: list[dict[str, Any]], days: int) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = [[] for _ in range(days)]
    for p in payloads:
        day = (datetime.fromisoformat(p["timestamp"]) - T0) // timedelta(days=1)
        out[min(max(day, 0), days - 1)].append(p)
    return out


def _digest(db: Any) -> str:
    """A digest of what the drains made — every score (numbers, bands, explanation) and pipeline state — to check
    that both code versions end with the same store."""
    from sqlalchemy import select

    from funnelbridge.store.tables import pipeline_states, scores

    c = scores.c
    columns = (c.contact_id, c.score_group, c.fit, c.engagement, c.negative, c.total, c.grade, c.temperature,
               c.quadrant, c.mql_eligible, c.explanation, c.as_of)  # fmt: skip
    states = pipeline_states.c
    queries = (
        select(*columns).order_by(c.contact_id, c.score_group),
        select(pipeline_states).order_by(states.contact_id, states.pipeline),
    )
    digest = hashlib.sha256()
    with db.read() as conn:
        for query in queries:
            for row in conn.execute(query):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()[:16]


def run_part(workdir: Path, people: int, days: int, seed: int) -> dict[str, Any]:
    """Measure the code importable in this process (called in a subprocess per code version)."""
    from funnelbridge import activity
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.domain.events import EventBus
    from funnelbridge.ingest import ingest_events
    from funnelbridge.lifecycle import batch as lifecycle_batch
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.scoring import incremental_store, service
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    totals = dict.fromkeys(("score_leads", "store_scored", "claim", "lifecycle"), 0.0)
    _timer(incremental_store, "score_leads", totals, "score_leads")
    _timer(service, "store_scored", totals, "store_scored")
    _timer(activity, "_claim", totals, "claim")
    _timer(lifecycle_batch, "advance_many", totals, "lifecycle")
    db = connect(f"sqlite:///{workdir / 'drain.db'}")
    upgrade(db)
    clock = FrozenClock(T0)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=clock, bus=EventBus())
    drained = events = 0
    drain_cpu = drain_wall = 0.0
    for day, payloads in enumerate(_by_day(workload(people, seed), days), start=1):
        clock.set(T0 + timedelta(days=day))
        events += ingest_events(rt, payloads, batch_size=5000, defer=True).accepted
        wall, cpu = time.perf_counter(), time.process_time()
        result = activity.drain(rt, batch=2000)
        drain_cpu += time.process_time() - cpu
        drain_wall += time.perf_counter() - wall
        drained += result.contacts
    digest = _digest(db)
    db.dispose()
    scoring = totals["score_leads"] + totals["store_scored"] + totals["claim"]
    per = 1e6 / max(1, drained)
    return {
        "module": __import__("funnelbridge").__file__,
        "events": events,
        "contacts_drained": drained,
        "drain_cpu_seconds": round(drain_cpu, 3),
        "drain_wall_seconds": round(drain_wall, 3),
        "scoring_cpu_seconds": round(scoring, 3),
        "cpu_seconds_by_part": {k: round(v, 3) for k, v in totals.items()},
        "drain_cpu_us_per_contact": round(drain_cpu * per, 1),
        "scoring_cpu_us_per_contact": round(scoring * per, 1),
        "results_digest": digest,
    }


def _in_subprocess(src: Path | None, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    workdir.mkdir()
    out = workdir / "part.json"
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    command = [sys.executable, "-m", "bench.drain", "--part-out", str(out), "--people", str(args.people),
               "--days", str(args.days), "--seed", str(args.seed)]  # fmt: skip
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _ratio(base: dict[str, Any], current: dict[str, Any], key: str) -> float:
    return round(float(base[key]) / max(float(current[key]), 1e-9), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", default="3704a26", help="git revision of the code to compare with")
    parser.add_argument("--current", help="git revision to measure instead of the working tree")
    parser.add_argument("--part-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part_out:
        with tempfile.TemporaryDirectory() as tmp:
            args.part_out.write_text(json.dumps(run_part(Path(tmp), args.people, args.days, args.seed)))
        return 0
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        base = _in_subprocess(_baseline_src(args.baseline, Path(tmp) / "rev"), Path(tmp) / "b", args)
        src = _baseline_src(args.current, Path(tmp) / "cur") if args.current else None
        current = _in_subprocess(src, Path(tmp) / "c", args)
    result = {
        "people": args.people,
        "days": args.days,
        "seed": args.seed,
        "baseline_revision": args.baseline,
        "current_revision": args.current or "working tree",
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "baseline": base,
        "current": current,
        "cpu_ratio": {
            "drain": _ratio(base, current, "drain_cpu_seconds"),
            "scoring": _ratio(base, current, "scoring_cpu_seconds"),
        },
        "same_results": base["results_digest"] == current["results_digest"],
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

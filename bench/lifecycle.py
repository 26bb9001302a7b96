"""Benchmark: the lifecycle's stage moves. Writes ``bench/results/lifecycle.json`` (``lifecycle_pg.json`` with --pg).

    python bench/lifecycle.py              # 2,000 leads (well under a minute)
    python bench/lifecycle.py --full       # 20,000 leads
    python bench/lifecycle.py --pg URL     # the same against PostgreSQL (a fresh schema, dropped afterwards)

Phases, each timed against a baseline measured in the same run on the same store:

* **advance**: every lead (business email, a stored score, a demo request for a third of them) is entered and
  moved by ``advance`` — load facts, evaluate the stages' criteria, check the table, write state + transition,
  publish events — one transaction per lead, as ``flow.after_activity`` does. Baseline: the bare writes of one
  stage move (insert the state row, insert the transition row) in one transaction per lead, with no rules. The
  ratio (advance / bare) is what the lifecycle's rules cost over the writes they must make anyway.
* **accept**: every MQL accepted by a rep (``accept``: idempotency lookup, state, conflict check, rule check,
  versioned update, transition). Baseline: a versioned UPDATE + transition INSERT per lead, no rules.
* **race**: 4 threads, each MQL contested by two reps; throughput and how many attempts got ConflictError.
* **queue**: ``sales_queue`` over every waiting MQL with the business-hours SLA clock, against the bare SELECT of
  the same rows (the ratio is the cost of the SLA arithmetic and the named results).
* **rebuild**: ``rebuild_projection`` (read the whole trail, replay it, compare with the states) against just
  reading the trail.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text, update

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.errors import ConflictError
from funnelbridge.lifecycle import Actor, accept, advance, rebuild_projection, sales_queue
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database, connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import contacts, events, pipeline_states, scores, transitions
from funnelbridge.store.transitions import trail

RESULTS = Path(__file__).parent / "results"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _store(pg: str | None, workdir: Path) -> tuple[Database, str | None]:
    if pg is None:
        db = connect(f"sqlite:///{workdir}/lifecycle.db")
        upgrade(db)
        return db, None
    schema = f"bench_lc_{uuid.uuid4().hex[:8]}"
    with connect(pg).engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = connect(pg, schema=schema)
    upgrade(db)
    return db, schema


def _seed(db: Database, n: int, first_id: int = 1) -> list[int]:
    """``n`` leads with a score row; every third one has a demo request."""
    ids = list(range(first_id, first_id + n))
    people = [
        {"id": i, "email": f"p{i}@co{i % 997}.example", "title": "VP Sales", "created_at": T0, "updated_at": T0}
        for i in ids
    ]
    score_rows = [
        {
            "contact_id": i,
            "score_group": "main",
            "fit": 50.0,
            "engagement": 20.0,
            "negative": 0.0,
            "total": 70.0,
            "grade": "A",
            "temperature": "warm",
            "quadrant": "high_fit",
            "mql_eligible": False,
            "explanation": {},
            "as_of": T0,
            "playbook_version": "bench",
            "updated_at": T0,
        }
        for i in ids
    ]
    demo = [
        {"idempotency_key": f"d{i}", "contact_id": i, "type": "demo_request", "occurred_at": T0, "received_at": T0}
        for i in ids
        if i % 3 == 0
    ]
    with db.transaction() as conn:
        conn.execute(insert(contacts), people)
        conn.execute(insert(scores), score_rows)
        if demo:
            conn.execute(insert(events), demo)
    return ids


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _bare_moves(db: Database, ids: list[int]) -> None:
    for i in ids:
        with db.transaction() as conn:
            state = {"contact_id": i, "pipeline": "bare", "stage": "mal", "entered_at": T0, "journey": 1}
            conn.execute(insert(pipeline_states).values(**state, version=1))
            row = {**state, "from_stage": None, "to_stage": "mal", "at": T0, "actor": "system"}
            row.pop("stage"), row.pop("entered_at")
            conn.execute(insert(transitions).values(**row, actor_role="system", skipped=[], playbook_version="x"))


def _bare_accepts(db: Database, ids: list[int]) -> None:
    ps = pipeline_states
    for i in ids:
        with db.transaction() as conn:
            where = (ps.c.contact_id == i) & (ps.c.pipeline == "bare") & (ps.c.version == 1)
            conn.execute(update(ps).where(where).values(stage="sal", version=2))
            row = {"contact_id": i, "pipeline": "bare", "journey": 1, "from_stage": "mal", "to_stage": "sal"}
            values = {**row, "at": T0, "actor": "rep", "actor_role": "sales", "playbook_version": "x"}
            conn.execute(insert(transitions).values(**values))


def _advance_all(rt: Runtime, ids: list[int]) -> int:
    moved = 0
    for i in ids:
        with rt.db.transaction() as conn:
            moved += len(advance(rt, conn, i))
    return moved


def _race(rt: Runtime, ids: list[int], threads: int = 4) -> dict[str, int]:
    """Each MQL is attempted by two reps; ``threads`` workers take attempts from a shared list."""
    attempts = [(i, f"rep{k}@bench.example") for i in ids for k in (1, 2)]
    lock = threading.Lock()
    counts = {"won": 0, "conflicts": 0}

    def work() -> None:
        while True:
            with lock:
                if not attempts:
                    return
                cid, rep = attempts.pop()
            try:
                accept(rt, cid, Actor(rep, "sales"))
                key = "won"
            except ConflictError:
                key = "conflicts"
            with lock:
                counts[key] += 1

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return counts


def _phase(name: str, n: int, took: float, base: float, baseline: str, **extra: Any) -> dict[str, Any]:
    print(f"{name:8} {n:>7,} in {took:7.2f}s ({n / took:8,.0f}/s); baseline {base:6.2f}s; ratio {took / base:5.2f}")
    return {
        "items": n,
        "seconds": round(took, 3),
        "per_second": round(n / took),
        "baseline": baseline,
        "baseline_seconds": round(base, 3),
        "ratio_vs_baseline": round(took / base, 2),
        **extra,
    }


def run(db: Database, n: int) -> dict[str, Any]:
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(T0), bus=EventBus())
    ids = _seed(db, n)
    base_adv, _ = _timed(lambda: _bare_moves(db, ids))
    took_adv, moved = _timed(lambda: _advance_all(rt, ids))
    out = {"advance": _phase("advance", n, took_adv, base_adv, "bare state+transition insert per lead", moves=moved)}
    mqls = [i for i in ids if i % 3 == 0]
    half = len(mqls) // 2
    rt.clock.advance(timedelta(hours=3))  # type: ignore[attr-defined]
    took_q, items = _timed(lambda: sales_queue(rt))
    with db.read() as conn:
        query = select(pipeline_states).where(pipeline_states.c.pipeline == "main", pipeline_states.c.stage == "mql")
        base_q, _ = _timed(lambda: conn.execute(query).all())
    out["queue"] = _phase("queue", len(items), took_q, base_q, "bare SELECT of the queued states")
    base_acc, _ = _timed(lambda: _bare_accepts(db, mqls[:half]))
    rep = Actor("rep@bench.example", "sales")
    took_acc, _ = _timed(lambda: [accept(rt, i, rep) for i in mqls[:half]])
    out["accept"] = _phase("accept", half, took_acc, base_acc, "bare versioned UPDATE + transition INSERT")
    took_race, counts = _timed(lambda: _race(rt, mqls[half:]))
    print(f"race     {len(mqls) - half:>7,} MQLs, 2 reps each, 4 threads: {took_race:.2f}s, {counts}")
    out["race"] = {"mqls": len(mqls) - half, "threads": 4, "seconds": round(took_race, 3), **counts}
    with db.read() as conn:
        base_rb, rows = _timed(lambda: trail(conn))
    took_rb, summary = _timed(lambda: rebuild_projection(rt))
    out["rebuild"] = _phase(
        "rebuild", len(rows), took_rb, base_rb, "reading the trail", changed=summary.changed + summary.created
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="20,000 leads")
    parser.add_argument("--leads", type=int, default=None)
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (default: a temporary SQLite store)")
    args = parser.parse_args()
    n = args.leads or (20_000 if args.full else 2_000)
    with tempfile.TemporaryDirectory() as tmp:
        db, schema = _store(args.pg, Path(tmp))
        try:
            phases = run(db, n)
        finally:
            db.dispose()
            if schema:
                with connect(args.pg).engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    result = {
        "topic": "lifecycle",
        "store": "postgresql" if args.pg else "sqlite",
        "leads": n,
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "python": sys.version.split()[0],
        **phases,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("lifecycle_pg.json" if args.pg else "lifecycle.json")
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

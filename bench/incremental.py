"""Benchmark: the per-lead hot path — incremental scoring and the batched activity flow.
Writes ``bench/results/incremental.json``.

    python bench/incremental.py                 # about a minute or two on the shared machine

Every figure has its baseline measured in the same run, on the same data (ratio = new rate / baseline rate), with
wall and CPU seconds (``time.process_time``) and the load average before and after:

* **in_memory** (20 events per lead) and **in_memory_long_history** (200): leads of the 40-rule playbook of
  ``bench/scoring.py`` (same generator); their events replayed one by one in time order, the lead rescored after
  each event at that event's time. New: ``IncrementalScorer.apply`` + ``score`` on a state kept in memory — every
  group's ``GroupScore`` (total, fit, engagement, negative, grade, temperature, quadrant, MQL flag) with its
  explanation built on first read; **explained**: the same, each explanation read after every event. Baseline:
  ``score_facts`` over the lead's events so far (the full recompute per event, what the incremental path did
  before). Events per second on one core: the median of ``--repeat`` interleaved runs of each variant (every run's
  rate is kept too); the last scores of every lead (totals and explanations, the incremental ones read only after
  all the lead's events) are checked against the baseline's.
* **store**: a SQLite store of ``--store-leads`` leads with 20 events each, all scored once; then
  ``--store-events`` new events in time order, one transaction per event: insert it and rescore its lead. New:
  ``score_contact`` (stored state + the new event). Baseline: the previous ``score_contact`` (load all the lead's
  facts, ``score_facts``, upsert, crossings).
* **drain**: the b2b example playbook; ``--drain-leads`` leads with history, scored and advanced once; then 1–3 new
  events for each, queued, and ``activity.drain`` (500 per batch). New: ``after_activity`` now. Baseline: the
  previous flow (per contact: the previous ``score_contact``, then ``advance`` reading its own state and facts),
  swapped in for the run. Both runs start from copies of one database and must end with the same scores and stages.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

import funnelbridge.flow
from funnelbridge.activity import drain, enqueue
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.flow import FlowResult
from funnelbridge.lifecycle import advance
from funnelbridge.playbook import load_example
from funnelbridge.playbook.schema import Playbook
from funnelbridge.rules.facts import LeadFacts, load_lead_facts, shared_facts
from funnelbridge.rules.ibis import LIST_SEPARATOR
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.incremental import scorer_for
from funnelbridge.scoring.rules_engine import score_facts
from funnelbridge.scoring.service import score_contact, score_contacts
from funnelbridge.scoring.thresholds import ScoreSnapshot, crossings
from funnelbridge.store import Database, connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.scores import load_scores, score_row, upsert_scores
from funnelbridge.store.tables import accounts, contacts, events, pipeline_states, scores

RESULTS = Path(__file__).parent / "results" / "incremental.json"
INSERT_EVENT = events.insert()  # built once: the figure is about scoring, not statement construction
LEAD_COLUMNS = {"contact.email", "contact.title", "contact.seniority", "contact.bounced", "account.employees",
                "account.industry", "account.country", "account.technologies", "account.annual_revenue"}  # fmt: skip


def _sibling(name: str) -> ModuleType:
    """bench/scoring.py (its data generator and 40-rule playbook), loaded by path."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SCORING = _sibling("scoring")
AS_OF: datetime = SCORING.AS_OF


class Timer:
    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def _rates(n: int, new: Timer, old: Timer, unit: str) -> dict[str, Any]:
    return {
        f"new_{unit}_per_second": round(n / new.wall), f"new_{unit}_per_cpu_second": round(n / new.cpu),
        f"baseline_{unit}_per_second": round(n / old.wall), f"baseline_{unit}_per_cpu_second": round(n / old.cpu),
        "new_seconds": round(new.wall, 3), "new_cpu_seconds": round(new.cpu, 3),
        "baseline_seconds": round(old.wall, 3), "baseline_cpu_seconds": round(old.cpu, 3),
        "ratio": round(old.wall / new.wall, 1), "ratio_cpu": round(old.cpu / new.cpu, 1),
    }  # fmt: skip


# --- in memory ------------------------------------------------------------------------------------------------


def _replay(pb: Playbook, streams: list[Any], explained: bool) -> dict[int, Any]:
    """Each lead's events applied one by one, the lead scored after each (its explanation read when ``explained``);
    the last scores per lead."""
    scorer, finals = scorer_for(pb), {}
    for cid, lead, history in streams:
        state, last = scorer.new_state(), None
        for e in history:
            scorer.apply(state, e)
            last = scorer.score(state, LeadFacts(lead.contact, lead.account, as_of=e.occurred_at), contact_id=cid)
            if explained:
                for group in last:
                    len(group.explanation)
        finals[cid] = last
    return finals


def _median(timers: list[Timer]) -> Timer:
    """The median wall and the median CPU time of repeated runs (a noisy, shared machine)."""
    out = Timer()
    out.wall, out.cpu = statistics.median(t.wall for t in timers), statistics.median(t.cpu for t in timers)
    return out


def bench_in_memory(pb: Playbook, leads: int, per_lead: int, seed: int, repeat: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    lead_table = SCORING.make_leads(rng, leads, LEAD_COLUMNS)
    ev = SCORING.make_events(rng, leads, leads * per_lead)
    facts = SCORING.sample_facts(lead_table, ev, np.arange(1, leads + 1))
    streams = [(cid, f, [e for e in f.events if e.occurred_at <= AS_OF]) for cid, f in facts]
    n = sum(len(h) for _, _, h in streams)
    runs: dict[str, list[Timer]] = {"new": [], "explained": [], "baseline": []}
    for _ in range(repeat):  # interleaved, so that load changes hit every variant alike
        with Timer() as new:
            finals = _replay(pb, streams, explained=False)
        with Timer() as explained:
            _replay(pb, streams, explained=True)
        with Timer() as old:
            refs = _full_recompute(pb, streams)
        runs["new"].append(new)
        runs["explained"].append(explained)
        runs["baseline"].append(old)
    worst = max(abs(a.total - b.total) for cid in refs for a, b in zip(finals[cid], refs[cid], strict=True))
    same = all(_same_lines(a, b) for cid in refs for a, b in zip(finals[cid], refs[cid], strict=True))
    med = {k: _median(v) for k, v in runs.items()}
    return {"leads": leads, "events_per_lead": per_lead, "events": n, "rules": 40, "repeats": repeat,
            **_rates(n, med["new"], med["baseline"], "events"),
            "explained_events_per_second": round(n / med["explained"].wall),
            "explained_events_per_cpu_second": round(n / med["explained"].cpu),
            "explained_seconds": round(med["explained"].wall, 3),
            "explained_cpu_seconds": round(med["explained"].cpu, 3),
            "each_run_events_per_cpu_second": {k: [round(n / t.cpu) for t in v] for k, v in runs.items()},
            "each_run_events_per_second": {k: [round(n / t.wall) for t in v] for k, v in runs.items()},
            "max_abs_total_difference_after_last_event": worst,
            "same_explanations_after_last_event": same}  # fmt: skip


def _full_recompute(pb: Playbook, streams: list[Any]) -> dict[int, Any]:
    """The baseline: ``score_facts`` over each lead's events so far, after each event; the last scores per lead."""
    refs = {}
    for cid, lead, history in streams:
        for k in range(len(history)):
            seen = LeadFacts(lead.contact, lead.account, events=history[: k + 1], as_of=history[k].occurred_at)
            refs[cid] = score_facts(pb, seen, contact_id=cid)
    return refs


def _same_lines(a: Any, b: Any) -> bool:
    """The explanations of two group scores: same rules, kinds, texts and counts, numbers to 1e-9."""
    if len(a.explanation) != len(b.explanation):
        return False
    for x, y in zip(a.explanation, b.explanation, strict=True):
        xs, ys = x.to_dict(), y.to_dict()
        if xs.keys() != ys.keys():
            return False
        for k, v in xs.items():
            w = ys[k]
            if v != w and not (isinstance(v, float) and abs(v - w) <= 1e-9 * max(1.0, abs(w))):
                return False
    return True


# --- the store ------------------------------------------------------------------------------------------------


def seed(db: Database, n_leads: int, per_lead: int, seed_: int) -> None:
    """Contacts, accounts and events straight into the tables (the generator of bench/scoring.py)."""
    rng = np.random.default_rng(seed_ + 2)
    lt = SCORING.make_leads(rng, n_leads, LEAD_COLUMNS).to_pylist()
    ev = SCORING.make_events(rng, n_leads, n_leads * per_lead).to_pydict()
    acc_rows, con_rows = [], []
    for r in lt:
        cid, techs = r["contact_id"], r["account__technologies"]
        acc_rows.append({
            "id": cid, "domain": f"d{cid}.com", "employees": r["account__employees"],
            "industry": r["account__industry"], "country": r["account__country"],
            "technologies": techs.split(LIST_SEPARATOR) if techs else [],
            "annual_revenue": r["account__annual_revenue"], "created_at": AS_OF, "updated_at": AS_OF,
        })  # fmt: skip
        con_rows.append({
            "id": cid, "email": r["contact__email"], "title": r["contact__title"],
            "seniority": r["contact__seniority"], "bounced": r["contact__bounced"], "unsubscribed": False,
            "account_id": cid, "created_at": AS_OF, "updated_at": AS_OF, "version": 1,
        })  # fmt: skip
    rows = [
        {"idempotency_key": f"e{i}", "contact_id": c, "type": ty, "occurred_at": t, "received_at": t, "path": p}
        for i, (c, t, ty, p) in enumerate(zip(ev["contact_id"], ev["occurred_at"], ev["type"], ev["path"], strict=True))
        if t <= AS_OF
    ]
    with db.transaction() as conn:
        conn.execute(accounts.insert(), acc_rows)
        conn.execute(contacts.insert(), con_rows)
        conn.execute(events.insert(), rows)


def _snapshot(row: Any) -> ScoreSnapshot | None:
    return None if row is None else ScoreSnapshot(row["engagement"], row["total"], row["temperature"])


def legacy_score_contact(rt: Runtime, conn: Connection, cid: int) -> None:
    """``score_contact`` as it was: all of the lead's facts, ``score_facts``, upsert, crossings."""
    now = rt.clock.now()
    results = score_facts(rt.playbook, load_lead_facts(conn, cid, now), contact_id=cid)
    old = load_scores(conn, cid).get("main")
    upsert_scores(conn, [score_row(r, now) for r in results])
    main = results[0]
    new = ScoreSnapshot(main.engagement, main.total, main.temperature)
    for event in crossings(rt.playbook, cid, now, _snapshot(old), new):
        rt.bus.publish(conn, event)


def legacy_after_activity(rt: Runtime, conn: Connection, contact_ids: Iterable[int]) -> FlowResult:
    """``after_activity`` as it was: per contact, score then (after all) advance with its own reads."""
    ids = list(contact_ids)
    pinned = replace(rt, clock=FrozenClock(rt.clock.now()))
    with shared_facts():
        for cid in ids:
            legacy_score_contact(pinned, conn, cid)
        moves = sum(len(advance(pinned, conn, cid)) for cid in ids)
    return FlowResult(len(ids), moves)


@contextmanager
def legacy_flow() -> Iterator[None]:
    saved = funnelbridge.flow.after_activity
    funnelbridge.flow.after_activity = legacy_after_activity
    try:
        yield
    finally:
        funnelbridge.flow.after_activity = saved


def _prime(db: Database, pb: Playbook, ids: list[int], flow: bool) -> None:
    rt = Runtime(db, pb, FrozenClock(AS_OF), EventBus())
    with db.transaction() as conn:
        if flow:
            funnelbridge.flow.after_activity(rt, conn, ids)
        else:
            score_contacts(rt, conn, ids)


def _per_event(db: Database, pb: Playbook, n_leads: int, n: int, seed_: int, fn: Callable[..., Any]) -> Timer:
    rng = np.random.default_rng(seed_ + 3)
    kinds = ["page_view", "email_open", "email_click", "asset_download", "form_submit"]
    paths = ["/pricing", "/blog/funnels", "/docs/start", "/customers/acme", None]
    with Timer() as timer:
        for i in range(n):
            at = AS_OF + timedelta(minutes=i)
            rt = Runtime(db, pb, FrozenClock(at), EventBus())
            cid, k = int(rng.integers(1, n_leads + 1)), int(rng.integers(0, len(kinds)))
            with db.transaction() as conn:
                conn.execute(INSERT_EVENT, {"idempotency_key": f"n{i}", "contact_id": cid, "type": kinds[k],
                                            "path": paths[k], "occurred_at": at, "received_at": at})  # fmt: skip
                fn(rt, conn, cid)
    return timer


def _stored(db: Database) -> tuple[dict[tuple[int, str], float], dict[int, str]]:
    with db.read() as conn:
        totals = {(r.contact_id, r.score_group): r.total for r in conn.execute(select(scores))}
        stages = {r.contact_id: r.stage for r in conn.execute(select(pipeline_states))}
    return totals, stages


def _same(a: Database, b: Database) -> bool:
    (ta, sa), (tb, sb) = _stored(a), _stored(b)
    return sa == sb and ta.keys() == tb.keys() and all(abs(ta[k] - tb[k]) < 1e-6 for k in ta)


def bench_store(pb: Playbook, tmp: Path, n_leads: int, n_events: int, seed_: int) -> dict[str, Any]:
    base = connect(f"sqlite:///{tmp}/store.db")
    upgrade(base)
    seed(base, n_leads, 20, seed_)
    _prime(base, pb, list(range(1, n_leads + 1)), flow=False)
    base.dispose()
    timers = {}
    for name, fn in (("baseline", legacy_score_contact), ("new", score_contact)):
        shutil.copy(tmp / "store.db", tmp / f"store_{name}.db")
        db = connect(f"sqlite:///{tmp}/store_{name}.db")
        timers[name] = _per_event(db, pb, n_leads, n_events, seed_, fn)
        db.dispose()
    same = _same(connect(f"sqlite:///{tmp}/store_baseline.db"), connect(f"sqlite:///{tmp}/store_new.db"))
    return {"store": "sqlite", "leads": n_leads, "history_events": n_leads * 20, "events": n_events,
            "per_event": "one transaction: insert the event, rescore its lead",
            **_rates(n_events, timers["new"], timers["baseline"], "events"), "same_scores": same}  # fmt: skip


def _queue_new_events(db: Database, n_leads: int, seed_: int) -> int:
    rng = np.random.default_rng(seed_ + 4)
    kinds = ["page_view", "email_click", "asset_download", "webinar_attended", "demo_request"]
    rows, i = [], 0
    for cid in range(1, n_leads + 1):
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.choice(len(kinds), p=[0.6, 0.2, 0.1, 0.08, 0.02]))
            at = AS_OF + timedelta(hours=1, seconds=i)
            rows.append({"idempotency_key": f"q{i}", "contact_id": cid, "type": kinds[k], "occurred_at": at,
                         "received_at": at, "path": "/pricing" if kinds[k] == "page_view" else None})  # fmt: skip
            i += 1
    with db.transaction() as conn:
        conn.execute(events.insert(), rows)
        enqueue(conn, range(1, n_leads + 1), AS_OF)
    return len(rows)


def bench_drain(tmp: Path, n_leads: int, seed_: int) -> dict[str, Any]:
    pb = load_example("b2b")
    base = connect(f"sqlite:///{tmp}/drain.db")
    upgrade(base)
    seed(base, n_leads, 20, seed_)
    _prime(base, pb, list(range(1, n_leads + 1)), flow=True)
    base.dispose()
    timers, moves = {}, {}
    for name in ("baseline", "new"):
        shutil.copy(tmp / "drain.db", tmp / f"drain_{name}.db")
        db = connect(f"sqlite:///{tmp}/drain_{name}.db")
        new_events = _queue_new_events(db, n_leads, seed_)
        rt = Runtime(db, pb, FrozenClock(AS_OF + timedelta(days=1)), EventBus())
        if name == "baseline":
            with legacy_flow(), Timer() as timers[name]:
                result = drain(rt, batch=500)
        else:
            with Timer() as timers[name]:
                result = drain(rt, batch=500)
        assert result.contacts == n_leads and not result.failed, result
        moves[name] = result.transitions
        db.dispose()
    same = _same(connect(f"sqlite:///{tmp}/drain_baseline.db"), connect(f"sqlite:///{tmp}/drain_new.db"))
    return {"store": "sqlite", "playbook": "b2b example", "leads": n_leads, "history_events": n_leads * 20,
            "new_events": new_events, "batch": 500, **_rates(n_leads, timers["new"], timers["baseline"], "contacts"),
            "transitions": moves, "same_scores_and_stages": same and moves["new"] == moves["baseline"]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, default=400, help="leads replayed in memory")
    ap.add_argument("--long-leads", type=int, default=30, help="leads with 200 events each, replayed in memory")
    ap.add_argument("--repeat", type=int, default=3, help="in-memory runs of each variant (medians reported)")
    ap.add_argument("--store-leads", type=int, default=2_000)
    ap.add_argument("--store-events", type=int, default=1_000)
    ap.add_argument("--drain-leads", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    pb = SCORING.playbook_40()
    result: dict[str, Any] = {"topic": "incremental", "cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    result["in_memory"] = bench_in_memory(pb, args.leads, 20, args.seed, args.repeat)
    print(json.dumps(result["in_memory"], indent=1), flush=True)
    result["in_memory_long_history"] = bench_in_memory(pb, args.long_leads, 200, args.seed, args.repeat)
    print(json.dumps(result["in_memory_long_history"], indent=1), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        result["store"] = bench_store(pb, Path(tmp), args.store_leads, args.store_events, args.seed)
        print(json.dumps(result["store"], indent=1), flush=True)
        result["drain"] = bench_drain(Path(tmp), args.drain_leads, args.seed)
        print(json.dumps(result["drain"], indent=1), flush=True)
    result["load_average_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

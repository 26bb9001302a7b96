"""Benchmark and acceptance check on the demo company: predictive model vs rule score, and ``playbook plan`` with a
stricter MQL rule. Writes ``bench/results/planning.json``.

    python bench/planning.py                     # runs a 3,000-person, 240-day demo first (a few minutes)
    python bench/planning.py --full              # 15,000 people over 300 days (enough customers for a model)
    python bench/planning.py --db sqlite:///x.db # an existing demo store

Figures:

* **model**: ``train_from_store`` (target ``--target``, default customer, then sql when the history is too thin)
  — validation ROC AUC / PR AUC of the model and of the rule score recomputed at the same decision times, the
  model's expected calibration error, the top-decile lifts; or the refusal message.
The store is rescored in place (the baseline below): point ``--db`` at a demo store, not a production one.

* **plan**: ``plan_playbook`` of the shipped B2B playbook against a stricter one (hand-raisers must also be grade
  A/B; the score path needs grade A) — would-be MQLs, MQL→customer rate, movers, and the replay's time. Baseline,
  measured in the same run: one ``rescore_all`` of the same store (the batch path); the ratio is replay seconds /
  rescore seconds (the replay rescores each lead at each of its event times, under two playbooks).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.errors import ModelError
from funnelbridge.planning import plan_playbook
from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import load_playbook, parse_playbook
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.predictive.store_train import store_report_json, train_from_store
from funnelbridge.scoring.rescore import rescore_all
from funnelbridge.store import connect
from funnelbridge.store.tables import events

RESULTS = Path(__file__).parent / "results" / "planning.json"


def stricter_text() -> str:
    """The shipped B2B playbook with a stricter MQL rule: grade A for the score path, A/B for hand-raisers."""
    text = example_path("b2b").read_text(encoding="utf-8")
    old = "            - {field: events.count, event: demo_request, op: gte, value: 1}\n"
    new = (
        "            - all:\n"
        "                - {field: events.count, event: demo_request, op: gte, value: 1}\n"
        "                - {field: score.fit_grade, op: in, value: [A, B]}\n"
    )
    text = text.replace(old, new)
    score_path = "- {field: score.fit_grade, op: in, value: [A, B]}\n                - {field: score.engagement"
    text = text.replace(score_path, score_path.replace("[A, B]", "[A]"))
    return text.replace("mql: {grades: [A, B], engagement: 50}", "mql: {grades: [A], engagement: 50}")


def _demo(leads: int, days: int, seed: int) -> str:
    from funnelbridge.demo.runner import run_demo

    url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-planning-')}/demo.db"
    started = time.perf_counter()
    run_demo(url, leads, days, seed, lambda d, n: print(f"  demo day {d}/{n}", flush=True) if d % 30 == 0 else None)
    print(f"  demo: {time.perf_counter() - started:.0f} s", flush=True)
    return url


def _runtime(url: str) -> Runtime:
    db = connect(url)
    with db.read() as conn:
        last = conn.execute(select(func.max(events.c.occurred_at))).scalar_one()
    last = last if last.tzinfo else last.replace(tzinfo=UTC)
    return Runtime(db=db, playbook=load_playbook(example_path("b2b")), clock=FrozenClock(last))


def _model(rt: Runtime, targets: list[str]) -> dict[str, Any]:
    tried: dict[str, Any] = {}
    for target in targets:
        try:
            out = train_from_store(rt, target, models_dir=Path(tempfile.mkdtemp(prefix="bench-models-")))
        except ModelError as exc:
            tried[target] = {"refused": str(exc)}
            continue
        data = store_report_json(out.report, out.store)
        keep = ("model_version", "validation", "rule_score", "expected_calibration_error", "store", "backend")
        result = {k: data[k] for k in keep}
        result["top_decile_lift"] = data["lift_by_decile"][0]["lift"]
        result["rule_top_decile_lift"] = (data["rule_lift_by_decile"] or [{}])[0].get("lift")
        result["model_beats_rule_auc"] = (data["validation"]["roc_auc"] or 0) > (data["rule_score"]["roc_auc"] or 0)
        tried[target] = result
        break
    return tried


def _plan(rt: Runtime) -> dict[str, Any]:
    started = time.perf_counter()
    report = plan_playbook(rt, parse_playbook(stricter_text()))
    replay = time.perf_counter() - started
    started = time.perf_counter()
    rescore_all(rt)
    baseline = time.perf_counter() - started
    side = {}
    for name, o in (("current", report.current), ("proposed", report.proposed)):
        side[name] = {k: v for k, v in asdict(o).items() if k not in ("mql_ids", "weekly_load")}
        side[name]["busiest_week"] = max(o.weekly_load.values(), default=0)
    return {
        "leads": report.leads, "recorded_mqls": report.actual_mqls, **side,
        "entering": len(report.entering), "leaving": len(report.leaving),
        "replay_seconds": round(replay, 2), "baseline_rescore_all_seconds": round(baseline, 2),
        "ratio_replay_to_rescore": round(replay / baseline, 1) if baseline else None,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="An existing demo store (else a demo is run first).")
    parser.add_argument("--full", action="store_true", help="15,000 people over 300 days.")
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--days", type=int, default=240)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--target", default="customer")
    args = parser.parse_args()
    leads, days = (15000, 300) if args.full else (args.leads, args.days)
    url = args.db or _demo(leads, days, args.seed)
    rt = _runtime(url)
    targets = [args.target] + (["sql"] if args.target != "sql" else [])
    load_before = os.getloadavg()
    result: dict[str, Any] = {"store": url, "model": _model(rt, targets), "plan": _plan(rt)}
    result["load_average"] = {"before": load_before, "after": os.getloadavg(), "cpus": os.cpu_count()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

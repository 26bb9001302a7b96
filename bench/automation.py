"""Benchmark: the lifecycle/automation half of the demo's drain, and its housekeeping, against another checkout.

    python bench/automation.py --base /path/to/other/checkout          # 10,000 people, 30 days, 2 runs each
    python bench/automation.py --base DIR --leads 30000 --runs 1

Runs ``run_demo`` (the same seed) in child processes, alternately with this checkout's code and the ``--base``
checkout's (``src/`` of each put first on ``sys.path``), so both are measured in the same minutes on the same
machine. Each child reports CPU seconds (``time.process_time``) of: the demo's parts (``DemoResult.cpu_seconds``:
floor, intake, drain, housekeeping...), ``lifecycle.batch.advance_many`` within the drain (the moves and the
automation they fire; wrapped, so the scoring half of the drain is the rest), and each housekeeping job; plus wall
seconds and a digest of the automation tables (outbox, timers, assignments, tasks, nurture enrolments,
transitions, pipeline states: every column but the outbox's and timers' payload order) so the two checkouts can be
seen to leave the same rows. Load average before/after is recorded; compare ratios within one run.
Writes ``bench/results/automation.json`` (or ``--out``).
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
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
HERE = Path(__file__).resolve().parent.parent
TABLES = ("transitions", "pipeline_states", "outbox", "timers", "assignments", "tasks", "nurture_enrollments")


def _wrap(module: Any, name: str, cpu: dict[str, float], label: str) -> None:
    inner = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            cpu[label] = cpu.get(label, 0.0) + time.process_time() - began

    setattr(module, name, timed)


def _digest(url: str) -> dict[str, str]:
    from sqlalchemy import select

    from funnelbridge.store import connect
    from funnelbridge.store.tables import metadata

    db = connect(url)
    out = {}
    try:
        with db.read() as conn:
            for name in TABLES:
                table = metadata.tables[name]
                order = list(table.primary_key.columns) or list(table.columns)
                h = hashlib.sha256()
                for row in conn.execute(select(table).order_by(*order)):
                    h.update(json.dumps(dict(row._mapping), sort_keys=True, default=str).encode())
                out[name] = h.hexdigest()[:16]
    finally:
        db.dispose()
    return out


def child(src: str, leads: int, days: int, seed: int, workdir: str) -> dict[str, Any]:
    """One demo run with ``src``'s code (called in a fresh interpreter)."""
    sys.path.insert(0, src)
    import funnelbridge.automation.timers as timers
    import funnelbridge.lifecycle.batch as batch
    import funnelbridge.lifecycle.deals as deals
    import funnelbridge.lifecycle.stalls as stalls
    from funnelbridge.demo.runner import run_demo

    assert str(Path(batch.__file__).resolve()).startswith(str(Path(src).resolve())), batch.__file__
    cpu: dict[str, float] = {}
    _wrap(batch, "advance_many", cpu, "advance_many")
    _wrap(timers, "fire_due_timers", cpu, "fire_due_timers")
    _wrap(deals, "recycle_due", cpu, "recycle_due")
    _wrap(stalls, "recycle_stalled", cpu, "recycle_stalled")
    url = f"sqlite:///{workdir}/demo.db"
    began, wall = time.process_time(), time.perf_counter()
    result = run_demo(url, leads, days, seed, reset=True)
    total, wall = time.process_time() - began, time.perf_counter() - wall
    return {
        "cpu_total": round(total, 2),
        "wall": round(wall, 2),
        "parts": result.cpu_seconds,
        "wrapped": {k: round(v, 3) for k, v in sorted(cpu.items())},
        "engine": result.engine,
        "digest": _digest(url),
    }


def _run_child(src: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-automation-") as tmp:
        cmd = [sys.executable, __file__, "--child", str(src / "src"), "--leads", str(args.leads)]
        cmd += ["--days", str(args.days), "--seed", str(args.seed), "--workdir", tmp]
        env = {**os.environ, "PYTHONPATH": str(src / "src")}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _median(values: list[float]) -> float:
    import statistics

    return float(statistics.median(values))


def _summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = {f"parts.{k}" for r in runs for k in r["parts"]} | {f"wrapped.{k}" for r in runs for k in r["wrapped"]}
    out = {"cpu_total": _median([r["cpu_total"] for r in runs]), "wall": _median([r["wall"] for r in runs])}
    for key in sorted(keys):
        group, _, name = key.partition(".")
        out[key] = round(_median([float(r[group].get(name, 0.0)) for r in runs]), 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, help="the other checkout (its src/ is imported)")
    parser.add_argument("--head", type=Path, default=HERE, help="the checkout measured (default: this one)")
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "automation.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.leads, args.days, args.seed, args.workdir)))
        return 0
    if args.base is None:
        parser.error("--base is required")
    load_before = list(os.getloadavg())
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    for i in range(args.runs):
        for name, tree in (("base", args.base), ("head", args.head)):
            runs[name].append(_run_child(tree, args))
            r = runs[name][-1]
            print(f"run {i + 1} {name}: cpu {r['cpu_total']:.1f}s wall {r['wall']:.1f}s {r['wrapped']}", flush=True)
            print(f"  parts {r['parts']} digest {r['digest']}", flush=True)
    summary = {name: _summary(rs) for name, rs in runs.items()}
    ratios = {k: round(summary["head"][k] / v, 3) for k, v in summary["base"].items() if v}
    same = runs["base"][0]["digest"] == runs["head"][0]["digest"]
    result = {
        "topic": "automation",
        "leads": args.leads,
        "days": args.days,
        "seed": args.seed,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "base": str(args.base),
        "head": str(args.head),
        "median": summary,
        "ratio_head_vs_base": ratios,
        "same_rows": same,
        "digests": {name: rs[0]["digest"] for name, rs in runs.items()},
        "engine": runs["head"][0]["engine"],
        "all_runs": runs,
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"median": summary, "ratio_head_vs_base": ratios, "same_rows": same}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

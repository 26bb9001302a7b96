"""Benchmark: the stage-funnel report on DuckDB over a synthetic store export.

Generates ``--leads`` synthetic leads (journeys, skips, recycles, deals, campaigns, costs, events, SLA timers) as
Parquet files shaped like ``funnelbridge export --parquet``, then times on DuckDB:

* ``stage_funnel_report`` — the stage funnel (volumes, step and cumulative conversion) + monthly cohorts + a split
  by source (the issue's "full stage-funnel report"), and
* ``full_report`` — every part of ``funnel_report`` (adds velocity, leaks with drivers, economics, handoff),

against a baseline measured in the same run: the same all-time stage counts computed directly with pandas
(``baseline_pandas``), and the raw time to scan the transitions table in DuckDB (``baseline_scan``). Results go to
``bench/results/stage_report.json``. Default size runs in a couple of minutes; ``--leads 1000000`` is the full size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from funnelbridge.analytics.engines import open_engine
from funnelbridge.analytics.periods import Grain, Period
from funnelbridge.analytics.report import ReportOptions, build_report
from funnelbridge.analytics.stages import stage_funnel_views
from funnelbridge.analytics.tables import Context, Dimension
from funnelbridge.playbook.examples import load_example

STAGES = ("visitor", "lead", "mal", "mql", "sal", "sql", "opportunity", "customer", "evangelist")
CONTINUE = (0.55, 0.8, 0.6, 0.55, 0.7, 0.5, 0.35, 0.1)  # P(reach next | reached this)
SOURCES = np.array(["google", "linkedin", "bing", "direct", "referral"])
CAMPAIGNS = np.array(["search_q1", "li_q1", "bing_q1", "webinar_1", "ebook_2"])
CHANNELS = np.array(["paid_search", "linkedin_ads", "paid_search", "webinar", "content"])
START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
SPAN = 2 * 365 * 86_400
TS = pa.timestamp("us", tz="UTC")


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype("int64") * 1_000_000, type=pa.int64()).cast(TS)


def _journeys(rng: np.random.Generator, ids: np.ndarray, journey: int, start: np.ndarray) -> dict[str, np.ndarray]:
    n = len(ids)
    top = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    for i, p in enumerate(CONTINUE):
        alive &= rng.random(n) < p
        top[alive] = i + 1
    first = 0 if journey == 1 else 3  # a recycled lead comes back at MQL
    top = np.maximum(top, first)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("contact_id", "to", "at", "skip")}
    at = start.astype("int64").copy()
    skip_mal = rng.random(n) < 0.1
    for i in range(first, len(STAGES)):
        mask = top >= i
        if i == 2:
            mask &= ~skip_mal  # skippers jump lead → MQL with skipped ["mal"]
        at = at + rng.exponential(3 * 86_400, n).astype("int64")
        cols["contact_id"].append(ids[mask])
        cols["to"].append(np.full(mask.sum(), i))
        cols["at"].append(at[mask])
        cols["skip"].append((skip_mal & (i == 3))[mask])
    return {k: np.concatenate(v) for k, v in cols.items()} | {"top": top}


def generate(directory: Path, leads: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, leads + 1)
    start = START + rng.integers(0, SPAN, leads)
    j1 = _journeys(rng, ids, 1, start)
    back = (j1["top"] >= 4) & (j1["top"] < 7) & (rng.random(leads) < 0.3)
    j2 = _journeys(rng, ids[back], 2, start[back] + 120 * 86_400)
    rec_ids, rec_at = ids[back], start[back] + 100 * 86_400
    contact_id = np.concatenate([j1["contact_id"], rec_ids, j2["contact_id"]])
    to = np.concatenate([np.array(STAGES)[j1["to"]], np.full(len(rec_ids), "recycled"), np.array(STAGES)[j2["to"]]])
    journey = np.concatenate([np.ones(len(j1["to"])), np.ones(len(rec_ids)), np.full(len(j2["to"]), 2)]).astype(int)
    at = np.concatenate([j1["at"], rec_at, j2["at"]])
    skipped = np.concatenate([j1["skip"], np.zeros(len(rec_ids), bool), j2["skip"]])
    reason = np.where(to == "recycled", rng.choice(["not_a_fit", "no_budget", "bad_timing"], len(to)), None)
    role = np.where(np.isin(to, ["sal", "sql", "opportunity"]) | (to == "recycled"), "sales", "system")
    n = len(to)
    tables = {
        "transitions": pa.table(
            {
                "id": np.arange(1, n + 1),
                "contact_id": contact_id,
                "pipeline": np.full(n, "main"),
                "journey": journey,
                "from_stage": pa.nulls(n, pa.string()),
                "to_stage": to,
                "at": _ts(at),
                "actor_role": role,
                "reason": pa.array(reason, pa.string()),
                "skipped": pa.array(np.where(skipped, '["mal"]', None), pa.string()),
            }
        ),
    }
    src = rng.integers(0, len(SOURCES), leads)
    tables["contacts"] = pa.table({
        "id": ids, "first_source": SOURCES[src], "first_medium": np.full(leads, "cpc"),
        "first_campaign": CAMPAIGNS[src],
        "last_campaign": CAMPAIGNS[rng.integers(0, len(CAMPAIGNS), leads)], "account_id": rng.integers(1, 5001, leads),
        "owner_id": rng.integers(1, 21, leads), "country": rng.choice(["DE", "US", "FR"], leads),
    })  # fmt: skip
    tables["accounts"] = pa.table({
        "id": np.arange(1, 5001), "employees": rng.integers(1, 5000, 5000),
        "industry": rng.choice(["software", "finance", "retail"], 5000), "country": rng.choice(["DE", "US"], 5000),
    })  # fmt: skip
    tables["users"] = pa.table({"id": np.arange(1, 21), "name": [f"rep{i}" for i in range(1, 21)],
                                "team": np.full(20, "default")})  # fmt: skip
    tables["scores"] = pa.table({"contact_id": ids, "score_group": np.full(leads, "main"),
                                 "grade": rng.choice(list("ABCD"), leads)})  # fmt: skip
    opp = j1["top"] >= 6
    deal_ids = ids[opp]
    won = j1["top"][opp] >= 7
    k = len(deal_ids)
    opened = start[opp] + 20 * 86_400
    tables["deals"] = pa.table({
        "id": np.arange(1, k + 1), "contact_id": deal_ids, "account_id": rng.integers(1, 5001, k),
        "amount": rng.integers(5, 100, k).astype(float) * 1000, "probability": np.where(won, 1.0, 0.4),
        "status": np.where(won, "won", np.where(rng.random(k) < 0.5, "lost", "open")),
        "opened_at": _ts(opened), "closed_at": _ts(opened + 40 * 86_400),
        "expected_close": pa.array((opened + 60 * 86_400) // 86_400, pa.int32()).cast(pa.date32()),
        "loss_reason": rng.choice(["price", "competitor", "timing"], k),
    })  # fmt: skip
    tables["campaigns"] = pa.table({"id": np.arange(1, 6), "key": CAMPAIGNS, "channel": CHANNELS})
    days = np.arange(START // 86_400, (START + SPAN) // 86_400)
    tables["campaign_costs"] = pa.table({
        "campaign_id": np.repeat(np.arange(1, 6), len(days)),
        "day": pa.array(np.tile(days, 5).astype("int32")).cast(pa.date32()),
        "amount": rng.integers(50, 500, 5 * len(days)).astype(float),
    })  # fmt: skip
    m = leads * 2
    who = rng.integers(1, leads + 1, m)
    tables["events"] = pa.table({
        "contact_id": who, "type": rng.choice(["page_view", "email_open", "demo_request", "call"], m),
        "occurred_at": _ts(start[who - 1] + rng.integers(0, 30 * 86_400, m)),
    })  # fmt: skip
    breach = ids[rng.random(leads) < 0.02]
    tables["timers"] = pa.table({
        "kind": np.full(len(breach), "sla_breach"), "contact_id": breach,
        "fired_at": _ts(start[breach - 1] + 10 * 86_400), "cancelled_at": pa.nulls(len(breach), TS),
    })  # fmt: skip
    tables["tasks"] = pa.table({"contact_id": pa.array([], pa.int64()), "done_at": pa.array([], TS)})
    for name, table in tables.items():
        pq.write_table(table, directory / f"{name}.parquet")
    return {name: t.num_rows for name, t in tables.items()}


CPU: dict[str, float] = {}  # label -> process CPU seconds (all threads) of the last _timed call with that label


def _timed(fn: object, label: str = "") -> tuple[float, object]:
    t, c = time.perf_counter(), time.process_time()
    out = fn()  # type: ignore[operator]
    CPU[label] = round(time.process_time() - c, 3)
    return time.perf_counter() - t, out


class _PartClock:
    """A ``build_report`` progress hook: wall and CPU seconds (all threads) of each part, to see which dominates."""

    def __init__(self, parts: dict[str, dict[str, float]]) -> None:
        self.parts, self.part = parts, ""
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __call__(self, part: str) -> None:
        self.lap()
        self.part = part

    def lap(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        if self.part:
            self.parts[self.part] = {"wall": round(wall - self.wall, 3), "cpu": round(cpu - self.cpu, 3)}
        self.wall, self.cpu = wall, cpu


def _pandas_counts(directory: Path) -> list[int]:
    tr = pq.read_table(directory / "transitions.parquet", columns=["contact_id", "journey", "to_stage"]).to_pandas()
    index = tr["to_stage"].map({s: i for i, s in enumerate(STAGES)})
    top = index.groupby([tr["contact_id"], tr["journey"]]).max().dropna()
    return [int((top >= i).sum()) for i in range(len(STAGES))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=200_000, help="synthetic leads (full size: 1000000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "stage_report.json")
    args = parser.parse_args()
    playbook = load_example("b2b")
    as_of = datetime(2030, 1, 1, tzinfo=UTC)  # after every synthetic event, so pandas needs no cut-off
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        load_before = list(os.getloadavg())
        gen_s, rows = _timed(lambda: generate(directory, args.leads, args.seed))
        baseline_pandas, expected = _timed(lambda: _pandas_counts(directory), "baseline_pandas")
        engine = open_engine(None, "duckdb", parquet_dir=directory)
        ctx = Context(engine, playbook, "main", as_of)
        scan_s, _ = _timed(lambda: engine.table("transitions").count().execute())

        def stage_report() -> list[int]:
            whole, _cohorts, _split = stage_funnel_views(
                ctx, Period("all time"), cohort=Grain.MONTH, by=Dimension.SOURCE
            )
            return [c.reached for c in whole.total.counts]

        stage_s, counts = _timed(stage_report, "stage_funnel_report")
        warm_s, _ = _timed(stage_report, "stage_funnel_report_warm")
        parts: dict[str, dict[str, float]] = {}
        clock = _PartClock(parts)
        full_s, _ = _timed(lambda: build_report(ctx, ReportOptions(by=Dimension.SOURCE), clock), "full_report")
        clock.lap()  # the last part
        engine.close()
    assert counts == expected, (counts, expected)
    result = {
        "topic": "stage_report",
        "engine": "duckdb (Parquet export)",
        "leads": args.leads,
        "rows": rows,
        "python": platform.python_version(),
        "seconds": {
            "generate": round(gen_s, 3),
            "baseline_scan": round(scan_s, 3),
            "baseline_pandas": round(baseline_pandas, 3),
            "stage_funnel_report": round(stage_s, 3),
            "stage_funnel_report_warm": round(warm_s, 3),
            "full_report": round(full_s, 3),
        },
        "cpu_seconds": {k: v for k, v in CPU.items() if k},
        "ratios": {
            "stage_funnel_report_vs_pandas": round(stage_s / baseline_pandas, 2),
            "full_report_vs_pandas": round(full_s / baseline_pandas, 2),
            "full_report_vs_pandas_cpu": round(CPU["full_report"] / CPU["baseline_pandas"], 2),
        },
        "full_report_parts": parts,
        "load_avg_before": load_before,
        "load_avg_after": list(os.getloadavg()),
        "target": "the full stage-funnel report (full_report) < 5 s at 1,000,000 leads",
        "counts_match_pandas": True,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: ordered event funnels (Ibis) on DuckDB against a hand-written DuckDB SQL funnel, measured in the same
run; the same Ibis expressions on PySpark; and 2/4/8/16 steps to show how the cost grows. Writes
``bench/results/event_funnel.json``.

    python bench/event_funnel.py                                  # 1,000,000 events / 100,000 people (~2 min)
    python bench/event_funnel.py --events 10000000 --people 1000000 --spark-events 1000000   # the issue's size
    python bench/event_funnel.py --no-spark --steps 2,4            # quicker variants

Events are generated inside DuckDB (``range`` + ``random``, seeded): each person gets events spread over 30 days,
their names drawn from ``e0..e15`` (the funnel steps) and ``noise``. The funnel is ``e0 → e1 → e2 → e3`` ordered,
7-day window. The baseline is one SQL query: attempts open on every ``e0`` and take each next step with an ASOF
join (the earliest later event), inside the window from ``e0``; each person counts at the furthest step. It has
no exclusions, breakdown, ties handling or strict mode, so it is the cheapest correct query for this funnel; both
must give the same counts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import ibis

from funnelbridge.analytics.event_funnel import run_funnel
from funnelbridge.analytics.event_funnel_spec import FunnelSpec, Order, Step

RESULTS = Path(__file__).parent / "results" / "event_funnel.json"
WINDOW = timedelta(days=7)
WINDOW_US = WINDOW // timedelta(microseconds=1)

GENERATE = """
CREATE OR REPLACE TABLE events AS
SELECT
    'u' || CAST(floor(random() * $people) AS BIGINT) AS person_id,
    CASE WHEN random() < 0.2 THEN 'noise' ELSE 'e' || CAST(floor(pow(random(), 1.6) * 16) AS BIGINT) END AS event,
    TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_microseconds(CAST(floor(random() * 30 * 86400e6) AS BIGINT))
        AS timestamp,
    CASE WHEN random() < 0.5 THEN 'ads' ELSE 'seo' END AS src
FROM range($events)
"""

ADD_US = "CREATE OR REPLACE TABLE events AS SELECT *, CAST(epoch_us(timestamp) AS BIGINT) AS ts_us FROM events"

BASELINE = """
WITH ev AS (SELECT person_id, event, ts_us FROM events WHERE event IN ('e0', 'e1', 'e2', 'e3')),
s1 AS (SELECT person_id, ts_us AS t FROM ev WHERE event = 'e0'),
s2 AS (SELECT person_id, ts_us AS t FROM ev WHERE event = 'e1'),
s3 AS (SELECT person_id, ts_us AS t FROM ev WHERE event = 'e2'),
s4 AS (SELECT person_id, ts_us AS t FROM ev WHERE event = 'e3'),
a2 AS (
    SELECT a.person_id, a.t AS t1, CASE WHEN b.t - a.t <= $w THEN b.t END AS t2
    FROM s1 a ASOF LEFT JOIN s2 b ON a.person_id = b.person_id AND b.t >= a.t
),
a3 AS (
    SELECT a.*, CASE WHEN b.t - a.t1 <= $w THEN b.t END AS t3
    FROM a2 a ASOF LEFT JOIN s3 b ON a.person_id = b.person_id AND b.t >= a.t2
),
a4 AS (
    SELECT a.*, CASE WHEN b.t - a.t1 <= $w THEN b.t END AS t4
    FROM a3 a ASOF LEFT JOIN s4 b ON a.person_id = b.person_id AND b.t >= a.t3
),
person AS (
    SELECT person_id,
           max(1 + (t2 IS NOT NULL)::INT + (t3 IS NOT NULL)::INT + (t4 IS NOT NULL)::INT) AS reach
    FROM a4 GROUP BY person_id
)
SELECT count(*) AS c1, count(*) FILTER (reach >= 2) AS c2, count(*) FILTER (reach >= 3) AS c3,
       count(*) FILTER (reach >= 4) AS c4
FROM person
"""


def spec(n_steps: int) -> FunnelSpec:
    return FunnelSpec(tuple(Step(f"e{i}") for i in range(n_steps)), window=WINDOW, order=Order.ORDERED)


CPU: dict[int, float] = {}  # id(fn) -> CPU seconds of its best run (process time: every DuckDB thread counts)


def timed(fn: Any, repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs (the machine may be shared), and the last value; the best run's CPU
    seconds go to ``CPU`` (less sensitive than wall time to other work on a loaded machine)."""
    best, value = float("inf"), None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        value = fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, CPU[id(fn)] = wall, time.process_time() - cpu
    return round(best, 3), value


def timed_cpu(fn: Any, repeat: int = 1) -> tuple[float, float, Any]:
    """:func:`timed` plus the CPU seconds of the best run."""
    seconds, value = timed(fn, repeat)
    return seconds, round(CPU.pop(id(fn)), 3), value


def generate(con: duckdb.DuckDBPyConnection, events: int, people: int) -> float:
    con.execute("SELECT setseed(0.42)")
    seconds, _ = timed(lambda: con.execute(GENERATE, {"events": events, "people": people}))
    con.execute(ADD_US)
    return seconds


def ibis_counts(table: Any, n_steps: int, repeat: int = 1) -> tuple[float, float, list[int]]:
    seconds, cpu, result = timed_cpu(lambda: run_funnel(table, spec(n_steps)), repeat)
    return seconds, cpu, [s.count for s in result.steps]


def run_spark(duck: Any, events: int, people: int) -> dict[str, Any]:
    """The same Ibis funnel on PySpark (local, 2 cores) and, on the same events, on DuckDB: the speed ratio."""
    from funnelbridge.analytics.event_funnel_engines import connect, spark_session

    con = duck.con
    generate(con, events, people)
    duck_seconds, _cpu, duck_counts = ibis_counts(duck.table("events"), 4)
    folder = Path(tempfile.mkdtemp(prefix="fb-bench-"))
    path = folder / "events.parquet"
    con.execute("COPY events TO $p (FORMAT parquet)", {"p": str(path)})
    session = spark_session(**{"spark.driver.memory": "4g"})
    backend = connect("spark", session=session)
    session.read.parquet(str(path)).createOrReplaceTempView("bench_events")
    seconds, _cpu, counts = ibis_counts(backend.table("bench_events"), 4)
    baseline = [int(v) for v in con.execute(BASELINE, {"w": WINDOW_US}).fetchall()[0] or ()]
    return {"events": events, "people": people, "ibis_seconds": seconds, "counts": counts,
            "same_counts_as_duckdb_sql": counts == baseline == duck_counts,
            "duckdb_ibis_seconds_same_events": duck_seconds,
            "spark_over_duckdb": round(seconds / duck_seconds, 1) if duck_seconds else None}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--spark-events", type=int, default=100_000)
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--steps", default="2,4,8,16", help="step counts for the growth series")
    parser.add_argument("--repeat", type=int, default=2, help="best of N for the Ibis-vs-SQL comparison")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    backend = ibis.duckdb.connect()
    con = backend.con
    load_before = os.getloadavg()
    gen_seconds = generate(con, args.events, args.people)
    table = backend.table("events")
    ibis_seconds, ibis_cpu, ibis_result = ibis_counts(table, 4, args.repeat)
    sql_seconds, sql_cpu, row = timed_cpu(lambda: con.execute(BASELINE, {"w": WINDOW_US}).fetchall()[0], args.repeat)
    sql_result = [int(v) for v in row or ()]
    growth = {}
    for n in (int(s) for s in args.steps.split(",") if s):
        seconds, cpu, counts = ibis_counts(table, n)
        growth[str(n)] = {"seconds": seconds, "cpu_seconds": cpu, "counts": counts}
        print(f"{n:>2} steps: {seconds:7.2f}s  cpu {cpu:7.2f}s  {counts}", flush=True)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
                    "duckdb": duckdb.__version__, "ibis": ibis.__version__,
                    "load_avg_before": load_before, "load_avg_after": os.getloadavg()},
        "size": {"events": args.events, "people": args.people},
        "timing": f"wall seconds (cpu_seconds: process CPU time, all threads, of the same run); Ibis vs SQL: best "
                  f"of {args.repeat}; growth and Spark: one run",
        "generate_seconds": gen_seconds,
        "funnel": "e0 -> e1 -> e2 -> e3, ordered, 7d window",
        "duckdb": {"ibis_seconds": ibis_seconds, "sql_baseline_seconds": sql_seconds,
                   "ibis_over_sql": round(ibis_seconds / sql_seconds, 2) if sql_seconds else None,
                   "ibis_cpu_seconds": ibis_cpu, "sql_baseline_cpu_seconds": sql_cpu,
                   "ibis_over_sql_cpu": round(ibis_cpu / sql_cpu, 2) if sql_cpu else None,
                   "ibis_counts": ibis_result, "sql_counts": sql_result, "same_counts": ibis_result == sql_result},
        "steps_growth_duckdb": growth,
    }  # fmt: skip
    print(json.dumps(results["duckdb"]), flush=True)
    if not args.no_spark:
        results["spark"] = run_spark(backend, args.spark_events, max(1, args.spark_events // 10))
        print(json.dumps(results["spark"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    ok = results["duckdb"]["same_counts"] and results.get("spark", {}).get("same_counts_as_duckdb_sql", True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Random check: ordered and strict event funnels with exclusions against the pure-Python reference, person by person.

    python -m bench.event_funnel_reference_check [--specs 200] [--people 60] [--engines duckdb,sqlite,postgres,spark]

Per engine and order, ``--specs`` random funnels (2-4 steps over events a, b, c with or without a ``k`` filter;
one exclusion over a random range), each on its own dense random log of ``--people`` people (up to 10 events each
over 9 distinct seconds, so same-instant groups, retakes and expired windows come up constantly). Exclusions are
drawn by ``--kind``: ``overlap`` (the exclusion names a step's event: wider than a step, another filter value, or
equal to a step outside its range — every such spec PostHog's validation accepts), ``other`` (an event no step
names) or ``both``. Compared per person: the counted step, the step times and the breakdown value
(``person_table`` against the reference's outcome). SQLite, PostgreSQL and Spark take a fraction of the DuckDB
specs (``--fractions``). Results: bench/results/event_funnel_reference_check.json (mismatches listed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from funnelbridge.analytics.event_funnel import _Stages, person_table
from funnelbridge.analytics.event_funnel_engines import connect, load_frame, spark_session
from funnelbridge.analytics.event_funnel_load import normalize_events
from funnelbridge.analytics.event_funnel_reference import RefEvent, _person
from funnelbridge.analytics.event_funnel_spec import Exclusion, FunnelSpec, Order, Step
from funnelbridge.errors import InputError

RESULTS = Path(__file__).parent / "results" / "event_funnel_reference_check.json"
PG_URL = os.environ.get("FUNNELBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BASE_US = 1_704_067_200_000_000
FILTERS: list[tuple[tuple[str, str], ...]] = [(), (), (("k", "u"),), (("k", "v"),)]

Outcome = tuple[int, tuple[int, ...], str]


def random_spec(rng: random.Random, order: Order, kind: str) -> FunnelSpec:
    """A valid funnel with one exclusion of ``kind`` (``overlap``: names a step's event; ``other``: ``x``)."""
    while True:
        n = rng.randint(2, 4)
        steps = tuple(Step(rng.choice("abc"), rng.choice(FILTERS)) for _ in range(n))
        low = rng.randint(1, n - 1)
        overlap = kind == "overlap" or (kind == "both" and rng.random() < 0.5)
        event = rng.choice([s.event for s in steps]) if overlap else "x"
        excluded = Step(event, rng.choice([(), (("k", "u"),), (("k", "v"),)]))
        try:
            return FunnelSpec(steps, window=timedelta(seconds=rng.randint(1, 5)), order=order,
                              exclusions=(Exclusion(excluded, low, rng.randint(low + 1, n)),),
                              breakdown=rng.choice([None, "k"]))  # fmt: skip
        except InputError:  # the exclusion covers a step in its range: PostHog refuses it too
            continue


def random_events(rng: random.Random, people: int) -> list[RefEvent]:
    return [
        RefEvent(
            f"p{p}", rng.choice("abcxy"), BASE_US + rng.randint(0, 8) * 1_000_000, {"k": rng.choice(["", "u", "v"])}
        )
        for p in range(people)
        for _ in range(rng.randint(1, 10))
    ]


def _table(con: Any, events: list[RefEvent]) -> Any:
    records = [{"person_id": e.person, "event": e.event, "timestamp": pd.Timestamp(e.us, unit="us", tz="UTC"),
                **e.props} for e in events]  # fmt: skip
    frame = pd.DataFrame(records, columns=["person_id", "event", "timestamp", "k"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return load_frame(con, normalize_events(frame))


def engine_outcomes(con: Any, events: list[RefEvent], spec: FunnelSpec) -> dict[str, Outcome]:
    stages = _Stages()
    try:
        rows = person_table(_table(con, events), spec, stages).execute().to_dict("records")
    finally:
        stages.release()
    out = {}
    for row in rows:
        reach = int(row["reach"])
        out[str(row["pid"])] = (reach, tuple(int(row[f"t{k}"]) for k in range(1, reach + 1)), str(row["bk"] or ""))
    return out


def reference_outcomes(events: list[RefEvent], spec: FunnelSpec) -> dict[str, Outcome]:
    by_person: dict[str, list[RefEvent]] = {}
    for ev in events:
        by_person.setdefault(ev.person, []).append(ev)
    return {p: (o.reach, o.times, o.bk) for p, evs in by_person.items() if (o := _person(spec, evs)) is not None}


def _describe(spec: FunnelSpec) -> str:
    excl = " ".join(f"--exclude {e.step.name}@{e.from_step}-{e.to_step}" for e in spec.exclusions)
    steps = " ".join(f"--step {s.name}" for s in spec.steps)
    return f"{steps} {excl} --window {spec.window.seconds}s --order {spec.order} --breakdown {spec.breakdown}"


def check(con: Any, engine: str, order: Order, specs: int, people: int, kind: str, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}-{engine}-{order}-{kind}")
    bad_specs, bad_people, total, examples = 0, 0, 0, []
    cpu = time.process_time()
    for _ in range(specs):
        spec, events = random_spec(rng, order, kind), random_events(rng, people)
        got, want = engine_outcomes(con, events, spec), reference_outcomes(events, spec)
        diff = sorted(p for p in set(got) | set(want) if got.get(p) != want.get(p))
        total += len({e.person for e in events})
        if diff:
            bad_specs, bad_people = bad_specs + 1, bad_people + len(diff)
            person = diff[0]
            log = sorted((e.us, e.event, e.props["k"]) for e in events if e.person == person)
            examples.append({"spec": _describe(spec), "got": got.get(person), "want": want.get(person),
                             "events": [((us - BASE_US) // 1_000_000, ev, k) for us, ev, k in log]})  # fmt: skip
    cpu = round(time.process_time() - cpu, 2)
    return {"engine": engine, "order": str(order), "kind": kind, "specs": specs, "people": total,
            "specs_differing": bad_specs, "people_differing": bad_people, "cpu_seconds": cpu,
            "examples": examples[:5]}  # fmt: skip


def _connect(engine: str) -> Any:
    if engine == "spark":
        return connect("spark", session=spark_session())
    return connect(engine, PG_URL if engine == "postgres" else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=200, help="random funnels per order on DuckDB")
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--engines", default="duckdb,sqlite,postgres,spark")
    parser.add_argument("--fractions", default="duckdb=1,sqlite=0.1,postgres=0.1,spark=0.02")
    parser.add_argument("--kind", choices=["overlap", "other", "both"], default="overlap")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    fractions = {k: float(v) for k, v in (part.split("=") for part in args.fractions.split(","))}
    runs = []
    load = [os.getloadavg()[0]]
    for engine in args.engines.split(","):
        con = _connect(engine)
        for order in (Order.ORDERED, Order.STRICT):
            count = max(1, round(args.specs * fractions.get(engine, 1.0)))
            runs.append(check(con, engine, order, count, args.people, args.kind, args.seed))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "examples"}), flush=True)
    load.append(os.getloadavg()[0])
    out = {"kind": args.kind, "seed": args.seed, "people_per_spec": args.people, "load_average": load, "runs": runs}
    args.results.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

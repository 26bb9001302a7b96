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
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from funnelbridge.analytics.event_funnel import _Stages, person_table
from funnelbridge.analytics.event_funnel_engines import connect, load_frame, spark_session
from funnelbridge.analytics.event_funnel_load import normalize_events
from funnelbridge.analytics.event_funnel_reference import RefEvent, _encode, _person, _Walk
from funnelbridge.analytics.event_funnel_spec import Exclusion, FunnelSpec, Order, Step
from funnelbridge.errors import InputError

RESULTS = Path(__file__).parent / "results" / "event_funnel_reference_check.json"
PG_URL = os.environ.get("FUNNELBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BASE_US = 1_704_067_200_000_000
FILTERS: list[tuple[tuple[str, str], ...]] = [(), (), (("k", "u"),), (("k", "v"),)]

Outcome = tuple[int, tuple[int, ...], str]


def random_spec(rng: random.Random, order: Order, kind: str, names: str = "abc") -> FunnelSpec:
    """A valid funnel with one exclusion of ``kind`` (``overlap``: names a step's event; ``other``: ``x``)."""
    while True:
        n = rng.randint(2, 4) if names == "abc" else rng.choice([3, 4, 4])
        steps = tuple(Step(rng.choice(names), rng.choice(FILTERS)) for _ in range(n))
        if names != "abc" and n > 3 and rng.random() < 0.7:  # retake-prone: `a -> a:k=u` as steps 2-3 of 4
            k, event = 1, steps[rng.randrange(n)].event
            steps = (*steps[:k], Step(event), Step(event, rng.choice(FILTERS[2:])), *steps[k + 2 :])
        low = rng.randint(1, n - 1)
        overlap = kind == "overlap" or (kind == "both" and rng.random() < 0.5)
        event = rng.choice([s.event for s in steps]) if overlap else "x"
        excluded = Step(event, rng.choice([(), (("k", "u"),), (("k", "v"),)]))
        try:
            seconds = rng.randint(1, 5) + (0 if names == "abc" else 2)
            return FunnelSpec(steps, window=timedelta(seconds=seconds), order=order,
                              exclusions=(Exclusion(excluded, low, rng.randint(low + 1, n)),),
                              breakdown=rng.choice([None, "k"]))  # fmt: skip
        except InputError:  # the exclusion covers a step in its range: PostHog refuses it too
            continue


def random_events(rng: random.Random, people: int, spec: FunnelSpec | None = None) -> list[RefEvent]:
    """Without ``spec``: up to 10 events of ``a, b, c, x, y`` over 9 distinct seconds. With it (``--retakes``): each
    person walks the spec's steps (2-14 events, 0-2 s apart, so same-instant groups are common), half of them from
    the retake's motif (:func:`_motif`): mostly the next
    step's event, often the last step's again or the one before (which clears a step an event of both took, and
    the walk goes back: the retake's pattern), sometimes an exclusion event or noise."""
    if spec is None:
        return [
            RefEvent(
                f"p{p}", rng.choice("abcxy"), BASE_US + rng.randint(0, 8) * 1_000_000, {"k": rng.choice(["", "u", "v"])}
            )
            for p in range(people)
            for _ in range(rng.randint(1, 10))
        ]
    return [e for p in range(people) for e in _walk(rng, spec, f"p{p}")]


def _motif(rng: random.Random, spec: FunnelSpec) -> tuple[list[Step], int]:
    """Steps 1..k+1, step k again, step k+1 again (the retake, when step k+1's event also matches step k), an
    exclusion event at a random place half the time (mostly a second apart); and the step the walk goes on from."""
    pairs = [j for j in range(1, len(spec.steps) - 1) if spec.steps[j].event == spec.steps[j + 1].event]
    k = pairs[0] if pairs else rng.randrange(len(spec.steps) - 1)
    motif = [*spec.steps[: k + 2], spec.steps[k], spec.steps[k + 1]]
    if rng.random() < 0.5:
        motif.insert(rng.randint(1, len(motif)), rng.choice(spec.exclusions).step)
    return motif, min(k + 2, len(spec.steps) - 1)


def _walk(rng: random.Random, spec: FunnelSpec, person: str) -> list[RefEvent]:
    out, second, n = [], 0, len(spec.steps)
    motif, pos = _motif(rng, spec) if rng.random() < 0.5 else ([], 0)
    for i in range(rng.randint(2, 14)):
        roll = rng.random()
        if i < len(motif):
            step = motif[i]
        elif roll < 0.45:  # the next step
            step, pos = spec.steps[pos], min(pos + 1, n - 1)
        elif roll < 0.65:  # the step just taken, again
            step = spec.steps[max(pos - 1, 0)]
        elif roll < 0.85:  # the one before: clears the last step, and the walk goes back one
            step, pos = spec.steps[max(pos - 2, 0)], max(pos - 1, 0)
        elif roll < 0.93:
            step = rng.choice(spec.exclusions).step
        else:
            step = Step(rng.choice("abxy"))
        k = dict(step.filters).get("k") if rng.random() < 0.8 else None
        out.append(RefEvent(person, step.event, BASE_US + second * 1_000_000, {"k": k or rng.choice(["", "u", "v"])}))
        second += 1 if i < len(motif) and rng.random() < 0.8 else rng.choice([0, 0, 0, 1, 1, 2])
    return out


class _Retakes(_Walk):
    """The reference walk, noting whether an attempt is written again into a step it held before (a retake)."""

    def __init__(self, spec: FunnelSpec) -> None:
        super().__init__(spec)
        self.written: set[tuple[int, int]] = set()
        self.retook = False

    def one_step(self, e: Any, k: int, exclusion: bool, multi: bool) -> None:
        before = self.entered[k]
        super().one_step(e, k, exclusion, multi)
        after = self.entered[k]
        if after is not None and after is not before:
            self.retook |= (after.start, k) in self.written
            self.written.add((after.start, k))


def retakes(events: list[RefEvent], spec: FunnelSpec) -> int:
    """People whose reference walk retakes a step (strict funnels)."""
    by_person: dict[str, list[RefEvent]] = {}
    for ev in events:
        by_person.setdefault(ev.person, []).append(ev)
    count = 0
    for evs in by_person.values():
        encoded = [_encode(spec, e, i) for i, e in enumerate(evs)]
        encoded.sort(key=lambda e: (e.us, e.mask, e.bk))
        walk = _Retakes(spec)
        walk.run([replace(e, idx=i) for i, e in enumerate(encoded)])
        count += walk.retook
    return count


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


def check(
    con: Any, engine: str, order: Order, specs: int, people: int, kind: str, seed: int, dense: bool = False
) -> dict[str, Any]:
    rng = random.Random(f"{seed}-{engine}-{order}-{kind}" + ("-retakes" if dense else ""))
    bad_specs, bad_people, total, examples, retook = 0, 0, 0, [], 0
    cpu = time.process_time()
    for _ in range(specs):
        spec = random_spec(rng, order, kind, "ab" if dense else "abc")
        events = random_events(rng, people, spec if dense else None)
        got, want = engine_outcomes(con, events, spec), reference_outcomes(events, spec)
        diff = sorted(p for p in set(got) | set(want) if got.get(p) != want.get(p))
        total += len({e.person for e in events})
        retook += retakes(events, spec) if order is Order.STRICT else 0
        if diff:
            bad_specs, bad_people = bad_specs + 1, bad_people + len(diff)
            person = diff[0]
            log = sorted((e.us, e.event, e.props["k"]) for e in events if e.person == person)
            examples.append({"spec": _describe(spec), "got": got.get(person), "want": want.get(person),
                             "events": [((us - BASE_US) // 1_000_000, ev, k) for us, ev, k in log]})  # fmt: skip
    cpu = round(time.process_time() - cpu, 2)
    return {"engine": engine, "order": str(order), "kind": kind, "retake_logs": dense, "specs": specs,
            "people": total, "people_retaking": retook, "specs_differing": bad_specs, "people_differing": bad_people,
            "cpu_seconds": cpu, "examples": examples[:5]}  # fmt: skip


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
    parser.add_argument("--orders", default="ordered,strict")
    parser.add_argument("--retakes", action="store_true", help="logs of the spec's own step events, 6 seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    fractions = {k: float(v) for k, v in (part.split("=") for part in args.fractions.split(","))}
    runs = []
    load = [os.getloadavg()[0]]
    for engine in args.engines.split(","):
        con = _connect(engine)
        for order in (Order(o) for o in args.orders.split(",")):
            count = max(1, round(args.specs * fractions.get(engine, 1.0)))
            runs.append(check(con, engine, order, count, args.people, args.kind, args.seed, args.retakes))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "examples"}), flush=True)
    load.append(os.getloadavg()[0])
    out = {
        "kind": args.kind,
        "retake_logs": args.retakes,
        "seed": args.seed,
        "people_per_spec": args.people,
        "load_average": load,
        "runs": runs,
    }
    args.results.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

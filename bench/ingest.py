"""Benchmark: CSV import of contacts and events into SQLite, against pandas ``to_sql`` on the same files, measured in
the same run. Writes ``bench/results/ingest.json``.

    python bench/ingest.py                      # 20,000 contacts, 200,000 events (a couple of minutes at most)
    python bench/ingest.py --full               # 1,000,000 contacts, 10,000,000 events (the issue's target size)
    python bench/ingest.py --contacts N --events M --workdir DIR

The baseline is pandas ``read_csv`` + ``DataFrame.to_sql`` (chunks of 10,000, plain INSERTs) into an empty SQLite
table of its own making: no constraints, indexes, validation or identity resolution. funnelbridge's figure is
``import_file`` with ``after=False`` (no re-scoring: a back-fill is re-scored in batch afterwards) into a
migrated store with every index and unique constraint in place. A second reference, the *indexed floor*, stores
the events file into funnelbridge's own indexed events table with raw ``sqlite3`` ``executemany`` and no
validation, identity or attribution — what the indexes alone cost.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CONTACT_HEADERS = ["Email", "First Name", "Last Name", "Job Title", "Company Name", "Number of Employees",
                   "Country", "Original Source", "Create Date"]  # fmt: skip
EVENT_HEADERS = ["event_id", "type", "email", "anonymous_id", "timestamp", "path", "utm_source", "utm_medium",
                 "utm_campaign"]  # fmt: skip
_TYPES = ["page_view"] * 6 + ["email_open", "email_click", "asset_download", "webinar_attended"]
_PATHS = ["/", "/pricing", "/blog/funnels", "/customers/acme", "/docs", "/careers"]
_UTM = [("google", "cpc", "search-q2"), ("linkedin", "paid_social", "abm-q2"), ("newsletter", "email", "nl-may")]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def write_contacts(path: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(CONTACT_HEADERS)
        for i in range(n):
            company = f"corp{i // 10}"
            created = T0 + timedelta(minutes=i)
            out.writerow([f"p{i}@{company}.example", f"First{i}", f"Last{i}", rnd.choice(["VP Sales", "Engineer"]),
                          company.title(), rnd.choice([12, 80, 450, 2000]), rnd.choice(["US", "DE", "GB"]),
                          rnd.choice(["ORGANIC_SEARCH", "PAID_SEARCH", "REFERRALS"]), created.isoformat()])  # fmt: skip


def write_events(path: Path, n: int, contacts: int, seed: int) -> None:
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(EVENT_HEADERS)
        for i in range(n):
            person = rnd.randrange(contacts)
            anonymous = rnd.random() < 0.05
            at = T0 + timedelta(days=30, seconds=i * 3)
            utm = rnd.choice(_UTM) if rnd.random() < 0.3 else ("", "", "")
            out.writerow([f"e{i}", rnd.choice(_TYPES), "" if anonymous else f"p{person}@corp{person // 10}.example",
                          f"anon{person}" if anonymous else "", at.isoformat(), rnd.choice(_PATHS), *utm])  # fmt: skip


def pandas_baseline(contacts: Path, events: Path, workdir: Path) -> dict[str, float]:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{workdir / 'pandas.db'}")
    times = {}
    for name, path in (("contacts", contacts), ("events", events)):
        start = time.perf_counter()
        for frame in pd.read_csv(path, chunksize=100_000, dtype=str, keep_default_na=False):
            frame.to_sql(name, engine, if_exists="append", index=False, chunksize=10_000)
        times[name] = time.perf_counter() - start
    engine.dispose()
    return times


def indexed_floor(events: Path, workdir: Path) -> float:
    """Seconds for the least work that stores the events file in funnelbridge's own (indexed) events table:
    ``csv`` parsing and one ``executemany`` of raw tuples per 10,000 rows — no validation, identity or attribution."""
    import sqlite3

    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    path = workdir / "floor.db"
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = ("INSERT INTO events (idempotency_key, anonymous_id, type, occurred_at, received_at, path, source, medium, "
           "campaign) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING")  # fmt: skip
    start = time.perf_counter()
    with events.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        batch: list[tuple[str, ...]] = []
        for key, type_, email, anon, at, page, src, med, camp in reader:
            batch.append((key, anon or email, type_, at, at, page, src, med, camp))
            if len(batch) == 10_000:
                conn.execute("BEGIN")
                conn.executemany(sql, batch)
                conn.execute("COMMIT")
                batch = []
        conn.execute("BEGIN")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - start


def funnelbridge_import(contacts: Path, events: Path, workdir: Path) -> dict[str, Any]:
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.ingest import import_file
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    db = connect(f"sqlite:///{workdir / 'funnelbridge.db'}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(T0 + timedelta(days=400)))
    out: dict[str, Any] = {}
    for kind, path in (("contacts", contacts), ("events", events)):
        start = time.perf_counter()
        summary = import_file(rt, kind, path, after=False)
        out[kind] = {"seconds": time.perf_counter() - start, "inserted": summary.inserted, "rejected": summary.rejected}
    start = time.perf_counter()
    again = import_file(rt, "events", events, after=False)
    out["events_rerun"] = {"seconds": time.perf_counter() - start, "inserted": again.inserted,
                           "duplicates": again.duplicates}  # fmt: skip
    db.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 contacts and 10,000,000 events")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.full:
        args.contacts, args.events = 1_000_000, 10_000_000
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fb-bench-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    contacts, events = workdir / "contacts.csv", workdir / "events.csv"
    write_contacts(contacts, args.contacts, args.seed)
    write_events(events, args.events, args.contacts, args.seed)
    baseline = pandas_baseline(contacts, events, workdir)
    floor = indexed_floor(events, workdir)
    ours = funnelbridge_import(contacts, events, workdir)
    floor_figures = {"seconds": floor, "rows_per_s": args.events / floor}
    result = {"contacts": args.contacts, "events": args.events, "baseline_pandas_to_sql": {}, "funnelbridge": ours,
              "floor_raw_executemany_indexed_events": floor_figures}  # fmt: skip
    for kind, rows in (("contacts", args.contacts), ("events", args.events)):
        base_rate = rows / baseline[kind]
        our_rate = rows / ours[kind]["seconds"]
        result["baseline_pandas_to_sql"][kind] = {"seconds": baseline[kind], "rows_per_s": base_rate}
        ours[kind].update(rows_per_s=our_rate, ratio_to_pandas=our_rate / base_rate)
    ours["events_rerun"]["rows_per_s"] = args.events / ours["events_rerun"]["seconds"]
    ours["events"]["ratio_to_indexed_floor"] = ours["events"]["rows_per_s"] / (args.events / floor)
    target = Path(__file__).parent / "results" / "ingest.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

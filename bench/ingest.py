"""Benchmark: CSV import of contacts and events into SQLite, against pandas ``to_sql`` on the same files, measured in
the same run. Writes ``bench/results/ingest.json``.

    python bench/ingest.py                      # 20,000 contacts, 200,000 events (a few minutes on a loaded box)
    python bench/ingest.py --full               # 1,000,000 contacts, 10,000,000 events (the issue's target size)
    python bench/ingest.py --contacts N --events M --workdir DIR --drain N
    python bench/ingest.py --single-process     # also the events import with workers=1, into a copy of the store

The baseline is pandas ``read_csv`` + ``DataFrame.to_sql`` (chunks of 10,000, plain INSERTs) into an empty SQLite
table of its own making: no constraints, indexes, validation or identity resolution. funnelbridge's figure is
``import_file(..., defer=True, workers=2)`` (events parsed in a second process) into a migrated store with every
index and unique constraint in place: rows are validated, identities resolved, attribution kept and the touched
contacts queued for scoring in the same transaction. Scoring them (``score_queued``: scores, stages, automation) is
measured separately, on the first ``--drain`` queued contacts, and reported as its own rate. A second reference, the
*indexed floor*, stores the events file into funnelbridge's own indexed events table with raw ``sqlite3``
``executemany`` and no validation, identity or attribution — what the indexes alone cost.

Every figure has wall seconds and CPU seconds (``time.process_time`` plus the CPU of child processes waited for: the
events import's parsing process, also given apart as ``cpu_seconds_writer`` / ``cpu_seconds_parser``) and the load
average is recorded: the machine is shared, so wall rates move with the load while CPU rates and the same-run ratios
are comparable. The baseline, the floor and funnelbridge's import each run in a fresh process of their own
(``spawn``), so each peak RSS (``ru_maxrss``) is that part's own.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import resource
import shutil
import subprocess
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # children waited for: the import's parsing process
    return usage.ru_utime + usage.ru_stime


def _measure(fn: Any, *args: Any) -> tuple[Any, dict[str, float]]:
    """Wall and CPU seconds of ``fn(*args)``; CPU counts this process and the child processes it waited for
    (the events import's parsing process), also given apart."""
    wall, cpu, kids = time.perf_counter(), time.process_time(), _children_cpu()
    result = fn(*args)
    own, children = time.process_time() - cpu, _children_cpu() - kids
    figures = {"seconds": time.perf_counter() - wall, "cpu_seconds": own + children}
    if children:
        figures |= {"cpu_seconds_writer": own, "cpu_seconds_parser": children}
    return result, figures


def _rates(figures: dict[str, float], rows: int) -> dict[str, float]:
    rates = {**figures, "rows_per_s": rows / figures["seconds"], "rows_per_cpu_s": rows / figures["cpu_seconds"]}
    if "cpu_seconds_writer" in figures:  # the writing process alone: what bounds the wall rate on two free CPUs
        rates["rows_per_writer_cpu_s"] = rows / figures["cpu_seconds_writer"]
    return rates


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _start(part: str, workdir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    out = workdir / f"{part}.json"
    command = [sys.executable, __file__, "--part", part, "--workdir", str(workdir), "--part-out", str(out), *extra]
    return subprocess.Popen(command), out


def _finish(started: tuple[subprocess.Popen[bytes], Path]) -> Any:
    process, out = started
    if process.wait() != 0:
        raise SystemExit(f"benchmark part failed: {process.args!r}")
    return json.loads(out.read_text(encoding="utf-8"))


def _isolated(part: str, workdir: Path, *extra: str) -> Any:
    """One part of the benchmark in a fresh process (its own peak RSS; nothing cached from the other parts)."""
    return _finish(_start(part, workdir, *extra))


def _parts(workdir: Path, drain: int, parallel: bool, single: bool) -> tuple[Any, Any, Any, Any]:
    """The four parts, one after the other or (``parallel``) all at once — on a busy shared box the full size
    only fits in the time that way; wall rates then compete with each other, CPU rates still compare."""
    names = [("pandas", ()), ("floor", ()), ("floor_bulk", ()),
             ("funnelbridge", ("--drain", str(drain), *(["--single-process"] if single else [])))]  # fmt: skip
    if not parallel:
        return tuple(_isolated(name, workdir, *extra) for name, extra in names)
    started = [_start(name, workdir, *extra) for name, extra in names]
    return tuple(_finish(s) for s in started)


def _part(name: str, workdir: Path, drain: int, single: bool) -> Any:
    contacts, events = workdir / "contacts.csv", workdir / "events.csv"
    if name == "pandas":
        return pandas_baseline(contacts, events, workdir)
    if name == "floor":
        return measured_floor(events, workdir)
    if name == "floor_bulk":
        return bulk_floor(contacts, events, workdir)
    return funnelbridge_import(contacts, events, workdir, drain, single)


def pandas_baseline(contacts: Path, events: Path, workdir: Path) -> dict[str, Any]:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{workdir / 'pandas.db'}")

    def load(path: Path, name: str) -> None:
        for frame in pd.read_csv(path, chunksize=100_000, dtype=str, keep_default_na=False):
            frame.to_sql(name, engine, if_exists="append", index=False, chunksize=10_000)

    times: dict[str, Any] = {name: _measure(load, path, name)[1] for name, path in (("contacts", contacts),
                                                                                     ("events", events))}  # fmt: skip
    engine.dispose()
    times["peak_rss_mib"] = _peak_rss_mib()
    return times


def indexed_floor(events: Path, workdir: Path) -> dict[str, float]:
    """The least work that stores the events file in funnelbridge's own (indexed) events table: ``csv`` parsing
    and one ``executemany`` of raw tuples per 50,000 rows — no validation, identity or attribution."""
    import sqlite3

    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    path = workdir / "floor.db"
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")  # what funnelbridge's own connections use
    sql = ("INSERT INTO events (idempotency_key, anonymous_id, type, occurred_at, received_at, path, source, medium, "
           "campaign) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING")  # fmt: skip

    def flush(batch: list[tuple[str, ...]]) -> None:
        conn.execute("BEGIN")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")

    with events.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        batch: list[tuple[str, ...]] = []
        for key, type_, email, anon, at, page, src, med, camp in reader:
            batch.append((key, anon or email, type_, at, at, page, src, med, camp))
            if len(batch) == 50_000:
                flush(batch)
                batch = []
        flush(batch)
    conn.close()
    return {"peak_rss_mib": _peak_rss_mib()}


def measured_floor(events: Path, workdir: Path) -> dict[str, float]:
    rss, figures = _measure(indexed_floor, events, workdir)
    return {**figures, **rss}


def bulk_floor(contacts: Path, events: Path, workdir: Path) -> dict[str, Any]:
    """What SQLite alone costs a bulk load the way funnelbridge does it: the events table's indexes dropped (its
    unique key's too, as a first bulk load into an empty events table does since migration 0008), prepared tuples
    (contact ids from a dict, times already text) inserted with one ``executemany`` per 50,000 rows under the
    foreign key, the indexes built at the end (the unique one first, sorting in temporary files as funnelbridge's
    builds do since stop 21) — CSV parsing and tuple building measured apart from SQLite's part."""
    import sqlite3

    from funnelbridge.store import connect
    from funnelbridge.store.bulkload import SORTER_CACHE_KIB, SORTER_THREADS
    from funnelbridge.store.migrate import upgrade

    path = workdir / "floor_bulk.db"
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    with contacts.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        ids = {row[0]: i for i, row in enumerate(reader, start=1)}
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "temp_store=MEMORY", "cache_size=-262144"):
        conn.execute(f"PRAGMA {pragma}")
    people = ("INSERT INTO contacts (id, email, created_at, updated_at, version, unsubscribed, bounced) "
              "VALUES (?, ?, ?, ?, 1, 0, 0)")  # fmt: skip
    conn.executemany(people, [(i, e, "2025-01-01", "2025-01-01") for e, i in ids.items()])
    conn.execute("PRAGMA foreign_keys=ON")
    made = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND type = 'index' "
                                       "AND sql IS NOT NULL")]  # fmt: skip
    for name in [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'events' AND "
                                            "type = 'index' AND sql IS NOT NULL")]:  # fmt: skip
        conn.execute(f"DROP INDEX {name}")
    sql = (
        "INSERT INTO events (idempotency_key, contact_id, anonymous_id, type, occurred_at, received_at, path, "
        "source, medium, campaign) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    )  # every index is dropped, the unique key's too (as a first bulk load does since migration 0008)
    made.sort(key=lambda ddl: not ddl.upper().startswith("CREATE UNIQUE"))  # the unique index built first
    parse = {"seconds": 0.0, "cpu_seconds": 0.0}
    insert = {"seconds": 0.0, "cpu_seconds": 0.0}

    def add(into: dict[str, float], figures: dict[str, float]) -> None:
        into["seconds"] += figures["seconds"]
        into["cpu_seconds"] += figures["cpu_seconds"]

    def flush(batch: list[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")

    def read(rows: Any) -> list[tuple[Any, ...]]:
        return [(key, ids.get(email), anon or None, type_, at[:10] + " " + at[11:19] + ".000000", "2026-01-01 "
                 "00:00:00.000000", page, src or None, med or None, camp or None)
                for key, type_, email, anon, at, page, src, med, camp in rows]  # fmt: skip

    with events.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        while True:
            batch, figures = _measure(lambda: read(itertools.islice(reader, 50_000)))
            add(parse, figures)
            if not batch:
                break
            add(insert, _measure(flush, batch)[1])

    def rebuild() -> None:  # sorting as funnelbridge's builds do (store.bulkload.sorting_in_files; before stop 21
        # the floor's in-memory sort was funnelbridge's too: its earlier figures compare with those runs)
        for pragma in ("temp_store=FILE", f"threads={SORTER_THREADS}", f"cache_size=-{SORTER_CACHE_KIB}"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN IMMEDIATE")
        for ddl in made:
            conn.execute(ddl)
        conn.execute("COMMIT")

    rebuilt = _measure(rebuild)[1]
    conn.close()
    return {"parse_and_tuples": parse, "insert": insert, "index_rebuild": rebuilt, "peak_rss_mib": _peak_rss_mib()}


def single_process_events(workdir: Path, events: Path, rt_of: Any) -> dict[str, Any]:
    """The same events import with ``workers=1`` (parsing in the writing process) into a copy of the store as it
    was after the contacts import, for a same-run comparison with the two-process import."""
    rt = rt_of(workdir / "funnelbridge_single.db")
    try:
        summary, figures = _measure(lambda p: _import(rt, "events", p, workers=1), events)
    finally:
        rt.db.dispose()
    return {**figures, "inserted": summary.inserted, "rejected": summary.rejected}


def _import(rt: Any, kind: str, path: Path, workers: int | None = None) -> Any:
    from funnelbridge.ingest import import_file

    return import_file(rt, kind, path, defer=True, workers=workers)


def funnelbridge_import(contacts: Path, events: Path, workdir: Path, drain: int, single: bool) -> dict[str, Any]:
    """funnelbridge's part: contacts, then events parsed in a second process (``workers=2``, whatever the load: the
    import's own default decides by the load average), their re-run, the single-process import (``single``) and
    the drain."""
    workers = 2
    from funnelbridge.activity import drain as drain_queue
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.ingest.followup import queued
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    def rt_of(path: Path) -> Runtime:
        return Runtime(db=connect(f"sqlite:///{path}"), playbook=load_example("b2b"),
                       clock=FrozenClock(T0 + timedelta(days=400)))  # fmt: skip

    db = connect(f"sqlite:///{workdir / 'funnelbridge.db'}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(T0 + timedelta(days=400)))
    out: dict[str, Any] = {}
    for kind, path in (("contacts", contacts), ("events", events)):
        if kind == "events" and single:
            db.dispose()  # the last connection closed: the WAL checkpointed into the file copied
            shutil.copy(workdir / "funnelbridge.db", workdir / "funnelbridge_single.db")
        summary, figures = _measure(lambda k, p: _import(rt, k, p, workers), kind, path)
        out[kind] = {**figures, "inserted": summary.inserted, "rejected": summary.rejected,
                     "peak_rss_mib_after": _peak_rss_mib()}  # fmt: skip
    if single:
        out["events_single_process"] = single_process_events(workdir, events, rt_of)
    again, figures = _measure(lambda p: _import(rt, "events", p, workers), events)
    out["events_rerun"] = {**figures, "inserted": again.inserted, "duplicates": again.duplicates}
    waiting = queued(rt)
    result, figures = _measure(lambda n: drain_queue(rt, batch=500, max_batches=max(1, n // 500)), drain)
    out["drain"] = {**_rates(figures, result.contacts), "queued": waiting, "contacts": result.contacts,
                    "transitions": result.transitions, "failed": len(result.failed)}  # fmt: skip
    db.dispose()
    out["peak_rss_mib"] = _peak_rss_mib()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=None, help="default 20,000 (--full: 1,000,000)")
    parser.add_argument("--events", type=int, default=None, help="default 200,000 (--full: 10,000,000)")
    parser.add_argument("--full", action="store_true", help="the issue's size: 1,000,000 contacts, 10,000,000 events")
    parser.add_argument("--drain", type=int, default=5_000, help="queued contacts to score for the drain rate")
    parser.add_argument("--parallel", action="store_true", help="run the four parts at once (see _parts)")
    parser.add_argument(
        "--single-process",
        action="store_true",
        help="also import the events with workers=1 (parsing in the writer) into a copy of the store",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest.json")
    parser.add_argument("--part", choices=["pandas", "floor", "floor_bulk", "funnelbridge"], help=argparse.SUPPRESS)
    parser.add_argument("--part-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        part = _part(args.part, args.workdir, args.drain, args.single_process)
        args.part_out.write_text(json.dumps(part), encoding="utf-8")
        return 0
    args.contacts = args.contacts or (1_000_000 if args.full else 20_000)
    args.events = args.events or (10_000_000 if args.full else 200_000)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fb-bench-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    contacts, events = workdir / "contacts.csv", workdir / "events.csv"
    if not (contacts.exists() and events.exists()):
        write_contacts(contacts, args.contacts, args.seed)
        write_events(events, args.events, args.contacts, args.seed)
    for stale in workdir.glob("*.db*"):  # the stores of an earlier run in the same workdir
        stale.unlink()
    load_before = os.getloadavg()
    baseline, floor, bulk, ours = _parts(workdir, args.drain, args.parallel, args.single_process)
    floor = _rates(floor, args.events)
    bulk_sqlite = {k: bulk["insert"][k] + bulk["index_rebuild"][k] for k in ("seconds", "cpu_seconds")}
    bulk["sqlite_only"] = _rates(bulk_sqlite, args.events)
    bulk["with_parsing"] = _rates({k: bulk_sqlite[k] + bulk["parse_and_tuples"][k] for k in bulk_sqlite}, args.events)
    result: dict[str, Any] = {"contacts": args.contacts, "events": args.events, "cpus": os.cpu_count(),
                              "command": " ".join(["python", "bench/ingest.py", *(argv or sys.argv[1:])]),
                              "load_average_before": load_before, "load_average_after": os.getloadavg(),
                              "parts_in_parallel": args.parallel,
                              "baseline_pandas_to_sql": {}, "funnelbridge": ours,
                              "floor_raw_executemany_indexed_events": floor,
                              "floor_bulk_sqlite": bulk}  # fmt: skip
    for kind, rows in (("contacts", args.contacts), ("events", args.events)):
        base = result["baseline_pandas_to_sql"][kind] = _rates(baseline[kind], rows)
        result["baseline_pandas_to_sql"]["peak_rss_mib"] = baseline["peak_rss_mib"]
        ours[kind] = _rates(ours[kind], rows)
        ours[kind]["ratio_to_pandas"] = ours[kind]["rows_per_s"] / base["rows_per_s"]
        ours[kind]["cpu_ratio_to_pandas"] = ours[kind]["rows_per_cpu_s"] / base["rows_per_cpu_s"]
    ours["events_rerun"] = _rates(ours["events_rerun"], args.events)
    if "events_single_process" in ours:
        ours["events_single_process"] = _rates(ours["events_single_process"], args.events)
        one = ours["events_single_process"]
        ours["events"]["ratio_to_single_process"] = ours["events"]["rows_per_s"] / one["rows_per_s"]
        ours["events"]["cpu_ratio_to_single_process"] = ours["events"]["rows_per_cpu_s"] / one["rows_per_cpu_s"]
    ours["events"]["ratio_to_indexed_floor"] = ours["events"]["rows_per_s"] / floor["rows_per_s"]
    ours["events"]["cpu_ratio_to_indexed_floor"] = ours["events"]["rows_per_cpu_s"] / floor["rows_per_cpu_s"]
    ours["events"]["target_events_per_s"] = 100_000
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

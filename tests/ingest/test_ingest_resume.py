"""Killing an import halfway (a real subprocess, SIGKILL) and re-running it ends with the same database as one
clean run — the queued contacts scored and staged alike; also for a bulk load, whose dropped indexes the re-run
rebuilds, and for one parsed in a second process (:mod:`funnelbridge.ingest.pipeline`), against a clean
single-process run. A killed bulk load's plain chunks owe their attribution and queue entries
(:mod:`funnelbridge.ingest.owed`): the re-run settles them as one clean run does."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import metadata

SCRIPT = """
import sys
from datetime import UTC, datetime
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.ingest import import_file
from funnelbridge.ingest.followup import score_queued
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect

db = connect(sys.argv[1])
rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(datetime(2026, 3, 1, tzinfo=UTC)))
import_file(rt, "contacts", sys.argv[2], chunk_size=200, defer=True)
import_file(rt, "events", sys.argv[3], chunk_size=200, defer=True, bulk=sys.argv[4] in ("bulk", "pipeline"),
            workers=2 if sys.argv[4] == "pipeline" else 1)
score_queued(rt)
"""
TABLES = ("accounts", "contacts", "identities", "events", "merges", "activity_queue", "scores", "pipeline_states",
          "transitions", "ingest_owed")  # fmt: skip


def _files(tmp: Path, identify: bool) -> tuple[Path, Path]:
    """A contacts file and an events file; with ``identify`` some events name an anonymous id and an email."""
    people, evts = tmp / "people.csv", tmp / "events.csv"
    with people.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["Email", "First Name", "Company Name", "Create Date"])
        for i in range(1000):
            out.writerow([f"p{i}@c{i % 300}.example", f"N{i}", f"C{i % 300}", "2026-01-01 09:00"])
    with evts.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["type", "email", "anonymous_id", "timestamp", "path", "utm_source"])
        for i in range(4000):
            email = "" if i % 7 == 0 else f"p{i % 1200}@c{i % 300}.example"
            anon = f"v{i % 900}" if i % 7 == 0 or (identify and i % 11 == 0) else ""
            out.writerow(["page_view", email, anon, f"2026-02-01T{i % 24:02d}:{i % 60:02d}:00Z", "/p", "g" * (i % 3)])
    return people, evts


def _run(url: str, people: Path, evts: Path, mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(people), str(evts), mode])


def _clean_run(url: str, people: Path, evts: Path, mode: str) -> None:
    # A process of its own, like the killed and the re-run imports. It once ran in this process and differed in
    # the full suite; no cause was found since: the id()-keyed caches (store.bulk, scoring, lifecycle) check the
    # cached object's identity, and an in-process clean run placed after the whole suite (1,076 tests) matched.
    # The subprocess stays because it is the stronger isolation for a reference run (about 3 s).
    assert _run(url, people, evts, mode).wait(timeout=600) == 0


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = connect(f"sqlite:///{path}")
    try:
        with db.read() as conn:
            dump: dict[str, list[tuple[object, ...]]] = {
                t: sorted((tuple(r) for r in conn.execute(select(metadata.tables[t]))), key=repr) for t in TABLES
            }
            dump["indexes"] = sorted((t, str(ix["name"])) for t in TABLES for ix in inspect(conn).get_indexes(t))
            return dump
    finally:
        db.dispose()


def _count_events(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])  # a constant query
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("mode", ["normal", "bulk", "pipeline"])
def test_killed_import_rerun_equals_clean_run(tmp_path: Path, mode: str) -> None:
    # identifications (event intake reads events by contact) would rebuild a bulk load's indexes at once
    people, evts = _files(tmp_path, identify=mode == "normal")
    dbs = {name: tmp_path / f"{name}.db" for name in ("clean", "killed")}
    for path in dbs.values():
        db = connect(f"sqlite:///{path}")
        upgrade(db)
        db.dispose()
    _clean_run(f"sqlite:///{dbs['clean']}", people, evts, "bulk" if mode == "pipeline" else mode)
    victim = _run(f"sqlite:///{dbs['killed']}", people, evts, mode)
    deadline = time.monotonic() + 240
    while _count_events(dbs["killed"]) < 600 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim.poll() is None, "the import finished before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    halfway = _count_events(dbs["killed"])
    assert 0 < halfway < _count_events(dbs["clean"])
    if mode != "normal":  # killed while the events table's secondary indexes were dropped, its plain chunks owed
        assert len(_dump(dbs["killed"])["indexes"]) < len(_dump(dbs["clean"])["indexes"])
        assert _dump(dbs["killed"])["ingest_owed"] and not _dump(dbs["clean"])["ingest_owed"]
        # a first load (empty events table): the key's unique index dropped too (ingest.firstkeys), its rows with
        # a key repeated from an earlier chunk (rows i and i + 1200) held back — and lost with the process
        assert ("events", "uq_events_idempotency_key") not in _dump(dbs["killed"])["indexes"]
    assert _run(f"sqlite:///{dbs['killed']}", people, evts, mode).wait(timeout=240) == 0
    assert _dump(dbs["killed"]) == _dump(dbs["clean"])

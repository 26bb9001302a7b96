"""What the plain lane owes (:mod:`funnelbridge.ingest.owed`) survives a kill: an import killed (SIGKILL, a real
subprocess) after its last chunk's commit and before its final settle leaves the owed stretch recorded, and a
re-run (every row a duplicate) or :func:`~funnelbridge.ingest.owed.settle` ends with the database of one clean run;
a chunk that goes through event intake settles what earlier chunks owe first."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.ingest import import_file
from funnelbridge.ingest.owed import owed, settle
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import restore_missing_indexes, upgrade
from funnelbridge.store.tables import metadata

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ROWS = 1200
SCRIPT = """
import os, signal, sys
from datetime import UTC, datetime
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.ingest import import_file
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect

rt = Runtime(db=connect(sys.argv[1]), playbook=load_example("b2b"), clock=FrozenClock(datetime(2026, 3, 1, tzinfo=UTC)))
done = 0

def progress(count):
    global done
    done += count
    if done == int(sys.argv[4]):  # the last chunk is committed: killed before the import settles
        os.kill(os.getpid(), signal.SIGKILL)

progress = progress if sys.argv[3] == "kill" else None
import_file(rt, "events", sys.argv[2], progress=progress, chunk_size=200, defer=True, bulk=True, workers=1)
"""
TABLES = ("contacts", "identities", "events", "activity_queue", "ingest_owed")


def _events(path: Path, *, identify_at: int | None = None) -> Path:
    """Plain rows (one identifier each), touches on every third; ``identify_at``: that row also names a cookie."""
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["type", "email", "anonymous_id", "timestamp", "utm_source", "utm_campaign"])
        for i in range(ROWS):
            email = "" if i % 7 == 0 else f"p{i % 150}@c{i % 30}.example"
            anon = f"v{i % 90}" if not email or i == identify_at else ""
            out.writerow(["page_view", email, anon, f"2026-02-{1 + i % 20:02d}T{i % 24:02d}:00:00Z",
                          "ads" if i % 3 == 0 else "", f"q{i % 4}" if i % 6 == 0 else ""])  # fmt: skip
    return path


def _store(path: Path) -> str:
    url = f"sqlite:///{path}"
    db = connect(url)
    upgrade(db)
    db.dispose()
    return url


def _run(url: str, events: Path, mode: str) -> int:
    command = [sys.executable, "-c", SCRIPT, url, str(events), mode, str(ROWS)]
    return subprocess.run(command, timeout=300, check=False).returncode


def _dump(url: str) -> dict[str, Any]:
    db = connect(url)
    try:
        with db.read() as conn:
            dump: dict[str, Any] = {t: sorted(map(tuple, conn.execute(select(metadata.tables[t]))), key=repr)
                                    for t in TABLES}  # fmt: skip
            dump["indexes"] = sorted(str(ix["name"]) for ix in inspect(conn).get_indexes("events"))
            return dump
    finally:
        db.dispose()


@pytest.fixture
def killed(tmp_path: Path) -> tuple[str, str, Path]:
    """A clean run's store, and a store whose import was killed between its last commit and its settle."""
    events = _events(tmp_path / "events.csv")
    clean, victim = _store(tmp_path / "clean.db"), _store(tmp_path / "killed.db")
    assert _run(clean, events, "clean") == 0
    assert _run(victim, events, "kill") == -9
    return clean, victim, events


def test_a_kill_before_the_settle_leaves_the_stretch_owed_and_a_rerun_completes_it(
    killed: tuple[str, str, Path],
) -> None:
    clean, victim, events = killed
    want, got = _dump(clean), _dump(victim)
    assert got["events"] == want["events"] and got["ingest_owed"] == [(1, NOW)]
    assert got["contacts"] != want["contacts"] and got["activity_queue"] == []  # attribution, queue: owed
    assert len(got["indexes"]) < len(want["indexes"])  # killed while the bulk load's indexes were dropped
    assert want["ingest_owed"] == []
    assert _run(victim, events, "rerun") == 0  # every row a duplicate
    assert _dump(victim) == want


def test_settle_alone_completes_what_a_killed_import_owes(killed: tuple[str, str, Path]) -> None:
    clean, victim, _ = killed
    db = connect(victim)
    try:
        with db.transaction() as conn:
            assert settle(conn, NOW) > 0
            assert owed(conn) == []
        restore_missing_indexes(db)
    finally:
        db.dispose()
    assert _dump(victim) == _dump(clean)


def test_a_chunk_for_event_intake_settles_what_earlier_chunks_owe_first(tmp_path: Path) -> None:
    """Row 701 names a cookie and an email (event intake): the 600 rows of the chunks before it are settled in its
    chunk's transaction, before intake reads their contacts; the import ends with nothing owed."""
    events = _events(tmp_path / "events.csv", identify_at=701)
    db = connect(_store(tmp_path / "store.db"))
    seen: list[int] = []
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))

    def progress(count: int) -> None:
        with db.read() as conn:
            seen.append(len(owed(conn)))

    try:
        import_file(rt, "events", events, progress=progress, chunk_size=200, defer=True, bulk=True, workers=1)
        with db.read() as conn:
            assert owed(conn) == []
    finally:
        db.dispose()
    assert seen == [1, 1, 1, 0, 1, 1]  # owed from the first chunk, settled by the fourth, owed again by the fifth

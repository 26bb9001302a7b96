"""A big import queues the contacts it touched (``defer``) and :func:`score_queued` drains them afterwards: the
leads end up scored and in the same stages as when each chunk scored its contacts itself."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from funnelbridge.activity import pending
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.ingest import import_file
from funnelbridge.ingest.followup import queued, score_queued
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import contacts, pipeline_states, scores

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PEOPLE = "Email,Job Title,Number of Employees\nann@acme.example,VP Sales,500\nbob@gmail.com,Student,\n"
EVENTS = (
    "event_id,type,email,anonymous_id,timestamp,path\n"
    "e1,page_view,,v1,2026-02-20T09:00:00Z,/pricing\n"
    "e2,form,ann@acme.example,v1,2026-02-20T09:05:00Z,/demo\n"
    "e3,demo_request,ann@acme.example,,2026-02-21T10:00:00Z,/demo\n"
    "e4,page_view,bob@gmail.com,,2026-02-22T10:00:00Z,/careers\n"
    "e5,asset_download,cy@initech.example,,2026-02-23T10:00:00Z,/ebook\n"
)


def _state(rt: Runtime) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with rt.db.read() as conn:
        email = {r.id: r.email for r in conn.execute(select(contacts.c.id, contacts.c.email))}
        stages = sorted((email[r.contact_id], r.pipeline, r.stage) for r in conn.execute(select(pipeline_states)))
        points = sorted((email[r.contact_id], r.fit, r.engagement) for r in conn.execute(select(scores)))
    return stages, points


def _import(tmp: Path, name: str, **options: Any) -> tuple[Runtime, Any]:
    db = connect(f"sqlite:///{tmp / name}.db")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    for kind, text in (("contacts", PEOPLE), ("events", EVENTS)):
        (tmp / f"{kind}.csv").write_text(text, encoding="utf-8")
        import_file(rt, kind, tmp / f"{kind}.csv", **options)
    return rt, db


def test_deferred_import_then_drain_equals_scoring_in_the_import(tmp_path: Path) -> None:
    inline, inline_db = _import(tmp_path, "inline", after=True)
    deferred, deferred_db = _import(tmp_path, "deferred", after=True, defer=True)
    with deferred.db.read() as conn:
        assert pending(conn) == 3  # ann, bob and the new cy: each queued once
    assert _state(deferred)[0] == []  # nothing scored or staged yet
    done: list[int] = []
    result = score_queued(deferred, done.append, batch=2)
    assert (result.contacts, sum(done), result.failed) == (3, 3, ())
    assert queued(deferred) == 0
    stages, points = _state(deferred)
    assert (stages, points) == _state(inline)
    assert ("ann@acme.example", "main", "mql") in stages and len(points) == 3
    inline_db.dispose()
    deferred_db.dispose()

"""``apply_playbook`` validates, copies the file to the active path, records the version and rescores everyone."""

from __future__ import annotations

from pathlib import Path

import pytest
from plan_helpers import end_of, insert, leads, playbook
from sqlalchemy import select

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.errors import PlaybookError
from funnelbridge.planning.apply import apply_playbook
from funnelbridge.playbook.examples import example_path
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database
from funnelbridge.store.playbooks import active_version, record_playbook
from funnelbridge.store.tables import scores


def _setup(db: Database, tmp_path: Path) -> tuple[Runtime, Path, Path]:
    chosen = leads(14)
    insert(db, chosen)
    active = tmp_path / "playbook.yaml"
    active.write_text(example_path("b2b").read_text(encoding="utf-8"), encoding="utf-8")
    rt = Runtime(db=db, playbook=playbook(50), clock=FrozenClock(end_of(chosen)))
    with db.transaction() as conn:
        record_playbook(conn, rt.playbook, active.read_text(encoding="utf-8"), rt.clock.now(), activate=True)
    strict = tmp_path / "strict.yaml"
    text = active.read_text(encoding="utf-8").replace(
        "mql: {grades: [A, B], engagement: 50}", "mql: {grades: [A], engagement: 70}"
    )
    strict.write_text(text, encoding="utf-8")
    return rt, active, strict


def test_apply_activates_copies_and_rescores(db: Database, tmp_path: Path) -> None:
    rt, active, strict = _setup(db, tmp_path)
    result = apply_playbook(rt, strict, active)
    assert active.read_text(encoding="utf-8") == strict.read_text(encoding="utf-8")
    assert result.changed and result.previous_version == rt.playbook.version != result.version
    assert result.rescore.leads == 14 and result.model_scored is None
    with db.read() as conn:
        assert active_version(conn) == result.version
        versions = {r[0] for r in conn.execute(select(scores.c.playbook_version))}
    assert versions == {result.version}
    again = apply_playbook(rt, active, active)
    assert not again.changed and again.version == result.version


def test_an_invalid_playbook_changes_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    rt, active, strict = _setup(sqlite_db, tmp_path)
    before = active.read_text(encoding="utf-8")
    strict.write_text(
        before.replace("grades: {A: 45, B: 30, C: 15}", "grades: {A: 10, B: 30, C: 15}"), encoding="utf-8"
    )
    with pytest.raises(PlaybookError):
        apply_playbook(rt, strict, active)
    assert active.read_text(encoding="utf-8") == before
    with sqlite_db.read() as conn:
        assert active_version(conn) == rt.playbook.version

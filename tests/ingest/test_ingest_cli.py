"""The ``import``, ``events ingest`` and ``unmerge`` commands, through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from funnelbridge.bootstrap import init_project
from funnelbridge.cli import main
from funnelbridge.cli.app import state
from funnelbridge.settings import Settings
from funnelbridge.store import connect
from funnelbridge.store.tables import contacts, merges


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), " ".join(err.split())


def test_import_events_and_unmerge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fb.db'}", playbook=str(tmp_path / "playbook.yaml"))
    init_project(settings)
    monkeypatch.setattr(state(), "_settings", settings)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "people.csv").write_text("Email,Employees\nkim@acme.com,10\nbad,ten\n", encoding="utf-8")
    code, out, _ = _cli(capsys, "import", "contacts", "people.csv")
    assert code == 0
    assert "row 3 email: expected an email address" in out and "people.csv.rejected.csv" in out
    assert (tmp_path / "people.csv.rejected.csv").exists()
    lines = [
        {"type": "page", "anonymous_id": "c9", "timestamp": "2026-01-01T09:00:00Z", "properties": {"path": "/"}},
        {"type": "identify", "anonymous_id": "c9", "email": "kim@acme.com", "timestamp": "2026-01-01T10:00:00Z"},
    ]
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{oops\n", encoding="utf-8")
    code, out, _ = _cli(capsys, "events", "ingest", "events.jsonl")
    assert code == 0
    assert "2 stored" in out and "1 merged" in out and "row 3 payload: not valid JSON" in out
    db = connect(settings.database_url)
    with db.read() as conn:
        merge_id = conn.execute(select(merges.c.id)).scalar_one()
    assert _cli(capsys, "unmerge", str(merge_id))[0] == 0
    with db.read() as conn:
        assert conn.execute(select(contacts.c.id).where(contacts.c.merged_into.is_not(None))).all() == []
    db.dispose()
    code, _, err = _cli(capsys, "import", "widgets", "people.csv")
    assert code == 1 and "unknown import kind" in err

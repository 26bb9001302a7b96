"""The ``import``, ``events ingest`` and ``unmerge`` commands, run as a user would (a subprocess in a project)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from funnelbridge.store import connect
from funnelbridge.store.tables import contacts, merges


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from funnelbridge.cli import main; sys.exit(main())", *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160"},
    )


def test_import_events_and_unmerge(tmp_path: Path) -> None:
    assert _run("init", cwd=tmp_path).returncode == 0
    (tmp_path / "people.csv").write_text("Email,Employees\nkim@acme.com,10\nbad,ten\n", encoding="utf-8")
    result = _run("import", "contacts", "people.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "row 3 email: expected an email address" in result.stdout and "people.csv.rejected.csv" in result.stdout
    assert (tmp_path / "people.csv.rejected.csv").exists()
    lines = [
        {"type": "page", "anonymous_id": "c9", "timestamp": "2026-01-01T09:00:00Z", "properties": {"path": "/"}},
        {"type": "identify", "anonymous_id": "c9", "email": "kim@acme.com", "timestamp": "2026-01-01T10:00:00Z"},
    ]
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{oops\n", encoding="utf-8")
    result = _run("events", "ingest", "events.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "2 stored" in result.stdout and "1 merged" in result.stdout and "row 3 payload: not valid JSON" in result.stdout
    )
    db = connect(f"sqlite:///{tmp_path / 'funnelbridge.db'}")
    with db.read() as conn:
        merge_id = conn.execute(select(merges.c.id)).scalar_one()
    assert _run("unmerge", str(merge_id), cwd=tmp_path).returncode == 0
    with db.read() as conn:
        assert conn.execute(select(contacts.c.merged_into).where(contacts.c.merged_into.is_not(None))).all() == []
    db.dispose()
    missing = _run("import", "widgets", "people.csv", cwd=tmp_path)
    assert missing.returncode == 1 and "unknown import kind" in missing.stderr

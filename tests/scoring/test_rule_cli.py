"""``funnelbridge score``: rescore with a distribution, explain one lead, JSON output, clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rule_helpers import add_account, add_contact, add_events
from sqlalchemy import select

from funnelbridge.bootstrap import init_project
from funnelbridge.cli import main
from funnelbridge.cli.app import state
from funnelbridge.cli.score import parse_as_of
from funnelbridge.errors import InputError
from funnelbridge.settings import Settings
from funnelbridge.store import connect
from funnelbridge.store.tables import scores


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    s = Settings(database_url=f"sqlite:///{tmp_path}/cli.db", playbook=str(tmp_path / "playbook.yaml"))
    init_project(s)
    monkeypatch.setattr(state(), "_settings", s)
    monkeypatch.setenv("COLUMNS", "200")
    db = connect(s.database_url)
    now = datetime.now(UTC)
    with db.transaction() as conn:
        acc = add_account(conn, domain="acme.com", employees=800, industry="software", country="DE")
        cid = add_contact(conn, email="vp@acme.com", title="VP Sales", account_id=acc)
        add_events(conn, cid, [{"type": "demo_request", "occurred_at": now - timedelta(days=1)}])
        add_contact(conn, email="kid@gmail.com", title="student")
    db.dispose()
    return s


def test_score_all_then_explain(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score"]) == 0
    out = capsys.readouterr().out
    assert "2 leads by fit grade" in out and "stored 2 score rows" in out and "hot" in out
    assert main(["score", "--explain", "vp@acme.com"]) == 0
    out = capsys.readouterr().out
    for text in ("senior title", "demo request", "half-life 60d", "grade A", "MQL eligible"):
        assert text in out, text
    assert main(["score", "--explain", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["groups"]["main"]["grade"] == "A"


def test_score_errors_are_one_line(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "--explain", "nobody@x.io"]) == 1
    assert "no contact with e-mail" in capsys.readouterr().err
    assert main(["score", "--as-of", "yesterday"]) == 1
    assert "--as-of" in capsys.readouterr().err
    for argv in (["score", "--explain", "nobody@x.io"], ["score", "--as-of", "2025-02-30"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    with pytest.raises(InputError):
        main(["--debug", "score", "--as-of", "2025-02-30"])


def test_a_stored_rescore_refuses_a_future_as_of(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    assert main(["score", "--as-of", future]) == 1
    assert "is in the future" in capsys.readouterr().err
    db = connect(settings.database_url)
    with db.read() as conn:
        assert conn.execute(select(scores)).first() is None  # nothing stored
    db.dispose()
    assert main(["score", "--as-of", datetime.now(UTC).date().isoformat()]) == 0  # today: scored now
    assert "stored 2 score rows" in capsys.readouterr().out
    assert main(["score", "--as-of", future, "--explain", "vp@acme.com"]) == 0  # a look ahead stores nothing
    assert "demo request" in capsys.readouterr().out


def test_parse_as_of_is_end_of_day_in_playbook_zone() -> None:
    assert parse_as_of("2025-06-01", "Europe/Berlin") == datetime(2025, 6, 1, 21, 59, 59, 999999, tzinfo=UTC)
    assert parse_as_of("2025-06-01T10:00:00", "Europe/Berlin") == datetime(2025, 6, 1, 10, tzinfo=UTC)

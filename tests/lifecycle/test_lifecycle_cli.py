"""The lead / deal / queue commands: thin shells that call one service and render it."""

from __future__ import annotations

from pathlib import Path

import pytest
from lifecycle_helpers import add_event, make_mql, set_score

from funnelbridge.bootstrap import init_project, open_runtime
from funnelbridge.cli import main
from funnelbridge.cli.app import state
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    s = Settings(database_url=f"sqlite:///{tmp_path}/cli.db", playbook=str(tmp_path / "playbook.yaml"))
    init_project(s)
    monkeypatch.setattr(state(), "_settings", s)
    monkeypatch.setenv("COLUMNS", "200")
    return s


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_queue_accept_qualify_deal_and_show(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    rt = open_runtime(settings, clock=FrozenClock())
    cid = make_mql(rt, first_name="Ann", last_name="Lee")
    add_event(rt, cid, "page_view", path="/pricing")
    set_score(rt, cid)
    rt.db.dispose()
    code, out, _ = run(capsys, "queue")
    assert code == 0 and "Ann Lee" in out and "1 waiting" in out
    code, out, _ = run(capsys, "lead", "accept", str(cid), "--as", "rita@acme.example", "--key", "a1")
    assert code == 0 and "mql → sal" in out
    code, _, err = run(capsys, "lead", "accept", str(cid), "--as", "sam@acme.example")
    assert code == 1 and "already accepted by rita@acme.example" in err and "Traceback" not in err
    code, _, err = run(capsys, "lead", "qualify", str(cid), "--as", "rita@acme.example", "--budget", "10k")
    assert code == 1 and "missing: bant.authority" in err
    bant = ("--budget", "10k", "--authority", "VP", "--need", "yes", "--timeline", "Q3")
    code, out, _ = run(capsys, "lead", "qualify", str(cid), "--as", "rita@acme.example", *bant)
    assert code == 0 and "sal → sql" in out
    code, out, _ = run(capsys, "deal", "open", str(cid), "--as", "rita@acme.example", "--amount", "12000")
    assert code == 0 and "deal 1" in out and "sql → opportunity" in out
    code, out, _ = run(capsys, "deal", "move", "1", "proposal", "--as", "rita@acme.example")
    assert code == 0 and "proposal" in out and "60%" in out
    code, out, _ = run(capsys, "deal", "win", "1", "--as", "rita@acme.example")
    assert code == 0 and "opportunity → customer" in out
    code, out, _ = run(capsys, "lead", "show", str(cid))
    assert code == 0
    for text in (
        "Ann Lee",
        "stage customer",
        "score [main]",
        "senior title",
        "halves at",
        "timeline",
        "demo_request",
        "deals",
    ):
        assert text in out, text
    code, out, _ = run(capsys, "lead", "sweep")
    assert code == 0 and "recycled 0 stalled and 0 lost" in out


def test_reject_and_disqualify_need_listed_reasons(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    rt = open_runtime(settings)
    cid = make_mql(rt)
    rt.db.dispose()
    code, _, err = run(capsys, "lead", "reject", str(cid), "--as", "r@x.io", "--reason", "meh")
    assert code == 1 and "needs a reason from: not_a_fit" in err
    code, out, _ = run(
        capsys, "lead", "disqualify", str(cid), "--as", "m@x.io", "--role", "marketing", "--reason", "spam"
    )
    assert code == 0 and "disqualified" in out
    code, _, err = run(capsys, "lead", "accept", str(cid), "--as", "r@x.io", "--role", "boss")
    assert code == 1 and "must be one of" in err

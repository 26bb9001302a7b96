"""``funnelbridge playbook plan / suggest / apply``: thin shells over the planning functions."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from plan_helpers import insert, insert_outcomes, leads

from funnelbridge.cli import main
from funnelbridge.cli.app import state
from funnelbridge.playbook.examples import example_path
from funnelbridge.settings import Settings
from funnelbridge.store import Database


def _run(args: list[str]) -> str:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(args)
    assert code == 0, buffer.getvalue()
    return buffer.getvalue()


def _project(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    active = tmp_path / "playbook.yaml"
    text = example_path("b2b").read_text(encoding="utf-8")
    active.write_text(text, encoding="utf-8")
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        text.replace("{field: score.engagement, op: gte, value: 50}", "{field: score.engagement, op: gte, value: 70}"),
        encoding="utf-8",
    )
    monkeypatch.setattr(state(), "_settings", Settings(database_url=db.url, playbook=str(active)))
    return active, strict


def test_plan_and_apply(sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    insert(sqlite_db, leads(21))
    active, strict = _project(sqlite_db, tmp_path, monkeypatch)
    data = json.loads(_run(["playbook", "plan", str(strict), "--json"]))
    assert data["current"]["mqls"] == 9 and data["proposed"]["mqls"] == 6  # k ≥ 4 vs k ≥ 5 of k = i % 7
    assert len(data["leaving"]) == 3 and data["entering"] == []
    text = _run(["playbook", "plan", str(strict), "--since", "2026-03-10"])
    for part in ("would-be MQLs", "current", "proposed", "→ customer", "SLA load on sales", "would leave: 2 leads"):
        assert part in text
    out = _run(["playbook", "apply", str(strict)])
    assert "activated" in out and active.read_text(encoding="utf-8") == strict.read_text(encoding="utf-8")


def test_suggest(sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    insert_outcomes(sqlite_db, 320)
    _project(sqlite_db, tmp_path, monkeypatch)
    data = json.loads(_run(["playbook", "suggest", "--json"]))
    assert {r["rule"] for r in data["rules"]} >= {"uses a CRM", "blog read"}
    assert set(data["current"]) == {"roc_auc", "pr_auc", "top_decile_lift"}
    assert "Suggested points" in _run(["playbook", "suggest", "--points-per-doubling", "20"])

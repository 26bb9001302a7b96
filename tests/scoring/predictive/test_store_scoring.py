"""Scoring leads with the active store model (batch and incremental), explaining one lead, and the CLI."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from sqlalchemy import select
from store_helpers import as_of, b2b, build_history

from funnelbridge.cli import main
from funnelbridge.cli.app import state
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.errors import NotFoundError
from funnelbridge.playbook.examples import example_path
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.predictive.store_scoring import (
    active_model,
    explain_lead,
    model_score_contact,
    score_all_with_model,
)
from funnelbridge.scoring.predictive.store_train import train_from_store
from funnelbridge.scoring.service import score_contact
from funnelbridge.settings import Settings
from funnelbridge.store import Database, connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import scores

N = 400
SCORED = 60  # leads given a rule score row


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """One store with a trained, active model for the whole module (tests only add probabilities)."""
    path = tmp_path_factory.mktemp("store_scoring")
    db = connect(f"sqlite:///{path}/store.db")
    upgrade(db)
    build_history(db, N)
    rt = Runtime(db=db, playbook=b2b(), clock=FrozenClock(as_of(N)))
    train_from_store(rt, models_dir=path / "models")
    with db.transaction() as conn:
        for cid in range(1, SCORED + 1):  # only these leads get a rule score row
            score_contact(rt, conn, cid)
    yield rt
    db.dispose()


def _stored(db: Database) -> dict[int, tuple[float | None, str | None, float]]:
    with db.read() as conn:
        rows = conn.execute(select(scores.c.contact_id, scores.c.probability, scores.c.model_version, scores.c.total))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_no_active_model_means_no_probability(sqlite_db: Database) -> None:
    build_history(sqlite_db, 5)
    rt = Runtime(db=sqlite_db, playbook=b2b(), clock=FrozenClock(as_of(5)))
    with sqlite_db.transaction() as conn:
        assert active_model(conn) is None
        assert model_score_contact(rt, conn, 1) is None
    with pytest.raises(NotFoundError, match="no active model"):
        score_all_with_model(rt)


def test_batch_scoring_stores_probability_beside_the_rule_score(trained: Runtime) -> None:
    summary = score_all_with_model(trained)
    assert summary.scored == SCORED and summary.without_rule_score == N - SCORED
    stored = _stored(trained.db)
    assert len(stored) == SCORED
    assert all(p is not None and 0 < p < 1 and v == summary.model_version for p, v, _ in stored.values())


def test_incremental_equals_batch(trained: Runtime) -> None:
    score_all_with_model(trained)
    batch = _stored(trained.db)
    with trained.db.transaction() as conn:
        one = model_score_contact(trained, conn, 7)
    assert one == pytest.approx(batch[7][0])
    with trained.db.transaction() as conn:
        assert model_score_contact(trained, conn, N) is None  # no rule score row: nothing stored


def test_rule_rescore_keeps_the_probability(trained: Runtime) -> None:
    score_all_with_model(trained)
    before = _stored(trained.db)[3]
    with trained.db.transaction() as conn:
        score_contact(trained, conn, 3)
    assert _stored(trained.db)[3][:2] == before[:2]


def test_explain_lead_lists_top_features(trained: Runtime) -> None:
    item = explain_lead(trained, 5, top=4)
    assert 0 < item.probability < 1 and len(item.top) == 4 and item.row_id == "5"
    assert item.method == "treeshap"
    with pytest.raises(NotFoundError):
        explain_lead(trained, 10_000)


def test_cli_train_score_explain(sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_history(sqlite_db, N)
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(example_path("b2b").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(state(), "_settings", Settings(database_url=sqlite_db.url, playbook=str(playbook)))
    models = str(tmp_path / "models")
    day = as_of(N).date().isoformat()
    text = _run(["model", "train", "--as-of", day, "--models-dir", models, "--maturity-days", "40"])
    assert "rule score" in text and "the model" in text and "too young" in text
    data = json.loads(_run(["model", "train", "--as-of", day, "--models-dir", models, "--json"]))
    assert list(data)[:4] == ["model_version", "validation", "rule_score", "lift_by_decile"]
    assert data["store"]["target"] == "customer" and len(data["lift_by_decile"]) == 10
    assert json.loads(_run(["model", "score", "--json"]))["model_version"] == data["model_version"]
    assert "contribution" in _run(["model", "explain", "--contact", "3"])


def _run(args: list[str]) -> str:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(args)
    assert code == 0, buffer.getvalue()
    return buffer.getvalue()


def test_playbook_criteria_can_read_the_probability(trained: Runtime) -> None:
    from funnelbridge.rules.ast import parse_condition
    from funnelbridge.rules.facts import load_lead_facts
    from funnelbridge.rules.python import compile_predicate

    score_all_with_model(trained)
    stored = _stored(trained.db)
    cutoff = sorted(p for p, _, _ in stored.values() if p is not None)[len(stored) // 2]
    criteria = compile_predicate(parse_condition({"all": [
        {"field": "score.fit_grade", "op": "in", "value": ["A", "B", "C", "D"]},
        {"field": "score.probability", "op": "gte", "value": cutoff},
    ]}))  # fmt: skip
    with trained.db.read() as conn:
        held = {cid for cid in stored if criteria(load_lead_facts(conn, cid, trained.clock.now()))}
    assert held == {cid for cid, (p, _, _) in stored.items() if p is not None and p >= cutoff}


def test_activity_flow_scores_with_the_active_model(trained: Runtime) -> None:
    from funnelbridge.flow import after_activity

    lead = SCORED + 5
    with trained.db.transaction() as conn:
        after_activity(trained, conn, [lead])
        expected = model_score_contact(trained, conn, lead)
    probability, version, _ = _stored(trained.db)[lead]
    assert expected is not None and probability == pytest.approx(expected)
    with trained.db.read() as conn:
        active = active_model(conn)
    assert active is not None and version is not None

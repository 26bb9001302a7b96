"""Store-based predictive scoring: decision times, no leakage from the future, refusals, training and the
registry row, on a synthetic history inserted as rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from store_helpers import T0, as_of, b2b, build_history

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.errors import InputError, ModelError
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.predictive.store_features import decision_stage, decision_time, training_table
from funnelbridge.scoring.predictive.store_history import load_history
from funnelbridge.scoring.predictive.store_train import rule_scorer, store_report_json, train_from_store
from funnelbridge.store import Database
from funnelbridge.store.tables import events, model_versions


def _table(db: Database, n: int, maturity: float = 30.0, at: datetime | None = None):  # type: ignore[no-untyped-def]
    pb = b2b()
    with db.read() as conn:
        history = load_history(conn, at or as_of(n), "main")
    return history, training_table(history, pb, "customer", maturity, rule_scorer(pb))


def test_decision_time_is_mql_entry_or_identification(db: Database) -> None:
    leads = build_history(db, 40)
    history, _ = _table(db, 40)
    stage = decision_stage(b2b().main)
    assert stage == "mql"
    for lead, generated in zip(history.leads, leads, strict=True):
        expected = generated["identified"] + timedelta(days=5) if "mql" in lead.entries else generated["identified"]
        assert decision_time(lead, stage) == expected


def test_outcome_and_immature_leads(db: Database) -> None:
    leads = build_history(db, 120)
    _, table = _table(db, 120)
    cutoff = as_of(120) - timedelta(days=30)
    stage = decision_stage(b2b().main)
    history, _ = _table(db, 120)
    mature = [le for le in history.leads if decision_time(le, stage) <= cutoff]
    assert len(table.frame) == len(mature) and table.n_immature == 120 - len(mature)
    won = {str(g["i"] + 1) for g in leads if g["won"]}
    assert set(table.frame.loc[table.frame["outcome"] == "1", "contact_id"]) == won & set(table.frame["contact_id"])


def test_features_ignore_events_after_the_decision_time(db: Database) -> None:
    build_history(db, 60)
    end = T0 + timedelta(days=100)
    _, before = _table(db, 60, at=end)
    late = T0 + timedelta(days=1)  # lead 1 (identified at T0) decided at T0 or T0+5d; add events long after
    with db.transaction() as conn:
        rows = [
            {"idempotency_key": f"late-{k}", "contact_id": 1, "type": "webinar_attended",
             "occurred_at": late + timedelta(days=30 + k), "received_at": late, "properties": {}}
            for k in range(5)
        ]  # fmt: skip
        conn.execute(events.insert(), rows)
    _, after = _table(db, 60, at=end)
    a = before.frame.set_index("contact_id").loc["1"]
    b = after.frame.set_index("contact_id").loc["1"]
    assert a.drop("decision_at").equals(b.drop("decision_at"))


def test_target_must_follow_the_decision_stage(sqlite_db: Database) -> None:
    pb = b2b()
    with sqlite_db.read() as conn:
        history = load_history(conn, as_of(1), "main")
    with pytest.raises(InputError, match="must come after"):
        training_table(history, pb, "lead", 30, rule_scorer(pb))
    with pytest.raises(InputError, match="unknown target stage"):
        training_table(history, pb, "champion", 30, rule_scorer(pb))


def _runtime(db: Database, n: int) -> Runtime:
    return Runtime(db=db, playbook=b2b(), clock=FrozenClock(as_of(n)))


def test_too_little_history_is_refused_with_what_is_needed(sqlite_db: Database, tmp_path: Path) -> None:
    build_history(sqlite_db, 80)
    with pytest.raises(ModelError, match=r"too little history.*need at least 200"):
        train_from_store(_runtime(sqlite_db, 80), models_dir=tmp_path)
    with pytest.raises(ModelError, match="no lead with a mature outcome"):
        train_from_store(_runtime(sqlite_db, 80), as_of=T0, models_dir=tmp_path)


def test_one_class_is_refused(sqlite_db: Database, tmp_path: Path) -> None:
    build_history(sqlite_db, 300)
    with pytest.raises(ModelError, match="one class only"):
        train_from_store(_runtime(sqlite_db, 300), target="evangelist", models_dir=tmp_path)


def test_train_from_store_compares_with_the_rule_score_and_activates(db: Database, tmp_path: Path) -> None:
    build_history(db, 600)
    out = train_from_store(_runtime(db, 600), models_dir=tmp_path)
    data = store_report_json(out.report, out.store)
    assert list(data)[:4] == ["model_version", "validation", "rule_score", "lift_by_decile"]
    assert set(data["validation"]) == {"roc_auc", "pr_auc", "log_loss", "n_train", "n_validation"}
    assert data["rule_score"]["n_validation"] == data["validation"]["n_validation"]
    assert data["validation"]["roc_auc"] > 0.65 and data["rule_score"]["roc_auc"] > 0.6
    assert data["store"]["decision_stage"] == "mql" and data["store"]["n_immature"] > 0
    assert "rule_score" not in out.report.features and "contact_id" not in out.report.features
    assert {"rule_total", "rule_fit", "rule_engagement", "rule_grade", "tech_hubspot"} <= set(out.report.features)
    base = out.saved.trained.model.base
    assert base is not None and base.columns == ("rule_total", "reached_decision_stage")
    assert base.coef[0] > 0  # more rule points, more buyers: the model starts from the rule score
    comparison = data["comparison"]
    assert comparison["verdict"] in {"better", "worse", "no clear difference"}
    assert comparison["ci_low"] <= comparison["difference"] <= comparison["ci_high"]
    assert comparison["difference"] == pytest.approx(data["validation"]["roc_auc"] - data["rule_score"]["roc_auc"])
    with db.read() as conn:
        rows = conn.execute(select(model_versions)).all()
    assert [(r.version, r.active, r.target) for r in rows] == [(out.saved.version, True, "customer")]
    assert (out.saved.path / "store.json").is_file()

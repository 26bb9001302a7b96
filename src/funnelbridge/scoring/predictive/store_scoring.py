"""Scoring leads with the active predictive model, stored beside the rule score (``scores.probability`` and
``scores.model_version`` of the ``main`` row), in batch or for one lead, and explaining one lead's probability.

The *active* model is the ``model_versions`` row marked active (``model train`` from the store activates the
model it saves). A lead is scored with its features **now** — the same features the model learned from at each
lead's decision time, counted back from the present instead; the rule-score features are the current playbook's
score of the lead now. Leads without a stored rule score row are not given a probability (the rule scorer
creates the row; run it first) and are counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, bindparam, select, update

from funnelbridge.errors import ModelError, NotFoundError
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.predictive.explain import Explanation, explain
from funnelbridge.scoring.predictive.registry import SavedModel, load_model
from funnelbridge.scoring.predictive.store_features import ID, TIME, FeatureSpec, decision_stage, lead_features
from funnelbridge.scoring.predictive.store_history import History, LeadHistory, load_history
from funnelbridge.scoring.predictive.store_train import STORE_SPEC_FILE
from funnelbridge.scoring.predictive.train import predict_proba
from funnelbridge.scoring.rules_engine import score_facts
from funnelbridge.store.tables import model_versions, scores

__all__ = [
    "ModelScoreSummary",
    "StoreModel",
    "active_model",
    "explain_lead",
    "model_score_contact",
    "model_score_contacts",
    "score_all_with_model",
]

Progress = Callable[[int, int], None]
_CACHE: dict[str, StoreModel] = {}


@dataclass(frozen=True)
class StoreModel:
    """A saved model trained from the store, with the feature spec it needs."""

    saved: SavedModel
    spec: FeatureSpec
    target: str

    @property
    def version(self) -> str:
        return self.saved.version


@dataclass(frozen=True)
class ModelScoreSummary:
    """What a batch scoring did."""

    model_version: str
    scored: int
    without_rule_score: int
    mean_probability: float | None


def _load(path: Path) -> StoreModel:
    key = str(path)
    if key not in _CACHE:
        spec_file = path / STORE_SPEC_FILE
        if not spec_file.is_file():
            raise ModelError(f"model at {path} was not trained from the store; train with `funnelbridge model train`")
        data = json.loads(spec_file.read_text(encoding="utf-8"))
        saved = load_model(path.parent, path.name)
        _CACHE[key] = StoreModel(saved, FeatureSpec.from_dict(data["spec"]), str(data["store"]["target"]))
    return _CACHE[key]


def active_model(conn: Connection, version: str | None = None) -> StoreModel | None:
    """The active model (or the recorded ``version``), or None when no model is recorded."""
    mv = model_versions.c
    query = select(mv.version, mv.path).where(mv.version == version if version else mv.active.is_(True))
    row = conn.execute(query).first()
    if row is None:
        if version:
            raise NotFoundError(f"no recorded model version {version!r}")
        return None
    return _load(Path(row.path))


def _row(model: StoreModel, lead: LeadHistory, at: datetime, playbook: Playbook) -> dict[str, Any]:
    """The model's input row of ``lead`` at ``at`` (with the playbook's rule score then, when the model uses it)."""
    rule = score_facts(playbook, lead.facts_at(at), contact_id=lead.contact_id)[0] if model.spec.rule_features else None
    stage = decision_stage(playbook.main)
    return {ID: str(lead.contact_id), TIME: at, **lead_features(lead, at, model.spec, stage, rule)}


def _probabilities(model: StoreModel, history: History, at: datetime, playbook: Playbook) -> dict[int, float]:
    if not history.leads:
        return {}
    rows = [_row(model, le, at, playbook) for le in history.leads]
    proba = predict_proba(model.saved.trained, pd.DataFrame(rows))
    return {le.contact_id: float(p) for le, p in zip(history.leads, proba, strict=True)}


def _scored_ids(conn: Connection, ids: Sequence[int] | None) -> set[int]:
    s = scores.c
    query = select(s.contact_id).where(s.score_group == "main")
    if ids is not None:
        query = query.where(s.contact_id.in_(list(ids)))
    return {int(r[0]) for r in conn.execute(query)}


def _store(conn: Connection, version: str, probabilities: dict[int, float]) -> None:
    if not probabilities:
        return
    s = scores.c
    stmt = (
        update(scores)
        .where(and_(s.contact_id == bindparam("cid"), s.score_group == "main"))
        .values(probability=bindparam("p"), model_version=version)
    )
    conn.execute(stmt, [{"cid": cid, "p": p} for cid, p in probabilities.items()])


def _score(rt: Runtime, conn: Connection, model: StoreModel, ids: Sequence[int] | None) -> tuple[dict[int, float], int]:
    at = rt.clock.now()
    history = load_history(conn, at, rt.playbook.main_name, ids)
    with_rule = _scored_ids(conn, ids)
    probabilities = _probabilities(model, history, at, rt.playbook)
    kept = {cid: p for cid, p in probabilities.items() if cid in with_rule}
    _store(conn, model.version, kept)
    return kept, len(probabilities) - len(kept)


def score_all_with_model(rt: Runtime, version: str | None = None) -> ModelScoreSummary:
    """Score every lead with the active model (or ``version``) and store the probabilities (own transaction)."""
    with rt.db.transaction() as conn:
        model = active_model(conn, version)
        if model is None:
            raise NotFoundError("no active model; train one with `funnelbridge model train`")
        kept, missing = _score(rt, conn, model, None)
    mean = sum(kept.values()) / len(kept) if kept else None
    return ModelScoreSummary(model.version, len(kept), missing, mean)


def model_score_contact(rt: Runtime, conn: Connection, contact_id: int) -> float | None:
    """The hook for the incremental path: score one lead with the active model, in the caller's transaction.

    Call it after the lead's rule score row is stored. Returns the probability, or None when no model is active
    (or the lead is not identified yet).
    """
    model = active_model(conn)
    if model is None:
        return None
    kept, _ = _score(rt, conn, model, [contact_id])
    return kept.get(contact_id)


def model_score_contacts(rt: Runtime, conn: Connection, contact_ids: Sequence[int]) -> dict[int, float]:
    """:func:`model_score_contact` for a batch of leads (the model is loaded once)."""
    model = active_model(conn)
    if model is None or not contact_ids:
        return {}
    kept, _ = _score(rt, conn, model, list(contact_ids))
    return kept


def explain_lead(rt: Runtime, contact_id: int, version: str | None = None, top: int = 5) -> Explanation:
    """A lead's probability now under the active model (or ``version``) and its top contributing features."""
    at = rt.clock.now()
    with rt.db.read() as conn:
        model = active_model(conn, version)
        history = load_history(conn, at, rt.playbook.main_name, [contact_id])
    if model is None:
        raise NotFoundError("no active model; train one with `funnelbridge model train`")
    if not history.leads:
        raise NotFoundError(f"contact {contact_id} is not an identified lead")
    lead = history.leads[0]
    return explain(model.saved.trained, pd.DataFrame([_row(model, lead, at, rt.playbook)]), top)[0]

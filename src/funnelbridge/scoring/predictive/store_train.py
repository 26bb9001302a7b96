"""Train the predictive model from the store: features at each lead's decision time, a later-time validation,
and the playbook's rule score recomputed at the same decision times on the same validation leads.

The table comes from :mod:`~funnelbridge.scoring.predictive.store_features`; training, calibration, validation
and the refusals on thin history are those of :func:`~funnelbridge.scoring.predictive.train.train` (time mode:
the latest 25 % of decision times validate). The saved model directory gets one more file, ``store.json``
(target, decision stage, feature spec), and the ``model_versions`` table a row, which becomes the active model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, select, update

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import ModelError
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.predictive.registry import DEFAULT_MODELS_DIR, SavedModel, save_model
from funnelbridge.scoring.predictive.report import TrainingReport, report_to_json
from funnelbridge.scoring.predictive.split import MIN_PER_CLASS, MIN_ROWS, check_history
from funnelbridge.scoring.predictive.store_features import (
    ID,
    MIN_HORIZON_DAYS,
    RULE,
    TARGET,
    TIME,
    TrainingTable,
    training_table,
)
from funnelbridge.scoring.predictive.store_history import History, LeadHistory, load_history
from funnelbridge.scoring.predictive.train import TrainConfig, train
from funnelbridge.scoring.results import GroupScore
from funnelbridge.scoring.rules_engine import score_facts
from funnelbridge.store.tables import model_versions

__all__ = [
    "DEFAULT_MATURITY_DAYS",
    "STORE_SPEC_FILE",
    "StoreSummary",
    "StoreTrainOutcome",
    "activate_model",
    "store_report_json",
    "train_from_store",
]

DEFAULT_MATURITY_DAYS = MIN_HORIZON_DAYS
BASE = ("rule_total", "reached_decision_stage")
"""The booster starts from a logistic regression on these (see ``base_margin``): the rule score and the handoff."""
STORE_SPEC_FILE = "store.json"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StoreSummary:
    """How the store's leads became training rows."""

    target: str
    decision_stage: str
    as_of: str
    last_activity: str
    maturity_days: float
    n_leads: int
    n_rows: int
    n_immature: int
    n_converted_before_decision: int
    n_changed_after_decision: int


@dataclass(frozen=True)
class StoreTrainOutcome:
    """The saved, activated model, its report and the store summary."""

    saved: SavedModel
    report: TrainingReport
    store: StoreSummary


def rule_scorer(playbook: Playbook) -> Callable[[LeadHistory, datetime], GroupScore]:
    """The playbook's main rule score of a lead at a past moment (its ``total`` is the points compared)."""

    def score(lead: LeadHistory, at: datetime) -> GroupScore:
        return score_facts(playbook, lead.facts_at(at), contact_id=lead.contact_id)[0]

    return score


def _summary(table: TrainingTable, history: History) -> StoreSummary:
    return StoreSummary(
        table.target, table.decision_stage, history.as_of.isoformat(), history.last_activity.isoformat(),
        table.horizon_days, table.n_leads, len(table.frame), table.n_immature, table.n_converted_before_decision,
        table.n_changed_after_decision,
    )  # fmt: skip


def store_report_json(report: TrainingReport, store: StoreSummary) -> dict[str, Any]:
    """The ``--json`` object of ``model train`` from the store: the documented keys, details, then ``store``."""
    return {**report_to_json(report), "store": asdict(store)}


def activate_model(
    conn: Connection, version: str, target: str, path: Path, metrics: dict[str, Any], at: datetime
) -> None:
    """Record a model version (once) and make it the only active one."""
    conn.execute(update(model_versions).where(model_versions.c.active.is_(True)).values(active=False))
    known = conn.execute(select(model_versions.c.version).where(model_versions.c.version == version)).first()
    if known is None:
        values = {"version": version, "target": target, "created_at": at, "metrics": metrics, "path": str(path)}
        conn.execute(model_versions.insert().values(**values, active=True))
    else:
        conn.execute(update(model_versions).where(model_versions.c.version == version).values(active=True))


def train_from_store(
    rt: Runtime,
    target: str = "customer",
    as_of: datetime | None = None,
    models_dir: Path = DEFAULT_MODELS_DIR,
    maturity_days: float | None = None,
    progress: Progress | None = None,
) -> StoreTrainOutcome:
    """Build the training table from the store, train, save, activate; refuse thin or one-class history.

    ``maturity_days`` is the outcome horizon (see :mod:`~funnelbridge.scoring.predictive.store_features`); None
    chooses it from the observed decision-to-target times."""
    say = progress or (lambda _msg: None)
    at = as_utc(as_of) if as_of is not None else rt.clock.now()
    say("reading the store's history")
    with rt.db.read() as conn:
        history = load_history(conn, at, rt.playbook.main_name)
    say(f"building features of {len(history.leads)} leads at their decision times")
    table = training_table(history, rt.playbook, target, maturity_days, rule_scorer(rt.playbook))
    config = TrainConfig(
        target=TARGET, time_column=TIME, id_column=ID, rule_score_column=RULE, positive_label="1", base_columns=BASE
    )
    _check_outcomes(table)
    result = train(table.frame, config, say)
    store = _summary(table, history)
    saved = save_model(result.trained, result.report, models_dir)
    spec = {"source": "store", "spec": table.spec.to_dict(), "store": asdict(store)}
    (saved.path / STORE_SPEC_FILE).write_text(json.dumps(spec, indent=2), encoding="utf-8")
    coding = replace(result.report.target, column=f"reached {target}", positive="1", negative="0")
    report = replace(result.report, model_version=saved.version, target=coding)
    with rt.db.transaction() as conn:
        metrics = report_to_json(report)
        head = {k: metrics[k] for k in ("validation", "rule_score", "expected_calibration_error")}
        activate_model(conn, saved.version, target, saved.path.resolve(), head, rt.clock.now())
    return StoreTrainOutcome(saved, report, store)


def _check_outcomes(table: TrainingTable) -> None:
    """Refuse before training when the mature leads are too few or all of one class."""
    y = (table.frame[TARGET] == "1").to_numpy(dtype=float) if len(table.frame) else np.zeros(0)
    aside = f" ({table.n_immature} leads decided too recently to judge were left out)" if table.n_immature else ""
    if len(y) == 0:
        need = f"need at least {MIN_ROWS} leads with an outcome, at least {MIN_PER_CLASS} of each class"
        raise ModelError(f"too little history: no lead with a mature outcome{aside}; {need}")
    try:
        check_history(y, f"reached {table.target}", f"did not reach {table.target}")
    except ModelError as exc:
        raise ModelError(f"{exc}{aside}") from None

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from predictive_helpers import as_text, synthetic_leads

from funnelbridge.errors import InputError, ModelError
from funnelbridge.scoring.predictive.features import parse_times
from funnelbridge.scoring.predictive.model import Backend
from funnelbridge.scoring.predictive.train import TrainConfig, predict_proba, train

CONFIG = TrainConfig("outcome", id_column="lead_id", rule_score_column="rule_score")


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return as_text(synthetic_leads(1200))


def test_known_signal_beats_a_noisy_rule_score(leads: pd.DataFrame) -> None:
    report = train(leads, CONFIG).report
    # the true logit reaches AUC ≈ 0.82 on this data; the rule score (visits + noise) ≈ 0.61
    assert report.validation.roc_auc is not None and report.validation.roc_auc > 0.75
    assert report.rule_score is not None and report.rule_score.roc_auc is not None
    assert report.validation.roc_auc > report.rule_score.roc_auc + 0.1
    assert report.rule_score.log_loss is None  # points, not probabilities
    assert report.rule_score.n_validation == report.validation.n_validation == 300
    assert report.validation.n_train == 900
    assert report.split.mode == "stratified_random" and report.split.seed == 42
    assert "email" in {d.name for d in report.dropped_columns}
    assert "visits" in report.features and "rule_score" not in report.features


def test_time_split_validates_on_the_latest_quarter(leads: pd.DataFrame) -> None:
    messy = leads.copy()
    messy.loc[[3, 7], "created"] = ["not a date", ""]
    report = train(messy, TrainConfig("outcome", time_column="created", id_column="lead_id")).report
    split = report.split
    assert split.mode == "time" and split.n_unparseable_time == 2
    assert split.n_fit + split.n_calibration + split.n_validation == 1198
    assert split.n_validation == 300
    times = parse_times(messy["created"]).dropna().sort_values()
    assert split.validation_from == times.iloc[-300].isoformat()
    assert "created:month" not in report.features and "created:hour" in report.features


def test_sklearn_fallback_trains_and_scores(leads: pd.DataFrame) -> None:
    result = train(leads, TrainConfig("outcome", id_column="lead_id", backend=Backend.SKLEARN))
    assert result.report.backend == "sklearn"
    assert (result.report.validation.roc_auc or 0) > 0.75
    p = predict_proba(result.trained, leads.head(50))
    assert p.shape == (50,) and np.all((p > 0) & (p < 1))


def test_training_is_deterministic(leads: pd.DataFrame) -> None:
    first, second = train(leads, CONFIG), train(leads, CONFIG)
    assert first.report == second.report
    np.testing.assert_array_equal(predict_proba(first.trained, leads), predict_proba(second.trained, leads))


def test_small_calibration_set_uses_sigmoid_large_uses_isotonic(leads: pd.DataFrame) -> None:
    assert train(leads, CONFIG).report.calibration_method == "sigmoid"
    big = as_text(synthetic_leads(8000, seed=1, positive_rate_shift=1.0))
    assert train(big, CONFIG).report.calibration_method == "isotonic"


def test_blank_outcomes_are_set_aside(leads: pd.DataFrame) -> None:
    partial = leads.copy()
    partial.loc[:99, "outcome"] = ""
    report = train(partial, CONFIG).report
    assert report.target.n_blank == 100 and report.split.n_blank_target == 100
    assert report.validation.n_train + report.validation.n_validation == 1100


def test_refuses_too_few_rows(leads: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"199 rows have an outcome; need at least 200 rows"):
        train(leads.head(199), CONFIG)


def test_refuses_one_class_only(leads: pd.DataFrame) -> None:
    same = leads.assign(outcome="won")
    with pytest.raises(ModelError, match=r"all 1200 outcomes are 'won' \(one class only\); need at least 200"):
        train(same, CONFIG)


def test_refuses_too_few_positives(leads: pd.DataFrame) -> None:
    few = leads.assign(outcome=["won" if i < 20 else "lost" for i in range(len(leads))])
    with pytest.raises(ModelError, match=r"20 'won' and 1180 'lost' outcomes; .*at least 30 of each class"):
        train(few, CONFIG)


def test_refuses_a_one_class_validation_slice(leads: pd.DataFrame) -> None:
    early_wins = leads.assign(outcome=["won" if i < 100 else "lost" for i in range(len(leads))])
    config = TrainConfig("outcome", time_column="created")
    with pytest.raises(ModelError, match=r"validation slice \(300 rows\) has outcomes of one class only"):
        train(early_wins, config)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TrainConfig("nope"), "--target 'nope' is not a column"),
        (TrainConfig("outcome", time_column="when"), "--time-column 'when' is not a column"),
        (TrainConfig("outcome", time_column="segment"), "segment: no value could be read as a date/time"),
        (TrainConfig("segment"), "5 distinct values"),
        (TrainConfig("outcome", rule_score_column="segment"), "rule score column has no numeric value"),
    ],
)
def test_bad_input_is_an_input_error(leads: pd.DataFrame, config: TrainConfig, message: str) -> None:
    with pytest.raises(InputError, match=message):
        train(leads, config)


def test_falls_back_to_sklearn_without_lightgbm(monkeypatch: pytest.MonkeyPatch, leads: pd.DataFrame) -> None:
    import importlib.util

    from funnelbridge.scoring.predictive import model

    real = importlib.util.find_spec
    monkeypatch.setattr(model.importlib.util, "find_spec", lambda name: None if name == "lightgbm" else real(name))
    assert model.available_backend() is Backend.SKLEARN
    assert train(leads, TrainConfig("outcome")).report.backend == "sklearn"

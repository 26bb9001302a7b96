from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from predictive_helpers import as_text, synthetic_leads

from funnelbridge.errors import NotFoundError
from funnelbridge.scoring.predictive.model import Backend
from funnelbridge.scoring.predictive.registry import list_versions, load_model, save_model
from funnelbridge.scoring.predictive.train import TrainConfig, TrainResult, predict_proba, train


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return as_text(synthetic_leads(800))


@pytest.fixture(scope="module")
def result(leads: pd.DataFrame) -> TrainResult:
    return train(leads, TrainConfig("outcome", id_column="lead_id"))


def test_round_trip_scores_identically(tmp_path: Path, leads: pd.DataFrame, result: TrainResult) -> None:
    saved = save_model(result.trained, result.report, tmp_path)
    assert saved.version.startswith("m-") and len(saved.version) == 14
    assert sorted(p.name for p in saved.path.iterdir()) == [
        "calibrator.json",
        "metadata.json",
        "model.txt",
        "plan.json",
    ]
    loaded = load_model(tmp_path, saved.version[:6])
    assert loaded.trained.plan == result.trained.plan and loaded.trained.target == result.trained.target
    np.testing.assert_array_equal(predict_proba(loaded.trained, leads), predict_proba(result.trained, leads))


def test_a_base_margin_is_saved_and_changes_the_version(
    tmp_path: Path, leads: pd.DataFrame, result: TrainResult
) -> None:
    boosted = train(leads, TrainConfig("outcome", id_column="lead_id", base_columns=("visits",))).trained
    saved = save_model(boosted, result.report, tmp_path)
    assert (saved.path / "base_margin.json").is_file()
    assert saved.version != save_model(result.trained, result.report, tmp_path).version
    loaded = load_model(tmp_path, saved.version).trained
    assert loaded.model.base == boosted.model.base
    np.testing.assert_array_equal(predict_proba(loaded, leads), predict_proba(boosted, leads))


def test_metadata_records_target_features_metrics_libraries(tmp_path: Path, result: TrainResult) -> None:
    saved = save_model(result.trained, result.report, tmp_path)
    meta = json.loads((saved.path / "metadata.json").read_text())
    assert meta["version"] == saved.version and meta["target"]["positive"] == "won"
    assert meta["features"] == list(result.trained.plan.feature_names)
    assert meta["report"]["model_version"] == saved.version
    assert meta["report"]["validation"]["roc_auc"] == result.report.validation.roc_auc
    assert {"python", "lightgbm", "scikit-learn", "numpy", "pandas"} <= meta["libraries"].keys()
    assert meta["created_at"].endswith("+00:00")


def test_same_model_same_version(tmp_path: Path, leads: pd.DataFrame, result: TrainResult) -> None:
    again = train(leads, TrainConfig("outcome", id_column="lead_id"))
    first = save_model(result.trained, result.report, tmp_path / "a")
    second = save_model(again.trained, again.report, tmp_path / "b")
    assert first.version == second.version


def test_latest_and_listing(tmp_path: Path, leads: pd.DataFrame, result: TrainResult) -> None:
    first = save_model(result.trained, result.report, tmp_path)
    other = train(leads, TrainConfig("outcome", id_column="lead_id", backend=Backend.SKLEARN))
    second = save_model(other.trained, other.report, tmp_path)
    assert second.version != first.version
    assert load_model(tmp_path).version == second.version
    assert load_model(tmp_path, "latest").trained.model.backend is Backend.SKLEARN
    assert set(list_versions(tmp_path)) == {first.version, second.version}
    sk = load_model(tmp_path, second.version)
    np.testing.assert_allclose(predict_proba(sk.trained, leads), predict_proba(other.trained, leads))


def test_unknown_version_and_empty_directory(tmp_path: Path, result: TrainResult) -> None:
    with pytest.raises(NotFoundError, match="no saved model"):
        load_model(tmp_path)
    save_model(result.trained, result.report, tmp_path)
    with pytest.raises(NotFoundError, match="no model matching version 'm-zzz'"):
        load_model(tmp_path, "m-zzz")

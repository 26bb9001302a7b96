from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from predictive_helpers import as_text, synthetic_leads

from funnelbridge.scoring.predictive.explain import contributions, explain
from funnelbridge.scoring.predictive.features import transform
from funnelbridge.scoring.predictive.model import Backend, raw_score
from funnelbridge.scoring.predictive.train import TrainConfig, predict_proba, train


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return as_text(synthetic_leads(800))


def test_lightgbm_contributions_sum_to_the_raw_score(leads: pd.DataFrame) -> None:
    trained = train(leads, TrainConfig("outcome", id_column="lead_id")).trained
    x = transform(trained.plan, leads)
    contrib = contributions(trained.model, x)
    assert contrib.method == "treeshap" and contrib.values.shape == (len(leads), x.shape[1])
    np.testing.assert_allclose(contrib.values.sum(axis=1) + contrib.base, raw_score(trained.model, x), atol=1e-9)


def test_explanations_name_top_features_by_strength(leads: pd.DataFrame) -> None:
    trained = train(leads, TrainConfig("outcome", id_column="lead_id")).trained
    items = explain(trained, leads.head(20), top=3)
    assert [e.row_id for e in items] == leads["lead_id"].head(20).tolist()
    np.testing.assert_allclose([e.probability for e in items], predict_proba(trained, leads.head(20)))
    for item in items:
        strengths = [abs(c.contribution) for c in item.top]
        assert len(item.top) == 3 and strengths == sorted(strengths, reverse=True)
    # visits drives the outcome: it is among the top reasons for most leads
    assert sum(any(c.feature == "visits" for c in e.top) for e in items) >= 15
    blank = next(e for e in items if any(c.feature == "is_partner" and c.value == "blank" for c in e.top))
    assert blank is not None


def test_sklearn_fallback_uses_occlusion(leads: pd.DataFrame) -> None:
    trained = train(leads, TrainConfig("outcome", backend=Backend.SKLEARN)).trained
    items = explain(trained, leads.head(5))
    assert all(e.method == "occlusion" and e.row_id is None for e in items)
    assert [e.row for e in items] == [1, 2, 3, 4, 5]
    x = transform(trained.plan, leads.head(5))
    contrib = contributions(trained.model, x)
    assert np.isfinite(contrib.values).all() and np.all(contrib.base == contrib.base[0])


def test_contributions_of_a_model_boosted_from_a_base_margin_still_sum_to_the_raw_score(leads: pd.DataFrame) -> None:
    config = TrainConfig("outcome", id_column="lead_id", base_columns=("visits", "not_a_column"))
    trained = train(leads, config).trained
    assert trained.model.base is not None and trained.model.base.columns == ("visits",)
    x = transform(trained.plan, leads)
    contrib = contributions(trained.model, x)
    np.testing.assert_allclose(contrib.values.sum(axis=1) + contrib.base, raw_score(trained.model, x), atol=1e-9)
    booster_only = trained.model.estimator.predict(x, raw_score=True)
    np.testing.assert_allclose(raw_score(trained.model, x) - booster_only, trained.model.base.margin(x), atol=1e-12)

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from predictive_helpers import as_text, synthetic_leads

from funnelbridge.errors import InputError
from funnelbridge.scoring.predictive.features import (
    BLANK,
    OTHER,
    FeaturePlan,
    Kind,
    PlanOptions,
    fit_plan,
    parse_times,
    transform,
)


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return as_text(synthetic_leads(400))


def _kinds(plan: FeaturePlan) -> dict[str, Kind]:
    return {col.name: col.kind for col in plan.columns}


def test_kinds_are_inferred_from_text(leads: pd.DataFrame) -> None:
    plan = fit_plan(leads, {"outcome": "target", "lead_id": "id column"})
    assert _kinds(plan) == {
        "created": Kind.DATETIME,
        "segment": Kind.CATEGORICAL,
        "country": Kind.CATEGORICAL,
        "visits": Kind.NUMERIC,
        "employees": Kind.NUMERIC,
        "is_partner": Kind.BOOLEAN,
        "rule_score": Kind.NUMERIC,
    }
    reasons = {d.name: d.reason for d in plan.dropped}
    assert reasons["outcome"] == "target" and reasons["lead_id"] == "id column"
    assert reasons["email"].startswith("ID-like: 400 distinct values in 400 rows")


def test_native_dtypes_are_respected() -> None:
    frame = pd.DataFrame(
        {
            "n": [1.5, np.nan, 3.0, 4.0],
            "b": [True, False, True, False],
            "t": pd.to_datetime(["2024-01-01 10:00", "2024-02-01 00:00", "2024-03-05 00:00", "2024-03-06 00:00"]),
            "const": ["x"] * 4,
            "empty": [np.nan] * 4,
        }
    )
    plan = fit_plan(frame)
    assert _kinds(plan) == {"n": Kind.NUMERIC, "b": Kind.BOOLEAN, "t": Kind.DATETIME}
    assert {d.name for d in plan.dropped} == {"const", "empty"}
    x = transform(plan, frame)
    assert x["b"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert np.isnan(x["n"].iloc[1])


def test_datetime_parts_not_absolute_time(leads: pd.DataFrame) -> None:
    plan = fit_plan(leads[["created", "visits"]])
    assert plan.feature_names == ("created:hour", "created:dayofweek", "created:month", "visits")
    as_time_column = fit_plan(leads[["created", "visits"]], time_column="created")
    assert as_time_column.feature_names == ("created:hour", "created:dayofweek", "visits")
    dates_only = fit_plan(pd.DataFrame({"d": ["2024-01-01", "2024-02-03", "2024/03/04"] * 5}))
    assert dates_only.feature_names == ("d:dayofweek", "d:month")


def test_mixed_date_formats_parse_and_garbage_is_nat() -> None:
    times = parse_times(pd.Series(["2024-03-01 10:00", "01 Mar 2024", "2024/03/01", "soon", ""]))
    assert times.iloc[:3].dt.day.tolist() == [1, 1, 1]
    assert times.iloc[3:].isna().all()


def test_rare_levels_fold_into_other_and_blanks_into_blank() -> None:
    values = ["a"] * 20 + ["b"] * 12 + ["rare"] * 3 + [""] * 5
    frame = pd.DataFrame({"c": values, "x": np.arange(40.0)})
    plan = fit_plan(frame)
    assert plan.columns[0].levels == ("a", "b")
    x = transform(plan, pd.DataFrame({"c": ["a", "rare", "", "never seen"], "x": [1.0, 2.0, 3.0, 4.0]}))
    assert x["c"].tolist() == ["a", OTHER, BLANK, OTHER]
    assert list(x["c"].cat.categories) == ["a", "b", OTHER, BLANK]


def test_level_cap_keeps_the_most_frequent() -> None:
    values = [f"v{i}" for i in range(6) for _ in range(20 + i)]
    plan = fit_plan(pd.DataFrame({"c": values}), options=PlanOptions(max_levels=2))
    assert plan.columns[0].levels == ("v5", "v4")


def test_plan_round_trips_and_gives_identical_matrix(leads: pd.DataFrame) -> None:
    plan = fit_plan(leads.iloc[:300], {"outcome": "target"})
    again = FeaturePlan.from_dict(plan.to_dict())
    assert again == plan
    new_rows = leads.iloc[300:]
    pd.testing.assert_frame_equal(transform(plan, new_rows), transform(again, new_rows))


def test_matrix_names_are_safe_and_unique() -> None:
    frame = pd.DataFrame({"a b": np.arange(30.0), "a:b": np.arange(30.0) % 7, "é": np.arange(30.0) % 3})
    names = fit_plan(frame).matrix_columns
    assert len(set(names)) == 3
    assert all(re.fullmatch(r"[0-9A-Za-z_]+", name) for name in names)


def test_missing_column_in_new_rows_is_an_input_error(leads: pd.DataFrame) -> None:
    plan = fit_plan(leads, {"outcome": "target"})
    with pytest.raises(InputError, match="missing: segment"):
        transform(plan, leads.drop(columns="segment"))


def test_integer_ids_are_dropped_but_measurements_kept() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "record": np.arange(1000, 1100),
            "record_text": [str(i) for i in range(100)],
            "revenue": rng.lognormal(8, 1, 100),  # distinct, but not integers
            "employees": rng.integers(1, 30, 100),  # integers, but repeated
        }
    )
    plan = fit_plan(frame)
    assert plan.feature_names == ("revenue", "employees")
    assert {d.name: d.reason for d in plan.dropped} == {
        "record": "ID-like: all 100 values are distinct integers",
        "record_text": "ID-like: all 100 values are distinct integers",
    }

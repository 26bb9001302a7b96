from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from funnelbridge.errors import InputError
from funnelbridge.scoring.predictive.target import coerce_target


@pytest.mark.parametrize(
    ("values", "positive"),
    [
        ([1, 0, 1, 0], "1"),
        ([1.0, 0.0, 0.0, 0.0], "1"),
        (["TRUE", "false", "True", "False"], "true"),
        ([True, False, False, True], "true"),
        (["Yes", "no", "no", "no"], "yes"),
        (["won", "lost", "lost", "won"], "won"),
        (["lost", "open", "lost", "open"], "open"),  # the other value of a failure
        ([5, 7, 5, 5], "7"),  # two numbers: the larger
    ],
)
def test_obvious_pairs(values: list[object], positive: str) -> None:
    coding, y = coerce_target(pd.Series(values, name="t"))
    assert coding.positive == positive
    assert set(np.unique(y)) == {0.0, 1.0}


def test_non_obvious_pair_picks_rarer_value_and_says_so() -> None:
    coding, y = coerce_target(pd.Series(["gold", "silver", "silver", "silver"], name="tier"))
    assert (coding.positive, coding.negative, coding.rule) == ("gold", "silver", "less frequent value")
    assert y.tolist() == [1.0, 0.0, 0.0, 0.0]


def test_explicit_positive_label_wins() -> None:
    coding, y = coerce_target(pd.Series(["won", "lost", "lost"], name="t"), positive_label="LOST")
    assert coding.positive == "lost" and coding.rule == "given"
    assert y.tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(InputError, match="positive label 'maybe' not found"):
        coerce_target(pd.Series(["won", "lost"], name="t"), positive_label="maybe")


def test_blanks_are_set_aside_and_counted() -> None:
    coding, y = coerce_target(pd.Series(["won", "", None, " ", "lost", np.nan], name="t"))
    assert coding.n_blank == 4
    assert np.isnan(y).sum() == 4 and y[0] == 1.0 and y[4] == 0.0


def test_more_than_two_values_is_refused() -> None:
    with pytest.raises(InputError, match=r"3 distinct values .* need exactly two"):
        coerce_target(pd.Series(["a", "b", "c"], name="stage"))


def test_all_blank_is_refused() -> None:
    with pytest.raises(InputError, match="blank in every row"):
        coerce_target(pd.Series(["", ""], name="t"))

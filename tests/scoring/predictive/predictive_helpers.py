"""Synthetic lead tables with a known signal, shared by the predictive-scoring tests."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd


def synthetic_leads(n: int = 1200, seed: int = 0, positive_rate_shift: float = 0.0) -> pd.DataFrame:
    """Leads whose outcome depends on ``visits``, ``segment`` and ``is_partner``; the rule score is noisy."""
    rng = np.random.default_rng(seed)
    visits = rng.poisson(3, n).astype(float)
    segment = rng.choice(["smb", "mid", "enterprise", "public", "edu"], n, p=[0.4, 0.25, 0.15, 0.1, 0.1])
    partner = rng.choice(["yes", "no", ""], n, p=[0.3, 0.6, 0.1])
    effect = {"smb": -0.5, "mid": 0.3, "enterprise": 1.0, "public": 0.0, "edu": -1.0}
    logit = -2.0 + positive_rate_shift + 0.7 * (visits - 3) + np.vectorize(effect.get)(segment)
    logit = logit + np.where(partner == "yes", 0.8, 0.0)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    start = pd.Timestamp("2024-01-01")
    when = [start + pd.Timedelta(hours=int(h)) for h in np.sort(rng.integers(0, 24 * 365, n))]
    employees = np.where(rng.random(n) < 0.15, np.nan, rng.lognormal(4, 1, n).round())
    return pd.DataFrame(
        {
            "lead_id": [f"L{i:05d}" for i in range(n)],
            "email": [f"person{i}@example{i % 97}.com" for i in range(n)],
            "created": [
                t.strftime("%Y-%m-%d %H:%M") if i % 3 else t.strftime("%d %b %Y %H:%M") for i, t in enumerate(when)
            ],
            "segment": segment,
            "country": rng.choice([f"C{i}" for i in range(40)], n),
            "visits": visits,
            "employees": employees,
            "is_partner": partner,
            "rule_score": visits + rng.normal(0, 4, n),
            "outcome": np.where(won, "won", "lost"),
        }
    )


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as a CSV reader sees it: every column text, blanks as ``""``."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False)

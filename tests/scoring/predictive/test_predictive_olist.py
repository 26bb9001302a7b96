"""End to end on real data: the Olist marketing-funnel MQLs, with closed deals as the outcome.

The data lives outside the repository (read-only); the test builds its leads CSV in ``tmp_path``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from funnelbridge.cli import main

OLIST = Path("/work/shared/data/olist")
pytestmark = pytest.mark.skipif(
    not (OLIST / "olist_marketing_qualified_leads_dataset.csv").is_file(), reason="Olist data not available"
)


@pytest.fixture(scope="module")
def olist_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mqls = pd.read_csv(OLIST / "olist_marketing_qualified_leads_dataset.csv", dtype=str)
    deals = pd.read_csv(OLIST / "olist_closed_deals_dataset.csv", dtype=str, usecols=["mql_id", "won_date"])
    leads = mqls.merge(deals, on="mql_id", how="left", validate="one_to_one")
    leads["won"] = leads.pop("won_date").notna().astype(int)
    path = tmp_path_factory.mktemp("olist") / "olist_leads.csv"
    leads.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("time_column", ["first_contact_date", None])
def test_olist_trains_with_signal(
    olist_csv: Path, time_column: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["model", "train", "--from-csv", str(olist_csv), "--target", "won", "--id-column", "mql_id"]
    args += ["--time-column", time_column] if time_column else []
    assert main([*args, "--models-dir", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    validation = data["validation"]
    assert validation["n_train"] + validation["n_validation"] == 8000
    assert validation["n_validation"] == 2000
    assert validation["roc_auc"] > 0.6 and validation["pr_auc"] > 0.105  # base rate 842 / 8000
    assert data["lift_by_decile"][0]["lift"] > 1.3
    assert "landing_page_id" in data["features"]  # 495 pages in 8000 leads: a category, rare pages folded
    assert data["split"]["mode"] == ("time" if time_column else "stratified_random")

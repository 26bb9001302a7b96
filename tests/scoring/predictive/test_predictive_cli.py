from __future__ import annotations

import json
from pathlib import Path

import pytest
from predictive_helpers import synthetic_leads

from funnelbridge.cli import main

VALIDATION_KEYS = {"roc_auc", "pr_auc", "log_loss", "n_train", "n_validation"}


@pytest.fixture(scope="module")
def leads_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "leads.csv"
    synthetic_leads(600).to_csv(path, index=False)
    return path


def _train(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["model", "train", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_json_shape(leads_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--from-csv", str(leads_csv), "--target", "outcome", "--id-column", "lead_id"]
    args += ["--rule-score-column", "rule_score", "--models-dir", str(tmp_path), "--json"]
    code, out, _ = _train(args, capsys)
    assert code == 0
    data = json.loads(out)
    assert list(data)[:4] == ["model_version", "validation", "rule_score", "lift_by_decile"]
    assert set(data["validation"]) == VALIDATION_KEYS and set(data["rule_score"]) == VALIDATION_KEYS
    assert data["rule_score"]["n_train"] is None and data["rule_score"]["log_loss"] is None
    assert [row["decile"] for row in data["lift_by_decile"]] == list(range(1, 11))
    assert set(data["lift_by_decile"][0]) == {"decile", "n", "positives", "rate", "lift", "cumulative_capture"}
    assert len(data["calibration"]) == 10
    assert {"name": "email", "reason": "ID-like: 450 distinct values in 450 rows (100%)"} in data["dropped_columns"]
    assert (tmp_path / data["model_version"] / "model.txt").is_file()
    code, again, _ = _train(args, capsys)
    assert json.loads(again) == data  # deterministic: same version, same metrics


def test_train_without_rule_score_has_null(leads_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--from-csv", str(leads_csv), "--target", "outcome", "--time-column", "created"]
    code, out, _ = _train([*args, "--models-dir", str(tmp_path), "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["rule_score"] is None and data["split"]["mode"] == "time"


def test_train_human_report(leads_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--from-csv", str(leads_csv), "--target", "outcome", "--rule-score-column", "rule_score"]
    code, out, _ = _train([*args, "--models-dir", str(tmp_path)], capsys)
    assert code == 0
    for text in ("Validation", "rule score", "roc_auc", "Calibration", "Lift and capture by decile", "email"):
        assert text in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "outcome"], "run `funnelbridge db upgrade`"),
        (["--from-csv", "missing.csv", "--target", "outcome"], "missing.csv: file not found"),
        (["--from-csv", "{csv}"], "--target 'customer' is not a column"),
        (["--from-csv", "{csv}", "--target", "segment"], "5 distinct values"),
    ],
)
def test_train_errors_are_one_line(
    args: list[str],
    message: str,
    leads_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # without --from-csv the command opens the (empty) store of the current directory
    args = [a.replace("{csv}", str(leads_csv)) for a in args]
    code, out, err = _train([*args, "--models-dir", str(tmp_path)], capsys)
    assert code == 1 and out == ""
    assert message in err and err.startswith("error:")


def test_refusal_says_how_much_is_needed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = tmp_path / "small.csv"
    synthetic_leads(150).to_csv(small, index=False)
    code, _, err = _train(["--from-csv", str(small), "--target", "outcome", "--models-dir", str(tmp_path)], capsys)
    assert code == 1 and "need at least 200 rows with an outcome" in err


def test_unreadable_csv_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,"unterminated\n', encoding="utf-8")
    code, _, err = _train(["--from-csv", str(bad), "--target", "a", "--models-dir", str(tmp_path)], capsys)
    assert code == 1 and "cannot read as CSV" in err
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    code, _, err = _train(["--from-csv", str(empty), "--target", "a", "--models-dir", str(tmp_path)], capsys)
    assert code == 1 and "empty.csv: cannot read as CSV" in err


def test_explain_by_id(leads_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--from-csv", str(leads_csv), "--target", "outcome", "--id-column", "lead_id"]
    _train([*args, "--models-dir", str(tmp_path), "--json"], capsys)
    base = ["model", "explain", "--from-csv", str(leads_csv), "--models-dir", str(tmp_path)]
    assert main([*base, "--id", "L00007", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (item,) = data["explanations"]
    assert item["row_id"] == "L00007" and item["method"] == "treeshap" and len(item["top"]) == 5
    assert main([*base, "--id", "L00007"]) == 0
    assert "L00007: probability" in capsys.readouterr().out
    assert main([*base, "--id", "nobody"]) == 1
    assert "no row with lead_id = 'nobody'" in capsys.readouterr().err
    assert main([*base, "--model", "m-nope"]) == 1
    assert "no model matching version 'm-nope'" in capsys.readouterr().err


def test_explain_without_id_column(leads_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _train(["--from-csv", str(leads_csv), "--target", "outcome", "--models-dir", str(tmp_path), "--json"], capsys)
    base = ["model", "explain", "--from-csv", str(leads_csv), "--models-dir", str(tmp_path)]
    assert main([*base, "--limit", "3", "--top", "2", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)["explanations"]
    assert [(e["row"], e["row_id"], len(e["top"])) for e in items] == [(1, None, 2), (2, None, 2), (3, None, 2)]
    assert main([*base, "--id", "L00001"]) == 1
    assert "trained without --id-column" in capsys.readouterr().err

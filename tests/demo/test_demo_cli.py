"""`funnelbridge demo`: parses its options, runs the simulation with a progress bar and prints the report."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from funnelbridge.cli import app
from funnelbridge.cli.app import console
from funnelbridge.cli.demo import _render_report
from funnelbridge.demo.report import StageCounts


def test_demo_command_prints_summary_and_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    truth = tmp_path / "truth.csv"
    args = ["demo", "--leads", "80", "--days", "4", "--seed", "3", "--db", url, "--reset", "--no-serve"]
    result = CliRunner().invoke(app, [*args, "--ground-truth", str(truth)])
    assert result.exit_code == 0, result.output
    assert "events ingested" in result.output
    assert "visitor" in result.output
    assert str(truth) in result.output.replace("\n", "")
    assert truth.read_text(encoding="utf-8").startswith("person_id,")
    again = CliRunner().invoke(app, [*args[:-2], "--no-serve"])
    assert again.exit_code != 0


def test_basic_stage_table_when_analytics_is_missing() -> None:
    counts = StageCounts("main", (("visitor", 100), ("lead", 30), ("mql", 5)), (("recycled", 2),))
    with console.capture() as captured:
        _render_report(counts)
    text = captured.get()
    assert "30.0%" in text and "recycled" in text and "not installed" in text

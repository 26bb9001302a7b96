"""The assembled report: JSON, terminal rendering, HTML, the CLI commands, an empty period and engine parity."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from funnelbridge.analytics.engines import Engine
from funnelbridge.analytics.html import report_to_html
from funnelbridge.analytics.render import render_report
from funnelbridge.analytics.report import FunnelReport, ReportOptions, build_report, funnel_report, report_to_json
from funnelbridge.analytics.tables import Context
from funnelbridge.playbook.schema import Playbook
from funnelbridge.store.db import Database

AS_OF = datetime(2026, 4, 1, tzinfo=UTC)  # the fixtures' "now" (tests/analytics/conftest.py)


def test_json_round_trips(report: FunnelReport) -> None:
    data = json.loads(report_to_json(report))
    assert data["funnel"]["total"]["journeys"] == 8
    assert data["handoff"]["acceptance_rate"] == pytest.approx(0.8)
    assert data["marketing_stages"][-1] == "mql" and data["sales_stages"][0] == "sal"


def test_terminal_rendering_draws_both_funnels(report: FunnelReport) -> None:
    console = Console(record=True, width=160)
    render_report(console, report)
    text = console.export_text()
    assert "handoff → SAL: 80.0% accepted into sales" in text
    assert ("█" in text and "Handoff per rep" in text and "Drivers" not in text) or "odds ratio" in text


def test_html_is_self_contained(report: FunnelReport) -> None:
    page = report_to_html(report)
    assert page.startswith("<!doctype html>") and "<svg" in page and "handoff → SAL" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "<script" not in page


def test_an_empty_period_reports_zeros(engine: Engine, playbook: Playbook) -> None:
    empty = build_report(Context(engine, playbook, "main", AS_OF), ReportOptions(period="2025"))
    assert empty.funnel.total.journeys == 0 and empty.handoff.acceptance_rate is None
    assert empty.economics.total.cost_per_lead is None


def test_cli_report_and_export(world_sqlite: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from funnelbridge.cli import app
    from funnelbridge.cli.app import state

    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(Path("src/funnelbridge/playbook/examples/b2b.yaml").read_text(encoding="utf-8"))
    monkeypatch.setenv("FUNNELBRIDGE_DATABASE_URL", world_sqlite.url)
    monkeypatch.setenv("FUNNELBRIDGE_PLAYBOOK", str(playbook))
    monkeypatch.setattr(state(), "_settings", None)
    runner = CliRunner()
    out = runner.invoke(app, ["report", "--period", "2026-Q1", "--json", "--html", str(tmp_path / "r.html")])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["period"]["label"] == "2026-Q1"
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    out = runner.invoke(app, ["export", "--parquet", str(tmp_path / "pq"), "--table", "transitions"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "pq" / "transitions.parquet").exists()
    monkeypatch.setattr(state(), "_settings", None)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_spark_gives_identical_results(world_parquet: Path, report: FunnelReport, playbook: Playbook) -> None:
    if report.engine != "duckdb":
        pytest.skip("compared once, against DuckDB")
    on_spark = funnel_report(_spark(world_parquet), playbook, by="source", as_of=AS_OF)
    left, right = report.to_dict(), on_spark.to_dict()
    left.pop("engine"), right.pop("engine")
    assert right == left


def _spark(directory: Path) -> Engine:
    from funnelbridge.analytics.engines import open_engine

    return open_engine(None, "spark", parquet_dir=directory)

"""Lifecycle history from HubSpot/Salesforce contact exports: stages and their dates become the trail analytics
reads, stamped at those dates; re-runs and contacts with live history are left alone."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_helpers import by_email, rows
from sqlalchemy import select

from funnelbridge.bootstrap import init_project
from funnelbridge.cli import main
from funnelbridge.cli.app import state
from funnelbridge.ingest import import_file
from funnelbridge.ingest.deadletter import Problem
from funnelbridge.ingest.history import HISTORY_FIELDS, History, plan_history, stage_map
from funnelbridge.playbook import load_example
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import connect
from funnelbridge.store.tables import pipeline_states, transitions

HEAD = ["Record ID", "Email", "Company Name", "Lifecycle Stage", "Create Date", "Became a Lead Date",
        "Became a Marketing Qualified Lead Date", "Became a Sales Qualified Lead Date", "Became an Opportunity Date",
        "Became a Customer Date", "Became an Other Lifecycle Stage Date"]  # fmt: skip
ADA = ["1", "ada@acme.com", "Acme", "customer", "2025-01-06 09:00", "2025-01-06 09:00", "2025-01-20 10:00",
       "2025-02-03 10:00", "2025-02-17 10:00", "2025-03-17 10:00", ""]  # fmt: skip
BO = ["2", "bo@initech.com", "Initech", "marketingqualifiedlead", "2025-02-03", "2025-02-03", "2025-02-10", "", "",
      "", ""]  # fmt: skip
CY = ["3", "cy@globex.com", "Globex", "Lead", "2025-02-05 12:00", "", "", "", "", "", ""]
DI = ["4", "di@umbrella.com", "Umbrella", "opportunity", "2025-01-02", "2025-01-02", "2025-03-01", "2025-02-01",
      "2025-03-10", "", ""]  # fmt: skip
ED = ["5", "ed@hooli.com", "Hooli", "other", "2025-01-02", "2025-01-02", "", "", "", "", "2025-02-01"]


def _write(path: Path, table: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(table)
    return path


def _trail(rt: Runtime, email: str) -> list[tuple[str, datetime, str]]:
    cid = by_email(rt, email)["id"]
    with rt.db.read() as conn:
        query = select(transitions).where(transitions.c.contact_id == cid).order_by(transitions.c.at, transitions.c.id)
        found = conn.execute(query).mappings().all()
    return [(r["to_stage"], r["at"].replace(tzinfo=UTC), r["actor"]) for r in found]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_hubspot_history_is_stamped_at_its_dates_and_reruns_change_nothing(rt: Runtime, tmp_path: Path) -> None:
    src = _write(tmp_path / "hub.csv", [HEAD, ADA, BO, CY, DI, ED])
    summary = import_file(rt, "contacts", src)
    assert [str(r) for r in summary.rejections] == [
        "row 5 became_sql_at: 2025-01-31T23:00:00Z is before became_mql_at 2025-02-28T23:00:00Z: mql comes before sql"
    ]
    ada = _trail(rt, "ada@acme.com")  # naive dates are Europe/Berlin (UTC+1 in winter)
    assert ada == [("lead", _at("2025-01-06 08:00"), "import"), ("mql", _at("2025-01-20 09:00"), "import"),
                   ("sql", _at("2025-02-03 09:00"), "import"), ("opportunity", _at("2025-02-17 09:00"), "import"),
                   ("customer", _at("2025-03-17 09:00"), "import")]  # fmt: skip
    assert _trail(rt, "bo@initech.com")[-1] == ("mql", _at("2025-02-09 23:00"), "import")
    cy = _trail(rt, "cy@globex.com")  # no date of its own: the row's create date; then scoring moves it on now
    assert cy[0] == ("lead", _at("2025-02-05 11:00"), "import") and [s for s, _, a in cy[1:]] == ["mal"]
    ed = by_email(rt, "ed@hooli.com")  # "other" is no stage: the dates it can place
    assert _trail(rt, "ed@hooli.com")[0] == ("lead", _at("2025-01-01 23:00"), "import")
    assert ed["properties"] == {"lifecycle_stage": "other", "became_an_other_lifecycle_stage_date": "2025-02-01"}
    assert by_email(rt, "ada@acme.com")["created_at"].replace(tzinfo=UTC) == _at("2025-01-06 08:00")
    with rt.db.read() as conn:
        state = conn.execute(select(pipeline_states).where(pipeline_states.c.stage == "customer")).mappings().one()
    assert state["entered_at"].replace(tzinfo=UTC) == _at("2025-03-17 09:00")  # scoring did not move it back
    before = (rows(rt, transitions), rows(rt, pipeline_states))
    again = import_file(rt, "contacts", src)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert (summary.histories_written, summary.histories_skipped, again.histories_written, again.histories_skipped) == (
        4, 0, 0, 4
    )  # fmt: skip
    assert (rows(rt, transitions), rows(rt, pipeline_states)) == before


def test_contact_with_live_history_is_not_rewritten(rt: Runtime, tmp_path: Path) -> None:
    import_file(rt, "contacts", _write(tmp_path / "a.csv", [["Email"], ["ada@acme.com"]]))
    live = _trail(rt, "ada@acme.com")
    assert live and all(actor == "system" for _, _, actor in live)
    summary = import_file(rt, "contacts", _write(tmp_path / "b.csv", [HEAD, ADA]))
    assert summary.rejected == 0 and _trail(rt, "ada@acme.com") == live
    assert (summary.histories_written, summary.histories_skipped) == (0, 1)


@cache
def _playbook(name: str) -> Playbook:
    return load_example(name)


def _plan(record: dict[str, Any], playbook: str = "b2b") -> History | list[Problem] | None:
    return plan_history(record, stage_map(_playbook(playbook)), _at("2026-03-01 00:00"))


def test_stage_values_map_by_id_label_hubspot_and_salesforce() -> None:
    b2b, six = stage_map(load_example("b2b")), stage_map(load_example("six_stage"))
    values = ("MQL", "Marketing Qualified Lead", "subscriber", "Open - Not Contacted", "Working - Contacted",
              "Closed - Converted", "evangelist", "other")  # fmt: skip
    got = {v: b2b.stage_of(v) for v in values}
    assert got == {"MQL": "mql", "Marketing Qualified Lead": "mql", "subscriber": "lead",
                   "Open - Not Contacted": "mql", "Working - Contacted": "sal", "Closed - Converted": "sql",
                   "evangelist": "evangelist", "other": None}  # fmt: skip
    assert (six.stage_of("opportunity"), six.stage_of("salesqualifiedlead"), six.stage_of("evangelist")) == (
        "sql", "sql", None
    )  # fmt: skip


def test_history_problems_name_the_field() -> None:
    future = _plan({"became_lead_at": _at("2027-01-01 00:00")})
    assert future == [Problem("became_lead_at", "2027-01-01T00:00:00Z is in the future")]
    behind = _plan({"lifecycle_stage": "lead", "became_customer_at": _at("2025-01-01 00:00")})
    assert behind == [Problem("lifecycle_stage", "lead (lead) is before the dated stage customer")]
    plain = {"email": "x@y.com"}
    assert _plan(plain) is None and plain == {"email": "x@y.com"}
    undated = _plan({"lifecycle_stage": "Working - Contacted", "created_at": None})
    assert isinstance(undated, History) and [(s.stage, s.at) for s in undated.steps] == [("sal", None)]


def test_cli_import_then_report_sees_the_imported_dates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fb.db'}", playbook=str(tmp_path / "playbook.yaml"))
    init_project(settings)
    monkeypatch.setattr(state(), "_settings", settings)
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "hub.csv", [HEAD, ADA, BO, CY])
    assert main(["import", "contacts", "hub.csv"]) == 0
    capsys.readouterr()
    assert main(["report", "--json", "--period", "2025"]) == 0
    report = json.loads(capsys.readouterr().out)
    cohorts = {g["cohort"]: {c["stage"]: c["reached"] for c in g["counts"]} for g in report["cohorts"]["groups"]}
    assert cohorts["2025-01"]["customer"] == 1 and cohorts["2025-02"]["lead"] == 2
    assert cohorts["2025-02"]["mql"] == 1 and cohorts["2025-02"]["customer"] == 0
    gaps = {(g["from_stage"], g["to_stage"]): g["days"]["median"] for g in report["velocity"]["gaps"]}
    assert gaps[("sql", "opportunity")] == 14.0 and gaps[("opportunity", "customer")] == 28.0
    assert gaps[("mal", "mql")] is None  # MAL skipped by the imported journeys: no gap of its own
    assert report["velocity"]["lead_to_customer_days"]["median"] == pytest.approx(70.04, abs=0.01)
    db = connect(settings.database_url)
    with db.read() as conn:
        imported = conn.execute(select(transitions.c.id).where(transitions.c.actor == "import")).all()
    db.dispose()
    assert len(imported) == 5 + 2 + 1


_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "other")


@settings(max_examples=150, deadline=None)
@given(
    dates=st.dictionaries(st.sampled_from(sorted(HISTORY_FIELDS)), st.integers(0, 400), max_size=7),
    current=st.one_of(st.none(), st.sampled_from(_STAGES)),
)
def test_planned_history_is_in_stage_order_or_rejected(dates: dict[str, int], current: str | None) -> None:
    base = _at("2025-01-01 00:00")
    record: dict[str, Any] = {f: base + timedelta(days=d) for f, d in dates.items()}
    record["lifecycle_stage"] = current
    plan = _plan(dict(record))
    smap = stage_map(_playbook("b2b"))
    if isinstance(plan, list):
        assert plan and all(p.field in (*HISTORY_FIELDS, "lifecycle_stage") for p in plan)
        return
    steps = plan.steps if plan is not None else ()
    order = [smap.stages.index(s.stage) for s in steps]
    assert order == sorted(set(order))  # each stage once, in pipeline order
    times = [s.at for s in steps if s.at is not None]
    assert times == sorted(times)
    mapped = {smap.values.get(HISTORY_FIELDS[f]) for f in dates} - {None}
    assert {s.stage for s in steps if s.source != "lifecycle_stage"} == mapped

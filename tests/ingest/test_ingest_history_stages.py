"""Lifecycle history import, continued: a mapping file's stage values (custom Salesforce statuses, HubSpot values
mapped elsewhere), the summary's history counts, and imported stages' stall clock starting at the import."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
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
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.errors import InputError
from funnelbridge.ingest import detect_mapping, import_file
from funnelbridge.ingest.columns import StageValues, UnmappedStages, load_mapping_file
from funnelbridge.ingest.deadletter import Problem
from funnelbridge.ingest.history import HISTORY_FIELDS, History, plan_history, stage_map
from funnelbridge.lifecycle.stalls import recycle_stalled
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import connect
from funnelbridge.store.tables import contacts, pipeline_states, transitions

LEADS = [
    ["Id", "Email", "Company", "Status", "CreatedDate", "ConvertedDate"],
    ["00Q1", "ada@acme.com", "Acme", "Nurturing", "2025-01-06", ""],
    ["00Q2", "bo@initech.com", "Initech", "Marketing Qualified", "2025-02-03", ""],
    ["00Q3", "cy@globex.com", "Globex", "Sales Accepted", "2025-02-05", ""],
    ["00Q4", "di@umbrella.com", "Umbrella", "Closed - Not Converted", "2025-01-02", ""],
    ["00Q5", "ed@hooli.com", "Hooli", "Recycled Lead", "2025-01-02", ""],
    ["00Q6", "fy@pied.com", "Pied Piper", "Converted", "2025-01-10", "2025-03-03"],
]
MAPPING = """\
Company: company
stages:
  Nurturing: lead
  Marketing Qualified: mql
  Sales Accepted: sal
  Converted: SQL              # a stage's label works too
  Closed - Not Converted: null
unmapped_stages: reject
"""


def _write(path: Path, table: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(table)
    return path


def _stages(rt: Runtime, email: str) -> list[str]:
    cid = by_email(rt, email)["id"]
    with rt.db.read() as conn:
        query = select(transitions).where(transitions.c.contact_id == cid, transitions.c.actor == "import")
        return [r["to_stage"] for r in conn.execute(query.order_by(transitions.c.at, transitions.c.id)).mappings()]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), " ".join(err.split())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fb.db'}", playbook=str(tmp_path / "playbook.yaml"))
    init_project(settings)
    monkeypatch.setattr(state(), "_settings", settings)
    monkeypatch.chdir(tmp_path)
    return settings


def test_cli_mapping_file_maps_custom_statuses_and_rejects_unmapped_ones(
    project: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "leads.csv", LEADS)
    (tmp_path / "map.yaml").write_text(MAPPING, encoding="utf-8")
    code, out, _ = _cli(capsys, "import", "contacts", "leads.csv", "--mapping", "map.yaml")
    assert code == 0
    assert "row 6 lifecycle_stage: 'Recycled Lead' maps to no stage of pipeline 'main'" in out
    assert "lifecycle histories: 4 written, 0 skipped" in out
    db = connect(project.database_url)
    with db.read() as conn:
        found = conn.execute(select(contacts.c.email, contacts.c.properties)).all()
        imported = conn.execute(select(transitions.c.contact_id, transitions.c.to_stage, transitions.c.at)
                                .where(transitions.c.actor == "import")).all()  # fmt: skip
    db.dispose()
    emails = {e: p for e, p in found}
    assert "ed@hooli.com" not in emails and emails["di@umbrella.com"] == {"lifecycle_stage": "Closed - Not Converted"}
    assert sorted(s for _, s, _ in imported) == ["lead", "mql", "sal", "sql"]
    converted = next(at for _, s, at in imported if s == "sql")
    assert converted.replace(tzinfo=UTC) == datetime(2025, 3, 2, 23, 0, tzinfo=UTC)  # ConvertedDate, Berlin
    code, out, _ = _cli(capsys, "import", "contacts", "leads.csv", "--mapping", "map.yaml")
    assert code == 0 and "lifecycle histories: 0 written, 4 skipped" in out


def test_cli_refuses_a_stage_the_playbook_lacks_before_writing(
    project: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "leads.csv", LEADS)
    (tmp_path / "map.yaml").write_text("stages:\n  Nurturing: nurture\n  Sales Accepted: sal\n", encoding="utf-8")
    code, _, err = _cli(capsys, "import", "contacts", "leads.csv", "--mapping", "map.yaml")
    assert code == 1
    assert "'Nurturing' → 'nurture': 'nurture' is no stage of the main pipeline 'main'" in err
    assert "its stages: visitor, lead, mal, mql, sal, sql, opportunity, customer, evangelist" in err
    db = connect(project.database_url)
    with db.read() as conn:
        assert conn.execute(select(contacts.c.id)).all() == []
    db.dispose()
    assert not (tmp_path / "leads.csv.rejected.csv").exists()


def test_mapping_dict_on_each_store_ignores_unmapped_values_by_default(rt: Runtime, tmp_path: Path) -> None:
    src = _write(tmp_path / "leads.csv", LEADS)
    summary = import_file(rt, "contacts", src, {"stages": {"Sales Accepted": "SAL", "Nurturing": "lead"}})
    assert summary.rejected == 0 and (summary.histories_written, summary.histories_skipped) == (3, 0)
    assert _stages(rt, "cy@globex.com") == ["sal"] and _stages(rt, "ada@acme.com") == ["lead"]
    assert _stages(rt, "fy@pied.com") == ["sql"]  # "Converted" unmapped: no stage of its own; ConvertedDate dates SQL
    assert by_email(rt, "ed@hooli.com")["properties"] == {"lifecycle_stage": "Recycled Lead"}


def test_custom_values_override_the_defaults_and_redirect_their_dates() -> None:
    playbook = load_example("b2b")
    custom = StageValues((("marketingqualifiedlead", "sal"), ("lead", None)), UnmappedStages.REJECT)
    smap = stage_map(playbook, custom)
    assert stage_map(playbook, custom) is smap and stage_map(playbook) is not smap
    now = datetime(2026, 3, 1, tzinfo=UTC)
    day = datetime(2025, 5, 1, tzinfo=UTC)
    record = {"became_mql_at": day, "became_lead_at": day, "lifecycle_stage": "Marketing Qualified Lead"}
    plan = plan_history(record, smap, now)
    assert isinstance(plan, History) and [(s.stage, s.at) for s in plan.steps] == [("sal", day)]
    assert record["properties"] == {
        "lifecycle_stage": "Marketing Qualified Lead",
        "became_lead_at": "2025-05-01T00:00:00Z",
    }
    assert plan_history({"lifecycle_stage": "lead"}, smap, now) is None  # mapped to null: ignored, not rejected
    assert plan_history({"lifecycle_stage": "other"}, smap, now) == [
        Problem(
            "lifecycle_stage",
            "'other' maps to no stage of pipeline 'main' (map it in the mapping file's stages section, or to null "
            "to ignore it)",
        )
    ]


def test_stage_sections_are_checked_for_shape_and_kind(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="apply to contacts imports, not events"):
        detect_mapping("events", ["type", "occurred_at", "email"], {"stages": {"x": "mql"}})
    with pytest.raises(InputError, match="unmapped_stages: 'drop' is neither ignore nor reject"):
        detect_mapping("contacts", ["Email"], {"unmapped_stages": "drop"})
    with pytest.raises(InputError, match="each entry maps a stage value"):
        detect_mapping("contacts", ["Email"], {"stages": {"x": ["mql"]}})
    mapping = detect_mapping("contacts", ["Email", "stages"], {"stages": "lifecycle_stage"})  # a column, not a section
    assert mapping.fields == {"Email": "email", "stages": "lifecycle_stage"} and mapping.stages is None
    path = tmp_path / "m.json"
    path.write_text('{"Status": "lifecycle_stage", "stages": {"Hot": "mql"}, "unmapped_stages": "Reject"}')
    mapping = detect_mapping("contacts", ["Email", "Status"], load_mapping_file(path))
    assert mapping.stages == StageValues((("Hot", "mql"),), UnmappedStages.REJECT)
    path.write_text('{"Email": ["email"]}')
    with pytest.raises(InputError, match="optionally with a stages: section"):
        load_mapping_file(path)


def test_imported_stage_stalls_from_the_import_not_from_its_old_date(rt: Runtime, tmp_path: Path) -> None:
    head = ["Email", "Lifecycle Stage", "Became a Lead Date", "Became a Marketing Qualified Lead Date"]
    src = _write(tmp_path / "hub.csv", [head, ["bo@initech.com", "marketingqualifiedlead", "2025-02-01", "2025-03-01"]])
    summary = import_file(rt, "contacts", src)
    assert summary.histories_written == 1
    (state,) = [s for s in rows(rt, pipeline_states) if s["stage"] == "mql"]
    assert state["entered_at"].replace(tzinfo=UTC) == datetime(
        2025, 2, 28, 23, 0, tzinfo=UTC
    )  # analytics: the old date
    assert state["last_activity_at"].replace(tzinfo=UTC) == rt.clock.now()  # the stall clock: the import
    assert recycle_stalled(rt) == 0  # a year-old MQL is not recycled by the first sweep
    assert isinstance(rt.clock, FrozenClock)
    rt.clock.advance(timedelta(days=13))
    assert recycle_stalled(rt) == 0
    rt.clock.advance(timedelta(days=2))  # 15 days quiet since the import: over mql's 14d
    assert recycle_stalled(rt) == 1
    assert by_email(rt, "bo@initech.com")["id"] in {s["contact_id"] for s in rows(rt, pipeline_states)
                                                    if s["stage"] == "recycled"}  # fmt: skip


_VALUES = ("Nurturing", "Hot", "marketingqualifiedlead", "lead", "customer", "other", "Closed - Converted")
_TARGETS = (None, "lead", "MAL", "mql", "sal", "SQL", "opportunity", "customer")


@settings(max_examples=150, deadline=None)
@given(
    custom=st.dictionaries(st.sampled_from(_VALUES), st.sampled_from(_TARGETS), max_size=5),
    reject=st.booleans(),
    raw=st.sampled_from(_VALUES),
    dated=st.dictionaries(st.sampled_from(sorted(HISTORY_FIELDS)), st.integers(0, 400), max_size=4),
)
def test_custom_values_plan_only_their_stages_or_reject_the_value(
    custom: dict[str, str | None], reject: bool, raw: str, dated: dict[str, int]
) -> None:
    playbook = load_example("b2b")
    values = StageValues(tuple(custom.items()), UnmappedStages.REJECT if reject else UnmappedStages.IGNORE)
    smap = stage_map(playbook, values)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    record: dict[str, Any] = {f: base + timedelta(days=d) for f, d in dated.items()} | {"lifecycle_stage": raw}
    plan = plan_history(record, smap, datetime(2026, 3, 1, tzinfo=UTC))
    own = custom[raw] if raw in custom else stage_map(playbook).stage_of(raw)
    unmapped = raw not in custom and own is None
    problems = plan if isinstance(plan, list) else []
    refused = any(p.field == "lifecycle_stage" and "maps to no stage" in p.reason for p in problems)
    assert refused == (reject and unmapped)
    if isinstance(plan, History):
        dated_stages = {s.stage for s in plan.steps if s.source != "lifecycle_stage"}
        mine = [s.stage for s in plan.steps if s.source == "lifecycle_stage"]
        assert mine == ([] if own is None or own.lower() in dated_stages else [own.lower()])
        order = [smap.stages.index(s.stage) for s in plan.steps]
        assert order == sorted(set(order))

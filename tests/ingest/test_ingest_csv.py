"""CSV/Parquet import on both stores: detection, coercion errors, dead letters, safe re-runs, every kind."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from ingest_helpers import accounts, by_email, events, live_contacts, merges, rows

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import InputError
from funnelbridge.ingest import import_file, preview_mapping, unmerge
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import campaign_costs, campaigns, contacts, deals

HUBSPOT = [
    ["Record ID", "First Name", "Last Name", "Email", "Job Title", "Company Name", "Number of Employees",
     "Lifecycle Stage", "Original Source", "Create Date", "Favorite Color"],
    ["101", "Ada", "Lovelace", "ada@acme.com", "VP Engineering", "Acme", "120", "lead", "PAID_SEARCH",
     "2026-01-05 10:00", "blue"],
    ["102", "Bob", "Smith", "bob@gmail.com", "Student", "", "ten", "subscriber", "", "2026-01-06", ""],
    ["103", "Cy", "Jones", " CY@Acme.com ", "Director", "Acme", "120", "lead", "", "2026-01-07T09:00:00Z", ""],
    ["104", "Dee", "", "not-an-email", "", "", "", "", "", "", ""],
    ["", "Eve", "", "", "", "", "", "", "", "", ""],
]  # fmt: skip


def write(path: Path, table: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(table)
    return path


def test_hubspot_contacts_import_rejects_and_reruns_cleanly(rt: Runtime, tmp_path: Path) -> None:
    src = write(tmp_path / "hubspot.csv", HUBSPOT)
    summary = import_file(rt, "contacts", src)
    assert summary.source_format == "hubspot"
    assert (summary.read, summary.inserted, summary.rejected) == (5, 2, 3)
    assert [str(r) for r in summary.rejections] == [
        'row 3 employees: expected a whole number, got "ten"',
        'row 5 email: expected an email address, got "not-an-email"',
        "row 6 email: a contact needs an email or an external id",
    ]
    with (tmp_path / "hubspot.csv.rejected.csv").open(encoding="utf-8") as handle:
        dead = list(csv.reader(handle))
    assert dead[0][:4] == ["row", "field", "reason", "Record ID"] and [d[0] for d in dead[1:]] == ["3", "5", "6"]
    ada = by_email(rt, "ada@acme.com")
    assert as_utc(ada["created_at"]) == datetime(2026, 1, 5, 9, tzinfo=UTC)  # naive → Europe/Berlin
    assert ada["first_source"] == "PAID_SEARCH" and ada["properties"]["favorite_color"] == "blue"
    assert ada["properties"]["lifecycle_stage"] == "lead" and ada["external_id"] == "101"
    (acme,) = rows(rt, accounts)
    assert (acme["domain"], acme["name"], acme["employees"]) == ("acme.com", "Acme", 120)
    assert by_email(rt, "cy@acme.com")["account_id"] == acme["id"]
    before = rows(rt, contacts)
    again = import_file(rt, "contacts", src)
    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 3)
    assert rows(rt, contacts) == before


def test_salesforce_semicolon_export_and_mapping_file(rt: Runtime, tmp_path: Path) -> None:
    table = [
        ["Id", "FirstName", "LastName", "Email", "Title", "Company", "LeadSource", "CreatedDate", "Score__c"],
        ["00Q1", "Lin", "Wu", "lin@globex.io", "CFO", "Globex", "Webinar", "2026-01-02T08:00:00.000Z", "7"],
    ]
    src = write(tmp_path / "leads.csv", table, delimiter=";")
    assert preview_mapping("contacts", src).source_format == "salesforce"
    mapping = tmp_path / "map.yaml"
    mapping.write_text("Score__c: null\nTitle: seniority\n", encoding="utf-8")
    summary = import_file(rt, "contacts", src, mapping)
    assert summary.inserted == 1
    lin = by_email(rt, "lin@globex.io")
    assert (lin["seniority"], lin["title"], lin["first_source"], lin["external_id"]) == ("CFO", None, "Webinar", "00Q1")
    assert not (lin["properties"] or {}).get("score_c")


def test_missing_key_column_and_unknown_mapping_target_are_input_errors(rt: Runtime, tmp_path: Path) -> None:
    src = write(tmp_path / "x.csv", [["Name", "Phone"], ["A", "1"]])
    with pytest.raises(InputError, match="no column maps to email or external_id"):
        import_file(rt, "contacts", src)
    with pytest.raises(InputError, match="unknown field"):
        import_file(rt, "contacts", src, {"Name": "nickname"})
    with pytest.raises(InputError, match="unknown import kind"):
        import_file(rt, "widgets", src)


def test_same_person_by_external_id_and_email_is_merged(rt: Runtime, tmp_path: Path) -> None:
    import_file(rt, "contacts", write(tmp_path / "a.csv", [["Id", "Email"], ["X1", "old@acme.com"]]))
    import_file(rt, "contacts", write(tmp_path / "b.csv", [["Email", "First Name"], ["new@acme.com", "Nia"]]))
    summary = import_file(rt, "contacts", write(tmp_path / "c.csv", [["Id", "Email"], ["X1", "new@acme.com"]]))
    assert summary.merged == 1
    (person,) = live_contacts(rt)
    assert (person["external_id"], person["email"], person["first_name"]) == ("X1", "new@acme.com", "Nia")
    (merge,) = rows(rt, merges)
    unmerge(rt, merge["id"])
    assert sorted((c["email"], c["external_id"]) for c in live_contacts(rt)) == [
        ("new@acme.com", None),
        ("old@acme.com", "X1"),
    ]


def test_progress_reports_every_row(rt: Runtime, tmp_path: Path) -> None:
    table = [["Email"], *([f"p{i}@acme.com"] for i in range(25)), ["bad"]]
    seen: list[int] = []
    summary = import_file(rt, "contacts", write(tmp_path / "p.csv", table), progress=seen.append, chunk_size=10)
    assert sum(seen) == summary.read == 26 and len(seen) >= 3


def test_events_csv_with_derived_keys_is_idempotent(rt: Runtime, tmp_path: Path) -> None:
    table = [
        ["type", "event", "email", "anonymous_id", "timestamp", "page_path", "utm_source", "utm_campaign", "plan"],
        ["page_view", "", "", "c1", "2026-02-01 10:00", "/pricing", "google", "q1", ""],
        ["identify", "", "c1@acme.com", "c1", "2026-02-01T10:05:00+01:00", "", "", "", ""],
        ["track", "asset_download", "c1@acme.com", "", "2026-02-02T10:00:00Z", "/ebook", "", "", "pro"],
        ["track", "", "c1@acme.com", "", "2026-02-02T10:00:00Z", "", "", "", ""],
        ["page_view", "", "", "", "2026-02-02T10:00:00Z", "/", "", "", ""],
        ["page_view", "", "", "c2", "yesterday", "/", "", "", ""],
    ]
    src = write(tmp_path / "events.csv", table)
    summary = import_file(rt, "events", src)
    assert (summary.inserted, summary.rejected) == (3, 3)
    assert sorted((r.row, r.field) for r in summary.rejections) == [(5, "event"), (6, "email"), (7, "occurred_at")]
    (person,) = live_contacts(rt)
    assert person["email"] == "c1@acme.com" and person["first_source"] == "google"
    assert as_utc(person["created_at"]) == datetime(2026, 2, 1, 9, tzinfo=UTC)
    stored = rows(rt, events)
    assert {e["contact_id"] for e in stored} == {person["id"]}
    assert next(e for e in stored if e["type"] == "asset_download")["properties"] == {"plan": "pro"}
    again = import_file(rt, "events", src)
    assert (again.inserted, again.duplicates) == (0, 3) and len(rows(rt, events)) == 3


def test_accounts_campaigns_and_costs(rt: Runtime, tmp_path: Path) -> None:
    acc = [["Company ID", "Company Domain Name", "Company Name", "Industry", "Country/Region"],
           ["c1", "https://www.Initech.com/about", "Initech", "software", "Germany"],
           ["c2", "gmail.com", "Nope", "", ""], ["", "", "No key", "", ""]]  # fmt: skip
    s = import_file(rt, "accounts", write(tmp_path / "acc.csv", acc))
    assert (s.inserted, s.rejected) == (1, 2)
    (initech,) = rows(rt, accounts)
    assert (initech["domain"], initech["country"], initech["external_id"]) == ("initech.com", "DE", "c1")
    camp = [["utm_campaign", "Campaign Name", "channel", "start_date", "end_date"],
            ["q1", "Q1 search", "paid_search", "2026-01-01", "2026-03-31"],
            ["bad", "", "", "2026-02-01", "2026-01-01"]]  # fmt: skip
    s = import_file(rt, "campaigns", write(tmp_path / "camp.csv", camp))
    assert (s.inserted, s.rejected) == (1, 1)
    costs = [["campaign", "date", "spend"], ["q1", "2026-01-01", "$1,200.50"], ["q1", "2026-01-02", "99"],
             ["zz", "2026-01-01", "5"], ["q1", "2026-01-03", "-1"]]  # fmt: skip
    s = import_file(rt, "costs", write(tmp_path / "costs.csv", costs))
    assert (s.inserted, s.rejected) == (2, 2)
    assert sorted(Decimal(r["amount"]) for r in rows(rt, campaign_costs)) == [Decimal("99.00"), Decimal("1200.50")]
    costs[2][2] = "100"
    s = import_file(rt, "costs", write(tmp_path / "costs.csv", costs))
    assert (s.inserted, s.updated, s.unchanged) == (0, 1, 1)
    assert rows(rt, campaigns)[0]["started_on"] == date(2026, 1, 1)


def test_deals_from_hubspot_and_salesforce_exports(rt: Runtime, tmp_path: Path) -> None:
    import_file(rt, "contacts", write(tmp_path / "c.csv", [["Email"], ["buyer@initech.com"]]))
    hub = [["Record ID", "Deal Name", "Amount", "Deal Stage", "Close Date", "Create Date", "Associated Contact Email"],
           ["d1", "Initech pilot", "12,000", "closedwon", "2026-02-01", "2026-01-10", "buyer@initech.com"],
           ["d2", "Initech expansion", "5000", "contractsent", "2026-04-01", "2026-02-10", "buyer@initech.com"],
           ["d3", "Mystery", "10", "limbo", "", "", ""]]  # fmt: skip
    s = import_file(rt, "deals", write(tmp_path / "deals.csv", hub))
    assert (s.inserted, s.rejected) == (2, 1) and "unknown deal stage 'limbo'" in str(s.rejections[0])
    won, open_ = sorted(rows(rt, deals), key=lambda d: d["external_id"])
    assert (won["status"], won["stage"], won["probability"], won["amount"]) == ("won", "closed_won", 1.0, 12000)
    assert won["contact_id"] == by_email(rt, "buyer@initech.com")["id"] and won["account_id"] is not None
    assert (open_["status"], open_["stage"], open_["probability"]) == ("open", "negotiation", 0.8)
    sf = [["Opportunity Name", "Amount", "Stage", "Close Date", "Probability (%)"],
          ["Globex", "900", "Proposal/Price Quote", "04/30/2026", "55"]]  # fmt: skip
    src = write(tmp_path / "opps.csv", sf)
    assert import_file(rt, "deals", src).inserted == 1
    assert import_file(rt, "deals", src).unchanged == 1
    globex = next(d for d in rows(rt, deals) if d["name"] == "Globex")
    assert (globex["stage"], globex["probability"], globex["expected_close"]) == ("proposal", 0.55, date(2026, 4, 30))


def test_parquet_contacts(rt: Runtime, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"email": ["p@acme.com", "bad"], "employees": [40, None], "score": [1.5, float("nan")]})
    pq.write_table(table, tmp_path / "people.parquet")
    summary = import_file(rt, "contacts", tmp_path / "people.parquet")
    assert (summary.inserted, summary.rejected) == (1, 1)
    assert by_email(rt, "p@acme.com")["properties"] == {"score": 1.5}


def test_sqlite_fast_event_insert_matches_core_path(sqlite_rt: Runtime) -> None:
    from funnelbridge.store.events import EVENT_COLUMNS, insert_event_tuples, insert_events

    at = datetime(2026, 2, 1, 10, 30, 15, 123456, tzinfo=UTC)
    base = {"contact_id": None, "anonymous_id": "a", "type": "page_view", "occurred_at": at, "received_at": at,
            "path": "/", "campaign": None, "source": "g", "medium": None, "properties": {"k": [1, "é"]}}  # fmt: skip
    as_tuple = tuple({**base, "idempotency_key": "tuple"}[c] for c in EVENT_COLUMNS)
    with sqlite_rt.db.transaction() as conn:
        assert insert_events(conn, [{**base, "idempotency_key": "fast"}]) == 1
        assert insert_events(conn, [{**base, "idempotency_key": "core"}], fast=False) == 1
        assert insert_events(conn, [{**base, "idempotency_key": "fast"}]) == 0
        assert insert_event_tuples(conn, [as_tuple, as_tuple]) == 1
        raw = conn.exec_driver_sql("SELECT occurred_at, received_at, properties FROM events ORDER BY id").all()
    assert raw[0] == raw[1] == raw[2]
    fast, core, tupled = rows(sqlite_rt, events)
    assert (
        {k: v for k, v in fast.items() if k not in ("id", "idempotency_key")}
        == {k: v for k, v in core.items() if k not in ("id", "idempotency_key")}
        == {k: v for k, v in tupled.items() if k not in ("id", "idempotency_key")}
    )

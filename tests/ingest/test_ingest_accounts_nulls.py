"""Company attributes the file does not have stay SQL NULL (not JSON ``null``) on both stores."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from funnelbridge.ingest import import_file
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import accounts, contacts


def _write(path: Path, table: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(table)
    return path


def _null_technologies(rt: Runtime) -> list[str]:
    with rt.db.read() as conn:
        return list(conn.execute(select(accounts.c.domain).where(accounts.c.technologies.is_(None))).scalars())


def test_contacts_import_leaves_missing_technologies_null(rt: Runtime, tmp_path: Path) -> None:
    table = [["Email", "Company Name", "Tech Stack"], ["ada@acme.com", "Acme", ""],
             ["bo@initech.com", "Initech", "salesforce;hubspot"]]  # fmt: skip
    import_file(rt, "contacts", _write(tmp_path / "c.csv", table), after=False)
    assert _null_technologies(rt) == ["acme.com"]
    with rt.db.read() as conn:
        tech = conn.execute(select(accounts.c.technologies).where(accounts.c.domain == "initech.com")).scalar()
        no_props = conn.execute(select(contacts.c.email).where(contacts.c.properties.is_(None))).scalars()
        assert tech == ["salesforce", "hubspot"] and sorted(no_props) == ["ada@acme.com", "bo@initech.com"]


def test_accounts_import_leaves_missing_technologies_null(rt: Runtime, tmp_path: Path) -> None:
    table = [["Company Domain Name", "Company Name"], ["acme.com", "Acme"]]
    import_file(rt, "accounts", _write(tmp_path / "a.csv", table))
    assert _null_technologies(rt) == ["acme.com"]


def test_changed_rows_update_set_wise_and_stored_rows_read_raw_match(rt: Runtime, tmp_path: Path) -> None:
    from funnelbridge.ingest.contacts import _READ, _stored_rows
    from funnelbridge.store.contacts import contact_rows

    table = [["Email", "Job Title", "Original Source", "Create Date", "properties"],
             ["ada@acme.com", "VP", "ads", "2026-01-05 10:00", '{"k": [1, 2]}'], ["bo@acme.com", "CTO", "", "", ""],
             ["cy@acme.com", "CEO", "", "", ""]]  # fmt: skip
    import_file(rt, "contacts", _write(tmp_path / "c.csv", table), after=False)
    table[1][1], table[2][1] = "Head of Sales", "CIO"
    summary = import_file(rt, "contacts", _write(tmp_path / "c.csv", table), after=False)
    assert (summary.updated, summary.unchanged) == (2, 1)
    with rt.db.read() as conn:
        found = conn.execute(select(contacts.c.email, contacts.c.title, contacts.c.version).order_by("email")).all()
        assert [tuple(r) for r in found] == [("ada@acme.com", "Head of Sales", 2), ("bo@acme.com", "CIO", 2),
                                             ("cy@acme.com", "CEO", 1)]  # fmt: skip
        ids = set(conn.execute(select(contacts.c.id)).scalars())
        full = contact_rows(conn, ids)
        fast = {i: {k: row[k] for k in _READ} for i, row in _stored_rows(conn, ids).items()}  # SQLite: raw rows
        assert fast == {i: {k: row[k] for k in _READ} for i, row in full.items()}

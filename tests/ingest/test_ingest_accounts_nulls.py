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

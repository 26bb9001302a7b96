"""Hand-computable histories for the planning tests.

Every lead is a grade-A fit (VP at a 2,000-person software company in Germany with a CRM: 65 fit points in the
default B2B playbook) and downloads ``k`` assets at one instant, so its engagement then is exactly 15·k (asset
downloads give 15 points each, decaying afterwards). Under an MQL threshold of ``e`` engagement points a lead is a
would-be MQL exactly when 15·k ≥ e, at the instant of its downloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import parse_playbook
from funnelbridge.playbook.schema import Playbook
from funnelbridge.store import Database
from funnelbridge.store.tables import accounts, contacts, events, transitions

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
STAGES_AFTER = ("sal", "sql", "opportunity", "customer")


def playbook(mql_engagement: float = 50) -> Playbook:
    """The default B2B playbook with the MQL engagement threshold (criteria and scoring) set to ``e``."""
    text = example_path("b2b").read_text(encoding="utf-8")
    text = text.replace(
        "{field: score.engagement, op: gte, value: 50}",
        f"{{field: score.engagement, op: gte, value: {mql_engagement:g}}}",
    )
    text = text.replace(
        "mql: {grades: [A, B], engagement: 50}", f"mql: {{grades: [A, B], engagement: {mql_engagement:g}}}"
    )
    return parse_playbook(text)


@dataclass(frozen=True)
class Lead:
    contact_id: int
    downloads: int
    downloaded_at: datetime
    reached: tuple[str, ...]  # stages after MQL it really reached


def leads(n: int = 40) -> list[Lead]:
    """Lead i downloads i % 7 assets, 2 days (+ i hours) after T0 + i days; the k ≥ 5 ones mostly buy."""
    out = []
    for i in range(n):
        k = i % 7
        at = T0 + timedelta(days=i, hours=2 + i % 5)
        reached: tuple[str, ...] = ()
        if k >= 4:
            reached = ("sal",)
        if k >= 5 and i % 3 != 0:
            reached = STAGES_AFTER
        out.append(Lead(i + 1, k, at, reached))
    return out


def _moves(lead: Lead, version: str) -> list[dict[str, Any]]:
    base = {"contact_id": lead.contact_id, "pipeline": "main", "journey": 1, "actor": "system",
            "actor_role": "system", "playbook_version": version, "skipped": []}  # fmt: skip
    path = [("lead", None, lead.downloaded_at - timedelta(hours=1))]
    if lead.downloads * 15 >= 50:
        path.append(("mql", "lead", lead.downloaded_at))
    for j, stage in enumerate(lead.reached):
        path.append((stage, path[-1][0], lead.downloaded_at + timedelta(days=1 + j)))
    return [{**base, "to_stage": t, "from_stage": f, "at": at} for t, f, at in path]


def insert(db: Database, chosen: list[Lead]) -> None:
    version = playbook().version
    acc, con, ev, tr = [], [], [], []
    for lead in chosen:
        cid, seen = lead.contact_id, lead.downloaded_at - timedelta(hours=1)
        acc.append({"id": cid, "domain": f"acme{cid}.example", "industry": "software", "employees": 2000,
                    "country": "DE", "technologies": ["salesforce"], "created_at": seen,
                    "updated_at": seen})  # fmt: skip
        con.append({"id": cid, "email": f"vp{cid}@acme{cid}.example", "title": "VP Sales", "account_id": cid,
                    "created_at": seen, "identified_at": seen, "updated_at": seen})  # fmt: skip
        ev += [
            {"idempotency_key": f"d-{cid}-{j}", "contact_id": cid, "type": "asset_download",
             "occurred_at": lead.downloaded_at, "received_at": lead.downloaded_at, "properties": {}}
            for j in range(lead.downloads)
        ]  # fmt: skip
        tr += _moves(lead, version)
    with db.transaction() as conn:
        for table, rows in ((accounts, acc), (contacts, con), (events, ev), (transitions, tr)):
            if rows:
                conn.execute(table.insert(), rows)


def end_of(chosen: list[Lead]) -> datetime:
    return max(lead.downloaded_at for lead in chosen) + timedelta(days=10)


def insert_outcomes(db: Database, n: int = 320) -> None:
    """``n`` leads, one a day from T0 - 400 days, for ``suggest``: CRM users buy (three in four), the others
    (one in ten buys) read the blog before they are identified; the current playbook gives those blog reads up to
    10 points and a CRM only 5, so it ranks the wrong leads first."""
    version, start = playbook().version, T0 - timedelta(days=400)
    acc, con, ev, tr = [], [], [], []
    for i in range(n):
        cid, seen = i + 1, start + timedelta(days=i)
        crm = i % 2 == 0
        buys = (crm and i % 4 != 0) or i % 10 == 5
        acc.append({"id": cid, "domain": f"o{cid}.example", "industry": "software", "employees": 300, "country": "DE",
                    "technologies": ["salesforce"] if crm else [], "created_at": seen, "updated_at": seen})  # fmt: skip
        con.append({"id": cid, "email": f"m{cid}@o{cid}.example", "title": "Marketing Manager", "account_id": cid,
                    "created_at": seen, "identified_at": seen, "updated_at": seen})  # fmt: skip
        days = 0 if crm else 1 + i % 4  # blog reads before identification: 3 a day on 1-4 days
        ev += [{"idempotency_key": f"b-{cid}-{d}-{j}", "contact_id": cid, "type": "page_view", "path": f"/blog/{j}",
                "occurred_at": seen - timedelta(days=d, hours=j), "received_at": seen, "properties": {}}
               for d in range(1, days + 1) for j in range(3)]  # fmt: skip
        moves = [("lead", None, seen)] + ([("customer", "lead", seen + timedelta(days=20))] if buys else [])
        tr += [{"contact_id": cid, "pipeline": "main", "journey": 1, "from_stage": f, "to_stage": t, "at": at,
                "actor": "system", "actor_role": "system", "playbook_version": version, "skipped": []}
               for t, f, at in moves]  # fmt: skip
    with db.transaction() as conn:
        for table, rows in ((accounts, acc), (contacts, con), (events, ev), (transitions, tr)):
            conn.execute(table.insert(), rows)

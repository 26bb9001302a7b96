"""A synthetic store history for the store-based predictive scoring tests: accounts, contacts, dated events and
stage transitions inserted as rows, with a hidden propensity that partly follows the playbook's rules and partly
does not (webinars and tech stack matter more than the rules think), so a model can beat the rule score."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import load_playbook
from funnelbridge.playbook.schema import Playbook
from funnelbridge.store import Database
from funnelbridge.store.tables import accounts, contacts, events, transitions

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TITLES = ("VP Marketing", "Director of Sales", "Sales Manager", "Engineer", "Student")
INDUSTRIES = ("software", "finance", "retail", "education")


def b2b() -> Playbook:
    return load_playbook(example_path("b2b"))


def _lead(rng: np.random.Generator, i: int) -> dict[str, Any]:
    title = TITLES[int(rng.integers(0, len(TITLES)))]
    industry = INDUSTRIES[int(rng.integers(0, len(INDUSTRIES)))]
    employees = int(rng.choice([10, 80, 400, 2000]))
    techs = ["salesforce", "hubspot", "segment"][: int(rng.integers(0, 4))]
    webinars = int(rng.poisson(0.6))
    pricing = int(rng.poisson(1.2))
    logit = -2.6 + 1.4 * webinars + 0.6 * len(techs) + (0.8 if title.startswith(("VP", "Director")) else 0.0)
    logit += 0.3 * pricing - (2.0 if title == "Student" else 0.0)
    return {
        "i": i, "title": title, "industry": industry, "employees": employees, "techs": techs,
        "webinars": webinars, "pricing": pricing, "blog": int(rng.poisson(2)),
        "won": bool(rng.random() < 1 / (1 + math.exp(-logit))),
        "identified": T0 + timedelta(hours=8 * i),
    }  # fmt: skip


def _rows(lead: dict[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[str, str | None, datetime]]]:
    start, i = lead["identified"], lead["i"]
    evs = []
    for k in range(lead["pricing"]):
        evs.append(("page_view", "/pricing", start + timedelta(days=1 + k)))
    for k in range(lead["blog"]):
        evs.append(("page_view", "/blog/post", start + timedelta(hours=2 + k)))
    for k in range(lead["webinars"]):
        evs.append(("webinar_attended", None, start + timedelta(days=2 + k)))
    rows = [
        {"idempotency_key": f"e-{i}-{n}", "contact_id": i + 1, "type": t, "occurred_at": at, "received_at": at,
         "path": p, "properties": {}}
        for n, (t, p, at) in enumerate(evs)
    ]  # fmt: skip
    return rows, evs


def _moves(lead: dict[str, Any], pb: Playbook, mql: bool) -> list[dict[str, Any]]:
    start, cid = lead["identified"], lead["i"] + 1
    path = [("visitor", None, start - timedelta(hours=1)), ("lead", "visitor", start)]
    if mql:
        path.append(("mql", "lead", start + timedelta(days=5)))
        if lead["won"]:
            path += [("sal", "mql", start + timedelta(days=6)), ("sql", "sal", start + timedelta(days=10))]
            path.append(("opportunity", "sql", start + timedelta(days=12)))
            path.append(("customer", "opportunity", start + timedelta(days=25)))
    elif lead["won"]:
        path.append(("customer", "lead", start + timedelta(days=20)))
    return [
        {"contact_id": cid, "pipeline": "main", "journey": 1, "from_stage": f, "to_stage": t, "at": at,
         "actor": "system", "actor_role": "system", "playbook_version": pb.version, "skipped": []}
        for t, f, at in path
    ]  # fmt: skip


def build_history(db: Database, n: int = 600, seed: int = 7) -> list[dict[str, Any]]:
    """Insert ``n`` leads identified 8 hours apart from T0; returns the generated leads."""
    rng = np.random.default_rng(seed)
    pb = b2b()
    leads = [_lead(rng, i) for i in range(n)]
    acc, con, ev, tr = [], [], [], []
    for lead in leads:
        i, at = lead["i"], lead["identified"]
        acc.append(
            {"id": i + 1, "domain": f"co{i}.example", "industry": lead["industry"], "employees": lead["employees"],
             "country": "DE", "technologies": lead["techs"], "created_at": at, "updated_at": at}
        )  # fmt: skip
        con.append(
            {"id": i + 1, "email": f"p{i}@co{i}.example", "title": lead["title"], "account_id": i + 1,
             "created_at": at, "identified_at": at, "updated_at": at, "first_source": "google", "first_touch_at": at}
        )  # fmt: skip
        rows, _ = _rows(lead)
        ev += rows
        mql = lead["pricing"] + lead["webinars"] >= 2 or lead["title"].startswith("VP")
        tr += _moves(lead, pb, mql)
    with db.transaction() as conn:
        for table, rows in ((accounts, acc), (contacts, con), (events, ev), (transitions, tr)):
            if rows:
                conn.execute(table.insert(), rows)
    return leads


def as_of(n: int = 600) -> datetime:
    """A moment when every lead but the youngest has had 30+ days to convert."""
    return T0 + timedelta(hours=8 * n) + timedelta(days=10)

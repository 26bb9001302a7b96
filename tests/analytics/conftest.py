"""A small hand-computed world for the analytics suite, and one fixture per engine.

Times are UTC; the b2b playbook's zone is Europe/Berlin (UTC+1 in winter), so 2026-01-31 23:30 UTC is already
1 February locally and 2026-02-28 23:00 UTC is exactly the end of February.

Journeys (stages: visitor lead mal mql sal sql opportunity customer evangelist):
  c1 google   (last touch: LinkedIn) visitor 01-05, lead 01-06, mal 01-06, mql 01-10, sal 01-11 (accepted
              26h later), sql 01-15, opp 01-20, customer 02-20; deal 10 000 won
  c2 linkedin j1: visitor 01-07, lead 01-08, mql 01-09 (skipped mal), rejected 01-10 → recycled (not_a_fit)
              j2: mql 03-01 (from recycled), sal 03-02, sql 03-05; deal 5 000 open (proposal, 0.6)
  c3 google   lead 2026-01-31 23:30 UTC (skipped visitor; February in Berlin), mal 02-02
  c4 (none)   visitor 02-10 — no events at all
  c5 linkedin visitor 01-20, lead 01-21, mal 01-21, mql 01-25, sal 01-26 — stalled in SAL
  c6 google   lead 2026-02-28 23:00 UTC — exactly the end of February in Berlin
  c7 bing     visitor 01-02, lead 01-03, mal 01-03, mql 01-04, sal 01-05, sql 01-06, opp 01-07, recycled 02-01
              (lost); deal 8 000 lost (price)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from funnelbridge.analytics.engines import Engine, open_engine
from funnelbridge.analytics.export import export_parquet
from funnelbridge.analytics.periods import Grain
from funnelbridge.analytics.report import FunnelReport, ReportOptions, build_report
from funnelbridge.analytics.tables import Context, Dimension
from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import load_playbook
from funnelbridge.playbook.schema import Playbook
from funnelbridge.store import tables as t
from funnelbridge.store.db import Database, connect
from funnelbridge.store.migrate import upgrade

PG_URL = os.environ.get("FUNNELBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

AS_OF = datetime(2026, 4, 1, tzinfo=UTC)


def ts(month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


PATH = ["visitor", "lead", "mal", "mql", "sal", "sql", "opportunity", "customer"]

# contact -> list of (journey, from, to, at, actor_role, reason, skipped)
MOVES: dict[int, list[tuple[int, str | None, str, datetime, str, str | None, list[str] | None]]] = {
    1: [
        (1, None, "visitor", ts(1, 5), "system", None, None),
        (1, "visitor", "lead", ts(1, 6), "system", None, None),
        (1, "lead", "mal", ts(1, 6, 10, 1), "system", None, None),
        (1, "mal", "mql", ts(1, 10), "system", None, None),
        (1, "mql", "sal", ts(1, 11, 12), "sales", None, None),
        (1, "sal", "sql", ts(1, 15), "sales", None, None),
        (1, "sql", "opportunity", ts(1, 20), "sales", None, None),
        (1, "opportunity", "customer", ts(2, 20), "system", None, None),
    ],
    2: [
        (1, None, "visitor", ts(1, 7), "system", None, None),
        (1, "visitor", "lead", ts(1, 8), "system", None, None),
        (1, "lead", "mql", ts(1, 9), "system", None, ["mal"]),
        (1, "mql", "recycled", ts(1, 10), "sales", "not_a_fit", None),
        (2, "recycled", "mql", ts(3, 1), "system", None, None),
        (2, "mql", "sal", ts(3, 2), "sales", None, None),
        (2, "sal", "sql", ts(3, 5), "sales", None, None),
    ],
    3: [
        (1, None, "lead", datetime(2026, 1, 31, 23, 30, tzinfo=UTC), "system", None, ["visitor"]),
        (1, "lead", "mal", ts(2, 2), "system", None, None),
    ],
    4: [(1, None, "visitor", ts(2, 10), "system", None, None)],
    5: [
        (1, None, "visitor", ts(1, 20), "system", None, None),
        (1, "visitor", "lead", ts(1, 21), "system", None, None),
        (1, "lead", "mal", ts(1, 21, 10, 1), "system", None, None),
        (1, "mal", "mql", ts(1, 25), "system", None, None),
        (1, "mql", "sal", ts(1, 26), "sales", None, None),
    ],
    6: [(1, None, "lead", datetime(2026, 2, 28, 23, 0, tzinfo=UTC), "system", None, None)],
    7: [
        (1, None, "visitor", ts(1, 2), "system", None, None),
        (1, "visitor", "lead", ts(1, 3), "system", None, None),
        (1, "lead", "mal", ts(1, 3, 10, 1), "system", None, None),
        (1, "mal", "mql", ts(1, 4), "system", None, None),
        (1, "mql", "sal", ts(1, 5), "sales", None, None),
        (1, "sal", "sql", ts(1, 6), "sales", None, None),
        (1, "sql", "opportunity", ts(1, 7), "sales", None, None),
        (1, "opportunity", "recycled", ts(2, 1), "system", "lost", None),
    ],
}

SOURCES = {1: "google", 2: "linkedin", 3: "google", 4: None, 5: "linkedin", 6: "google", 7: "bing"}
CAMPAIGNS = {1: "search_q1", 2: "li_q1", 3: "search_q1", 4: None, 5: "li_q1", 6: None, 7: "bing_q1"}
OWNER = {1: 1, 2: 2, 5: 2, 7: 1}
GRADES = {1: "A", 2: "B", 3: "B", 5: "A", 6: "C", 7: "A"}


def _contacts() -> list[dict[str, Any]]:
    rows = []
    for cid in MOVES:
        first = MOVES[cid][0][3]
        rows.append(
            {
                "id": cid,
                "email": f"p{cid}@example.com",
                "account_id": 1 if cid in (1, 2, 7) else 2 if cid in (3, 5) else None,
                "owner_id": OWNER.get(cid),
                "first_source": SOURCES[cid],
                "first_campaign": CAMPAIGNS[cid],
                "last_campaign": "li_q1" if cid == 1 else CAMPAIGNS[cid],
                "created_at": first,
                "updated_at": first,
            }
        )
    return rows


def _transitions() -> list[dict[str, Any]]:
    rows = []
    for cid, moves in MOVES.items():
        for n, (journey, src, dst, at, role, reason, skipped) in enumerate(moves):
            rows.append(
                {
                    "contact_id": cid,
                    "pipeline": "main",
                    "journey": journey,
                    "from_stage": src,
                    "to_stage": dst,
                    "at": at,
                    "actor": "rep@example.com" if role == "sales" else "system",
                    "actor_role": role,
                    "reason": reason,
                    "skipped": skipped,
                    "playbook_version": "test",
                    "idempotency_key": f"t{cid}-{n}",
                }
            )
    return rows


def _deals() -> list[dict[str, Any]]:
    base = {"pipeline": "main", "currency": "USD", "loss_reason": None, "competitor": None}
    return [
        {
            **base,
            "id": 1,
            "contact_id": 1,
            "account_id": 1,
            "name": "c1",
            "amount": 10000,
            "stage": "closed_won",
            "probability": 1.0,
            "expected_close": date(2026, 2, 20),
            "opened_at": ts(1, 20),
            "closed_at": ts(2, 20),
            "status": "won",
            "owner_id": 1,
        },
        {
            **base,
            "id": 2,
            "contact_id": 2,
            "account_id": 1,
            "name": "c2",
            "amount": 5000,
            "stage": "proposal",
            "probability": 0.6,
            "expected_close": date(2026, 4, 15),
            "opened_at": ts(3, 6),
            "closed_at": None,
            "status": "open",
            "owner_id": 2,
        },
        {
            **base,
            "id": 3,
            "contact_id": 7,
            "account_id": 1,
            "name": "c7",
            "amount": 8000,
            "stage": "closed_lost",
            "probability": 0.0,
            "expected_close": date(2026, 2, 1),
            "opened_at": ts(1, 7),
            "closed_at": ts(2, 1),
            "status": "lost",
            "owner_id": 1,
            "loss_reason": "price",
            "competitor": "rivalcrm",
        },
    ]


def _events() -> list[dict[str, Any]]:
    rows = [
        (1, "page_view", ts(1, 5), "/pricing", "search_q1", "google"),
        (1, "demo_request", ts(1, 9), None, None, None),
        (1, "call", ts(1, 15, 14), None, None, None),
        (2, "page_view", ts(1, 7), "/blog/x", "li_q1", "linkedin"),
        (2, "email_sent", ts(3, 6), None, None, None),
        (3, "page_view", datetime(2026, 1, 31, 23, 30, tzinfo=UTC), "/pricing", "search_q1", "google"),
        (5, "page_view", ts(1, 20), "/pricing", "li_q1", "linkedin"),
        (6, "page_view", datetime(2026, 2, 28, 23, 0, tzinfo=UTC), "/blog/y", None, None),
        (7, "page_view", ts(1, 2), "/pricing", "bing_q1", "bing"),
        (7, "demo_request", ts(1, 3), None, None, None),
        (7, "meeting", ts(1, 6, 11), None, None, None),
    ]
    return [
        {
            "idempotency_key": f"e{n}",
            "contact_id": cid,
            "type": typ,
            "occurred_at": at,
            "received_at": at,
            "path": path,
            "campaign": camp,
            "source": src,
            "properties": {},
        }
        for n, (cid, typ, at, path, camp, src) in enumerate(rows)
    ]


def populate(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(
            t.users.insert(),
            [
                {
                    "id": 1,
                    "email": "ann@example.com",
                    "name": "Ann",
                    "role": "sales",
                    "team": "emea",
                    "created_at": ts(1, 1),
                },
                {
                    "id": 2,
                    "email": "bob@example.com",
                    "name": "Bob",
                    "role": "sales",
                    "team": "emea",
                    "created_at": ts(1, 1),
                },
            ],
        )
        conn.execute(
            t.accounts.insert(),
            [
                {
                    "id": 1,
                    "domain": "big.example",
                    "industry": "software",
                    "employees": 2000,
                    "country": "DE",
                    "created_at": ts(1, 1),
                    "updated_at": ts(1, 1),
                },
                {
                    "id": 2,
                    "domain": "small.example",
                    "industry": "retail",
                    "employees": 20,
                    "country": "FR",
                    "created_at": ts(1, 1),
                    "updated_at": ts(1, 1),
                },
            ],
        )
        conn.execute(t.contacts.insert(), _contacts())
        conn.execute(t.transitions.insert(), _transitions())
        conn.execute(t.deals.insert(), _deals())
        conn.execute(t.events.insert(), _events())
        conn.execute(
            t.scores.insert(),
            [
                {
                    "contact_id": cid,
                    "score_group": "main",
                    "fit": 0,
                    "engagement": 0,
                    "negative": 0,
                    "total": 0,
                    "grade": g,
                    "temperature": "warm",
                    "quadrant": "x",
                    "mql_eligible": False,
                    "explanation": {},
                    "as_of": AS_OF,
                    "playbook_version": "test",
                    "updated_at": AS_OF,
                }
                for cid, g in GRADES.items()
            ],
        )
        conn.execute(
            t.campaigns.insert(),
            [
                {"id": 1, "key": "search_q1", "name": "Search Q1", "channel": "paid_search", "created_at": ts(1, 1)},
                {"id": 2, "key": "li_q1", "name": "LinkedIn Q1", "channel": "linkedin_ads", "created_at": ts(1, 1)},
                {"id": 3, "key": "bing_q1", "name": "Bing Q1", "channel": "paid_search", "created_at": ts(1, 1)},
            ],
        )
        conn.execute(
            t.campaign_costs.insert(),
            [
                {"campaign_id": 1, "day": date(2026, 1, 1), "amount": 300, "currency": "USD"},
                {"campaign_id": 1, "day": date(2026, 2, 1), "amount": 300, "currency": "USD"},
                {"campaign_id": 2, "day": date(2026, 1, 15), "amount": 1000, "currency": "USD"},
                {"campaign_id": 3, "day": date(2026, 1, 2), "amount": 400, "currency": "USD"},
            ],
        )
        conn.execute(
            t.timers.insert(),
            [
                {
                    "key": "sla-5",
                    "kind": "sla_breach",
                    "contact_id": 5,
                    "due_at": ts(1, 27),
                    "fired_at": ts(1, 27),
                    "payload": {"stage": "sal", "owner_id": 2},
                },
                {
                    "key": "sla-1",
                    "kind": "sla_breach",
                    "contact_id": 1,
                    "due_at": ts(1, 12),
                    "fired_at": None,
                    "cancelled_at": ts(1, 11, 12),
                    "payload": {"stage": "sal", "owner_id": 1},
                },
            ],
        )


@pytest.fixture(scope="session")
def playbook() -> Playbook:
    return load_playbook(example_path("b2b"))


ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "duckdb"]


@pytest.fixture(scope="session")
def world_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The world in a migrated SQLite store, built once per session (the analytics tests only read)."""
    db = connect(f"sqlite:///{tmp_path_factory.mktemp('world')}/store.db")
    upgrade(db)
    populate(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def world_pg() -> Iterator[Database]:
    """The world in its own PostgreSQL schema, built once per session."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = connect(PG_URL)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = connect(PG_URL, schema=schema)
    upgrade(db)
    populate(db)
    yield db
    db.dispose()
    with admin.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def world_parquet(world_sqlite: Database, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("parquet")
    export_parquet(world_sqlite, directory)
    return directory


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The world, loaded, on one engine (spark reads a Parquet export of the SQLite store)."""
    kind = request.param
    if kind == "spark":
        eng = open_engine(None, "spark", parquet_dir=request.getfixturevalue("world_parquet"))
    elif kind == "postgres":
        eng = open_engine(request.getfixturevalue("world_pg"))
    else:
        eng = open_engine(request.getfixturevalue("world_sqlite"), "duckdb" if kind == "duckdb" else "store")
    yield eng
    eng.close()


@pytest.fixture
def ctx(engine: Engine, playbook: Playbook) -> Context:
    return Context(engine, playbook, "main", AS_OF)


@pytest.fixture(scope="session")
def report(engine: Engine, playbook: Playbook) -> FunnelReport:
    """The full all-time report (split by source, monthly cohorts), once per engine."""
    ctx = Context(engine, playbook, "main", AS_OF)
    return build_report(ctx, ReportOptions(by=Dimension.SOURCE, cohort=Grain.MONTH))

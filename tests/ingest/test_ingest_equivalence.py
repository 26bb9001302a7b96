"""Batch intake is one-at-a-time intake: storing a chunk of payloads gives the same store as storing its events one
per call in the order the chunk applies them (occurrence order, the first delivery of a repeated key winning) —
same contacts, accounts, identities, merges, events, attribution, traits and activity queue (hypothesis, on
SQLite and PostgreSQL).

Stores are compared by content, not by ids: contacts by who they are (email, external id, cookies), accounts by
domain, events by idempotency key. ``version`` and ``updated_at`` are bookkeeping of how many writes it took and
are left out.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from funnelbridge.domain.clock import FrozenClock, as_utc
from funnelbridge.domain.events import EventBus
from funnelbridge.errors import InputError
from funnelbridge.ingest import ingest_events, parse_payload
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database, connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import accounts, activity_queue, contacts, events, identities, merges

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
_ns = itertools.count()
PG_URL = os.environ.get("FUNNELBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _runtime(db: Database) -> Runtime:
    return Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def pair(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Runtime, Runtime]]:
    """Two empty stores of the same kind: one fed chunks, one fed single events."""
    if request.param == "sqlite":
        dbs = [connect(f"sqlite:///{tmp_path}/{name}.db") for name in ("chunk", "single")]
        schemas: list[str] = []
    else:
        schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
        admin = connect(PG_URL)
        with admin.engine.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        dbs = [connect(PG_URL, schema=schema) for schema in schemas]
    for db in dbs:
        upgrade(db)
    yield _runtime(dbs[0]), _runtime(dbs[1])
    for db in dbs:
        db.dispose()
    if schemas:
        with admin.engine.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --- payloads -------------------------------------------------------------------------------------------------


@st.composite
def _when(draw: st.DrawFn) -> str:
    at = START + timedelta(minutes=draw(st.integers(0, 40)))
    zone = draw(st.sampled_from(["Z", "+01:00", "-05:00"]))
    offset = {"Z": 0, "+01:00": 1, "-05:00": -5}[zone]
    return (at + timedelta(hours=offset)).replace(tzinfo=None).isoformat() + zone


_TRAITS = st.fixed_dictionaries(
    {},
    optional={
        "first_name": st.sampled_from(["Ada", "Bo", ""]),
        "title": st.sampled_from(["CTO", "Intern"]),
        "country": st.sampled_from(["DE", "US"]),
        "company": st.sampled_from(["Acme", "Beta Corp"]),
        "employees": st.integers(1, 5000),
        "industry": st.sampled_from(["software", None]),
        "plan": st.sampled_from(["pro", "free"]),
        "unsubscribed": st.booleans(),
    },
)
_UTM = st.fixed_dictionaries(
    {},
    optional={
        "utm_source": st.sampled_from(["google", "linkedin", "newsletter"]),
        "utm_medium": st.sampled_from(["cpc", "email"]),
        "utm_campaign": st.sampled_from(["spring", "webinar-1"]),
        "path": st.sampled_from(["/", "/pricing", "/blog"]),
    },
)


@st.composite
def _payload(draw: st.DrawFn, ns: int) -> dict[str, Any]:
    anon = draw(st.sampled_from([None, f"a{ns}-1", f"a{ns}-2", f"a{ns}-3"]))
    domain = draw(st.sampled_from([f"acme{ns}.example", f"beta{ns}.example", "gmail.com"]))
    email = draw(st.sampled_from([None, f"p1.{ns}@{domain}", f"P2.{ns}@{domain}", f"p3.{ns}@{domain}"]))
    user = draw(st.sampled_from([None, None, f"u{ns}-1"]))
    kind = draw(st.sampled_from(["page", "track", "identify", "form", "email", "bad"]))
    payload: dict[str, Any] = {"type": kind, "timestamp": draw(_when()), "properties": draw(_UTM)}
    if kind == "bad":
        payload = draw(st.sampled_from([{"type": "page"}, {"type": "nope", "anonymous_id": "x"}, {"type": "identify"}]))
    elif kind in ("identify", "form"):
        payload["traits"] = draw(_TRAITS)
        if draw(st.booleans()):
            payload["traits"]["domain"] = f"acme{ns}.example"
    elif kind in ("track", "email"):
        payload["event"] = draw(st.sampled_from(["open", "click", "unsubscribe", "bounce", "asset_download"]))
    for name, value in (("anonymous_id", anon), ("email", email), ("user_id", user)):
        if value is not None and kind != "bad":
            payload[name] = value
    if draw(st.integers(0, 4)) == 0:
        payload["idempotency_key"] = f"k{ns}-{draw(st.integers(0, 3))}"
    return payload


@st.composite
def _sequence(draw: st.DrawFn) -> list[dict[str, Any]]:
    ns = next(_ns)
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 18))):
        if out and draw(st.integers(0, 5)) == 0:
            out.append(dict(draw(st.sampled_from(out))))  # a re-delivery
        else:
            out.append(draw(_payload(ns)))
    return out


def _one_at_a_time_order(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The payloads in the order a chunk applies them: bad ones anywhere, then each key's first delivery in
    occurrence order."""
    bad, first = [], {}
    for payload in payloads:
        try:
            act = parse_payload(payload, index=0, now=NOW)
        except InputError:
            bad.append(payload)
            continue
        first.setdefault(act.key, (act.occurred_at, act.key, payload))
    return bad + [p for _, _, p in sorted(first.values(), key=lambda t: t[:2])]


# --- store snapshot by content --------------------------------------------------------------------------------


def _rows(conn: Any, table: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(table)).mappings()]


def _norm(value: Any) -> Any:
    return as_utc(value) if isinstance(value, datetime) else value


def _sorted(items: Any) -> list[Any]:
    return sorted(items, key=repr)


def snapshot(rt: Runtime) -> dict[str, Any]:
    with rt.db.read() as conn:
        people, firms = _rows(conn, contacts), _rows(conn, accounts)
        links, stored, joins = _rows(conn, identities), _rows(conn, events), _rows(conn, merges)
        queued = _rows(conn, activity_queue)
    cookies: dict[int, list[str]] = {}
    for link in links:
        cookies.setdefault(link["contact_id"], []).append(link["anonymous_id"])
    merged_cookies = {m["merged_id"]: sorted(m["snapshot"]["anonymous_ids"]) for m in joins}
    by_id = {c["id"]: c for c in people}

    def label(cid: int | None) -> Any:
        if cid is None:
            return None
        c = by_id[cid]
        if c["merged_into"] is not None:
            return ("merged", tuple(merged_cookies.get(cid, [])), label(c["merged_into"]))
        return (c["email"], c["external_id"], tuple(sorted(cookies.get(cid, []))))

    firm = {a["id"]: (a["domain"], a["external_id"]) for a in firms}
    skip = {"id", "version", "updated_at"}
    return {
        "contacts": _sorted(
            (
                label(c["id"]),
                _sorted(
                    (k, firm.get(v) if k == "account_id" else label(v) if k == "merged_into" else _norm(v))
                    for k, v in c.items()
                    if k not in skip
                ),
            )
            for c in people
        ),
        "accounts": _sorted(_sorted((k, _norm(v)) for k, v in a.items() if k not in skip) for a in firms),
        "identities": _sorted(
            (i["anonymous_id"], label(i["contact_id"]), _norm(i["first_seen_at"]), _norm(i["identified_at"]))
            for i in links
        ),
        "events": _sorted(
            _sorted((k, label(v) if k == "contact_id" else _norm(v)) for k, v in e.items() if k not in {"id"})
            for e in stored
        ),
        "merges": _sorted(
            (label(m["survivor_id"]), label(m["merged_id"]), m["reason"], _norm(m["at"]), _norm(m["reverted_at"]))
            for m in joins
        ),
        "queued": _sorted({str(_live(by_id, q["contact_id"])) for q in queued}),
    }


def _live(by_id: dict[int, dict[str, Any]], cid: int) -> tuple[Any, ...]:
    while by_id[cid]["merged_into"] is not None:
        cid = by_id[cid]["merged_into"]
    c = by_id[cid]
    return (c["email"], c["external_id"], c["created_at"])


def _wipe(rt: Runtime) -> None:
    """Start each example from an empty store (a failing example must not leave its state to the next)."""
    with rt.db.transaction() as conn:
        for table in (activity_queue, events, identities, merges, contacts, accounts):
            conn.execute(table.delete())


def _summary(s: Any) -> tuple[Any, ...]:
    problems = _sorted((p.field, p.reason) for r in s.rejections for p in r.problems)
    return (s.accepted, s.rejected, s.contacts_created, s.identified, s.merged, problems)


def _totals(summaries: list[Any]) -> tuple[Any, ...]:
    sums = [sum(getattr(s, name) for s in summaries) for name in ("accepted", "rejected")]
    sums += [sum(getattr(s, n) for s in summaries) for n in ("contacts_created", "identified", "merged")]
    problems = _sorted((p.field, p.reason) for s in summaries for r in s.rejections for p in r.problems)
    return (*sums, problems)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(_sequence(), min_size=1, max_size=3))
def test_chunk_intake_equals_one_event_at_a_time(
    pair: tuple[Runtime, Runtime], chunks: list[list[dict[str, Any]]]
) -> None:
    chunked, single = pair
    for rt in pair:
        _wipe(rt)
    for payloads in chunks:
        got = ingest_events(chunked, payloads, defer=True)
        want = [ingest_events(single, [p], defer=True) for p in _one_at_a_time_order(payloads)]
        assert _summary(got) == _totals(want)
        assert snapshot(chunked) == snapshot(single)

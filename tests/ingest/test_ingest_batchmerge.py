"""batchmerge.merge_pairs equals merging the pairs one by one (merge_contacts), on both stores: contacts, moved
events, cookies and deals, the merges rows with their snapshots — and unmerge restores from either."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, insert, select

from funnelbridge.errors import DomainError
from funnelbridge.ingest.batchmerge import merge_pairs
from funnelbridge.ingest.identity import merge_contacts, unmerge_contacts
from funnelbridge.runtime import Runtime
from funnelbridge.store import contacts as contact_repo
from funnelbridge.store import events as event_repo
from funnelbridge.store.identities import link_identity
from funnelbridge.store.tables import contacts, deals, events, identities, merges

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PEOPLE = 7
NOW = T0 + timedelta(days=60)


def _world(conn: Connection) -> list[int]:
    """Seven contacts with varied columns, events at shuffled times, cookies and deals (explicit ids: the same
    in every rolled-back transaction, on PostgreSQL too)."""
    ids = []
    for i in range(PEOPLE):
        values: dict[str, Any] = {"id": 1001 + i, "email": f"p{i}@acme.com", "created_at": T0 + timedelta(days=9 - i),
                                  "updated_at": T0, "identified_at": T0 + timedelta(days=i % 3)}  # fmt: skip
        if i % 2:
            values |= {"external_id": f"X{i}", "first_name": f"F{i}", "properties": {"k": i, f"only{i}": True}}
        if i % 3 == 0:
            values |= {"first_source": f"s{i}", "first_touch_at": T0 + timedelta(hours=i), "last_source": f"s{i}",
                       "last_touch_at": T0 + timedelta(hours=i), "unsubscribed": i == 3, "title": "VP"}  # fmt: skip
        ids.append(contact_repo.insert_contact(conn, values))
    blank = dict.fromkeys(("anonymous_id", "path", "campaign", "source", "medium", "properties"))
    rows = [{**blank, "id": 2001 + 10 * i + j, "idempotency_key": f"e{i}-{j}", "contact_id": cid, "type": "page_view",
             "received_at": T0, "occurred_at": T0 + timedelta(minutes=(j * 37 + i * 11) % 50)}
            for i, cid in enumerate(ids) for j in range(i % 4)]  # fmt: skip
    event_repo.insert_events(conn, rows, fast=False)
    for i, cid in enumerate(ids):
        for j in range(i % 3):
            link_identity(conn, f"c{i}-{j}", cid, T0)
        if i % 2 == 0:
            conn.execute(insert(deals).values(id=3001 + i, contact_id=cid, name=f"d{i}", amount=10, stage="prospecting",
                                              probability=0.1, opened_at=T0, status="open"))  # fmt: skip
    return ids


def _state(conn: Connection) -> dict[str, Any]:
    def table(t: Any, *order: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in conn.execute(select(t).order_by(*order)).mappings()]

    done = [{k: v for k, v in r.items() if k != "id"} for r in table(merges, merges.c.id)]
    if conn.dialect.name != "sqlite":  # no order to keep: one query per contact has none either
        for r in done:
            r["snapshot"] = {k: sorted(v) if isinstance(v, list) else v for k, v in r["snapshot"].items()}
    return {"contacts": table(contacts, contacts.c.id), "merges": done,
            "events": [(r["id"], r["contact_id"]) for r in table(events, events.c.id)],
            "identities": table(identities, identities.c.anonymous_id), "deals": table(deals, deals.c.id)}  # fmt: skip


def _valid(drawn: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pairs one-by-one merging accepts: no self-merge, nobody merged away twice."""
    away: set[int] = set()
    out = []
    for survivor, merged in drawn:
        if survivor != merged and merged not in away:
            out.append((survivor, merged))
            away.add(merged)
    return out


def _both(rt: Runtime, pairs: list[tuple[int, int]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state after merging ``pairs`` one by one, and after merge_pairs (each rolled back)."""
    found = []
    for batch in (False, True):
        with rt.db.engine.connect() as conn, conn.begin() as tx:
            ids = _world(conn)
            named = [(ids[s], ids[m]) for s, m in pairs]
            if batch:
                merge_pairs(conn, named, "test", NOW)
            else:
                for survivor, merged in named:
                    merge_contacts(conn, survivor, merged, "test", NOW)
            found.append(_state(conn))
            tx.rollback()
    return found[0], found[1]


PAIRS = st.lists(st.tuples(st.integers(0, PEOPLE - 1), st.integers(0, PEOPLE - 1)), max_size=8).map(_valid)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=PAIRS)
def test_merge_pairs_equals_merging_one_by_one(rt: Runtime, pairs: list[tuple[int, int]]) -> None:
    one_by_one, batched = _both(rt, pairs)
    assert batched["contacts"] == one_by_one["contacts"]
    assert batched == one_by_one


def test_chained_pairs_and_unmerge(rt: Runtime) -> None:
    pairs = [(1, 2), (3, 4), (1, 5), (0, 1), (6, 3)]  # 1 survives twice, then is merged; 3 survives, then merged
    one_by_one, batched = _both(rt, pairs)
    assert batched == one_by_one and len(batched["merges"]) == 5
    with rt.db.engine.connect() as conn, conn.begin() as tx:
        ids = _world(conn)
        before = _state(conn)
        merge_pairs(conn, [(ids[s], ids[m]) for s, m in pairs], "test", NOW)
        for merge_id in reversed(list(conn.execute(select(merges.c.id).order_by(merges.c.id)).scalars())):
            unmerge_contacts(conn, merge_id, NOW)
        after = _state(conn)
        tx.rollback()
    unchanged = ("updated_at", "version")
    assert [{k: v for k, v in c.items() if k not in unchanged} for c in after["contacts"]] == [
        {k: v for k, v in c.items() if k not in unchanged} for c in before["contacts"]
    ]
    assert (after["events"], after["identities"], after["deals"]) == (
        before["events"],
        before["identities"],
        before["deals"],
    )


@pytest.mark.parametrize("pairs", [[(0, 1), (2, 1)], [(0, 0)], [(0, 1), (1, 2), (3, 1)]])
def test_refused_merges_fail_as_one_by_one(rt: Runtime, pairs: list[tuple[int, int]]) -> None:
    for batch in (False, True):
        with rt.db.engine.connect() as conn, conn.begin() as tx:
            ids = _world(conn)
            named = [(ids[s], ids[m]) for s, m in pairs]
            with pytest.raises(DomainError) as caught:
                if batch:
                    merge_pairs(conn, named, "test", NOW)
                else:
                    for survivor, merged in named:
                        merge_contacts(conn, survivor, merged, "test", NOW)
            tx.rollback()
        assert str(caught.value).startswith(("cannot merge contact", "contact")), json.dumps(str(caught.value))

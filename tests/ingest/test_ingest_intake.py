"""Event intake against both stores: identity resolution, duplicates, out-of-order delivery, attribution, merges."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_helpers import accounts, by_email, events, identify, identities, live_contacts, merges, page, rows, track
from sqlalchemy import select

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import DomainError
from funnelbridge.ingest import ingest_events, intake, merge, unmerge
from funnelbridge.ingest.events import Activity, parse_payload
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import contacts
from funnelbridge.store.tables import events as events_table


def test_visitor_becomes_lead_with_earlier_events_and_first_touch(rt: Runtime) -> None:
    ingest_events(rt, [page("a1", "2026-03-01T09:00:00+01:00", "/pricing", utm_source="google", utm_campaign="spring")])
    ingest_events(rt, [page("a1", "2026-03-01T10:00:00+01:00", "/blog")])
    (visitor,) = live_contacts(rt)
    assert visitor["email"] is None and visitor["identified_at"] is None
    summary = ingest_events(rt, [identify("a1", "Ada@Acme.COM", "2026-03-01T11:00:00+01:00", first_name="Ada")])
    assert summary.identified == 1 and summary.contacts_created == 0
    (lead,) = live_contacts(rt)
    assert lead["id"] == visitor["id"] and lead["email"] == "ada@acme.com" and lead["first_name"] == "Ada"
    assert as_utc(lead["created_at"]) == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert as_utc(lead["identified_at"]) == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert (lead["first_source"], lead["first_campaign"]) == ("google", "spring")
    assert {e["contact_id"] for e in rows(rt, events)} == {lead["id"]}
    later = ingest_events(rt, [page("a1", "2026-03-02T10:00:00+01:00", "/pricing")])
    assert later.contacts_created == 0 and len(live_contacts(rt)) == 1


def test_duplicates_dropped_by_given_or_derived_key(rt: Runtime) -> None:
    batch = [
        track("asset_download", "2026-03-01T09:00:00Z", email="a@acme.com"),
        track("asset_download", "2026-03-01T09:00:00Z", email="a@acme.com"),
        {**track("email_click", "2026-03-01T09:05:00Z", email="a@acme.com"), "idempotency_key": "k1"},
        {**track("email_click", "2026-03-01T09:06:00Z", email="a@acme.com"), "idempotency_key": "k1"},
    ]
    first = ingest_events(rt, batch)
    assert (first.accepted, first.duplicates) == (2, 2)
    again = ingest_events(rt, batch)
    assert (again.accepted, again.duplicates) == (0, 4)
    assert len(rows(rt, events)) == 2


def test_out_of_order_delivery_gives_the_same_store(rt: Runtime) -> None:
    batch = [
        page("v", "2026-02-01T09:00:00Z", "/", utm_source="linkedin", utm_medium="paid_social"),
        page("v", "2026-02-02T09:00:00Z", "/pricing", utm_source="google", utm_medium="cpc"),
        identify("v", "v@acme.com", "2026-02-03T09:00:00Z"),
        page("v", "2026-02-04T09:00:00Z", "/blog", utm_source="newsletter"),
    ]
    for payload in reversed(batch):
        ingest_events(rt, [payload])
    (c,) = live_contacts(rt)
    assert c["email"] == "v@acme.com"
    assert (c["first_source"], c["last_source"]) == ("linkedin", "newsletter")
    assert as_utc(c["created_at"]) == datetime(2026, 2, 1, 9, tzinfo=UTC)
    assert as_utc(c["identified_at"]) == datetime(2026, 2, 3, 9, tzinfo=UTC)


def test_identifying_as_a_known_contact_merges_the_visitor_and_unmerge_restores(rt: Runtime) -> None:
    ingest_events(rt, [track("webinar_attended", "2026-03-01T12:00:00Z", email="kim@acme.com")])
    ingest_events(rt, [page("cookie", "2026-02-20T09:00:00Z", "/pricing", utm_source="g2")])
    before = {c["id"]: c for c in rows(rt, contacts)}
    summary = ingest_events(rt, [identify("cookie", "kim@acme.com", "2026-03-02T09:00:00Z")])
    assert summary.merged == 1
    kim = by_email(rt, "kim@acme.com")
    assert as_utc(kim["created_at"]) == datetime(2026, 2, 20, 9, tzinfo=UTC)
    assert kim["first_source"] == "g2"
    assert {e["contact_id"] for e in rows(rt, events)} == {kim["id"]}
    assert {i["contact_id"] for i in rows(rt, identities)} == {kim["id"]}
    (m,) = rows(rt, merges)
    result = unmerge(rt, m["id"])
    after = {c["id"]: c for c in rows(rt, contacts)}
    keep = ("email", "created_at", "first_source", "first_touch_at", "merged_into", "identified_at")
    for cid in before:
        assert {k: after[cid][k] for k in keep} == {k: before[cid][k] for k in keep}
    visitor = result.merged_id
    assert [i["contact_id"] for i in rows(rt, identities)] == [visitor]
    assert {e["contact_id"] for e in rows(rt, events) if e["type"] == "page_view"} == {visitor}
    with pytest.raises(DomainError):
        unmerge(rt, m["id"])


def test_manual_merge_refuses_self_and_double(rt: Runtime) -> None:
    ingest_events(rt, [track("x", "2026-03-01T12:00:00Z", email=e) for e in ("a@b.io", "c@b.io")])
    a, c = by_email(rt, "a@b.io")["id"], by_email(rt, "c@b.io")["id"]
    with pytest.raises(DomainError):
        merge(rt, a, a)
    merge(rt, a, c, "same person")
    with pytest.raises(DomainError):
        merge(rt, a, c)


def test_accounts_by_domain_never_for_free_mail(rt: Runtime) -> None:
    ingest_events(
        rt,
        [
            identify(None, "a@acme.com", "2026-03-01T09:00:00Z", company="Acme Inc", employees="1,200"),
            identify(None, "b@acme.com", "2026-03-01T09:00:00Z"),
            identify(None, "c@gmail.com", "2026-03-01T09:00:00Z", company="Freelance"),
            identify(None, "d@yahoo.co.uk", "2026-03-01T09:00:00Z"),
        ],
    )
    (acme,) = rows(rt, accounts)
    assert (acme["domain"], acme["name"], acme["employees"]) == ("acme.com", "Acme Inc", 1200)
    assert by_email(rt, "b@acme.com")["account_id"] == acme["id"]
    assert by_email(rt, "c@gmail.com")["account_id"] is None
    assert by_email(rt, "d@yahoo.co.uk")["account_id"] is None
    with rt.db.read() as conn:  # attributes never given stay SQL NULL (not a JSON null)
        unset = select(accounts.c.id).where(accounts.c.technologies.is_(None), accounts.c.industry.is_(None))
        assert list(conn.execute(unset).scalars()) == [acme["id"]]


def test_unsubscribe_and_bounce_events_set_flags(rt: Runtime) -> None:
    ingest_events(
        rt,
        [
            {"type": "email", "event": "unsubscribe", "email": "u@acme.com", "timestamp": "2026-03-01T09:00:00Z"},
            {"type": "email", "event": "bounce", "email": "b@acme.com", "timestamp": "2026-03-01T09:00:00Z"},
        ],
    )
    assert by_email(rt, "u@acme.com")["unsubscribed"] and by_email(rt, "b@acme.com")["bounced"]
    assert {e["type"] for e in rows(rt, events)} == {"email_unsubscribe", "email_bounce"}


def test_bad_payloads_rejected_good_ones_stored(rt: Runtime) -> None:
    summary = ingest_events(
        rt,
        [
            track("demo_request", "2026-03-01T09:00:00Z", email="ok@acme.com"),
            {"type": "track", "event": "x", "email": "ok@acme.com", "timestamp": "2026-03-01T09:00:00"},
            "not an object",
        ],  # type: ignore[list-item]
    )
    assert (summary.accepted, summary.rejected) == (1, 2)
    assert [(r.row, r.field) for r in summary.rejections] == [(2, "timestamp"), (3, "payload")]


def test_scores_and_lifecycle_follow_intake(rt: Runtime) -> None:
    from funnelbridge.store.tables import pipeline_states, scores

    ingest_events(rt, [track("demo_request", "2026-03-01T09:00:00Z", email="vp@bigco.com")])
    assert len(rows(rt, scores)) >= 1
    assert rows(rt, pipeline_states)[0]["stage"] not in ("visitor",)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _json_values, max_size=5))
def test_event_properties_json_is_json_dumps(props: dict[str, Any]) -> None:
    """The stored JSON text of event properties is exactly ``json.dumps``'s (the encoder is only built once)."""
    assert intake._json(props) == json.dumps(props)


def test_event_properties_json_fails_as_json_dumps() -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular reference"):
        intake._json(circular)
    with pytest.raises(TypeError, match="not JSON serializable"):
        intake._json({"x": object()})
    assert intake._json([1, "a"]) == json.dumps([1, "a"])


def test_a_replaced_occurrence_time_is_the_stored_one(rt: Runtime) -> None:
    """``Activity.stamp`` (the fast path's SQLite text of ``occurred_at``) cannot outlive the time it was read
    from: ``dataclasses.replace`` drops it, no constructor takes it, and intake stores the new time."""
    now = rt.clock.now()
    read = parse_payload(page("v1", "2026-03-01T09:00:00+00:00"), index=0, now=now)
    assert read.stamp == "2026-03-01 09:00:00.000000"  # the fast path read it off the text
    later = read.occurred_at + timedelta(hours=5, microseconds=7)
    moved = dataclasses.replace(read, key="moved", occurred_at=later)
    assert moved.stamp is None
    with pytest.raises(TypeError):
        Activity(*dataclasses.astuple(read))  # type: ignore[misc]  # stamp is no constructor argument
    with rt.db.transaction() as conn:
        intake.store_activities(conn, [read, moved], now)
    stored = {r["idempotency_key"]: as_utc(r["occurred_at"]) for r in rows(rt, events_table)}
    assert stored == {read.key: read.occurred_at, "moved": later}

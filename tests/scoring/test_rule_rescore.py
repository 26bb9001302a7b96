"""rescore_all on the real store: same answers as score_contact, stored rows replaced, crossings published."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rule_helpers import T0, add_account, add_contact, add_events, playbook
from sqlalchemy import select

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus, ScoreCrossed
from funnelbridge.ingest.identity import merge_contacts
from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import load_playbook
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.incremental_store import score_leads
from funnelbridge.scoring.service import explain_contact, rescore_all, score_contacts
from funnelbridge.store import Database
from funnelbridge.store.tables import scores

NOW = T0 + timedelta(days=90)


def _seed(db: Database) -> list[int]:
    ids = []
    with db.transaction() as conn:
        acc = add_account(conn, domain="acme.com", employees=1200, industry="Software", country="DE",
                          technologies=["Salesforce", "AWS"])  # fmt: skip
        for i, (email, title) in enumerate(
            [("vp@acme.com", "VP Marketing"), ("kid@gmail.com", "Student"), ("x@rivalcrm.com", None)]
        ):
            cid = add_contact(conn, email=email, title=title, account_id=acc if i != 1 else None)
            evs = [
                {"type": "page_view", "path": "/pricing", "occurred_at": NOW - timedelta(days=d, hours=i)}
                for d in (0, 0, 0, 1, 20)
            ]
            evs += [{"type": "email_click", "occurred_at": NOW - timedelta(days=59 + i)}]
            evs += [{"type": "demo_request", "occurred_at": NOW - timedelta(days=3)}] if i == 0 else []
            evs += [{"type": "webinar_attended", "occurred_at": NOW + timedelta(days=1)}]  # future: ignored
            add_events(conn, cid, evs)
            ids.append(cid)
    return ids


@pytest.mark.parametrize("example", ["b2b", "b2c"])
def test_batch_equals_incremental_on_the_store(db: Database, example: str) -> None:
    rt = Runtime(db, load_playbook(example_path(example)), FrozenClock(NOW), EventBus(published=[]))
    ids = _seed(db)
    summary = rescore_all(rt)
    assert summary.engine == "duckdb" and summary.leads == 3
    with db.read() as conn:
        stored = {r.contact_id: r for r in conn.execute(select(scores).where(scores.c.score_group == "main"))}
    for cid in ids:
        inc = explain_contact(rt, cid).main
        row = stored[cid]
        for key in ("fit", "engagement", "negative", "total"):
            assert getattr(row, key) == pytest.approx(getattr(inc, key), abs=1e-6)
        assert (row.grade, row.temperature, row.quadrant, row.mql_eligible) == (
            inc.grade, inc.temperature, inc.quadrant, inc.mql_eligible,
        )  # fmt: skip
        assert [i["rule"] for i in row.explanation] == [i.rule for i in inc.explanation]
        assert row.playbook_version == rt.playbook.version
    assert sum(summary.grades.values()) == 3


def test_rescore_replaces_rows_and_publishes_decay_crossings(db: Database) -> None:
    pb = playbook({"engagement": [{"event": "webinar", "points": 80, "half_life": "7d"}], "mql": {"engagement": 50}})
    rt = Runtime(db, pb, FrozenClock(NOW), EventBus(published=[]))
    with db.transaction() as conn:
        cid = add_contact(conn, email="a@b.co")
        add_events(conn, cid, [{"type": "webinar", "occurred_at": NOW}])
    rescore_all(rt)
    assert rt.bus.published and all(e.contact_id == cid for e in rt.bus.published)
    rt.bus.published.clear()
    later = rescore_all(rt, as_of=NOW + timedelta(days=7))  # 80 → 40: falls below MQL (50) and hot (70)
    crossed = {(e.threshold, e.upward) for e in rt.bus.published if isinstance(e, ScoreCrossed)}
    assert crossed == {(50.0, False), (70.0, False)} and later.crossings == 3
    with db.read() as conn:
        rows = list(conn.execute(select(scores)))
    assert len(rows) == 1 and rows[0].engagement == pytest.approx(40.0)


def test_properties_fields_fall_back_to_the_python_path(db: Database) -> None:
    cond = {"field": "properties.seconds", "op": "gte", "value": 30}
    pb = playbook({"engagement": [{"event": "page_view", "where": cond, "points": 5}]})
    rt = Runtime(db, pb, FrozenClock(NOW), EventBus())
    with db.transaction() as conn:
        cid = add_contact(conn, email="a@b.co")
        add_events(conn, cid, [{"type": "page_view", "occurred_at": NOW, "properties": {"seconds": 45}}])
    summary = rescore_all(rt)
    assert summary.engine == "python" and summary.grades == {"D": 1}
    with db.read() as conn:
        assert conn.execute(select(scores.c.engagement)).scalar_one() == 5


def test_rescore_keeps_the_predictive_probability(db: Database) -> None:
    pb = playbook({"engagement": [{"event": "webinar", "points": 10}]})
    rt = Runtime(db, pb, FrozenClock(NOW), EventBus())
    with db.transaction() as conn:
        cid = add_contact(conn, email="a@b.co")
        add_events(conn, cid, [{"type": "webinar", "occurred_at": NOW}])
    rescore_all(rt)
    with db.transaction() as conn:
        conn.execute(scores.update().values(probability=0.42, model_version="m1"))
    rescore_all(rt)
    with db.read() as conn:
        row = conn.execute(select(scores)).one()
    assert (row.probability, row.model_version, row.engagement) == (0.42, "m1", 10)


@pytest.mark.parametrize("where", [None, {"field": "properties.seconds", "op": "gte", "value": 1}])
def test_rescore_reports_progress_to_the_end(db: Database, where: dict[str, object] | None) -> None:
    rule: dict[str, object] = {"event": "page_view", "points": 5} | ({"where": where} if where else {})
    rt = Runtime(db, playbook({"engagement": [rule]}), FrozenClock(NOW), EventBus())
    with db.transaction() as conn:
        for i in range(3):
            add_contact(conn, email=f"p{i}@acme.com")
    calls: list[tuple[int, int]] = []
    summary = rescore_all(rt, progress=lambda done, total: calls.append((done, total)))
    assert summary.engine == ("python" if where else "duckdb")
    assert calls and calls[-1] == (summary.rows, summary.rows) and summary.rows == 3
    assert all(done <= total for done, total in calls)


@pytest.mark.parametrize("where", [None, {"field": "properties.seconds", "op": "gte", "value": 1}])
def test_an_earlier_as_of_is_a_stored_rescore(db: Database, where: dict[str, object] | None) -> None:
    """As docs/scoring.md defines `score --as-of` with an earlier date: that day's scores are stored and the crossings
    from the stored scores to them are published (now, when the stored scores change); the next rescore brings the
    stored scores back to now and publishes the crossings back. A read-only look at the past is `--explain`."""
    rule: dict[str, object] = {"event": "webinar", "points": 80} | ({"where": where} if where else {})
    rt = Runtime(
        db, playbook({"engagement": [rule], "mql": {"engagement": 50}}), FrozenClock(NOW), EventBus(published=[])
    )
    with db.transaction() as conn:
        cid = add_contact(conn, email="a@b.co")
        add_events(
            conn, cid, [{"type": "webinar", "occurred_at": NOW - timedelta(days=3), "properties": {"seconds": 9}}]
        )
    rescore_all(rt)
    assert rt.bus.published is not None
    rt.bus.published.clear()
    past = NOW - timedelta(days=7)  # before the webinar: 80 -> 0
    summary = rescore_all(rt, as_of=past)
    assert (summary.engine, summary.as_of) == ("python" if where else "duckdb", past)
    with db.read() as conn:
        row = conn.execute(select(scores)).one()
    assert (row.engagement, row.as_of.replace(tzinfo=past.tzinfo)) == (0, past)
    down = [e for e in rt.bus.published if isinstance(e, ScoreCrossed)]
    assert {(e.threshold, e.upward) for e in down} == {(35.0, False), (50.0, False), (70.0, False)}  # warm, MQL, hot
    assert all(e.at == NOW for e in down) and summary.crossings == len(rt.bus.published)
    rt.bus.published.clear()
    assert explain_contact(rt, cid, as_of=past).main.engagement == 0  # the read-only way: stores and publishes nothing
    assert rt.bus.published == []
    rescore_all(rt)
    up = {(e.threshold, e.upward) for e in rt.bus.published if isinstance(e, ScoreCrossed)}
    assert up == {(35.0, True), (50.0, True), (70.0, True)}  # the same crossings again, upward


@pytest.mark.parametrize("where", [None, {"field": "properties.seconds", "op": "gte", "value": 1}])
def test_contacts_merged_away_lose_their_rows(db: Database, where: dict[str, object] | None) -> None:
    """docs/scoring.md: a rescore replaces every row; a contact merged away keeps none — on both engines."""
    rule: dict[str, object] = {"event": "page_view", "points": 5} | ({"where": where} if where else {})
    rt = Runtime(db, playbook({"engagement": [rule]}), FrozenClock(NOW), EventBus())
    with db.transaction() as conn:
        keep, gone = (add_contact(conn, email=f"p{i}@acme.com") for i in range(2))
    rescore_all(rt)
    with db.transaction() as conn:
        merge_contacts(conn, keep, gone, "test", NOW)
    summary = rescore_all(rt)
    assert summary.engine == ("python" if where else "duckdb") and summary.leads == 1
    with db.read() as conn:
        assert set(conn.execute(select(scores.c.contact_id, scores.c.score_group))) == {(keep, "main")}


_STATEFUL: list[dict[str, object]] = [
    {"name": "pricing", "event": "page_view", "points": 20, "half_life": "10d", "cap": {"per_day": 30}},
    {"name": "clicks", "event": "email_click", "points": 3, "expires_after": "5d"},
    {"name": "demo", "event": "demo_request", "points": 50, "repeatable": False},
]


@pytest.mark.parametrize("where", [None, {"field": "properties.seconds", "op": "gte", "value": 1}])
def test_an_earlier_as_of_rescore_leaves_incremental_scoring_right(
    db: Database, where: dict[str, object] | None
) -> None:
    """After `score --as-of <past>` (either engine) the next incremental update of a lead scores what the full
    recompute does: the lead-by-lead fallback keeps the stored incremental state (built from the lead's events,
    whatever the rows' as_of) and the update goes on from it; the batch path's replace drops it (rebuilt)."""
    webinar: dict[str, object] = {"name": "webinar", "event": "webinar", "points": 40}
    rules = [*_STATEFUL, webinar | ({"where": where} if where else {})]
    pb = playbook({"engagement": rules, "mql": {"engagement": 50}, "temperature": {"hot": 60, "warm": 20}})
    rt = Runtime(db, pb, FrozenClock(NOW), EventBus(published=[]))
    history = [("page_view", 9), ("email_click", 4), ("page_view", 3), ("page_view", 3), ("webinar", 2)]
    with db.transaction() as conn:
        cid = add_contact(conn, email="a@b.co")
        add_events(conn, cid, [{"type": t, "occurred_at": NOW - timedelta(days=d), "properties": {"seconds": 9}}
                               for t, d in history])  # fmt: skip
        score_contacts(rt, conn, [cid])  # the incremental path: stores the lead's state
    summary = rescore_all(rt, as_of=NOW - timedelta(days=5))
    assert summary.engine == ("python" if where else "duckdb")
    with db.read() as conn:
        row = conn.execute(select(scores).where(scores.c.score_group == "main")).one()
    assert row.engagement == pytest.approx(20.0 * 2 ** (-4 / 10)) and (row.state is not None) is bool(where)
    later = NOW + timedelta(days=1)
    with db.transaction() as conn:
        add_events(conn, cid, [{"type": t, "occurred_at": later - timedelta(hours=h), "properties": {"seconds": 9}}
                               for t, h in (("page_view", 5), ("email_click", 4), ("demo_request", 3))])  # fmt: skip
        went_on = score_leads(pb, conn, [cid], later)[0].incremental
        score_contacts(rt, conn, [cid], later)
    assert went_on is bool(where)  # the fallback's kept state is used
    reference = explain_contact(rt, cid, later).main
    with db.read() as conn:
        row = conn.execute(select(scores).where(scores.c.score_group == "main")).one()
    for key in ("fit", "engagement", "negative", "total"):
        assert getattr(row, key) == pytest.approx(getattr(reference, key), abs=1e-9)
    assert (row.grade, row.temperature, row.mql_eligible) == (
        reference.grade,
        reference.temperature,
        reference.mql_eligible,
    )
    assert row.state is not None

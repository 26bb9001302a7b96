"""The batched activity flow behaves as the plain one: the same scores, crossings, transitions and automation events
for each lead as scoring each lead alone and then advancing each with the facts the criteria read themselves."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.flow import after_activity
from funnelbridge.ingest import ingest_events
from funnelbridge.lifecycle import advance
from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import parse_playbook
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.service import score_contact
from funnelbridge.store import Database
from funnelbridge.store.tables import contacts, pipeline_states, scores

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
KINDS = ["page_view", "email_click", "webinar_attended", "webinar_attended", "asset_download", "demo_request"]


def _payloads(prefix: str, n: int, at: datetime, seed: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        email = f"{prefix}{i}@co{i}.com"
        if seed == 0:
            traits = {"title": ["VP Sales", "Student", "Head of Ops"][i % 3], "company": f"Co{i}", "employees": 50 * i}
            out.append({"type": "identify", "anonymous_id": f"{prefix}a{i}", "email": email,
                        "timestamp": (at - timedelta(days=3)).isoformat(), "traits": traits})  # fmt: skip
        for k in range((i * 7 + seed) % 4):
            kind = KINDS[(i + k + seed) % len(KINDS)]
            event: dict[str, Any] = {"type": "track", "event": kind, "email": email}
            if kind == "page_view":
                event = {"type": "page", "email": email, "properties": {"path": "/pricing"}}
            out.append({**event, "timestamp": (at - timedelta(hours=k + 1)).isoformat()})
    return out


def _plain_flow(rt: Runtime, conn: Connection, ids: list[int]) -> int:
    """The reference: each lead scored alone, then advanced with its own reads (state and facts)."""
    for cid in ids:
        score_contact(rt, conn, cid)
    return sum(len(advance(rt, conn, cid)) for cid in ids)


def _published(bus: EventBus, names: dict[int, str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for event in bus.published or []:
        data = asdict(event)
        data["contact_id"] = names.get(data.get("contact_id", -1))
        out[f"{type(event).__name__} {sorted(data.items())}"] += 1
    return out


def _playbook() -> Playbook:
    """The b2b example, with MQL also reachable by two webinars within a week (stage criteria on event counts)."""
    text = example_path("b2b").read_text()
    hand_raise = "- {field: events.count, event: demo_request, op: gte, value: 1}"
    assert hand_raise in text
    webinars = "- {field: events.count, event: webinar_attended, within: 7d, op: gte, value: 2}"
    return parse_playbook(text.replace(hand_raise, f"{hand_raise}\n            {webinars}"), "b2b.yaml")


def test_batched_flow_equals_the_plain_flow(sqlite_db: Database) -> None:
    db, pb = sqlite_db, _playbook()
    results: dict[str, tuple[dict[str, Any], Counter[str]]] = {}
    for prefix, together in (("p", True), ("q", False)):
        for round_, at in enumerate([NOW, NOW + timedelta(days=2), NOW + timedelta(days=9)]):
            bus = EventBus(published=[])
            rt = Runtime(db=db, playbook=pb, clock=FrozenClock(at), bus=bus)
            summary = ingest_events(rt, _payloads(prefix, 12, at, round_), after=False)
            assert not summary.rejections
            with db.read() as conn:
                ids = [r.id for r in conn.execute(select(contacts.c.id).where(contacts.c.email.like(f"{prefix}%")))]
                names = {r.id: r.email.split("@")[0][1:] for r in conn.execute(select(contacts))}
            with db.transaction() as conn:
                moved = after_activity(rt, conn, ids).transitions if together else _plain_flow(rt, conn, ids)
            key = f"{prefix}{round_}"
            results[key] = ({"moves": moved}, _published(bus, names))
    for round_ in range(3):
        assert results[f"p{round_}"] == results[f"q{round_}"]
    assert sum(results[f"p{r}"][0]["moves"] for r in range(3)) > 12  # entered, and some moved on
    assert any("('stage', 'mql')" in line for r in range(3) for line in results[f"p{r}"][1])


def test_batched_flow_stores_the_same_scores_and_stages(sqlite_db: Database) -> None:
    db, pb = sqlite_db, _playbook()
    for prefix, together in (("p", True), ("q", False)):
        for round_, at in enumerate([NOW, NOW + timedelta(days=2)]):
            rt = Runtime(db=db, playbook=pb, clock=FrozenClock(at), bus=EventBus())
            ingest_events(rt, _payloads(prefix, 10, at, round_), after=False)
            with db.read() as conn:
                ids = [r.id for r in conn.execute(select(contacts.c.id).where(contacts.c.email.like(f"{prefix}%")))]
            with db.transaction() as conn:
                if together:
                    after_activity(rt, conn, ids)
                else:
                    _plain_flow(rt, conn, ids)
    with db.read() as conn:
        names = {r.id: r.email.split("@")[0] for r in conn.execute(select(contacts))}
        rows = [(names[r.contact_id], r.score_group, round(r.total, 9), r.grade, r.temperature)
                for r in conn.execute(select(scores))]  # fmt: skip
        stages = [(names[r.contact_id], r.pipeline, r.stage) for r in conn.execute(select(pipeline_states))]

    def side(items: list[tuple[Any, ...]], prefix: str) -> set[tuple[Any, ...]]:
        return {(name[1:], *rest) for name, *rest in items if name.startswith(prefix)}

    assert side(rows, "p") == side(rows, "q") and len(side(rows, "p")) == 10
    assert side(stages, "p") == side(stages, "q")

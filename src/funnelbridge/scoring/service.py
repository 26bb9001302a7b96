"""Scoring use cases: score one lead after its events land (incremental), rescore every lead (batch), explain.

``score_contact`` / ``score_contacts`` run inside the caller's transaction (the activity flow calls them for a batch
of leads, then the lifecycle's ``advance``) and go on from each lead's stored incremental state, reading only its new
events; ``rescore_all`` owns its transaction. Both store one ``scores`` row per (contact, group) with the
playbook version and publish ScoreCrossed / TemperatureChanged on ``rt.bus`` for stored scores that cross a
threshold (see :mod:`funnelbridge.scoring.thresholds`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from funnelbridge.domain.clock import as_utc
from funnelbridge.domain.events import DomainEvent
from funnelbridge.errors import NotFoundError
from funnelbridge.rules.facts import load_lead_facts
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.incremental_store import ScoredLead, score_leads
from funnelbridge.scoring.results import GroupScore
from funnelbridge.scoring.rules_engine import score_facts
from funnelbridge.scoring.thresholds import ScoreSnapshot, crossings
from funnelbridge.store.scores import json_text, score_row, upsert_scores

if TYPE_CHECKING:
    from funnelbridge.scoring.rescore import Progress, RescoreSummary, rescore_all

__all__ = [
    "Progress",
    "RescoreSummary",
    "ScoreResult",
    "explain_contact",
    "rescore_all",
    "score_contact",
    "score_contacts",
    "store_scored",
]

_RESCORE_NAMES = frozenset({"Progress", "RescoreSummary", "rescore_all"})


def __getattr__(name: str) -> object:
    """The batch rescore's names (:mod:`funnelbridge.scoring.rescore`), imported on first use: that module imports
    Ibis and pyarrow (about 0.4 s), which the incremental path (the activity flow's drain) never needs."""
    if name not in _RESCORE_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from funnelbridge.scoring import rescore

    value = getattr(rescore, name)
    globals()[name] = value
    return value


@dataclass(frozen=True)
class ScoreResult:
    """A lead's scores at ``as_of``: the main score, the named groups and the events published."""

    contact_id: int
    as_of: datetime
    main: GroupScore
    groups: Mapping[str, GroupScore] = field(default_factory=dict)
    published: tuple[DomainEvent, ...] = ()

    @property
    def total(self) -> float:
        return self.main.total

    @property
    def fit_grade(self) -> str:
        return self.main.grade

    @property
    def temperature(self) -> str:
        return self.main.temperature

    @property
    def mql_eligible(self) -> bool:
        return self.main.mql_eligible


def _compute(rt: Runtime, conn: Connection, contact_id: int, as_of: datetime | None) -> tuple[GroupScore, ...]:
    at = as_utc(as_of) if as_of is not None else rt.clock.now()
    facts = load_lead_facts(conn, contact_id, at)
    return score_facts(rt.playbook, facts, contact_id=contact_id)


def _snapshot(row: Mapping[str, object] | None) -> ScoreSnapshot | None:
    if row is None:
        return None
    return ScoreSnapshot(float(row["engagement"]), float(row["total"]), str(row["temperature"]))  # type: ignore[arg-type]


def store_scored(
    rt: Runtime, conn: Connection, scored: Sequence[ScoredLead], *, results: bool = True
) -> list[ScoreResult]:
    """Store rescored leads' rows (and states) in one executemany, then publish their threshold crossings in order,
    as one batch to handlers that take batches (automation: see :func:`~funnelbridge.lifecycle.batch.handlers_batched`).
    Returns their :class:`ScoreResult` (an empty list with ``results=False``: the activity flow does not need
    them)."""
    now = rt.clock.now()
    text = conn.dialect.name == "sqlite"  # JSON encoded here, once, as SQLite stores it
    rows = []
    for s in scored:
        for r in s.results:
            row = score_row(r, now, as_text=text)
            state = s.state if r.group == "main" else None
            row["state"] = json_text(state) if text and state is not None else state
            rows.append(row)
    upsert_scores(conn, rows)
    from funnelbridge.lifecycle.batch import handlers_batched

    out = []
    with handlers_batched(rt, conn):  # the crossings' automation as one batch (outbox rows stored together)
        for s in scored:
            main = s.results[0]
            new = ScoreSnapshot(main.engagement, main.total, main.temperature)
            events = crossings(rt.playbook, s.contact_id, now, _snapshot(s.old_main), new)
            for event in events:
                rt.bus.publish(conn, event)
            if results:
                groups = {r.group: r for r in s.results[1:]}
                out.append(ScoreResult(s.contact_id, main.as_of, main, groups, tuple(events)))
    return out


def score_contacts(
    rt: Runtime, conn: Connection, contact_ids: Iterable[int], as_of: datetime | None = None
) -> list[ScoreResult]:
    """Rescore leads (each from its stored state and new events; see :mod:`~funnelbridge.scoring.incremental_store`),
    store their score rows and publish threshold crossings, in the caller's transaction."""
    at = as_utc(as_of) if as_of is not None else rt.clock.now()
    ids = list(dict.fromkeys(contact_ids))
    return store_scored(rt, conn, score_leads(rt.playbook, conn, ids, at))


def score_contact(rt: Runtime, conn: Connection, contact_id: int, as_of: datetime | None = None) -> ScoreResult:
    """Rescore one lead, store its score rows and publish threshold crossings (caller's transaction)."""
    return score_contacts(rt, conn, [contact_id], as_of)[0]


def _resolve(conn: Connection, contact: int | str) -> int:
    if isinstance(contact, int) or contact.isdigit():
        return int(contact)
    from funnelbridge.store.contacts import ids_by_emails

    found = ids_by_emails(conn, [contact.strip().lower()])
    if not found:
        raise NotFoundError(f"no contact with e-mail {contact!r}")
    return next(iter(found.values()))


def explain_contact(rt: Runtime, contact: int | str, as_of: datetime | None = None) -> ScoreResult:
    """Score one lead (by id or e-mail) without storing anything: its scores and their rule-by-rule explanation."""
    with rt.db.read() as conn:
        contact_id = _resolve(conn, contact)
        results = _compute(rt, conn, contact_id, as_of)
    return ScoreResult(contact_id, results[0].as_of, results[0], {r.group: r for r in results[1:]})

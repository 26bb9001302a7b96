"""Incremental scoring against the store: many leads in a few queries, each rescored from its stored state and only
its new events.

Per chunk of leads: their contacts with their accounts, their stored main scores (with the state, ``scores.state``)
and the number of events each has, then the events newer than each state's watermark (the newest event id applied) —
and, for the leads that cannot go on from a state, all their events. A lead goes on from its state when the state
is of this playbook version, every event it has was either applied or is new (the count agrees: no event was moved
in by a merge or committed late under a lower id), the new events are not older than the newest applied one and
none lies after ``as_of``. Otherwise its state is rebuilt from all its events (the full recompute). A state is
stored only when every event of the lead was applied (no event after ``as_of``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    BindParameter,
    Connection,
    Numeric,
    Select,
    String,
    and_,
    bindparam,
    cast,
    func,
    null,
    select,
)

from funnelbridge.errors import NotFoundError
from funnelbridge.playbook.schema import Playbook
from funnelbridge.rules.facts import BANT_KEYS, EventFact, LeadFacts, score_facts_of
from funnelbridge.scoring.incremental import IncrementalScorer, LeadState, scorer_for
from funnelbridge.scoring.results import GroupScore
from funnelbridge.scoring.state_json import dump_state, load_state
from funnelbridge.store import raw_rows
from funnelbridge.store.tables import accounts, contacts, events, scores

__all__ = ["ScoredLead", "dump_state", "load_state", "score_leads"]

CHUNK = 200
_EVENT_FIELDS = ("path", "campaign", "source", "medium", "properties")


@cache
def _event_columns(read: frozenset[str]) -> tuple[Any, ...]:
    """The events' columns the scorer needs: id, contact, type and time, and of the other fields only those its
    conditions read (``read``: :attr:`IncrementalScorer.event_fields`) — the others are NULL, so e.g. the
    properties JSON is not decoded when no condition looks at it (the events read here feed only the scorer)."""
    rest = (events.c[name] if name in read else null().label(name) for name in _EVENT_FIELDS)
    return (events.c.id, events.c.contact_id, events.c.type, events.c.occurred_at, *rest)


_SCORE_COLUMNS = (
    "contact_id", "fit", "engagement", "negative", "total", "grade", "temperature", "probability", "state",
)  # fmt: skip


# --- scoring many leads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredLead:
    """One lead rescored: its new scores (main first), its stored main row before, the state to store (None: do
    not store one), and its facts at ``as_of`` with the new main score (for the stage criteria)."""

    contact_id: int
    results: tuple[GroupScore, ...]
    old_main: Mapping[str, Any] | None
    state: dict[str, Any] | None
    facts: LeadFacts
    incremental: bool


@dataclass
class _Lead:
    contact: dict[str, Any]
    account: dict[str, Any] | None
    rows: dict[str, dict[str, Any]]
    count: int = 0
    state: LeadState | None = None
    new: list[tuple[int, EventFact]] | None = None


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


_IDS: BindParameter[Any] = bindparam("ids", expanding=True)


@cache
def _queries(read: frozenset[str], json_ids: bool = False) -> dict[str, Select[Any]]:
    """The look-ups by a list of ids, built once (an expanding parameter: only the ids change between calls; with
    ``json_ids``, SQLite's form for :func:`~funnelbridge.store.raw_rows.rows`: the ids as one JSON array)."""
    ids: Any = (
        select(func.json_each(bindparam("ids", type_=String)).table_valued("value").c.value) if json_ids else _IDS
    )
    account_columns = (c.label(f"account__{c.name}") for c in accounts.c)
    n_events = select(func.count()).where(events.c.contact_id == scores.c.contact_id).scalar_subquery()
    return {
        "leads": select(contacts, *account_columns)
        .select_from(contacts.outerjoin(accounts, contacts.c.account_id == accounts.c.id))
        .where(contacts.c.id.in_(ids)),
        "scores": select(*(scores.c[n] for n in _SCORE_COLUMNS), n_events.label("events_count")).where(
            scores.c.contact_id.in_(ids), scores.c.score_group == "main"
        ),
        "events": select(*_event_columns(read))
        .where(events.c.contact_id.in_(ids))
        .order_by(events.c.occurred_at, events.c.id),
    }


def _by_ids(conn: Connection, name: str, ids: list[int], read: frozenset[str]) -> Sequence[Any]:
    """The rows of look-up ``name`` for ``ids`` (on SQLite without SQLAlchemy's per-row processing)."""
    if conn.dialect.name == "sqlite":
        return raw_rows.rows(conn, _queries(read, True)[name], {"ids": json.dumps(ids)})
    return conn.execute(_queries(read)[name], {"ids": ids}).all()


_CONTACT_KEYS = tuple(c.name for c in contacts.c)
_ACCOUNT_KEYS = tuple(c.name for c in accounts.c)


def _decimal_columns(keys: tuple[str, ...], table: Any) -> tuple[str, ...]:
    return tuple(k for k in keys if isinstance(table.c[k].type, Numeric))


_CONTACT_DECIMALS = _decimal_columns(_CONTACT_KEYS, contacts)
_ACCOUNT_DECIMALS = _decimal_columns(_ACCOUNT_KEYS, accounts)


def _plain(row: dict[str, Any], decimals: tuple[str, ...]) -> dict[str, Any]:
    """A row as conditions compare it — what :func:`~funnelbridge.rules.facts.plain_row` makes, in one pass: its
    times are aware UTC already (``UTCDateTime``), only numeric columns (Decimal) become floats."""
    for key in decimals:
        value = row[key]
        if value is not None:
            row[key] = float(value)
    return row


def _split(row: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A contact row joined with its account's columns → the contact and the account (None without one), plain."""
    values, n = tuple(row), len(_CONTACT_KEYS)
    contact = _plain(dict(zip(_CONTACT_KEYS, values[:n], strict=True)), _CONTACT_DECIMALS)
    if values[n] is None:  # the account's id: no account
        return contact, None
    return contact, _plain(dict(zip(_ACCOUNT_KEYS, values[n:], strict=True)), _ACCOUNT_DECIMALS)


def _read_leads(conn: Connection, ids: list[int], scorer: IncrementalScorer) -> dict[int, _Lead]:
    """Contacts with their accounts (one query), main score rows with the lead's event count (one query)."""
    read = scorer.event_fields
    leads = {}
    for row in _by_ids(conn, "leads", ids, read):
        contact, account = _split(row)
        leads[contact["id"]] = _Lead(contact, account, {})
    missing = [cid for cid in ids if cid not in leads]
    if missing:
        raise NotFoundError(f"contact {missing[0]} does not exist")
    for row in _by_ids(conn, "scores", ids, read):
        *values, count = row
        main = dict(zip(_SCORE_COLUMNS, values, strict=True))
        lead = leads[main["contact_id"]]
        lead.count = int(count)
        lead.rows["main"] = main
        lead.state = load_state(scorer, main["state"])
    return leads


@cache
def _after_marks(dialect: str, read: frozenset[str]) -> Select[Any]:
    """Events of the leads of a JSON object ``{contact_id: watermark}`` with an id above their watermark: one
    parameter however many leads (``json_each`` / ``json_each_text``), built once per dialect."""
    if dialect == "postgresql":
        marks = func.json_each_text(cast(bindparam("marks", type_=String), JSON)).table_valued("key", "value")
    else:
        marks = func.json_each(bindparam("marks", type_=String)).table_valued("key", "value")
    on = and_(events.c.contact_id == cast(marks.c.key, BigInteger), events.c.id > cast(marks.c.value, BigInteger))
    return select(*_event_columns(read)).select_from(marks.join(events, on)).order_by(events.c.occurred_at, events.c.id)


def _read_new_events(conn: Connection, leads: dict[int, _Lead], read: frozenset[str]) -> None:
    """Events after each state's watermark (one query); leads whose count then does not add up lose the state."""
    marks = {cid: lead.state.watermark for cid, lead in leads.items() if lead.state is not None}
    if not marks:
        return
    new: dict[int, list[tuple[int, EventFact]]] = {cid: [] for cid in marks}
    for row in raw_rows.rows(conn, _after_marks(conn.dialect.name, read), {"marks": json.dumps(marks)}):
        new[row[1]].append((row[0], _event(row)))
    for cid, found in new.items():
        lead = leads[cid]
        if lead.state is not None and lead.state.events + len(found) == lead.count:
            lead.new = found
        else:
            lead.state = None


def _read_all_events(conn: Connection, ids: list[int], read: frozenset[str]) -> dict[int, list[tuple[int, EventFact]]]:
    out: dict[int, list[tuple[int, EventFact]]] = {cid: [] for cid in ids}
    if ids:
        for row in _by_ids(conn, "events", ids, read):
            out[row[1]].append((row[0], _event(row)))
    return out


_new_event = EventFact.__new__


def _event(row: Any) -> EventFact:
    """:func:`~funnelbridge.rules.facts.event_fact` of a row of :func:`_event_columns`, built without the frozen
    dataclass's field-by-field ``__init__`` (a third of reading an event); its time is aware UTC already
    (``UTCDateTime``)."""
    _, _, kind, at, path, campaign, source, medium, properties = row
    fact = _new_event(EventFact)
    fact.__dict__.update(
        type=kind, occurred_at=at, path=path, campaign=campaign, source=source, medium=medium,
        properties=properties or {},
    )  # fmt: skip
    return fact


def _go_on(scorer: IncrementalScorer, lead: _Lead, as_of: datetime) -> LeadState | None:
    """The lead's state with its new events applied, or None when it must be rebuilt."""
    state, new = lead.state, lead.new or []
    if state is None or not scorer.can_score(state, as_of) or any(e.occurred_at > as_of for _, e in new):
        return None
    for event_id, event in new:
        if not scorer.apply(state, event):
            return None
        state.watermark = max(state.watermark, event_id)
    return state


def _rebuild(scorer: IncrementalScorer, history: list[tuple[int, EventFact]], as_of: datetime) -> LeadState:
    state = scorer.replay((e for _, e in history), as_of)
    state.watermark = max((i for i, _ in history), default=0)
    return state


def score_leads(playbook: Playbook, conn: Connection, contact_ids: Sequence[int], as_of: datetime) -> list[ScoredLead]:
    """Rescore ``contact_ids`` (distinct) at ``as_of`` from their stored states and new events; nothing is written."""
    scorer = scorer_for(playbook)
    out: dict[int, ScoredLead] = {}
    for ids in _chunks(contact_ids):
        leads = _read_leads(conn, ids, scorer)
        _read_new_events(conn, leads, scorer.event_fields)
        states = {cid: _go_on(scorer, lead, as_of) for cid, lead in leads.items()}
        histories = _read_all_events(conn, [cid for cid in ids if states[cid] is None], scorer.event_fields)
        for cid in ids:
            out[cid] = _score_one(scorer, cid, leads[cid], states[cid], histories.get(cid), as_of)
    return [out[cid] for cid in contact_ids]


_BANT_COLUMNS = tuple((key, f"bant_{key}") for key in BANT_KEYS)


def _score_one(
    scorer: IncrementalScorer,
    cid: int,
    lead: _Lead,
    state: LeadState | None,
    history: list[tuple[int, EventFact]] | None,
    as_of: datetime,
) -> ScoredLead:
    incremental = state is not None
    keep = True
    if state is None:
        history = history or []
        state = _rebuild(scorer, history, as_of)
        keep = all(e.occurred_at <= as_of for _, e in history)
    old = lead.rows.get("main")
    contact = lead.contact  # plain already (``_split``)
    bant = {key: contact.get(column) for key, column in _BANT_COLUMNS}
    facts = LeadFacts(contact, lead.account, score_facts_of(old), bant, (), as_of)
    results = scorer.score(state, facts, contact_id=cid)
    main = results[0]
    new_score = {
        "fit": main.fit, "engagement": main.engagement, "negative": main.negative, "total": main.total,
        "fit_grade": main.grade, "temperature": main.temperature, "probability": (facts.score or {}).get("probability"),
    }  # fmt: skip
    aggregates = scorer.aggregate_values(state, as_of)
    criteria_facts = LeadFacts(facts.contact, facts.account, new_score, facts.bant, (), as_of, aggregates)
    return ScoredLead(cid, results, old, dump_state(state) if keep else None, criteria_facts, incremental)

"""Lifecycle history from CRM exports: a contact file's lifecycle stage and per-stage dates become the contact's
pipeline state and transition trail, stamped at those dates, so cohort and velocity analytics see the real ones.

Which stage a value means (:func:`stage_map`): a playbook stage id or label of the main pipeline
(``mql``, ``MQL``, ``customer``); else HubSpot's lifecycle stages (internal values or labels: ``subscriber``,
``lead``, ``marketingqualifiedlead``, ``salesqualifiedlead``, ``opportunity``, ``customer``, ``evangelist``) and
Salesforce Lead statuses (``Open - Not Contacted``, ``Working - Contacted``, ``Closed - Converted``), mapped by the
part each stage plays in the pipeline (:class:`~funnelbridge.lifecycle.table.StageRoles`): subscriber and lead →
the identification stage (or the first), MQL → the queue stage, SQL → the qualify stage, opportunity → the
opportunity stage (else the qualify stage), customer → the customer stage, evangelist → the advocacy stage. A value
that maps to no stage (HubSpot's ``other``, ``Closed - Not Converted``, a custom stage) writes no history from it.
A mapping file's ``stages`` section (:class:`~funnelbridge.ingest.columns.StageValues`) maps further values, or
overrides these (``null``: no stage); its targets must be stages of the main pipeline; with ``unmapped_stages:
reject`` a value that maps to no stage (and is not mapped to ``null``) rejects its row.

The history of a row (:func:`plan_history`) is its dated stages in pipeline order plus its current stage; dates
out of stage order, dates in the future, or a current stage before a dated one reject the row. A current stage
without a date of its own is stamped at the row's latest date (its dated stages and its create date), or at the
import's time when the row has none. :func:`write_history` writes it only for contacts without any transition yet
(a re-run, or a contact with live history, changes nothing): one transition per stage (actor ``import``, reason
``import``, the stages in between listed as skipped) and the pipeline state at the last one. No stage events are
published, so automation does not fire for the past. The pipeline state's ``last_activity_at`` is the import's
time: stall rules and inactivity automation count from the import, not from the historical stage date (which
stays the state's ``entered_at`` and the transition's ``at``, for cohorts and velocity), so the first sweep after
a migration does not recycle every lead that was quiet in the old CRM. Each imported transition records the
import's time too (``imported_at``), so rebuilding the pipeline states from the trail
(:func:`~funnelbridge.lifecycle.projection.rebuild_projection`) gives them back that same last activity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, bindparam, select

from funnelbridge.errors import InputError
from funnelbridge.ingest.columns import StageValues, UnmappedStages
from funnelbridge.ingest.deadletter import Problem
from funnelbridge.lifecycle.model import Transition
from funnelbridge.lifecycle.table import stage_roles
from funnelbridge.playbook.schema import Playbook
from funnelbridge.store.bulk import execute_many
from funnelbridge.store.pipeline import PipelineState
from funnelbridge.store.tables import pipeline_states, transitions

__all__ = [
    "HISTORY_FIELDS",
    "IMPORT_ACTOR",
    "History",
    "HistoryWrite",
    "StageMap",
    "Step",
    "plan_history",
    "stage_map",
    "write_history",
]

HISTORY_FIELDS: dict[str, str] = {
    "became_subscriber_at": "subscriber",
    "became_lead_at": "lead",
    "became_mql_at": "marketingqualifiedlead",
    "became_sql_at": "salesqualifiedlead",
    "became_opportunity_at": "opportunity",
    "became_customer_at": "customer",
    "became_evangelist_at": "evangelist",
}
"""The contact fields holding the date a person entered a stage, and the (HubSpot) stage each is about."""

IMPORT_ACTOR = "import"
"""The ``actor`` (and ``reason``) of imported transitions."""


def _norm(value: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", value.strip().lower())


@dataclass(frozen=True)
class StageMap:
    """Stage values (normalized) → stage ids of one pipeline, and the pipeline's stage order; ``ignored``: values
    mapped to no stage on purpose; ``reject_unmapped``: any other value that maps to no stage rejects its row."""

    pipeline: str
    stages: tuple[str, ...]
    values: Mapping[str, str]
    ignored: frozenset[str] = frozenset()
    reject_unmapped: bool = False

    def stage_of(self, value: str) -> str | None:
        return self.values.get(_norm(value))

    def unmapped(self, value: str) -> bool:
        """Whether ``value`` rejects its row: it maps to no stage, not on purpose, and the mapping says reject."""
        return self.reject_unmapped and _norm(value) not in self.values and _norm(value) not in self.ignored


_MAPS: dict[tuple[int, StageValues | None], tuple[Playbook, StageMap]] = {}


def stage_map(playbook: Playbook, custom: StageValues | None = None) -> StageMap:
    """The stage values a contact file may use, for the playbook's main pipeline (see the module docstring), with
    a mapping file's ``custom`` values; a custom value mapped to something that is no stage of the main pipeline
    raises :class:`~funnelbridge.errors.InputError` naming it."""
    hit = _MAPS.get((id(playbook), custom))
    if hit is not None and hit[0] is playbook:
        return hit[1]
    found = _custom(_defaults(playbook), playbook, custom) if custom is not None else _defaults(playbook)
    if len(_MAPS) > 16:
        _MAPS.clear()
    _MAPS[(id(playbook), custom)] = (playbook, found)
    return found


def _custom(base: StageMap, playbook: Playbook, custom: StageValues) -> StageMap:
    """``base`` with the mapping file's values over it (targets by stage id or label, as in a file)."""
    stages = {_norm(s.id): s.id for s in playbook.main.stages}
    stages |= {_norm(s.label): s.id for s in playbook.main.stages if s.label}
    values, ignored = dict(base.values), set()
    for value, target in custom.values:
        key = _norm(value)
        values.pop(key, None)
        if target is None:
            ignored.add(key)
        elif _norm(target) in stages:
            values[key] = stages[_norm(target)]
        else:
            raise InputError(
                f"{value!r} → {target!r}: {target!r} is no stage of the main pipeline "
                f"{base.pipeline!r} (its stages: {', '.join(base.stages)})",
                field="stages",
            )
    reject = custom.unmapped is UnmappedStages.REJECT
    return StageMap(base.pipeline, base.stages, values, frozenset(ignored), reject)


def _defaults(playbook: Playbook) -> StageMap:
    pipe = playbook.main
    r = stage_roles(pipe)
    known = r.gate or r.stages[0]
    crm: dict[str, str | None] = {
        "subscriber": known,
        "lead": known,
        "marketingqualifiedlead": r.queue or r.auto[-1],
        "salesqualifiedlead": r.qualify or r.handoff,
        "opportunity": r.opportunity or r.qualify,
        "customer": r.customer,
        "evangelist": r.advocacy,
        "opennotcontacted": r.queue,
        "workingcontacted": r.handoff,
        "closedconverted": r.qualify,
    }
    values = {k: v for k, v in crm.items() if v is not None}
    for stage in pipe.stages:
        values.update({_norm(stage.id): stage.id, **({_norm(stage.label): stage.id} if stage.label else {})})
    return StageMap(playbook.main_name, pipe.stage_ids, values)


@dataclass(frozen=True)
class Step:
    """One stage of an imported history: entered at ``at`` (None: the import's time); ``source`` is the field."""

    stage: str
    at: datetime | None
    source: str


@dataclass(frozen=True)
class History:
    """The stages a row says its contact went through, in pipeline order."""

    steps: tuple[Step, ...]

    @property
    def earliest(self) -> datetime | None:
        return min((s.at for s in self.steps if s.at is not None), default=None)


def _when(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def plan_history(record: dict[str, Any], smap: StageMap, now: datetime) -> History | list[Problem] | None:
    """Take the lifecycle fields out of ``record`` (the stage value stays in its properties, as do dates of stages
    the pipeline lacks) and return the row's history, its problems, or None when it has none."""
    if "lifecycle_stage" not in record and not any(f in record for f in HISTORY_FIELDS):
        return None
    raw = record.pop("lifecycle_stage", None)
    dates = {f: record.pop(f) for f in HISTORY_FIELDS if f in record}
    if raw is None and not any(dates.values()):
        return None
    props = dict(record.get("properties") or {})
    if raw is not None:
        props["lifecycle_stage"] = raw
    dated: dict[str, tuple[datetime, str]] = {}
    problems: list[Problem] = []
    for name, at in dates.items():
        if at is None:
            continue
        stage = smap.values.get(HISTORY_FIELDS[name])
        if stage is None:
            props[name] = _when(at)
        elif at > now:
            problems.append(Problem(name, f"{_when(at)} is in the future"))
        elif stage not in dated or at < dated[stage][0]:
            dated[stage] = (at, name)
    record["properties"] = props or None
    steps = [Step(s, *dated[s]) for s in smap.stages if s in dated]
    problems += [
        Problem(b.source, f"{_when(b.at)} is before {a.source} {_when(a.at)}: {a.stage} comes before {b.stage}")
        for a, b in pairwise(steps)
        if b.at is not None and a.at is not None and b.at < a.at
    ]
    current = smap.stage_of(raw) if raw else None
    if raw and smap.unmapped(raw):
        problems.append(Problem("lifecycle_stage", f"{raw!r} maps to no stage of pipeline {smap.pipeline!r} "
                                "(map it in the mapping file's stages section, or to null to ignore it)"))  # fmt: skip
    if current is not None and steps and smap.stages.index(current) < smap.stages.index(steps[-1].stage):
        problems.append(Problem("lifecycle_stage", f"{raw} ({current}) is before the dated stage {steps[-1].stage}"))
    if problems:
        return problems
    if current is not None and current not in dated:
        known = [s.at for s in steps if s.at is not None] + [a for a in [record.get("created_at")] if a is not None]
        steps.append(Step(current, max(known) if known else None, "lifecycle_stage"))
    return History(tuple(steps)) if steps else None


_HAS_TRANSITIONS = select(transitions.c.contact_id).where(
    transitions.c.contact_id.in_(bindparam("ids", expanding=True))
)


def _with_history(conn: Connection, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for i in range(0, len(ids), 500):
        found.update(int(c) for c in conn.execute(_HAS_TRANSITIONS, {"ids": ids[i : i + 500]}).scalars())
    return found


@dataclass(frozen=True)
class HistoryWrite:
    """What :func:`write_history` did: the contacts whose history it wrote, and those it left alone because they
    had history already."""

    written: frozenset[int]
    skipped: frozenset[int]


def write_history(
    conn: Connection, playbook: Playbook, histories: Mapping[int, History], now: datetime, fresh: Set[int] = frozenset()
) -> HistoryWrite:
    """Write each contact's history (see the module docstring) unless it has transitions already (``fresh``:
    contacts just created, which have none). Two ``executemany``: transitions (their ids are not needed) and
    states."""
    smap = stage_map(playbook)
    had = _with_history(conn, sorted(set(histories) - set(fresh)))
    todo = sorted(set(histories) - had)
    trail: list[Transition] = []
    states: list[PipelineState] = []
    for cid in todo:
        made = _transitions(cid, histories[cid], smap, playbook.version, now)
        trail += made
        last = made[-1]
        states.append(PipelineState(cid, smap.pipeline, last.to_stage, last.at, 1, last_activity_at=now))
    execute_many(conn, _INSERT_TRANSITION, [_transition_row(t) for t in trail])
    execute_many(conn, _INSERT_STATE, [{k: getattr(s, k) for k in _STATE_COLUMNS} for s in states])
    return HistoryWrite(frozenset(todo), frozenset(had))


_INSERT_TRANSITION = transitions.insert()  # built once: execute_many compiles each once
_INSERT_STATE = pipeline_states.insert()
_STATE_COLUMNS = tuple(PipelineState.__dataclass_fields__)
_TRANSITION_COLUMNS = ("contact_id", "pipeline", "journey", "from_stage", "to_stage", "at", "actor", "actor_role",
                       "reason", "note", "playbook_version", "idempotency_key", "imported_at")  # fmt: skip


def _transition_row(t: Transition) -> dict[str, Any]:
    return {**{k: getattr(t, k) for k in _TRANSITION_COLUMNS}, "skipped": list(t.skipped)}


def _transitions(cid: int, history: History, smap: StageMap, version: str, now: datetime) -> list[Transition]:
    out: list[Transition] = []
    before: int = -1
    for step in history.steps:
        index = smap.stages.index(step.stage)
        at = step.at if step.at is not None else now
        note = f"imported: {step.source}"
        if step.source == "lifecycle_stage":
            note += " (no date of its own: stamped at " + ("the row's latest date)" if step.at else "the import)")
        out.append(
            Transition(
                contact_id=cid,
                pipeline=smap.pipeline,
                journey=1,
                from_stage=out[-1].to_stage if out else None,
                to_stage=step.stage,
                at=at,
                actor=IMPORT_ACTOR,
                actor_role="system",
                reason=IMPORT_ACTOR,
                note=note,
                skipped=smap.stages[before + 1 : index],
                playbook_version=version,
                idempotency_key=f"import:{cid}:{smap.pipeline}:{step.stage}",
                imported_at=now,
            )
        )
        before = index
    return out

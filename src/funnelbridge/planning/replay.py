"""``playbook plan``: replay the store's history under a proposed playbook, side by side with the current one.

For every identified lead and each of the two playbooks:

- **would-be MQL entry** — the first moment the decision stage's entry criteria (``enter_when`` of the stage
  before the handoff, MQL by default; the scoring's MQL threshold when that stage has no criteria) hold, with
  the lead's score recomputed under that playbook at that moment. The moments tried are the lead's
  identification, each of its later event times (only events of a type that the main score or the criteria look
  at — others change neither) and the end of history. Between two events points only decay
  or expire and the event count stays put, so for criteria that rise with points and counts (the usual
  ``score.* ≥``, ``events.count ≥``) nothing is missed; criteria that *fall* with time (``events.days_since_last
  <``) or rise with it can be crossed between those moments — that is the approximation.
- **grade and temperature** — the lead's score under that playbook at the end of history.

Would-be MQLs of the period are the leads whose would-be entry lies in ``[since, as_of]`` (a cohort: who
*entered* in the period). Their conversion to each later stage is the share that actually reached it (the
stage trail in the store, at any time — skipped stages count as reached). The SLA load on sales is the number
of would-be MQLs per week (weeks start on Monday in the playbook's time zone). Contact and account attributes
are the current values, as everywhere in replay; a predictive probability is not replayed (``score.probability``
reads as missing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from funnelbridge.domain.clock import as_utc
from funnelbridge.playbook.schema import Playbook
from funnelbridge.rules.ast import leaves
from funnelbridge.rules.facts import LeadFacts
from funnelbridge.rules.python import compile_predicate
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.predictive.store_features import decision_stage
from funnelbridge.scoring.predictive.store_history import History, LeadHistory, load_history
from funnelbridge.scoring.results import GroupScore
from funnelbridge.scoring.rules_engine import score_facts
from funnelbridge.scoring.ruleset import rule_sets

__all__ = ["LeadReplay", "PlanReport", "PlaybookOutcome", "plan_playbook", "replay_history", "replay_lead"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LeadReplay:
    """One lead under one playbook: its would-be MQL entry (or None) and its grade/temperature at the end."""

    contact_id: int
    mql_at: datetime | None
    grade: str
    temperature: str


@dataclass(frozen=True)
class PlaybookOutcome:
    """One column of the plan: what the history looks like under one playbook."""

    version: str
    name: str
    mql_threshold: str
    grades: Mapping[str, int]
    temperatures: Mapping[str, int]
    mqls: int
    reached: Mapping[str, int]  # stage after MQL -> would-be MQLs that actually reached it
    conversion: Mapping[str, float | None]  # the same as a share of would-be MQLs
    weekly_load: Mapping[str, int]  # Monday (playbook zone, ISO date) -> would-be MQLs that week
    mql_ids: tuple[int, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class PlanReport:
    """Current and proposed playbooks over the same history, and which leads move in or out of MQL."""

    as_of: datetime
    since: datetime | None
    decision_stage: str
    leads: int
    actual_mqls: int  # leads whose recorded first entry into the decision stage lies in the period
    current: PlaybookOutcome
    proposed: PlaybookOutcome
    entering: tuple[int, ...]
    leaving: tuple[int, ...]


def _score_mapping(score: GroupScore) -> dict[str, object]:
    return {
        "fit": score.fit, "engagement": score.engagement, "negative": score.negative, "total": score.total,
        "fit_grade": score.grade, "temperature": score.temperature, "probability": None,
    }  # fmt: skip


def _criteria(playbook: Playbook) -> Callable[[LeadFacts, GroupScore], bool]:
    condition = playbook.main.stage(decision_stage(playbook.main)).enter_when
    if condition is None:
        return lambda _facts, score: score.mql_eligible
    predicate = compile_predicate(condition)

    def holds(facts: LeadFacts, score: GroupScore) -> bool:
        scored = LeadFacts(facts.contact, facts.account, _score_mapping(score), facts.bant, facts.events, facts.as_of)
        return predicate(scored)

    return holds


def relevant_event_types(playbook: Playbook) -> frozenset[str] | None:
    """Event types that can change the main score or the MQL criteria (None: every type can).

    Events of other types change neither, so the replay need not stop at them — an exact shortcut.
    """
    main = rule_sets(playbook.scoring)[0]
    types = {rule.event for rule in main.event_rules}
    conditions = [
        playbook.main.stage(decision_stage(playbook.main)).enter_when,
        *(r.when for r in main.attribute_rules),
    ]
    for leaf in (leaf for condition in conditions for leaf in leaves(condition)):
        if leaf.field.startswith("events."):
            if leaf.event is None:
                return None
            types.add(leaf.event)
    return frozenset(types)


def _moments(lead: LeadHistory, as_of: datetime, types: frozenset[str] | None) -> list[datetime]:
    start = lead.identified_at
    later = {e.occurred_at for e in lead.events if (types is None or e.type in types) and start < e.occurred_at}
    return [start, *sorted(t for t in later if t <= as_of), as_of] if start <= as_of else [as_of]


def replay_lead(
    playbook: Playbook,
    lead: LeadHistory,
    as_of: datetime,
    holds: Callable[..., bool],
    types: frozenset[str] | None = None,
) -> LeadReplay:
    """Would-be MQL entry of one lead under ``playbook`` and its grade/temperature at ``as_of``.

    ``types``: only events of these types are tried as moments (see :func:`relevant_event_types`; None: all).
    """
    mql_at = None
    for at in _moments(lead, as_of, types):
        facts = lead.facts_at(at)
        if holds(facts, score_facts(playbook, facts, contact_id=lead.contact_id)[0]):
            mql_at = at
            break
    final = score_facts(playbook, lead.facts_at(as_of), contact_id=lead.contact_id)[0]
    return LeadReplay(lead.contact_id, mql_at, final.grade, final.temperature)


def replay_history(
    playbook: Playbook, history: History, progress: Progress | None = None, offset: int = 0, total: int = 0
) -> list[LeadReplay]:
    """Every lead of ``history`` replayed under ``playbook``."""
    holds, types = _criteria(playbook), relevant_event_types(playbook)
    out = []
    for i, lead in enumerate(history.leads):
        out.append(replay_lead(playbook, lead, history.as_of, holds, types))
        if progress is not None and (i + 1) % 50 == 0:
            progress(offset + i + 1, total or len(history.leads))
    return out


def _in_period(at: datetime | None, since: datetime | None) -> bool:
    return at is not None and (since is None or at >= since)


def _week(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz).date()
    return (local - timedelta(days=local.weekday())).isoformat()


def _threshold_text(playbook: Playbook) -> str:
    mql = playbook.scoring.mql
    total = f", total ≥ {mql.total:g}" if mql.total is not None else ""
    return f"grade {'/'.join(mql.grades)}, engagement ≥ {mql.engagement:g}{total}"


def _outcome(
    playbook: Playbook, replays: Sequence[LeadReplay], history: History, since: datetime | None
) -> PlaybookOutcome:
    pipe = playbook.main
    stage = decision_stage(pipe)
    later = pipe.stage_ids[pipe.index(stage) + 1 :]
    leads = {lead.contact_id: lead for lead in history.leads}
    chosen = [r for r in replays if _in_period(r.mql_at, since)]
    reached = {s: sum(1 for r in chosen if s in leads[r.contact_id].entries) for s in later}
    tz = ZoneInfo(playbook.timezone)
    weeks = Counter(_week(r.mql_at, tz) for r in chosen if r.mql_at is not None)
    return PlaybookOutcome(
        version=playbook.version,
        name=playbook.name,
        mql_threshold=_threshold_text(playbook),
        grades=dict(sorted(Counter(r.grade for r in replays).items())),
        temperatures=dict(sorted(Counter(r.temperature for r in replays).items())),
        mqls=len(chosen),
        reached=reached,
        conversion={s: (n / len(chosen) if chosen else None) for s, n in reached.items()},
        weekly_load=dict(sorted(weeks.items())),
        mql_ids=tuple(sorted(r.contact_id for r in chosen)),
    )


def plan_playbook(
    rt: Runtime, proposed: Playbook, since: datetime | None = None, progress: Progress | None = None
) -> PlanReport:
    """Replay the store's history under ``rt.playbook`` and under ``proposed``; compare them."""
    as_of = rt.clock.now()
    since = as_utc(since) if since is not None else None
    with rt.db.read() as conn:
        history = load_history(conn, as_of, rt.playbook.main_name)
    n = len(history.leads)
    current = _outcome(rt.playbook, replay_history(rt.playbook, history, progress, 0, 2 * n), history, since)
    new = _outcome(proposed, replay_history(proposed, history, progress, n, 2 * n), history, since)
    stage = decision_stage(rt.playbook.main)
    actual = sum(1 for lead in history.leads if _in_period(lead.entries.get(stage), since))
    before, after = set(current.mql_ids), set(new.mql_ids)
    return PlanReport(
        as_of, since, stage, n, actual, current, new, tuple(sorted(after - before)), tuple(sorted(before - after))
    )

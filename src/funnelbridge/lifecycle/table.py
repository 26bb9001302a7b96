"""The transition table: every allowed stage move, who may make it and what it requires — as data.

The table is *derived* from a pipeline of the playbook, so it works for any stage list. The roles stages play are
found by these rules (docs/lifecycle.md prints the table for each shipped playbook):

- **automatic zone** — the leading stages moved by ``system`` before the handoff (b2b: visitor … MQL). The engine
  enters a new contact there and moves it forward to the furthest stage whose ``enter_when`` holds; the stages in
  between are recorded as *skipped* (passed without stopping).
- **identification gate** — when the pipeline starts with an anonymous stage (no ``enter_when``: visitor), the
  next stage with criteria (lead) is a gate: no automatic move passes it until its criteria hold, so an anonymous
  visitor is never screened into MAL by negative criteria that presume an email.
- **queue stage** — the last stage before the handoff (MQL): leads wait there for a sales decision.
- **handoff stage** — ``pipeline.handoff`` (SAL): a rep *accepts* (queue → handoff) or *rejects* (queue →
  recycled, with a reason from ``handoff.reject_reasons``).
- **qualify stage** — the first stage at or after the handoff with ``requires`` (SQL): entered by *qualify*, which
  needs every required field (BANT).
- **customer stage** — the last stage owned by sales/CS, or the last stage when no stage is (b2c). Entered when a
  deal is won.
- **opportunity stage** — the stage just before the customer stage, when it lies after the qualify stage
  (b2b: opportunity; the six-stage funnel has none, so its deals open and are won from SQL). Opening a deal moves
  the lead there.
- **advocacy stage** — the stage after the customer stage, if any (evangelist), entered by *advocate*.
- **detours** — ``recycled`` (the detour named so, else the first) and ``disqualified`` (the detour named so, else
  the last). Disqualify works from every stage with a reason from ``handoff.disqualify_reasons``; stalled and lost
  leads are recycled by the system; any stage between the first and the customer stage may be sent back to nurture
  by its owning team or the system (*recycle*, with a reject reason or ``stalled``); a recycled lead *re-enters*
  (journey + 1) at the last automatic stage with entry criteria (MQL) once those criteria hold again, the earlier
  stages of the new journey recorded as skipped.

Admins may make any move a rule allows to someone. Everything else raises :class:`IllegalTransitionError` naming
the rule that forbids it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from funnelbridge.errors import IllegalTransitionError
from funnelbridge.lifecycle.model import Actor
from funnelbridge.playbook.schema import Handoff, Pipeline, Team

__all__ = ["Move", "Rule", "StageRoles", "TransitionTable", "build_table", "stage_roles", "table_for"]


class Move(StrEnum):
    """The kinds of move. Each is one command or one automatic step."""

    ENTER = "enter"
    ADVANCE = "advance"
    ACCEPT = "accept"
    REJECT = "reject"
    QUALIFY = "qualify"
    OPEN_DEAL = "open_deal"
    WIN = "win"
    ADVOCATE = "advocate"
    DISQUALIFY = "disqualify"
    RECYCLE = "recycle"
    RECYCLE_STALLED = "recycle_stalled"
    RECYCLE_LOST = "recycle_lost"
    REENTER = "reenter"


@dataclass(frozen=True)
class Rule:
    """One allowed move ``from_stage → to_stage`` (``from_stage`` None: the contact has no state yet)."""

    move: Move
    from_stage: str | None
    to_stage: str
    roles: frozenset[str]
    criteria: bool = False
    reasons: tuple[str, ...] | None = None
    requires: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    new_journey: bool = False

    @property
    def name(self) -> str:
        return f"{self.move.value}: {self.from_stage or '(new)'} → {self.to_stage}"

    def who(self) -> str:
        """Who may make the move: the rule's roles, plus admins for every move a person can make."""
        return "system" if self.roles == {"system"} else ", ".join(sorted(self.roles | {"admin"}))


@dataclass(frozen=True)
class StageRoles:
    """Which stage plays which part in a pipeline (see the module docstring for how each is found)."""

    stages: tuple[str, ...]
    auto: tuple[str, ...]
    queue: str | None
    handoff: str | None
    qualify: str | None
    opportunity: str | None
    customer: str
    advocacy: str | None
    deal_from: tuple[str, ...]
    recycled: str
    disqualified: str
    reentry: str | None
    gate: str | None


def _detour(detours: tuple[str, ...], name: str, fallback: int) -> str:
    return name if name in detours else detours[fallback]


def _customer(pipe: Pipeline) -> str:
    sales = [s.id for s in pipe.stages if s.owner in (Team.SALES, Team.CS)]
    return sales[-1] if sales else pipe.stages[-1].id


def _auto(pipe: Pipeline, handoff: str | None) -> tuple[str, ...]:
    end = pipe.index(handoff) if handoff else len(pipe.stages)
    auto = [pipe.stages[0].id]
    for stage in pipe.stages[1:end]:
        if stage.by != "system":
            break
        auto.append(stage.id)
    return tuple(auto)


def stage_roles(pipe: Pipeline) -> StageRoles:
    """Work out the queue, handoff, qualify, opportunity, customer and advocacy stages of ``pipe``."""
    ids = pipe.stage_ids
    handoff = pipe.handoff
    auto = _auto(pipe, handoff)
    queue = ids[pipe.index(handoff) - 1] if handoff and pipe.index(handoff) > 0 else None
    start = pipe.index(handoff) if handoff else len(ids)
    qualify = next((s.id for s in pipe.stages[start:] if s.requires), None)
    customer = _customer(pipe)
    c = ids.index(customer)
    floor = ids.index(qualify) if qualify else (start if handoff else len(auto) - 1)
    opportunity = ids[c - 1] if c - 1 > floor and ids[c - 1] not in auto else None
    if opportunity:
        deal_from: tuple[str, ...] = (ids[c - 2], opportunity)
    elif qualify:
        deal_from = (qualify,)
    else:
        deal_from = tuple(i for i in ids[max(floor, 1) : c] if i != queue) or tuple(ids[max(c - 1, 0) : c])
    with_criteria = [s for s in auto if pipe.stage(s).enter_when is not None]
    return StageRoles(
        stages=ids,
        auto=auto,
        queue=queue,
        handoff=handoff,
        qualify=qualify,
        opportunity=opportunity,
        customer=customer,
        advocacy=ids[c + 1] if c + 1 < len(ids) else None,
        deal_from=deal_from,
        recycled=_detour(pipe.detours, "recycled", 0),
        disqualified=_detour(pipe.detours, "disqualified", -1),
        reentry=next((s for s in reversed(with_criteria) if s != customer), None),  # never straight back to customer
        gate=with_criteria[0] if with_criteria and pipe.stages[0].enter_when is None else None,
    )


def _by(pipe: Pipeline, stage: str) -> frozenset[str]:
    return frozenset({str(pipe.stage(stage).by)})


def _owner_role(pipe: Pipeline, stage: str) -> str:
    return "marketing" if pipe.stage(stage).owner == Team.MARKETING else "sales"


def _automatic(pipe: Pipeline, r: StageRoles) -> Iterator[Rule]:
    system = frozenset({"system"})
    targets = [s for s in r.auto if s == r.auto[0] or pipe.stage(s).enter_when is not None]
    for j, to in enumerate(r.auto):
        if to not in targets:
            continue
        yield Rule(Move.ENTER, None, to, system, criteria=j > 0, skipped=r.auto[:j])
        for i in range(j):
            yield Rule(Move.ADVANCE, r.auto[i], to, system, criteria=True, skipped=r.auto[i + 1 : j])
    if r.reentry:
        skipped = r.stages[: r.stages.index(r.reentry)]
        yield Rule(Move.REENTER, r.recycled, r.reentry, system, criteria=True, skipped=skipped, new_journey=True)


def _handoff(pipe: Pipeline, r: StageRoles, handoff: Handoff) -> Iterator[Rule]:
    if r.queue and r.handoff:
        yield Rule(Move.ACCEPT, r.queue, r.handoff, _by(pipe, r.handoff))
        yield Rule(Move.REJECT, r.queue, r.recycled, _by(pipe, r.handoff), reasons=handoff.reject_reasons)
    if r.qualify:
        before = r.stages[r.stages.index(r.qualify) - 1]
        stage = pipe.stage(r.qualify)
        yield Rule(Move.QUALIFY, before, r.qualify, _by(pipe, r.qualify), requires=stage.requires)


def _deals(pipe: Pipeline, r: StageRoles, handoff: Handoff) -> Iterator[Rule]:
    deal_roles = _by(pipe, r.opportunity or r.qualify or r.handoff or r.customer) | {"sales"}
    if r.opportunity:
        yield Rule(Move.OPEN_DEAL, r.deal_from[0], r.opportunity, deal_roles)
    for origin in {r.opportunity} if r.opportunity else set(r.deal_from):
        between = r.stages[r.stages.index(origin) + 1 : r.stages.index(r.customer)]
        yield Rule(Move.WIN, origin, r.customer, deal_roles, skipped=between)
        reasons = handoff.loss_reasons
        yield Rule(Move.RECYCLE_LOST, origin, r.recycled, frozenset({"system"}), reasons=reasons)
    if r.advocacy:
        yield Rule(Move.ADVOCATE, r.customer, r.advocacy, _by(pipe, r.advocacy) | {"system"})


def _recycle_reasons(handoff: Handoff) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*handoff.reject_reasons, "stalled")))


def _detours(pipe: Pipeline, r: StageRoles, handoff: Handoff) -> Iterator[Rule]:
    for stage in r.stages[1 : r.stages.index(r.customer)]:
        owners = frozenset({_owner_role(pipe, stage), "system"})
        yield Rule(Move.RECYCLE, stage, r.recycled, owners, reasons=_recycle_reasons(handoff))
    for stage in r.stages:
        roles = {_owner_role(pipe, stage)} | ({"sales"} if stage == r.queue else set())
        yield Rule(Move.DISQUALIFY, stage, r.disqualified, frozenset(roles), reasons=handoff.disqualify_reasons)
        if pipe.stall_limit(stage) is not None:
            yield Rule(Move.RECYCLE_STALLED, stage, r.recycled, frozenset({"system"}), reasons=("stalled",))
    reasons = handoff.disqualify_reasons
    yield Rule(Move.DISQUALIFY, r.recycled, r.disqualified, frozenset({"marketing"}), reasons=reasons)


@dataclass(frozen=True)
class TransitionTable:
    """All rules of one pipeline, with lookups and the checks that make a move legal."""

    pipeline: str
    roles: StageRoles
    rules: tuple[Rule, ...]

    def find(self, move: Move, from_stage: str | None, to_stage: str | None = None) -> Rule:
        """The rule for ``move`` out of ``from_stage`` (to ``to_stage``), or an error naming what is allowed."""
        for rule in self.rules:
            if rule.move is move and rule.from_stage == from_stage and to_stage in (None, rule.to_stage):
                return rule
        allowed = [r.name for r in self.rules if r.move is move]
        where = f"from {from_stage!r}" if from_stage else "for a contact without a stage"
        target = f" to {to_stage!r}" if to_stage else ""
        hint = "; ".join(dict.fromkeys(allowed)) or "no such move in this pipeline"
        raise IllegalTransitionError(
            f"pipeline {self.pipeline!r}: no {move.value} rule {where}{target} (the table allows: {hint})"
        )

    def check(
        self,
        rule: Rule,
        actor: Actor,
        *,
        reason: str | None = None,
        fields: Mapping[str, object] | None = None,
    ) -> None:
        """Raise :class:`IllegalTransitionError` unless ``actor`` may make ``rule``'s move with these inputs."""
        if actor.role != "admin" and actor.role not in rule.roles:
            raise IllegalTransitionError(
                f"rule {rule.name!r} may be made by {rule.who()}; {actor.name} acts as {actor.role}"
            )
        if rule.reasons is not None and reason not in rule.reasons:
            got = f"got {reason!r}" if reason else "none given"
            raise IllegalTransitionError(f"rule {rule.name!r} needs a reason from: {', '.join(rule.reasons)} ({got})")
        missing = [f for f in rule.requires if not _filled((fields or {}).get(f))]
        if missing:
            raise IllegalTransitionError(
                f"rule {rule.name!r} requires {', '.join(rule.requires)}; missing: {', '.join(missing)}"
            )

    def permits(
        self, from_stage: str | None, to_stage: str, role: str, skipped: Collection[str], reason: str | None = None
    ) -> Rule | None:
        """The rule a stored move fits (used to audit a trail), or None when no rule allows it."""
        for rule in self.rules:
            fits = rule.from_stage == from_stage and rule.to_stage == to_stage and tuple(skipped) == rule.skipped
            reason_ok = rule.reasons is None or reason in rule.reasons
            if fits and reason_ok and (role == "admin" or role in rule.roles):
                return rule
        return None


def _filled(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def build_table(pipe: Pipeline, handoff: Handoff, name: str = "main") -> TransitionTable:
    """Derive the transition table of one pipeline from the playbook."""
    r = stage_roles(pipe)
    rules = (*_automatic(pipe, r), *_handoff(pipe, r, handoff), *_deals(pipe, r, handoff), *_detours(pipe, r, handoff))
    return TransitionTable(name, r, rules)


_CACHE: dict[tuple[int, int, str], tuple[Pipeline, Handoff, TransitionTable]] = {}


def table_for(pipe: Pipeline, handoff: Handoff, name: str) -> TransitionTable:
    """:func:`build_table`, memoised per (immutable) pipeline and handoff object."""
    key = (id(pipe), id(handoff), name)
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not pipe or hit[1] is not handoff:
        if len(_CACHE) > 64:
            _CACHE.clear()
        hit = _CACHE[key] = (pipe, handoff, build_table(pipe, handoff, name))
    return hit[2]

"""The sales reps' decisions, as pure functions of the hidden truth plus a seeded random source.

Reps do not see the propensity, but they see the person: the triage (accept / reject with a reason / disqualify)
judges fit with noise, the discovery call finds whether the account is buying now (BANT), and the deal plan draws
how far a deal gets, its amount, and whether it is won or lost (price, competitor, no decision, timing, product
gap). Every result is a named value; the runner turns them into lifecycle commands.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from funnelbridge.demo import catalog as cat
from funnelbridge.demo.world import Kind, World

__all__ = [
    "Advocacy",
    "DealPlan",
    "Qualification",
    "Triage",
    "advocacy",
    "deal_plan",
    "discovery",
    "in_window",
    "rep_names",
    "triage",
]

DEAL_STAGES = ("prospecting", "qualification", "meeting", "proposal", "negotiation")


def in_window(world: World, pid: int, day: int) -> bool:
    """Whether the person's account is buying on ``day``."""
    return bool(world.in_market[pid]) and int(world.market_start[pid]) <= day <= int(world.market_end[pid])


@dataclass(frozen=True)
class Triage:
    """A rep's verdict on an MQL: accept, reject (back to nurture) or disqualify, with a reason."""

    action: Literal["accept", "reject", "disqualify"]
    reason: str | None = None


_DISQUALIFY = {Kind.STUDENT: "student", Kind.COMPETITOR: "competitor", Kind.JOB_SEEKER: "job_seeker"}


def triage(world: World, pid: int, day: int, r: random.Random) -> Triage:
    kind = int(world.kind[pid])
    if kind in _DISQUALIFY:
        return Triage("disqualify", _DISQUALIFY[kind])
    seen_fit = float(world.fit[pid]) + r.gauss(0.0, 0.12)
    persona = cat.PERSONAS[world.persona[pid]]
    if seen_fit < 0.4:
        return Triage("reject", "not_a_fit")
    if persona.seniority == "individual" and r.random() < 0.35:
        return Triage("reject", "wrong_contact")
    if r.random() < 0.03:
        return Triage("reject", "duplicate")
    if not in_window(world, pid, day) and r.random() < 0.15:
        return Triage("reject", "bad_timing" if r.random() < 0.6 else "no_budget")
    return Triage("accept")


@dataclass(frozen=True)
class Qualification:
    """The discovery call: BANT answers when qualified, else nothing (the lead stalls and is recycled)."""

    qualified: bool
    after_days: int
    bant: dict[str, str] | None = None


_BUDGETS = ("approved for this year", "$20k-$50k set aside", "budget from the revops line", "$50k+ approved")
_NEEDS = ("MQL handoff is broken", "no funnel visibility", "lead scoring by gut feeling", "sales ignores leads")
_TIMELINES = ("this quarter", "within 60 days", "next quarter", "before the budget year ends")


def discovery(world: World, pid: int, day: int, r: random.Random) -> Qualification:
    buying = in_window(world, pid, day)
    p = 0.8 if buying else 0.35 * float(world.propensity[pid])
    after = 1 + int(r.expovariate(1 / 4))
    if r.random() >= p:
        return Qualification(False, after)
    persona = cat.PERSONAS[world.persona[pid]]
    authority = "decision maker" if persona.seniority in ("c_level", "vp", "director") else "champion, reports to VP"
    bant = {
        "budget": r.choice(_BUDGETS),
        "authority": authority,
        "need": r.choice(_NEEDS),
        "timeline": r.choice(_TIMELINES),
    }
    return Qualification(True, after, bant)


@dataclass(frozen=True)
class DealPlan:
    """A deal's whole future, drawn when it opens: amount, the stages it reaches (with the day gaps between
    moves), and the end: won, or lost with a reason (and a competitor for competitive losses)."""

    amount: int
    steps: tuple[tuple[str, int], ...]
    won: bool
    close_after: int
    loss_reason: str | None = None
    competitor: str | None = None


def _amount(world: World, pid: int, r: random.Random) -> int:
    account = int(world.account[pid])
    employees = int(world.acc_employees[account]) if account >= 0 else 20
    base = 4000.0 * max(1.0, employees / 25.0) ** 0.45 * r.lognormvariate(0.0, 0.35)
    return int(min(400_000.0, max(2500.0, base)) // 100 * 100)


def _loss_reason(world: World, pid: int, day: int, r: random.Random) -> tuple[str, str | None]:
    fit = float(world.fit[pid])
    if not in_window(world, pid, day) and r.random() < 0.6:
        return (r.choice(("no_decision", "timing")), None)
    if fit < 0.55 and r.random() < 0.5:
        return ("product_gap", None)
    if r.random() < 0.5:
        return ("competitor", r.choice(cat.COMPETITOR_NAMES))
    return (r.choice(("price", "price", "no_decision", "timing")), None)


def deal_plan(world: World, pid: int, day: int, r: random.Random) -> DealPlan:
    """Win probability grows with propensity; a lost deal drops out at a random later stage."""
    p_win = 0.08 + 0.55 * float(world.propensity[pid]) + (0.1 if in_window(world, pid, day) else 0.0)
    won = r.random() < min(0.85, p_win)
    reach = len(DEAL_STAGES) if won else r.randint(1, len(DEAL_STAGES))
    steps = tuple((stage, 2 + int(r.expovariate(1 / 8))) for stage in DEAL_STAGES[1:reach])
    close_after = 3 + int(r.expovariate(1 / 10))
    if won:
        return DealPlan(_amount(world, pid, r), steps, True, close_after)
    reason, competitor = _loss_reason(world, pid, day, r)
    return DealPlan(_amount(world, pid, r), steps, False, close_after, reason, competitor)


@dataclass(frozen=True)
class Advocacy:
    """Whether a new customer becomes an evangelist, and how many days after the win."""

    advocates: bool
    after_days: int


def advocacy(world: World, pid: int, r: random.Random) -> Advocacy:
    p = 0.15 + 0.35 * float(world.interest[pid])
    return Advocacy(r.random() < p, 14 + int(r.expovariate(1 / 30)))


def rep_names(n: int) -> list[tuple[str, str, str]]:
    """``n`` reps as (email, name, team): teams default, dach and enterprise (3:1:1; the first three reps cover
    all three teams)."""
    reps = []
    for i in range(n):
        team = ("default", "dach", "enterprise", "default", "default")[i % 5]
        first, last = cat.FIRST_NAMES[(i * 7) % len(cat.FIRST_NAMES)], cat.LAST_NAMES[(i * 11) % len(cat.LAST_NAMES)]
        reps.append((f"rep{i + 1}@funnelbridge-demo.example", f"{first} {last}", team))
    return reps

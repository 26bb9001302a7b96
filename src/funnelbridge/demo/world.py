"""The seeded market: accounts and people as compact numpy arrays, each with a hidden propensity to buy.

Nothing here touches the store. One person is one row of the arrays (index = person id), so a million people
cost a few tens of megabytes; strings (names, emails, domains) are derived from the indices on demand.

Hidden truth, per person: ``fit`` (how well account and persona match the product, 0..1), ``interest`` (how
curious they are, 0..1), ``in_market`` (their account is actively buying, during ``market_start``..``market_end``)
and ``propensity``, the probability-like score that drives every later decision of the simulator (demo requests,
BANT, deal outcomes). Real buying is not a point sum, so the propensity is not one either (see
:func:`propensity_of`): being in the market matters far more for a good fit (a poor fit that is buying buys
elsewhere), a junior contact at a large company cannot buy, and a marketing-automation stack (HubSpot, Marketo)
makes the product an easy add-on — signals a hand-written scoring playbook weighs only roughly, or not at all.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funnelbridge.demo import catalog as cat

__all__ = [
    "Kind",
    "Market",
    "World",
    "WorldShape",
    "account_domain",
    "account_name",
    "build_world",
    "buying_lift",
    "email_of",
    "propensity_of",
    "traits_of",
]

F32 = NDArray[np.float32]
I32 = NDArray[np.int32]
B = NDArray[np.bool_]


class Kind:
    """Person kinds (int8 codes in :attr:`World.kind`)."""

    BUSINESS = 0
    FREE_MAIL = 1
    STUDENT = 2
    COMPETITOR = 3
    JOB_SEEKER = 4
    NAMES = ("business", "free_mail", "student", "competitor", "job_seeker")


_KIND_SHARES = (0.74, 0.13, 0.06, 0.01, 0.06)


@dataclass(frozen=True)
class Market:
    """Tunables of the market: people per account, and the chance an account is buying during the simulated
    period (``in_market_base + in_market_fit · account_fit²``; about one account in ten by default, so a few
    percent of the people)."""

    people_per_account: float = 4.0
    in_market_base: float = 0.035
    in_market_fit: float = 0.17


@dataclass(frozen=True)
class WorldShape:
    """What to build: how many people, over how many days, from which seed, in which market."""

    people: int
    days: int
    seed: int
    market: Market = Market()


@dataclass(frozen=True)
class World:
    """Accounts (``acc_*``) and people, indexed by id. People are sorted by ``arrival`` day."""

    shape: WorldShape
    acc_industry: NDArray[np.int8]
    acc_employees: I32
    acc_country: NDArray[np.int8]
    acc_tech: NDArray[np.uint16]
    acc_fit: F32
    acc_in_market: B
    account: I32
    kind: NDArray[np.int8]
    persona: NDArray[np.int8]
    first: NDArray[np.int16]
    last: NDArray[np.int16]
    campaign: NDArray[np.int8]
    arrival: NDArray[np.int16]
    fit: F32
    interest: F32
    in_market: B
    market_start: NDArray[np.int16]
    market_end: NDArray[np.int16]
    bad_email: B
    propensity: F32

    @property
    def n_people(self) -> int:
        return int(self.arrival.shape[0])

    @property
    def n_accounts(self) -> int:
        return int(self.acc_fit.shape[0])

    def arrived_by(self, day: int) -> int:
        """How many people (a prefix of the ids) have arrived by the end of ``day``."""
        return int(np.searchsorted(self.arrival, day, side="right"))


def _pick(rng: np.random.Generator, shares: tuple[float, ...], n: int) -> NDArray[np.int8]:
    p = np.asarray(shares, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int8)


def _size_fit(employees: I32) -> F32:
    e = employees.astype(np.float32)
    return np.select([e < 10, e < 50, e <= 5000], [0.1, 0.45, 1.0], 0.7).astype(np.float32)


def _tech_fit(tech: NDArray[np.uint16]) -> F32:
    best = np.zeros(tech.shape[0], dtype=np.float32)
    for bit, t in enumerate(cat.TECHNOLOGIES):
        has = (tech >> bit) & 1 == 1
        best = np.where(has, np.maximum(best, t.fit), best)
    return best


def _accounts(rng: np.random.Generator, shape: WorldShape) -> dict[str, Any]:
    n = max(1, round(shape.people / shape.market.people_per_account))
    industry = _pick(rng, tuple(i.share for i in cat.INDUSTRIES), n)
    country = _pick(rng, tuple(c.share for c in cat.COUNTRIES), n)
    employees = np.clip(rng.lognormal(np.log(60), 1.6, n), 1, 200_000).astype(np.int32)
    tech = np.zeros(n, dtype=np.uint16)
    for bit, t in enumerate(cat.TECHNOLOGIES):
        tech |= (rng.random(n) < t.share).astype(np.uint16) << bit
    ind_fit = np.asarray([i.fit for i in cat.INDUSTRIES], dtype=np.float32)[industry]
    cty_fit = np.asarray([c.fit for c in cat.COUNTRIES], dtype=np.float32)[country]
    fit = 0.4 * ind_fit + 0.3 * _size_fit(employees) + 0.2 * cty_fit + 0.1 * _tech_fit(tech)
    in_market = rng.random(n) < shape.market.in_market_base + shape.market.in_market_fit * fit**2
    return {
        "acc_industry": industry,
        "acc_employees": employees,
        "acc_country": country,
        "acc_tech": tech,
        "acc_fit": fit.astype(np.float32),
        "acc_in_market": in_market,
    }


def _arrivals(rng: np.random.Generator, shape: WorldShape) -> NDArray[np.int16]:
    days = np.arange(shape.days)
    weekday = np.where(days % 7 >= 5, 0.45, 1.0)
    growth = 1.0 + 0.6 * days / max(1, shape.days)
    p = weekday * growth
    counts = rng.multinomial(shape.people, p / p.sum())
    return np.repeat(days, counts).astype(np.int16)


_STACK_BITS = tuple(bit for bit, t in enumerate(cat.TECHNOLOGIES) if t.name in ("hubspot", "marketo"))
_JUNIOR = tuple(i for i, p in enumerate(cat.PERSONAS) if p.seniority in ("manager", "individual"))


def propensity_of(fit: F32, interest: F32, in_market: B, lift: F32 | None = None) -> F32:
    """The hidden propensity to buy: sigmoid(-6 + 2.5·fit + 2·interest + in_market·(1.5 + 4.5·fit) + lift).

    The in-market term grows with fit (an interaction no sum of points has); ``lift`` is a per-person log-odds
    shift (see :func:`buying_lift`). Increasing in fit, interest and in_market whatever the lift.
    """
    market = in_market.astype(np.float32)
    z = -6.0 + 2.5 * fit + 2.0 * interest + market * (1.5 + 4.5 * fit)
    if lift is not None:
        z = z + lift
    result: F32 = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    return result


def buying_lift(acc: dict[str, Any], account: I32, persona: NDArray[np.int8]) -> F32:
    """Per-person log-odds shift: +0.9 when the account runs HubSpot or Marketo (the product plugs into them),
    -1.2 for a manager or individual contributor at a company of 1,000+ (they cannot sign), 0 without an account.
    """
    has = account >= 0
    acc_i = np.maximum(account, 0)
    tech = acc["acc_tech"][acc_i]
    stack = np.zeros(account.shape[0], dtype=bool)
    for bit in _STACK_BITS:
        stack |= (tech >> bit) & 1 == 1
    junior_at_large = np.isin(persona, _JUNIOR) & (acc["acc_employees"][acc_i] >= 1000)
    lift = np.where(has, 0.9 * stack - 1.2 * junior_at_large, 0.0)
    return lift.astype(np.float32)


def _people(rng: np.random.Generator, shape: WorldShape, acc: dict[str, Any]) -> dict[str, Any]:
    n, n_acc = shape.people, acc["acc_fit"].shape[0]
    kind = _pick(rng, _KIND_SHARES, n)
    account = rng.integers(0, n_acc, n).astype(np.int32)
    account = np.where(np.isin(kind, (Kind.BUSINESS, Kind.FREE_MAIL)), account, -1).astype(np.int32)
    persona = _pick(rng, tuple(p.share for p in cat.PERSONAS), n)
    campaign = _pick(rng, tuple(c.share for c in cat.CAMPAIGNS), n)
    persona_fit = np.asarray([p.fit for p in cat.PERSONAS], dtype=np.float32)[persona]
    fit_lift = np.asarray([c.fit_lift for c in cat.CAMPAIGNS], dtype=np.float32)[campaign]
    int_lift = np.asarray([c.interest_lift for c in cat.CAMPAIGNS], dtype=np.float32)[campaign]
    acc_fit = np.where(account >= 0, acc["acc_fit"][np.maximum(account, 0)], 0.0)
    fit = 0.55 * acc_fit + 0.45 * persona_fit + 0.5 * fit_lift * rng.random(n) + rng.normal(0, 0.05, n)
    fit = np.where(account >= 0, fit, np.where(kind == Kind.COMPETITOR, 0.0, 0.05))
    interest = rng.beta(1.3, 4.0, n) + int_lift * rng.random(n)
    buyer = (account >= 0) & (persona_fit >= 0.3)
    in_market = buyer & acc["acc_in_market"][np.maximum(account, 0)]
    start = rng.integers(-60, 60, n)  # relative to arrival: the window opens within two months of the first visit
    length = rng.integers(45, 150, n)
    return {
        "account": account,
        "kind": kind,
        "persona": persona,
        "first": rng.integers(0, len(cat.FIRST_NAMES), n).astype(np.int16),
        "last": rng.integers(0, len(cat.LAST_NAMES), n).astype(np.int16),
        "campaign": campaign,
        "fit": np.clip(fit, 0, 1).astype(np.float32),
        "interest": np.clip(interest, 0, 1).astype(np.float32),
        "in_market": in_market,
        "market_start": start.astype(np.int16),
        "market_end": (start + length).astype(np.int16),
        "bad_email": rng.random(n) < 0.03,
    }


def build_world(shape: WorldShape) -> World:
    """Draw the whole market from ``shape.seed`` (the same shape always gives the same world)."""
    if shape.people < 1 or shape.days < 1:
        raise ValueError("a world needs at least one person and one day")
    rng = np.random.default_rng([shape.seed, 1])
    acc = _accounts(rng, shape)
    people = _people(rng, shape, acc)
    arrival = _arrivals(rng, shape)
    people["market_start"] = (people["market_start"] + arrival).astype(np.int16)
    people["market_end"] = (people["market_end"] + arrival).astype(np.int16)
    lift = buying_lift(acc, people["account"], people["persona"])
    propensity = propensity_of(people["fit"], people["interest"], people["in_market"], lift)
    return World(shape=shape, arrival=arrival, propensity=propensity, **acc, **people)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def account_domain(world: World, account: int) -> str:
    words, suffixes = cat.COMPANY_WORDS, cat.COMPANY_SUFFIXES
    return (
        f"{_ascii(words[account % len(words)])}{_ascii(suffixes[account // len(words) % len(suffixes)])}{account}.com"
    )


def account_name(world: World, account: int) -> str:
    words, suffixes = cat.COMPANY_WORDS, cat.COMPANY_SUFFIXES
    return f"{words[account % len(words)]} {suffixes[account // len(words) % len(suffixes)]} {account}"


def email_of(world: World, pid: int) -> str:
    """The person's email address (business, free mail, university or competitor domain)."""
    local = f"{_ascii(cat.FIRST_NAMES[world.first[pid]])}.{_ascii(cat.LAST_NAMES[world.last[pid]])}{pid}"
    kind = int(world.kind[pid])
    if kind == Kind.BUSINESS:
        domain = account_domain(world, int(world.account[pid]))
    elif kind == Kind.STUDENT:
        domain = cat.STUDENT_DOMAINS[pid % len(cat.STUDENT_DOMAINS)]
    elif kind == Kind.COMPETITOR:
        domain = cat.COMPETITOR_DOMAINS[pid % len(cat.COMPETITOR_DOMAINS)]
    else:
        domain = cat.FREE_MAIL_DOMAINS[pid % len(cat.FREE_MAIL_DOMAINS)]
    return f"{local}@{domain}"


def _title(world: World, pid: int) -> tuple[str, str]:
    kind = int(world.kind[pid])
    if kind == Kind.STUDENT:
        return cat.STUDENT_TITLES[pid % len(cat.STUDENT_TITLES)], "student"
    persona = cat.PERSONAS[world.persona[pid]]
    return persona.title, persona.seniority


def _account_traits(world: World, account: int) -> dict[str, Any]:
    tech = int(world.acc_tech[account])
    return {
        "company": account_name(world, account),
        "domain": account_domain(world, account),
        "industry": cat.INDUSTRIES[world.acc_industry[account]].name,
        "employees": int(world.acc_employees[account]),
        "country": cat.COUNTRIES[world.acc_country[account]].name,
        "technologies": [t.name for bit, t in enumerate(cat.TECHNOLOGIES) if (tech >> bit) & 1],
    }


def traits_of(world: World, pid: int) -> dict[str, Any]:
    """What the person tells a form about themselves (name, title, seniority, company, ...)."""
    title, seniority = _title(world, pid)
    traits: dict[str, Any] = {
        "first_name": cat.FIRST_NAMES[world.first[pid]],
        "last_name": cat.LAST_NAMES[world.last[pid]],
        "title": title,
        "seniority": seniority,
    }
    kind, account = int(world.kind[pid]), int(world.account[pid])
    if kind == Kind.BUSINESS:
        traits.update(_account_traits(world, account))
    elif kind == Kind.FREE_MAIL:
        traits["company"] = account_name(world, account)
        traits["country"] = cat.COUNTRIES[world.acc_country[account]].name
    elif kind == Kind.COMPETITOR:
        traits["company"] = cat.COMPETITOR_NAMES[pid % len(cat.COMPETITOR_NAMES)]
    return traits

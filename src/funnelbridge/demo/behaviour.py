"""What people do each simulated day: visits from campaigns, page views, gated downloads that identify them,
webinars, event booth scans, demo requests, and the email nurture (opens, clicks, unsubscribes, bounces).

:func:`simulate_day` turns the world plus the mutable :class:`Crowd` state into the day's tracking payloads, in
the format of ``funnelbridge.ingest.ingest_events``. Probabilities are vectorized over everyone who has arrived;
only the people active today become Python dicts, so memory stays bounded by one day's events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funnelbridge.demo import catalog as cat
from funnelbridge.demo.world import Kind, World, email_of, traits_of

__all__ = ["Crowd", "DayActivity", "anonymous_id", "day_start", "new_crowd", "pid_from_email", "simulate_day"]

Payload = dict[str, Any]


@dataclass
class Crowd:
    """Per-person state the simulator itself keeps (what the people did, not what the engine concluded)."""

    identified: NDArray[np.bool_]
    unsubscribed: NDArray[np.bool_]
    bounced: NDArray[np.bool_]
    emails: NDArray[np.int16]
    hand_raised: NDArray[np.bool_]
    customer: NDArray[np.bool_]


def new_crowd(n: int) -> Crowd:
    z = np.zeros(n, dtype=np.bool_)
    return Crowd(z.copy(), z.copy(), z.copy(), np.zeros(n, dtype=np.int16), z.copy(), z.copy())


@dataclass
class DayActivity:
    """The day's payloads (time-ordered) and counts by campaign of arrivals (for the costs)."""

    day: int
    payloads: list[Payload]
    arrivals_by_campaign: dict[str, int] = field(default_factory=dict)


def anonymous_id(pid: int) -> str:
    return f"anon-{pid:08x}"


def pid_from_email(email: str) -> int | None:
    """Recover the simulated person id from an address built by :func:`~funnelbridge.demo.world.email_of`."""
    local = email.split("@", 1)[0]
    digits = len(local) - len(local.rstrip("0123456789"))
    return int(local[-digits:]) if digits else None


@dataclass
class _Day:
    world: World
    crowd: Crowd
    day: int
    start: datetime
    rnd: random.Random
    out: list[Payload] = field(default_factory=list)

    def at(self, hour: float, offset_s: float = 0.0) -> datetime:
        return self.start + timedelta(hours=hour, seconds=offset_s)

    def emit(self, payload: Payload, ts: datetime) -> None:
        payload["timestamp"] = ts.isoformat()
        self.out.append(payload)

    def _in_window(self, pid: int) -> bool:
        w = self.world
        return bool(w.in_market[pid]) and int(w.market_start[pid]) <= self.day <= int(w.market_end[pid])

    def page(self, pid: int, ts: datetime, path: str, utm: cat.Campaign | None) -> None:
        props: dict[str, Any] = {"path": path}
        if utm is not None:
            props.update(utm_source=utm.source, utm_medium=utm.medium, utm_campaign=utm.key)
        self.emit({"type": "page", "anonymous_id": anonymous_id(pid), "properties": props}, ts)

    def form(self, pid: int, ts: datetime, event: str, path: str, utm: cat.Campaign | None = None) -> None:
        """A form fill (which identifies the visitor, with their traits) and the activity it stands for."""
        props: dict[str, Any] = {"path": path, "form": event}
        if utm is not None:
            props.update(utm_source=utm.source, utm_medium=utm.medium, utm_campaign=utm.key)
        email = email_of(self.world, pid)
        payload: Payload = {"type": "form", "anonymous_id": anonymous_id(pid), "email": email, "properties": props}
        payload["traits"] = traits_of(self.world, pid)
        self.emit(payload, ts)
        activity = {"type": "track", "event": event, "anonymous_id": anonymous_id(pid), "email": email}
        self.emit({**activity, "properties": {"path": path}}, ts + timedelta(seconds=1))
        self.crowd.identified[pid] = True

    def track(self, pid: int, ts: datetime, event: str, props: dict[str, Any]) -> None:
        self.emit({"type": "track", "event": event, "email": email_of(self.world, pid), "properties": props}, ts)


def _pages(d: _Day, pid: int) -> Iterator[str]:
    """The pages of one session, in order, chosen by who the person is and whether they are buying now."""
    w, r = d.world, d.rnd
    interest, kind = float(w.interest[pid]), int(w.kind[pid])
    buying = d._in_window(pid)
    n = 1 + min(8, int(r.expovariate(1.0 / (0.8 + 2.5 * interest + (1.5 if buying else 0.0)))))
    for _ in range(n):
        x = r.random()
        if kind == Kind.JOB_SEEKER and x < 0.6:
            yield r.choice(cat.CAREER_PAGES)
        elif x < 0.08 + 0.25 * interest + (0.25 if buying else 0.0):
            yield "/pricing"
        elif x < 0.45 + 0.1 * interest:
            yield r.choice(cat.BLOG_POSTS)
        elif x < 0.6 + (0.1 if buying else 0.0):
            yield r.choice(cat.CASE_STUDIES)
        elif x < 0.97:
            yield r.choice(cat.PRODUCT_PAGES)
        else:
            yield r.choice(cat.CAREER_PAGES)


def _conversions(d: _Day, pid: int, ts: datetime, first: cat.Campaign | None) -> None:
    w, c, r = d.world, d.crowd, d.rnd
    interest = float(w.interest[pid])
    buying = d._in_window(pid)
    if first is not None and first.channel == "webinar":
        d.form(pid, ts, "webinar_registered", first.landing, first)
        if r.random() < 0.55:
            d.track(pid, ts + timedelta(hours=2), "webinar_attended", {"webinar": first.key})
        return
    if first is not None and first.channel == "events":
        d.form(pid, ts, "event_booth_scan", first.landing, first)
        return
    p_demo = (0.12 + 0.5 * float(w.propensity[pid])) if buying else 0.002 + 0.01 * interest
    if not c.hand_raised[pid] and r.random() < p_demo:
        c.hand_raised[pid] = True
        d.form(pid, ts, "demo_request", "/demo", first)
        return
    p_dl = (0.06 + 0.3 * interest) * (0.35 if c.identified[pid] else 1.0)
    if int(w.kind[pid]) == Kind.STUDENT:
        p_dl += 0.15
    if r.random() < p_dl:
        asset = r.choice(cat.ASSETS)
        d.form(pid, ts, "asset_download", f"/resources/{asset}", first)


def _session(d: _Day, pid: int, first: cat.Campaign | None, utm: cat.Campaign | None) -> None:
    hour = min(22.5, max(0.0, d.rnd.gauss(13.0, 3.5)))
    ts = d.at(hour)
    paths = list(_pages(d, pid))
    if first is not None:
        paths[0] = first.landing
    for i, path in enumerate(paths):
        ts = ts + timedelta(seconds=0 if i == 0 else 20 + int(d.rnd.expovariate(1 / 90)))
        d.page(pid, ts, path, utm if i == 0 else None)
    _conversions(d, pid, ts + timedelta(seconds=30), first)


def _returning(d: _Day, rng: np.random.Generator, lo: int) -> NDArray[np.intp]:
    """Who of the people who arrived before today comes back today."""
    w, day = d.world, d.day
    idx = slice(0, lo)
    age = (day - w.arrival[idx]).astype(np.float32)
    window = w.in_market[idx] & (w.market_start[idx] <= day) & (day <= w.market_end[idx])
    p = 0.004 + 0.12 * w.interest[idx] * np.exp(-age / 21.0) + 0.12 * window
    p = p + 0.01 * (w.kind[idx] == Kind.JOB_SEEKER)
    if day % 7 >= 5:
        p = p * 0.4
    return np.flatnonzero(rng.random(lo) < p)


def _email_day(d: _Day, rng: np.random.Generator, n: int) -> None:
    """The weekly nurture email to everyone identified, reachable and not yet through the 20-step track."""
    c, w = d.crowd, d.world
    due = c.identified[:n] & ~c.unsubscribed[:n] & ~c.bounced[:n] & (c.emails[:n] < 20)
    due &= np.arange(n) % 7 == d.day % 7
    for pid in np.flatnonzero(due).tolist():
        c.emails[pid] += 1
        key = f"nurture-{int(c.emails[pid])}"
        ts = d.at(8.0, d.rnd.random() * 7200)
        if w.bad_email[pid]:
            c.bounced[pid] = True
            d.emit({"type": "email", "event": "email_bounce", "email": email_of(w, pid), "properties": {}}, ts)
            continue
        _email_reaction(d, pid, ts, key)


def _email_reaction(d: _Day, pid: int, ts: datetime, key: str) -> None:
    interest, r = float(d.world.interest[pid]), d.rnd
    email = email_of(d.world, pid)
    props = {"utm_campaign": key, "utm_source": "nurture", "utm_medium": "email"}
    if r.random() >= 0.12 + 0.45 * interest:
        return
    ts = ts + timedelta(minutes=5 + 600 * r.random())
    d.emit({"type": "email", "event": "email_open", "email": email, "properties": dict(props)}, ts)
    if r.random() < 0.015 + 0.04 * (1 - interest):
        d.crowd.unsubscribed[pid] = True
        d.emit({"type": "email", "event": "unsubscribe", "email": email, "properties": dict(props)}, ts)
    elif r.random() < 0.1 + 0.4 * interest:
        d.emit({"type": "email", "event": "email_click", "email": email, "properties": dict(props)}, ts)
        d.page(pid, ts + timedelta(seconds=5), r.choice(cat.CASE_STUDIES + cat.BLOG_POSTS), None)


def day_start(start: date, day: int) -> datetime:
    return datetime.combine(start + timedelta(days=day), time(0, 0), tzinfo=UTC)


def simulate_day(world: World, crowd: Crowd, day: int, start: date) -> DayActivity:
    """The tracking payloads of simulated ``day`` (0-based from ``start``), time-ordered, with idempotency keys."""
    seed = world.shape.seed
    rng = np.random.default_rng([seed, 2, day])
    d = _Day(world, crowd, day, day_start(start, day), random.Random(f"{seed}-{day}"))
    lo, hi = world.arrived_by(day - 1), world.arrived_by(day)
    arrivals: dict[str, int] = {}
    for pid in range(lo, hi):
        camp = cat.CAMPAIGNS[world.campaign[pid]]
        arrivals[camp.key] = arrivals.get(camp.key, 0) + 1
        _session(d, pid, camp, camp)
    for pid in _returning(d, rng, lo).tolist():
        _session(d, pid, None, None)
    _email_day(d, rng, hi)
    d.out.sort(key=lambda p: p["timestamp"])
    for i, payload in enumerate(d.out):
        payload["idempotency_key"] = f"demo-{seed}-{day}-{i}"
    return DayActivity(day, d.out, arrivals)

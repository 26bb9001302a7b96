"""Economics: cost per lead / MQL / SQL / customer, revenue and ROI per campaign and channel, customer lifetime
value, pipeline value, weighted pipeline and a forecast for the quarter.

Definitions:

* Volumes count **people**, not journeys: a contact counts as a lead (MQL, SQL, customer) in the period when it
  first reached that stage (any journey, skipped stages passed) inside the period. A recycled lead that comes back is
  not bought twice.
* Volumes are attributed first-touch (``contacts.first_campaign``); revenue (won deals closed in the period) is
  shown under both first-touch and last-touch (``contacts.last_campaign``). A campaign's channel comes from
  ``campaigns.channel``; people without a known campaign are ``(none)``.
* Cost = ``campaign_costs`` whose day (a local date) lies in the period. CPL = cost / leads, cost per MQL/SQL
  likewise, CAC = cost / customers; ROI = (revenue − cost) / cost. A ratio with a zero denominator is ``None``.
* CLV = mean, over customers (accounts, or the contact when it has no account), of their won deal amounts to date.
* Pipeline = open deals opened by ``as_of``: value = Σ amount, weighted = Σ amount × probability. Forecast for the
  quarter containing ``as_of`` (playbook zone) = won so far this quarter + weighted open deals expected to close in
  it; best case adds them unweighted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from typing import Any

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.periods import Grain, Period, bucket_label, epoch, floor_day, in_period, next_day
from funnelbridge.analytics.tables import NONE_LABEL, Context, as_int, journeys, reach, seconds

__all__ = ["Economics", "Forecast", "SpendRow", "economics"]

_MILESTONES = ("lead", "mql", "sql", "customer")


@dataclass(frozen=True)
class SpendRow:
    """One campaign or channel."""

    key: str
    channel: str
    cost: float
    leads: int
    mqls: int
    sqls: int
    customers: int
    cost_per_lead: float | None
    cost_per_mql: float | None
    cost_per_sql: float | None
    cac: float | None
    revenue_first_touch: float
    revenue_last_touch: float
    roi_first_touch: float | None
    roi_last_touch: float | None


@dataclass(frozen=True)
class Forecast:
    quarter: str
    won_to_date: float
    weighted_open: float
    forecast: float
    best_case: float


@dataclass(frozen=True)
class Economics:
    period: Period
    milestones: dict[str, str | None]
    campaigns: tuple[SpendRow, ...]
    channels: tuple[SpendRow, ...]
    total: SpendRow
    clv: float | None
    customers_to_date: int
    clv_to_cac: float | None
    pipeline_value: float
    weighted_pipeline: float
    open_deals: int
    forecast: Forecast

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period.to_dict(), **{k: v for k, v in asdict(self).items() if k != "period"}}


def _ratio(num: float, den: float) -> float | None:
    return None if not den else num / den


def milestones(ctx: Context) -> dict[str, str | None]:
    """Which stage plays lead, MQL, SQL and customer (by id; the handoff queue stands in for a missing MQL)."""
    found = {m: (m if m in ctx.stages else None) for m in _MILESTONES}
    handoff = ctx.pipeline.handoff
    if found["mql"] is None and handoff and ctx.stages.index(handoff) > 0:
        found["mql"] = ctx.stages[ctx.stages.index(handoff) - 1]
    if found["lead"] is None and len(ctx.stages) > 1:
        found["lead"] = ctx.stages[1]
    if found["customer"] is None:
        found["customer"] = ctx.stages[-1]
    return found


def _attribution(ctx: Context) -> ir.Table:
    contacts, campaigns = ctx.table("contacts"), ctx.table("campaigns")
    first = campaigns.select(fk=campaigns.key, fch=campaigns.channel)
    last = campaigns.select(lk=campaigns.key, lch=campaigns.channel)
    people = contacts.select(cid=contacts.id, fc=contacts.first_campaign, lc=contacts.last_campaign)
    people = people.left_join(first, people.fc == first.fk).left_join(last, people.lc == last.lk)
    known = people.fk.notnull()
    return people.select(
        "cid",
        first=ibis.cases((known, people.fc), else_=NONE_LABEL),
        first_channel=ibis.coalesce(people.fch, NONE_LABEL),
        last=ibis.cases((people.lk.notnull(), people.lc), else_=NONE_LABEL),
        last_channel=ibis.coalesce(people.lch, NONE_LABEL),
    )


def _volumes(ctx: Context, period: Period, stages: dict[str, str | None], key: str) -> dict[str, dict[str, int]]:
    jt = journeys(ctx)
    firsts = {m: jt[reach(ctx.stages.index(s))].min() for m, s in stages.items() if s}
    people = jt.group_by("contact_id").aggregate(**firsts)
    attr = _attribution(ctx)
    joined = people.left_join(attr, people.contact_id == attr.cid)
    joined = joined.mutate(k=ibis.coalesce(joined[key], NONE_LABEL))
    aggs = {m: ibis.cases((in_period(joined[m], period), 1), else_=0).sum() for m in firsts}
    frame = joined.group_by("k").aggregate(**aggs).execute()
    return {str(r["k"]): {m: as_int(r[m]) for m in firsts} for _, r in frame.iterrows()}


def _local_days(ctx: Context, period: Period) -> tuple[date | None, date | None]:
    start = None if period.start is None else period.start.astimezone(ctx.tz).date()
    end = None if period.end is None else period.end.astimezone(ctx.tz).date()
    return start, end


def _costs(ctx: Context, period: Period) -> dict[str, float]:
    costs, campaigns = ctx.table("campaign_costs"), ctx.table("campaigns")
    start, end = _local_days(ctx, period)
    if start is not None:
        costs = costs.filter(costs.day >= start)
    if end is not None:
        costs = costs.filter(costs.day < end)
    joined = costs.inner_join(campaigns, costs.campaign_id == campaigns.id)
    frame = joined.group_by("key").aggregate(cost=joined.amount.cast("float64").sum()).execute()
    return {str(r.key): float(r.cost) for r in frame.itertuples()}


def _revenue(ctx: Context, period: Period, key: str) -> dict[str, float]:
    deals = ctx.table("deals")
    won = deals.filter((deals.status == "won") & deals.closed_at.notnull())
    won = won.mutate(cep=seconds(won.closed_at))
    won = won.filter(in_period(won.cep, period) & (won.cep <= epoch(ctx.as_of)))
    attr = _attribution(ctx)
    joined = won.left_join(attr, won.contact_id == attr.cid)
    joined = joined.mutate(k=ibis.coalesce(joined[key], NONE_LABEL))
    frame = joined.group_by("k").aggregate(rev=joined.amount.cast("float64").sum()).execute()
    return {str(r.k): float(r.rev) for r in frame.itertuples()}


def _row(key: str, channel: str, cost: float, vol: dict[str, int], rev_first: float, rev_last: float) -> SpendRow:
    leads, mqls, sqls, customers = (vol.get(m, 0) for m in _MILESTONES)
    return SpendRow(
        key, channel, round(cost, 2), leads, mqls, sqls, customers,
        _ratio(cost, leads), _ratio(cost, mqls), _ratio(cost, sqls), _ratio(cost, customers),
        rev_first, rev_last, _ratio(rev_first - cost, cost), _ratio(rev_last - cost, cost),
    )  # fmt: skip


def _campaign_channels(ctx: Context) -> dict[str, str]:
    campaigns = ctx.table("campaigns").select("key", "channel").execute()
    return {str(r.key): str(r.channel) for r in campaigns.itertuples()}


def _campaign_rows(ctx: Context, period: Period, stages: dict[str, str | None]) -> tuple[SpendRow, ...]:
    channels = _campaign_channels(ctx)
    costs = _costs(ctx, period)
    volumes = _volumes(ctx, period, stages, "first")
    rev_first, rev_last = _revenue(ctx, period, "first"), _revenue(ctx, period, "last")
    keys = sorted(set(costs) | set(volumes) | set(rev_first) | set(rev_last))
    return tuple(
        _row(k, channels.get(k, NONE_LABEL), costs.get(k, 0.0), volumes.get(k, {}), rev_first.get(k, 0.0),
             rev_last.get(k, 0.0))
        for k in keys
    )  # fmt: skip


def _channel_rows(rows: tuple[SpendRow, ...]) -> tuple[SpendRow, ...]:
    """Roll campaigns up to channels: volumes, cost and first-touch revenue by the campaign's channel; last-touch
    revenue by the channel of the last-touch campaign (the same campaign table)."""
    out = []
    for channel in sorted({r.channel for r in rows}):
        mine = [r for r in rows if r.channel == channel]
        vol = {
            "lead": sum(r.leads for r in mine),
            "mql": sum(r.mqls for r in mine),
            "sql": sum(r.sqls for r in mine),
            "customer": sum(r.customers for r in mine),
        }
        first, last = sum(r.revenue_first_touch for r in mine), sum(r.revenue_last_touch for r in mine)
        out.append(_row(channel, channel, sum(r.cost for r in mine), vol, first, last))
    return tuple(out)


def _total(rows: tuple[SpendRow, ...]) -> SpendRow:
    cost = sum(r.cost for r in rows)
    vol = {
        "lead": sum(r.leads for r in rows),
        "mql": sum(r.mqls for r in rows),
        "sql": sum(r.sqls for r in rows),
        "customer": sum(r.customers for r in rows),
    }
    return _row(
        "total", "all", cost, vol, sum(r.revenue_first_touch for r in rows), sum(r.revenue_last_touch for r in rows)
    )


def _clv(ctx: Context) -> tuple[float | None, int]:
    deals = ctx.table("deals")
    won = deals.filter((deals.status == "won") & deals.closed_at.notnull())
    won = won.filter(seconds(won.closed_at) <= epoch(ctx.as_of))
    won = won.mutate(customer=ibis.coalesce(won.account_id.cast("string"), "c" + won.contact_id.cast("string")))
    per = won.group_by("customer").aggregate(value=won.amount.cast("float64").sum())
    out = per.aggregate(n=per.count(), mean=per.value.mean()).execute().iloc[0]
    n = as_int(out["n"])
    return (None if n == 0 else float(out["mean"])), n


def _quarter(ctx: Context) -> tuple[str, date, date]:
    today = ctx.as_of.astimezone(ctx.tz).date()
    first = floor_day(today, Grain.QUARTER)
    return bucket_label(first, Grain.QUARTER), first, next_day(first, Grain.QUARTER)


def _pipeline(ctx: Context) -> tuple[float, float, int, Forecast]:
    deals = ctx.table("deals")
    now = epoch(ctx.as_of)
    amount = deals.amount.cast("float64")
    label, first, after = _quarter(ctx)
    start_s = epoch(datetime.combine(first, time(0), tzinfo=ctx.tz))
    end_s = epoch(datetime.combine(after, time(0), tzinfo=ctx.tz))
    is_open = (deals.status == "open") & (seconds(deals.opened_at) <= now)
    in_quarter = is_open & deals.expected_close.notnull() & (deals.expected_close >= first)
    in_quarter = in_quarter & (deals.expected_close < after)
    closed = seconds(deals.closed_at)
    won_q = (deals.status == "won") & deals.closed_at.notnull() & (closed >= start_s) & (closed < end_s)
    won_q = won_q & (closed <= now)
    zero = ibis.literal(0.0)
    out = (
        deals.aggregate(
            value=ibis.cases((is_open, amount), else_=zero).sum(),
            weighted=ibis.cases((is_open, amount * deals.probability), else_=zero).sum(),
            n=ibis.cases((is_open, 1), else_=0).sum(),
            q_weighted=ibis.cases((in_quarter, amount * deals.probability), else_=zero).sum(),
            q_open=ibis.cases((in_quarter, amount), else_=zero).sum(),
            won=ibis.cases((won_q, amount), else_=zero).sum(),
        )
        .execute()
        .iloc[0]
    )
    f = {k: float(out[k] or 0.0) if out[k] == out[k] else 0.0 for k in out.index}
    forecast = Forecast(label, f["won"], round(f["q_weighted"], 2), round(f["won"] + f["q_weighted"], 2),
                        round(f["won"] + f["q_open"], 2))  # fmt: skip
    return round(f["value"], 2), round(f["weighted"], 2), int(f["n"]), forecast


def economics(ctx: Context, period: Period) -> Economics:
    """Economics for ``period`` (see the module docstring for every definition)."""
    stages = milestones(ctx)
    campaigns = _campaign_rows(ctx, period, stages)
    channels = _channel_rows(campaigns)
    total = _total(campaigns)
    clv, customers = _clv(ctx)
    value, weighted, n, forecast = _pipeline(ctx)
    return Economics(
        period, stages, campaigns, channels, total, clv, customers,
        None if clv is None or not total.cac else clv / total.cac, value, weighted, n, forecast,
    )  # fmt: skip

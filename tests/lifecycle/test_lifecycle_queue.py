"""The sales queue: MQLs oldest first with the handoff SLA in business hours."""

from __future__ import annotations

from datetime import timedelta

from lifecycle_helpers import REP, make_mql, table, tick

from funnelbridge.domain.business_hours import BusinessCalendar
from funnelbridge.domain.durations import parse_duration
from funnelbridge.lifecycle import accept, sales_queue
from funnelbridge.runtime import Runtime


def test_queue_is_oldest_first_and_drops_decided_leads(rt: Runtime) -> None:
    first = make_mql(rt)
    tick(rt, timedelta(hours=1))
    second = make_mql(rt)
    tick(rt, timedelta(hours=1))
    third = make_mql(rt)
    accept(rt, second, REP)
    items = sales_queue(rt)
    assert [i.contact_id for i in items] == [first, third]
    assert items[0].stage == table(rt).roles.queue
    assert items[0].waiting == timedelta(hours=2)
    assert items[0].grade == "A" and items[0].score_total == 80


def test_sla_time_left_counts_business_hours_only(rt: Runtime) -> None:
    cid = make_mql(rt)
    sla = rt.playbook.main.stage(table(rt).roles.handoff or "").sla
    assert sla is not None and sla.decide_within and sla.business_hours
    limit = parse_duration(sla.decide_within)
    [item] = [i for i in sales_queue(rt) if i.contact_id == cid]
    assert item.sla_left == limit and not item.breached
    calendar = BusinessCalendar.from_hours(rt.playbook.business_hours, rt.playbook.timezone)
    assert item.sla_due_at == calendar.add(item.entered_at, limit)
    tick(rt, timedelta(days=7))  # a week later: overdue, by the working time since the due date
    [late] = [i for i in sales_queue(rt) if i.contact_id == cid]
    assert late.breached and late.sla_left == -calendar.elapsed(late.sla_due_at or late.entered_at, rt.clock.now())

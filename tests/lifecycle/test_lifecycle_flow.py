"""The lifecycle end to end on both B2B-style playbooks and both stores: automatic moves with skips, the sales
handoff, BANT, deals, loss cool-down, advocacy, disqualify, stalls and the rebuildable projection."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lifecycle_helpers import (
    ADMIN,
    FULL_BANT,
    MARKETER,
    REP,
    add_contact,
    add_event,
    make_mql,
    run_advance,
    set_score,
    table,
    tick,
)
from sqlalchemy import select

from funnelbridge.domain.events import StageEntered, StageLeft
from funnelbridge.errors import IllegalTransitionError, InputError, NotFoundError
from funnelbridge.lifecycle import (
    accept,
    advocate,
    disqualify,
    lose_deal,
    move_deal,
    open_deal,
    qualify,
    rebuild_projection,
    recycle,
    recycle_due,
    recycle_stalled,
    reject,
    win_deal,
)
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import get_state
from funnelbridge.store.tables import contacts, pipeline_states, timers
from funnelbridge.store.transitions import trail


def stage_of(rt: Runtime, cid: int) -> str:
    with rt.db.read() as conn:
        state = get_state(conn, cid, rt.playbook.main_name)
    assert state is not None
    return state.stage


def moves(rt: Runtime, cid: int) -> list[tuple[str | None, str, tuple[str, ...]]]:
    with rt.db.read() as conn:
        return [(t.from_stage, t.to_stage, t.skipped) for t in trail(conn, [cid])]


def test_anonymous_contact_enters_at_the_first_stage(rt: Runtime) -> None:
    cid = add_contact(rt, email=None, title=None)
    made = run_advance(rt, cid)
    first = table(rt).roles.stages[0]
    assert [(t.from_stage, t.to_stage) for t in made] == [(None, first)]
    assert run_advance(rt, cid) == []  # nothing more holds


def test_a_hand_raise_skips_to_mql_and_records_the_skips(rt: Runtime) -> None:
    cid = add_contact(rt, email="ann@gmail.com")  # free mail: fails fit screening, but raises a hand
    add_event(rt, cid, "demo_request")
    [t] = run_advance(rt, cid)
    roles = table(rt).roles
    assert t.to_stage == roles.queue
    assert t.skipped == roles.stages[: roles.stages.index(roles.queue)]
    assert t.playbook_version == rt.playbook.version and t.actor_role == "system"
    entered = [e for e in rt.bus.published or [] if isinstance(e, StageEntered)]
    assert entered[-1].stage == roles.queue


def test_identification_then_scores_move_forward_step_by_step(rt: Runtime) -> None:
    cid = add_contact(rt, email=None)
    run_advance(rt, cid)
    with rt.db.transaction() as conn:
        conn.execute(contacts.update().where(contacts.c.id == cid).values(email=f"lee{cid}@bigco.example"))
    set_score(rt, cid, grade="B", engagement=5, total=35)
    tick(rt)
    first_moves = run_advance(rt, cid)
    assert first_moves and first_moves[0].to_stage != table(rt).roles.queue
    set_score(rt, cid, grade="A", engagement=80, total=90)
    tick(rt)
    [t] = run_advance(rt, cid)
    assert t.to_stage == table(rt).roles.queue
    assert any(isinstance(e, StageLeft) for e in rt.bus.published or [])


def test_accept_qualify_open_win_advocate(rt: Runtime) -> None:
    roles = table(rt).roles
    cid = make_mql(rt)
    tick(rt)
    assert accept(rt, cid, REP).to_stage == roles.handoff
    tick(rt)
    with pytest.raises(IllegalTransitionError, match=r"requires .*missing: bant"):
        qualify(rt, cid, REP, {"budget": "10k"})
    with rt.db.read() as conn:  # the failed command stored nothing, not even its BANT answers
        assert conn.execute(select(contacts.c.bant_budget).where(contacts.c.id == cid)).scalar() is None
    assert qualify(rt, cid, REP, FULL_BANT).to_stage == roles.qualify
    tick(rt)
    deal = open_deal(rt, cid, REP, amount="12000", currency="eur")
    assert (deal.stage, deal.status, deal.currency, deal.probability) == ("prospecting", "open", "EUR", 0.1)
    assert stage_of(rt, cid) == (roles.opportunity or roles.qualify)
    tick(rt)
    moved = move_deal(rt, deal.deal_id, REP, "proposal")
    assert (moved.stage, moved.probability) == ("proposal", 0.6)
    tick(rt)
    won = win_deal(rt, deal.deal_id, REP)
    assert won.status == "won" and stage_of(rt, cid) == roles.customer
    with pytest.raises(IllegalTransitionError, match="closed"):
        move_deal(rt, deal.deal_id, REP, "negotiation")
    if roles.advocacy:
        tick(rt)
        with pytest.raises(IllegalTransitionError, match="may be made by"):
            advocate(rt, cid, REP)
        assert advocate(rt, cid, MARKETER).to_stage == roles.advocacy
    assert rebuild_projection(rt).changed == 0


def test_reject_needs_a_listed_reason_and_recycles(rt: Runtime) -> None:
    cid = make_mql(rt)
    with pytest.raises(IllegalTransitionError, match="needs a reason from"):
        reject(rt, cid, REP, "meh")
    t = reject(rt, cid, REP, "bad_timing", note="call back in spring")
    assert (t.to_stage, t.reason, t.note) == ("recycled", "bad_timing", "call back in spring")


def test_who_may_move_is_enforced_and_admins_may_do_anything(rt: Runtime) -> None:
    cid = make_mql(rt)
    with pytest.raises(IllegalTransitionError, match=r"rule 'accept: mql → sal' may be made by admin, sales"):
        accept(rt, cid, MARKETER)
    with pytest.raises(IllegalTransitionError, match="no qualify rule from 'mql'"):
        qualify(rt, cid, REP, FULL_BANT)
    assert accept(rt, cid, ADMIN).actor_role == "admin"


def test_disqualify_from_any_stage_with_a_reason(rt: Runtime) -> None:
    cid = make_mql(rt)
    accept(rt, cid, REP)
    with pytest.raises(IllegalTransitionError, match="needs a reason"):
        disqualify(rt, cid, REP, "not sure")
    [t] = disqualify(rt, cid, REP, "competitor")
    assert t.to_stage == "disqualified"
    with pytest.raises(IllegalTransitionError):
        disqualify(rt, cid, REP, "spam")


def test_lost_deal_is_recycled_after_the_cool_down_and_re_enters_as_a_new_journey(rt: Runtime) -> None:
    roles = table(rt).roles
    cid = make_mql(rt)
    accept(rt, cid, REP)
    qualify(rt, cid, REP, FULL_BANT)
    deal = open_deal(rt, cid, REP, amount=5000)
    lost = lose_deal(rt, deal.deal_id, REP, "competitor", competitor="RivalCRM")
    assert lost.status == "lost" and lost.transitions == ()
    cool_down = rt.playbook.handoff.recycle_after.get("lost", "0d")
    if cool_down != "0d":
        assert recycle_due(rt) == 0
        tick(rt, timedelta(days=91))
    assert recycle_due(rt) == (1 if cool_down != "0d" else 0)
    assert stage_of(rt, cid) == "recycled"
    assert run_advance(rt, cid) == []  # no new activity since the recycle
    tick(rt)
    add_event(rt, cid, "demo_request")
    [back] = run_advance(rt, cid)
    assert (back.from_stage, back.to_stage, back.journey) == ("recycled", roles.reentry, 2)
    with rt.db.read() as conn:
        fired = conn.execute(select(timers.c.fired_at).where(timers.c.contact_id == cid)).scalars().all()
    assert all(f is not None for f in fired)


def test_stalled_leads_are_recycled(rt: Runtime) -> None:
    cid = make_mql(rt)
    limit = rt.playbook.main.stall_limit(table(rt).roles.queue or "")
    assert limit is not None
    tick(rt, limit - timedelta(hours=1))
    assert recycle_stalled(rt) == 0
    tick(rt, timedelta(hours=2))
    assert recycle_stalled(rt) == 1
    assert moves(rt, cid)[-1][1] == "recycled"
    assert recycle_stalled(rt) == 0


def test_activity_keeps_a_lead_from_stalling(rt: Runtime) -> None:
    cid = make_mql(rt)
    limit = rt.playbook.main.stall_limit(table(rt).roles.queue or "")
    assert limit is not None
    tick(rt, limit - timedelta(days=1))
    add_event(rt, cid, "page_view", path="/pricing")
    tick(rt, timedelta(days=2))
    assert recycle_stalled(rt) == 0


def test_projection_is_rebuilt_from_the_trail(rt: Runtime) -> None:
    a, b = make_mql(rt), make_mql(rt)
    accept(rt, a, REP)
    reject(rt, b, REP, "duplicate")
    with rt.db.transaction() as conn:
        conn.execute(pipeline_states.update().where(pipeline_states.c.contact_id == a).values(stage="lead"))
        conn.execute(pipeline_states.delete().where(pipeline_states.c.contact_id == b))
    summary = rebuild_projection(rt)
    assert (summary.changed, summary.created) == (1, 1)
    assert stage_of(rt, a) == table(rt).roles.handoff and stage_of(rt, b) == "recycled"
    assert rebuild_projection(rt).changed == 0


def test_errors_for_unknown_things(rt: Runtime) -> None:
    with pytest.raises(NotFoundError):
        accept(rt, 999_999, REP)
    cid = add_contact(rt)
    with pytest.raises(NotFoundError, match="no stage"):
        accept(rt, cid, REP)
    with pytest.raises(InputError, match="pipeline"):
        accept(rt, cid, REP, pipeline="nope")
    run_advance(rt, cid)
    with pytest.raises(InputError, match="before the contact entered"):
        disqualify(rt, cid, MARKETER, "spam", at=rt.clock.now() - timedelta(days=1))


def _with_recycle_after(rt: Runtime, **after: str) -> None:
    handoff = rt.playbook.handoff.model_copy(update={"recycle_after": {**rt.playbook.handoff.recycle_after, **after}})
    rt.playbook = rt.playbook.model_copy(update={"handoff": handoff})


def test_without_a_cool_down_a_lost_lead_is_recycled_at_once(rt: Runtime) -> None:
    _with_recycle_after(rt, lost="0d")
    cid = make_mql(rt)
    accept(rt, cid, REP)
    qualify(rt, cid, REP, FULL_BANT)
    first, second = (open_deal(rt, cid, REP, amount=a) for a in (100, 200))
    assert lose_deal(rt, first.deal_id, REP, "price").transitions == ()  # another deal is still open
    [t] = lose_deal(rt, second.deal_id, REP, "timing").transitions
    assert (t.to_stage, t.reason, t.actor_role) == ("recycled", "timing", "system")


def test_a_rejected_lead_sits_out_its_hold_before_it_can_re_enter(rt: Runtime) -> None:
    _with_recycle_after(rt, rejected="7d")
    cid = make_mql(rt)
    reject(rt, cid, REP, "bad_timing")
    tick(rt, timedelta(days=1))
    add_event(rt, cid, "demo_request")
    assert run_advance(rt, cid) == []  # renewed interest, but the hold is not over
    tick(rt, timedelta(days=7))
    [back] = run_advance(rt, cid)
    assert (back.to_stage, back.journey, back.reason) == (table(rt).roles.reentry, 2, "renewed_engagement")


def test_recycle_sends_a_lead_back_to_nurture_with_a_reason(rt: Runtime) -> None:
    cid = make_mql(rt)
    with pytest.raises(IllegalTransitionError, match="needs a reason"):
        recycle(rt, cid, MARKETER, "because")
    with pytest.raises(IllegalTransitionError, match="may be made by"):
        recycle(rt, cid, REP, "stalled")  # the MQL is marketing's until sales accepts it
    t = recycle(rt, cid, MARKETER, "bad_timing", idempotency_key="r1")
    assert (t.from_stage, t.to_stage, t.reason) == (table(rt).roles.queue, "recycled", "bad_timing")
    assert recycle(rt, cid, MARKETER, "bad_timing", idempotency_key="r1").id == t.id

"""A hypothesis state machine drives random commands and events through the lifecycle and checks, after every
step: no stored transition breaks the transition table, the projection equals the replayed trail (last activity
included: what the live moves store is what a rebuild recomputes), every journey
reached a prefix of the stages (so per-stage funnel counts never exceed the previous stage's, skips included)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from lifecycle_helpers import (
    ADMIN,
    FULL_BANT,
    MARKETER,
    REP,
    add_contact,
    add_event,
    run_advance,
    set_score,
    table,
    tick,
)
from sqlalchemy import update

from funnelbridge.errors import DomainError, InputError, NotFoundError
from funnelbridge.lifecycle import (
    SYSTEM,
    accept,
    advocate,
    disqualify,
    lose_deal,
    open_deal,
    qualify,
    recycle,
    recycle_due,
    recycle_stalled,
    reject,
    replay,
    stage_counts,
    win_deal,
)
from funnelbridge.lifecycle.projection import reached
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import all_states, get_state
from funnelbridge.store.tables import contacts
from funnelbridge.store.transitions import trail

EXPECTED = (DomainError, InputError, NotFoundError)
actors = st.sampled_from([REP, MARKETER, ADMIN, SYSTEM])
events = st.sampled_from(["demo_request", "page_view", "email_open", "asset_download"])
reasons = st.sampled_from(["not_a_fit", "bad_timing", "spam", "competitor", "price", "no_decision", "nonsense"])
bants = st.sampled_from([FULL_BANT, {"budget": "10k", "need": "yes"}, {}])


def attempt(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except EXPECTED:
        return None


def machine_for(rt: Runtime) -> type[RuleBasedStateMachine]:
    tab = table(rt)
    stages = tab.roles.stages

    class Lifecycle(RuleBasedStateMachine):
        leads = Bundle("leads")

        @initialize()
        def start(self) -> None:
            self.ids: list[int] = []
            self.deal_ids: list[int] = []

        @rule(target=leads, kind=st.sampled_from(["anonymous", "free_mail", "business", "hot"]))
        def new_contact(self, kind: str) -> int:
            email = (
                None
                if kind == "anonymous"
                else (f"p{len(self.ids)}.{id(self)}@gmail.com" if kind == "free_mail" else "auto")
            )
            cid = add_contact(rt, email=email)
            if kind == "hot":
                set_score(rt, cid)
            self.ids.append(cid)
            attempt(run_advance, rt, cid)
            return cid

        @rule(cid=leads, event=events)
        def activity(self, cid: int, event: str) -> None:
            add_event(rt, cid, event, path="/pricing")
            attempt(run_advance, rt, cid)

        @rule(cid=leads, hot=st.booleans())
        def rescore_and_identify(self, cid: int, hot: bool) -> None:
            with rt.db.transaction() as conn:
                conn.execute(update(contacts).where(contacts.c.id == cid).values(email=f"p{cid}@firm{cid}.example"))
            set_score(rt, cid, grade="A" if hot else "C", engagement=80 if hot else 5, total=90 if hot else 20)
            attempt(run_advance, rt, cid)

        @rule(cid=leads, actor=actors)
        def accept_lead(self, cid: int, actor: Any) -> None:
            attempt(accept, rt, cid, actor)

        @rule(cid=leads, actor=actors, reason=reasons)
        def reject_lead(self, cid: int, actor: Any, reason: str) -> None:
            attempt(reject, rt, cid, actor, reason)

        @rule(cid=leads, actor=actors, bant=bants)
        def qualify_lead(self, cid: int, actor: Any, bant: dict[str, str]) -> None:
            attempt(qualify, rt, cid, actor, bant)

        @rule(cid=leads, actor=actors, reason=reasons)
        def disqualify_lead(self, cid: int, actor: Any, reason: str) -> None:
            attempt(disqualify, rt, cid, actor, reason)

        @rule(cid=leads, actor=actors, reason=reasons)
        def recycle_lead(self, cid: int, actor: Any, reason: str) -> None:
            attempt(recycle, rt, cid, actor, reason)

        @rule(cid=leads, actor=actors)
        def advocate_lead(self, cid: int, actor: Any) -> None:
            attempt(advocate, rt, cid, actor)

        @rule(cid=leads, actor=actors)
        def open_a_deal(self, cid: int, actor: Any) -> None:
            result = attempt(open_deal, rt, cid, actor, amount=1000)
            if result:
                self.deal_ids.append(result.deal_id)

        @rule(cid=leads)
        def happy_path(self, cid: int) -> None:
            """The next natural step for the lead's stage, so random runs reach deals and customers."""
            with rt.db.read() as conn:
                state = get_state(conn, cid, rt.playbook.main_name)
            stage = state.stage if state else None
            r = tab.roles
            if stage == r.queue:
                attempt(accept, rt, cid, REP)
            elif stage == r.handoff:
                attempt(qualify, rt, cid, REP, FULL_BANT)
            elif stage in r.deal_from:
                deal = attempt(open_deal, rt, cid, REP, amount=500)
                self.deal_ids += [deal.deal_id] if deal else []
            elif stage == r.customer:
                attempt(advocate, rt, cid, MARKETER)
            else:
                add_event(rt, cid, "demo_request")
                attempt(run_advance, rt, cid)

        @precondition(lambda self: bool(getattr(self, "deal_ids", None)))
        @rule(data=st.data(), actor=actors, won=st.booleans(), reason=reasons)
        def close_deal(self, data: st.DataObject, actor: Any, won: bool, reason: str) -> None:
            deal = data.draw(st.sampled_from(self.deal_ids))
            attempt(win_deal, rt, deal, actor) if won else attempt(lose_deal, rt, deal, actor, reason)

        @rule(days=st.sampled_from([0, 0, 1, 3, 15, 100]))
        def time_passes(self, days: int) -> None:
            tick(rt, timedelta(days=days, minutes=1))
            recycle_due(rt)
            recycle_stalled(rt)

        @invariant()
        def trail_is_legal_and_projected(self) -> None:
            if not getattr(self, "ids", None):
                return
            with rt.db.read() as conn:
                moves = trail(conn, self.ids)
                states = [s for c in self.ids for s in all_states(conn, c)]
            previous: dict[int, tuple[str, int]] = {}
            for t in moves:
                found = tab.permits(t.from_stage, t.to_stage, t.actor_role, t.skipped, t.reason)
                assert found is not None, f"illegal transition stored: {t}"
                before = previous.get(t.contact_id)
                assert (before[0] if before else None) == t.from_stage, t
                assert t.journey == (before[1] if before else 1) + (1 if found.new_journey else 0), t
                previous[t.contact_id] = (t.to_stage, t.journey)
            projected = {
                (s.contact_id, s.pipeline): (s.stage, s.entered_at, s.journey, s.last_activity_at) for s in states
            }
            replayed = replay(moves).items()
            assert projected == {k: (p.stage, p.entered_at, p.journey, p.last_activity_at) for k, p in replayed}
            for hit in reached(moves, stages).values():
                assert hit == set(stages[: len(hit)]), f"not a prefix: {hit}"
            counts = stage_counts(moves, stages, rt.playbook.main_name)
            assert all(a >= b for a, b in zip(list(counts.values()), list(counts.values())[1:], strict=False))

    return Lifecycle


def test_random_commands_keep_the_lifecycle_invariants(rt: Runtime) -> None:
    config = settings(
        max_examples=10 if rt.db.is_sqlite else 4,  # PostgreSQL round trips are slower; same rules, fewer runs
        stateful_step_count=35,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    run_state_machine_as_test(machine_for(rt), settings=config)

"""The transition table is data derived from the playbook: roles of stages for every shipped playbook, the
checks that make a move legal, and docs/lifecycle.md in sync with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifecycle_helpers import ADMIN, FULL_BANT, MARKETER, REP

from funnelbridge.errors import IllegalTransitionError
from funnelbridge.lifecycle import SYSTEM, Move, build_table
from funnelbridge.lifecycle.reference import playbook_tables_markdown
from funnelbridge.playbook import EXAMPLES, load_example, parse_playbook

DOC = Path(__file__).parents[2] / "docs" / "lifecycle.md"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("b2b", ("mql", "sal", "sql", "opportunity", "customer", "evangelist", "lead", "mql")),
        ("six_stage", ("mql", "sal", "sql", None, "customer", None, None, "mql")),
        ("b2c", (None, None, None, None, "customer", None, "lead", "lead")),
    ],
)
def test_stage_roles_of_shipped_playbooks(name: str, expected: tuple[str | None, ...]) -> None:
    pb = load_example(name)
    r = build_table(pb.main, pb.handoff).roles
    assert (r.queue, r.handoff, r.qualify, r.opportunity, r.customer, r.advocacy, r.gate, r.reentry) == expected


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_rule_names_real_stages_and_forward_moves_go_forward(name: str) -> None:
    pb = load_example(name)
    table = build_table(pb.main, pb.handoff)
    stages = table.roles.stages
    detours = set(pb.main.detours)
    for rule in table.rules:
        assert rule.from_stage is None or rule.from_stage in stages or rule.from_stage in detours
        assert rule.to_stage in stages or rule.to_stage in detours
        assert rule.roles, rule
        if rule.from_stage in stages and rule.to_stage in stages:
            assert stages.index(rule.to_stage) > stages.index(rule.from_stage), rule
            between = stages[stages.index(rule.from_stage) + 1 : stages.index(rule.to_stage)]
            assert rule.skipped == between
        if rule.to_stage in detours:
            assert rule.reasons, f"backward moves need a reason: {rule}"


def test_checks_name_the_rule_that_forbids_a_move() -> None:
    pb = load_example("b2b")
    table = build_table(pb.main, pb.handoff)
    accept = table.find(Move.ACCEPT, "mql")
    table.check(accept, REP)
    table.check(accept, ADMIN)
    with pytest.raises(IllegalTransitionError, match=r"'accept: mql → sal' may be made by admin, sales"):
        table.check(accept, MARKETER)
    with pytest.raises(IllegalTransitionError, match=r"no accept rule from 'lead'.*accept: mql → sal"):
        table.find(Move.ACCEPT, "lead")
    qualify = table.find(Move.QUALIFY, "sal")
    with pytest.raises(IllegalTransitionError, match=r"missing: bant\.timeline"):
        table.check(qualify, REP, fields={f"bant.{k}": v for k, v in FULL_BANT.items() if k != "timeline"})
    table.check(qualify, REP, fields={f"bant.{k}": v for k, v in FULL_BANT.items()})
    reject = table.find(Move.REJECT, "mql")
    with pytest.raises(IllegalTransitionError, match="needs a reason"):
        table.check(reject, REP)
    with pytest.raises(IllegalTransitionError, match="may be made by system"):
        table.check(table.find(Move.RECYCLE_STALLED, "mql"), REP)
    table.check(table.find(Move.RECYCLE_STALLED, "mql"), SYSTEM, reason="stalled")


_STAGE_IDS = st.lists(st.from_regex(r"[a-z]{2,8}", fullmatch=True), min_size=1, max_size=8, unique=True)


@settings(deadline=None, max_examples=30)
@given(_STAGE_IDS, st.data())
def test_any_stage_list_yields_a_consistent_table(ids: list[str], data: st.DataObject) -> None:
    ids = [i for i in ids if i not in ("recycled", "disqualified")] or ["only"]
    owners = data.draw(st.lists(st.sampled_from(["marketing", "sales"]), min_size=len(ids), max_size=len(ids)))
    stages = []
    for i, (sid, owner) in enumerate(zip(ids, owners, strict=True)):
        crit = "{field: contact.email, op: exists}" if i and owner == "marketing" else "null"
        stages.append(
            f"      - {{id: {sid}, owner: {owner}, by: {'sales' if owner == 'sales' else 'system'}, "
            f"enter_when: {crit}}}"
        )
    pb = parse_playbook("name: t\npipelines:\n  main:\n    stages:\n" + "\n".join(stages) + "\n")
    table = build_table(pb.main, pb.handoff)
    r = table.roles
    assert r.customer in ids and r.auto[0] == ids[0]
    assert all(rule.from_stage != rule.to_stage for rule in table.rules)
    names = [(rule.move, rule.from_stage, rule.to_stage) for rule in table.rules]
    assert len(names) == len(set(names))


def test_docs_print_the_current_tables() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in ("b2b", "six_stage", "b2c"):
        assert playbook_tables_markdown(load_example(name)) in text, f"docs/lifecycle.md is stale for {name}"

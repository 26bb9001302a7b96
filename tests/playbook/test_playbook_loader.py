from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from funnelbridge.errors import PlaybookError
from funnelbridge.playbook import EXAMPLES, example_path, load_example, load_playbook, parse_playbook

B2B = example_path("b2b").read_text(encoding="utf-8")


def _error(text: str) -> str:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text, source="pb.yaml")
    return str(info.value)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_shipped_examples_are_valid(name: str) -> None:
    pb = load_example(name)
    assert pb.version and len(pb.version) == 12
    assert pb.main.stage_ids


def test_default_b2b_funnel_has_the_vocabulary_stages() -> None:
    pb = load_example("b2b")
    assert pb.main.stage_ids == ("visitor", "lead", "mal", "mql", "sal", "sql", "opportunity", "customer", "evangelist")
    assert pb.main.detours == ("recycled", "disqualified")
    assert pb.main.handoff == "sal"
    assert pb.main.stage("sql").requires == ("bant.budget", "bant.authority", "bant.need", "bant.timeline")


def test_six_stage_and_b2c_shapes() -> None:
    assert load_example("six_stage").main.stage_ids == ("lead", "qualified_lead", "mql", "sal", "sql", "customer")
    b2c = load_example("b2c")
    assert b2c.main.stage_ids == ("visitor", "lead", "customer")
    assert b2c.main.handoff is None


def test_wrong_type_names_file_line_field_and_reason() -> None:
    text = B2B.replace(
        "{name: 50+ employees, when: {field: account.employees, op: gte, value: 50}, points: 15}",
        "{name: 50+ employees, when: {field: account.employees, op: gte, value: 50}, points: ten}",
    )
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "points: ten" in row)
    assert _error(text) == f'pb.yaml:{line} scoring.fit[2].points: expected a number, got "ten"'


def test_unknown_field_in_a_condition_is_rejected_with_its_line() -> None:
    text = B2B.replace("field: account.industry", "field: account.industri")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "account.industri," in row)
    message = _error(text)
    assert message.startswith(f"pb.yaml:{line} scoring.fit[4].when: unknown field 'account.industri'")


def test_operator_type_mismatch_is_rejected() -> None:
    employees = "{field: account.employees, op: gte, value: 50}"
    text = B2B.replace(employees, "{field: account.industry, op: gte, value: 50}")
    assert "op gte needs a number or time field, account.industry is text" in _error(text)


def test_numeric_op_with_text_value_is_rejected() -> None:
    employees = "{field: account.employees, op: gte, value: 50}"
    text = B2B.replace(employees, '{field: account.employees, op: gte, value: "x"}')
    assert "expected a number, got 'x'" in _error(text)


def test_unknown_top_level_key_and_missing_name() -> None:
    text = B2B.replace("name: Default B2B funnel", "nmae: Default B2B funnel")
    message = _error(text)
    assert "pb.yaml:3 nmae: unknown field" in message
    assert "name: required field is missing" in message


def test_unknown_list_reference() -> None:
    assert "unknown list $rivals" in _error(B2B.replace("value: $competitors}", "value: $rivals}", 1))


def test_yaml_syntax_error_has_a_line() -> None:
    assert _error("name: x\npipelines: [\n").startswith("pb.yaml:")


def test_on_key_is_not_read_as_a_boolean() -> None:
    pb = load_example("b2b")
    assert pb.automation[0].on == "stage_entered"


def test_bad_duration_and_time_zone() -> None:
    assert "expected a duration" in _error(B2B.replace("half_life: 14d", "half_life: fortnight", 1))
    assert "unknown time zone 'Mars/Olympus'" in _error(B2B.replace("Europe/Berlin", "Mars/Olympus"))


def test_grades_must_descend_and_stall_after_must_name_stages() -> None:
    assert "grades must descend" in _error(B2B.replace("{A: 45, B: 30, C: 15}", "{A: 10, B: 30, C: 15}"))
    assert "stall_after names unknown stages: mqll" in _error(B2B.replace("{mql: 14d,", "{mqll: 14d,"))


def test_automation_must_name_real_stages_and_tracks() -> None:
    rule = "{on: stage_entered, stage: mql,"
    assert "unknown stage 'mq'" in _error(B2B.replace(rule, rule.replace("mql", "mq")))
    track = "{enroll: nurture_long}"
    assert "unknown nurture track 'nurture_lng'" in _error(B2B.replace(track, track.replace("long", "lng")))


def test_version_ignores_comments_and_changes_with_content() -> None:
    base = parse_playbook(B2B)
    assert parse_playbook("# a comment\n" + B2B).version == base.version
    assert parse_playbook(B2B.replace("hot: 70", "hot: 75")).version != base.version


def test_missing_file_is_a_playbook_error(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="no such playbook file"):
        load_playbook(tmp_path / "nope.yaml")


def test_playbook_is_immutable() -> None:
    pb = load_example("b2b")
    with pytest.raises(Exception, match="frozen"):
        pb.name = "x"  # type: ignore[misc]


@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_loader(text: str) -> None:
    try:
        parse_playbook(text)
    except PlaybookError as exc:
        assert str(exc).startswith("playbook.yaml:")


def test_automation_actions_are_checked_at_load_time() -> None:
    rule = '{on: stage_entered, stage: sql, do: [{task: "First call with the lead", due: 48h}]}'
    assert rule in B2B
    message = _error(B2B.replace(rule, "{on: stage_entered, stage: sql, do: [{telepathy: now}]}"))
    assert "automation[3].do[0]:" in message and "action" in message

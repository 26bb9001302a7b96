"""Rule errors at playbook load: file, line, path and field — also deep in nested conditions and ``where``
filters — for unknown fields, operator/type mismatches, bad regular expressions and bad time values; YAML dates
written without quotes are times, not errors."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import ibis
import pytest
import yaml

from funnelbridge.errors import PlaybookError
from funnelbridge.playbook import example_path, parse_playbook
from funnelbridge.rules.ast import parse_condition
from funnelbridge.rules.facts import LeadFacts
from funnelbridge.rules.fields import check_condition_leaf
from funnelbridge.rules.ibis import lead_fields, lead_frame
from funnelbridge.rules.python import compile_predicate
from funnelbridge.scoring.batch_load import leads_from_facts

B2B = example_path("b2b").read_text(encoding="utf-8")
EMAIL_RULE = "{not: {field: contact.email, op: is_free_email}}"


def _error(text: str) -> str:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text, source="pb.yaml")
    return str(info.value)


def _line(text: str, marker: str) -> int:
    return next(i for i, row in enumerate(text.splitlines(), 1) if marker in row)


@pytest.mark.parametrize(
    ("leaf", "reason"),
    [
        (
            '{field: account.employees, op: gte, value: "many"}',
            "field 'account.employees': expected a number, got 'many'",
        ),
        ("{field: account.employes, op: gte, value: 5}", "unknown field 'account.employes'"),
        ('{field: contact.title, op: matches, value: "vp(x"}', "field 'contact.title': invalid regular expression"),
        ("{field: contact.created_at, op: gte, value: yesterday}", "field 'contact.created_at': expected an ISO time"),
        ("{field: contact.created_at, op: between, value: [2025-01-01, soon]}", "expected an ISO time"),
        (
            '{field: contact.created_at, op: matches, value: "2025"}',
            "op matches needs a text field, contact.created_at",
        ),
        ("{field: account.industry, op: in, value: software}", "field 'account.industry': op in needs a list value"),
        ("{field: events.count, event: page_view, within: 3O, op: gte, value: 3}", "expected a duration"),
    ],
)
def test_nested_condition_errors_show_file_line_path_and_field(leaf: str, reason: str) -> None:
    nested = f"{{any: [{{field: contact.title, op: eq, value: x}}, {{not: {{all: [{leaf}]}}}}]}}"
    text = B2B.replace(EMAIL_RULE, nested)
    message = _error(text)
    assert message.startswith(f"pb.yaml:{_line(text, nested)} scoring.fit[7].when.any[1].not.all[0]"), message
    assert reason in message, message


def test_where_filter_errors_show_the_event_field() -> None:
    text = B2B.replace(
        "where: {field: path, op: starts_with, value: /blog}", "where: {all: [{field: pathx, op: exists}]}"
    )
    message = _error(text)
    assert message.startswith(
        f"pb.yaml:{_line(text, 'pathx')} scoring.engagement[2].where.all[0]: unknown field 'pathx'"
    )


def test_unquoted_yaml_dates_compare_as_times_in_both_compilers() -> None:
    as_of = datetime(2025, 6, 1, tzinfo=UTC)
    people = [
        (1, LeadFacts({"created_at": datetime(2025, 1, 20, tzinfo=UTC)}, as_of=as_of)),
        (2, LeadFacts({"created_at": datetime(2025, 1, 10, tzinfo=UTC)}, as_of=as_of)),
        (3, LeadFacts({"created_at": None}, as_of=as_of)),
    ]
    texts = [
        "{field: contact.created_at, op: gte, value: 2025-01-15}",
        "{field: contact.created_at, op: lt, value: 2025-01-15 00:00:00}",
        "{field: contact.created_at, op: between, value: [2025-01-01, '2025-01-15T00:00:00+01:00']}",
    ]
    conds = [parse_condition(yaml.safe_load(t)) for t in texts]
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    frame = lead_frame(con.create_table("leads", leads_from_facts(people, lead_fields(conds))), None, conds, as_of)
    hits = con.execute(
        frame.table.select("contact_id", *[frame.predicate(c).name(f"c{i}") for i, c in enumerate(conds)])
    )
    batch = {row[0]: list(row[1:]) for row in hits.sort_values("contact_id").itertuples(index=False)}
    python = {cid: [compile_predicate(c)(facts) for c in conds] for cid, facts in people}
    assert python == {1: [True, False, False], 2: [False, True, True], 3: [False, False, False]}
    assert batch == python


PATTERNS = [r"(?=vp)", r"(?!vp)x", r"(?<=a)b", r"(?<!a)b", r"(a)\1", r"(?P<n>a)(?P=n)", r"(?>a)", r"\Z", r"a*+",
            r"a++", r"a{2}+", r"[(?=]x", r"\(?=x", r"[a]+", r"\\1", r"(?P<n>a)", r"(?:x)+", r"\bvp\b", r"[\]]+",
            r"\b(vp|vice president|director|head|chief|c[eit]o)\b", r"^/blog/[ab]$"]  # fmt: skip


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_the_batch_engine_cannot_run_are_rejected_at_load(pattern: str) -> None:
    try:
        duckdb.sql("select regexp_matches('vp', ?)", params=[pattern]).fetchall()
        runs_on_duckdb = True
    except duckdb.Error:
        runs_on_duckdb = False
    problem = check_condition_leaf(parse_condition({"field": "contact.title", "op": "matches", "value": pattern}))
    assert (problem is None) == runs_on_duckdb, problem
    if problem is not None:
        assert "not supported by the batch engine (RE2)" in problem and "contact.title" in problem

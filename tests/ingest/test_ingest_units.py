"""Pure parts of ingestion: free-mail list, coercion, column detection, payload validation, attribution order."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from funnelbridge.errors import InputError
from funnelbridge.ingest import FREE_EMAIL_DOMAINS, detect_mapping, is_free_email, parse_payload
from funnelbridge.ingest import coerce as c
from funnelbridge.ingest import events as events_module
from funnelbridge.ingest.accounts import clean_domain
from funnelbridge.ingest.attribution import ContactActivity, Touch

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("email", "free"),
    [("a@gmail.com", True), ("A@GMAIL.COM", True), ("a@yahoo.co.uk", True), ("a@hotmail.fr", True),
     ("a@web.de", True), ("gmx.at", True), ("a@acme.com", False), ("a@outlook.acme.com", False),
     ("a@liveperson.com", False), ("", False), (None, False)],
)  # fmt: skip
def test_free_email(email: str | None, free: bool) -> None:
    assert is_free_email(email) is free


def test_free_email_list_is_lower_case_domains() -> None:
    assert all(d == d.lower() and "." in d and "@" not in d for d in FREE_EMAIL_DOMAINS)


def test_coercion_reasons_name_the_value() -> None:
    with pytest.raises(c.CoerceError, match='expected a whole number, got "ten"'):
        c.to_int("ten")
    with pytest.raises(c.CoerceError, match="longer than 5 characters"):
        c.to_text(5)("abcdefg")
    with pytest.raises(c.CoerceError, match="two-letter country"):
        c.to_country("Atlantis")
    assert c.to_int("1,200") == 1200 and c.to_int("12.0") == 12 and c.to_int(" ") is None
    assert c.to_decimal("$1,200.50") == Decimal("1200.50") and c.to_bool("Yes") is True
    assert (
        c.to_country("germany") == "DE"
        and c.to_list("a; b") == ["a", "b"]
        and c.to_date("05/17/2024") == date(2024, 5, 17)
    )


_EMAILISH = st.text(st.sampled_from('ab1.-_+@ \t\n,;:<>()[]\\"\x00é'), max_size=12) | st.emails().map(str.lower)


@given(_EMAILISH)
def test_email_pattern_is_what_to_email_accepts(text: str) -> None:
    """``coerce.EMAIL_PATTERN`` is public and is the check of :func:`~funnelbridge.ingest.coerce.to_email`: trimmed,
    lower-case text (without NUL, at most 320 characters) is an address exactly when the pattern matches it."""
    assert "EMAIL_PATTERN" in c.__all__
    clean = text.strip().lower()
    if not clean or "\x00" in clean or len(clean) > 320:
        return
    try:
        accepted = c.to_email(clean) == clean
    except c.CoerceError:
        accepted = False
    assert accepted is (c.EMAIL_PATTERN.match(clean) is not None)


def test_event_payloads_use_no_private_name_of_coerce() -> None:
    """``ingest.events`` (the fast path's email check included) uses the coerce module's public names only."""
    tree = ast.parse(Path(events_module.__file__).read_text(encoding="utf-8"))
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "c"
        if node.attr.startswith("_")
    ]
    assert private == []
    assert {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} >= {"EMAIL_PATTERN"}


def test_naive_times_are_read_in_the_given_zone() -> None:
    berlin = c.to_timestamp(ZoneInfo("Europe/Berlin"))
    assert berlin("2026-07-01 10:00") == datetime(2026, 7, 1, 8, tzinfo=UTC)
    assert berlin("2026-07-01T10:00:00-04:00") == datetime(2026, 7, 1, 14, tzinfo=UTC)
    assert berlin("2026-07-01T10:00:00Z") == datetime(2026, 7, 1, 10, tzinfo=UTC)


@given(st.integers(-(2**62), 2**62))
def test_int_round_trip(n: int) -> None:
    assert c.to_int(str(n)) == n and c.to_int(f"{n:,}") == n


@given(st.datetimes(timezones=st.timezones(), min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)))
def test_timestamp_round_trip(value: datetime) -> None:
    parsed = c.to_timestamp(UTC)(value.isoformat())
    assert parsed == datetime.fromisoformat(value.isoformat()) and parsed.tzinfo == UTC


def test_detection_of_crm_exports() -> None:
    hub = detect_mapping("deals", ["Record ID", "Deal Name", "Amount", "Deal Stage", "Close Date", "Create Date"])
    assert hub.source_format == "hubspot"
    assert hub.fields == {"Record ID": "external_id", "Deal Name": "name", "Amount": "amount", "Deal Stage": "stage",
                          "Close Date": "expected_close", "Create Date": "opened_at"}  # fmt: skip
    sf = detect_mapping("contacts", ["FirstName", "LastName", "Email", "Title", "Account.Name", "LeadSource", "X"])
    assert sf.fields["Account.Name"] == "company" and sf.fields["LeadSource"] == "source" and sf.extras == ("X",)
    over = detect_mapping("contacts", ["E-Mail Address", "Notes"], {"Notes": None})
    assert over.fields == {"E-Mail Address": "email"} and over.ignored == ("Notes",)


def test_clean_domain() -> None:
    assert clean_domain("https://www.Acme.com/about?x=1") == "acme.com"
    assert clean_domain("ada@sub.acme.io") == "sub.acme.io"
    assert clean_domain("not a domain") is None


def _p(**kw: object) -> dict[str, object]:
    return {
        "type": "track",
        "event": "asset_download",
        "email": "a@acme.com",
        "timestamp": "2026-03-01T10:00:00Z",
        **kw,
    }


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (_p(timestamp="2026-03-01T10:00:00"), "timestamp", "needs a time zone offset"),
        (_p(timestamp="2027-01-01T00:00:00Z"), "timestamp", "more than a day in the future"),
        (_p(type="click"), "type", "expected one of identify, track, page, form, email"),
        (_p(event=None), "event", "needs an event name"),
        (_p(email="x"), "email", "expected an email address"),
        (_p(traits={"employees": "ten"}), "traits.employees", 'expected a whole number, got "ten"'),
        (_p(properties={"utm_source": [5]}), "properties.utm_source", "expected text"),
        (_p(foo=1), "foo", "unknown key"),
        ({"type": "identify", "anonymous_id": "a", "timestamp": "2026-03-01T10:00:00Z"}, "email", "email or user_id"),
    ],
)
def test_payload_errors_are_precise(payload: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(InputError) as err:
        parse_payload(payload, index=7, now=NOW)
    assert err.value.field == field and reason in err.value.reason and err.value.record == "payload 7"


def test_payload_types_and_derived_keys() -> None:
    page = parse_payload(
        {"type": "page", "anonymous_id": "a", "timestamp": "2026-03-01T11:00:00+01:00"}, index=1, now=NOW
    )
    assert page.type == "page_view" and page.occurred_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    same = parse_payload({"type": "page", "anonymous_id": "a", "timestamp": "2026-03-01T10:00:00Z"}, index=2, now=NOW)
    assert page.key == same.key  # same instant, same person, same properties
    raw = {"type": "email", "event": "open", "email": "a@b.io", "timestamp": "2026-03-01T10:00:00Z"}
    mail = parse_payload(raw, index=3, now=NOW)
    assert mail.type == "email_open"
    form = {"type": "form", "anonymous_id": "a", "timestamp": "2026-03-01T10:00:00Z", "traits": {"email": " X@Y.io"}}
    assert parse_payload(form, index=4, now=NOW).email == "x@y.io"


@given(st.permutations(range(6)))
def test_first_and_last_touch_do_not_depend_on_order(order: list[int]) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    touches = [Touch(t0 + timedelta(hours=i // 2), f"s{i}", None, None) for i in range(6)]
    seen = ContactActivity()
    for i in order:
        seen.see(touches[i].at, touches[i], False)
    assert seen.first == touches[0] and seen.last == touches[5]

"""The fast path of payload validation agrees with the precise validator: on any payload it either answers None
(the precise validator decides) or exactly the precise validator's activity — and ``parse_payload`` as a whole
gives the precise validator's activity or its very error (hypothesis, over valid payloads and near misses)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelbridge.errors import InputError
from funnelbridge.ingest.events import MAX_PAYLOAD_CHARS, fast_payload, parse_payload, parse_payload_precise
from funnelbridge.store.bulk import sqlite_time

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)

_text = st.one_of(
    st.sampled_from(["a1", "anon-0001", "x" * 200, "x" * 201, "", " a", "a ", "A\x00b", "é", "\ud800", "a\n"]),
    st.text(max_size=12),
)
_odd = st.one_of(st.none(), st.integers(-5, 5), st.booleans(), st.floats(), st.lists(st.integers(), max_size=2))
_value = st.one_of(_text, _odd, st.integers(-(2**70), 2**70), st.dictionaries(st.text(max_size=3), _text, max_size=2))
_TIME_TEXTS = ["2026-03-01T10:00:00Z", "2026-03-01T10:00:00z", "2026-03-01T10:00:00.123456+02:00",
               " 2026-03-01T10:00Z ", "2026-03-01T10:00:00", "2026-03-04T10:00:00Z", "2026-03-03T11:59:59+00:00",
               "2026-13-01T10:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "20260301T100000Z",
               "yesterday", ""]  # fmt: skip
_times = st.one_of(
    st.sampled_from(_TIME_TEXTS),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.timezones()).map(
        datetime.isoformat
    ),
    _odd,
)
_events = st.one_of(
    st.sampled_from(
        ["open", "email_open", "asset_download", "Asset Download", "a-b", "a.b:c", "9x", " open", "open\n"]
    ),
    _text,
    _odd,
)
_emails = st.one_of(
    st.sampled_from(["ada@acme.com", " Ada@ACME.com ", "ada@", "ada@acme", "a@b.io", "", "é@acme.com", "a\x00@b.io"]),
    _odd,
)
_props = st.dictionaries(
    st.sampled_from(["path", "utm_source", "source", "utm_medium", "medium", "utm_campaign", "campaign", "x", "big"]),
    st.one_of(st.sampled_from(["/", "/pricing", "google", "cpc", "q2", "p" * 1001, "c" * 201, "c" * 101]), _value),
    max_size=5,
)
_traits = st.dictionaries(
    st.sampled_from(["first_name", "title", "country", "employees", "company", "domain", "email", "technologies",
                     "unsubscribed", "annual_revenue", "plan"]),
    st.one_of(st.sampled_from(["Ada", "DE", "germany", "Atlantis", "120", "ten", "ada@acme.com", "a; b"]),
              st.lists(st.sampled_from(["python", "", " go "]), max_size=3), _value),
    max_size=4,
)  # fmt: skip
_FIELDS = {
    "type": st.one_of(st.sampled_from(["page", "track", "identify", "form", "email", "click"]), _odd),
    "event": _events,
    "anonymous_id": _text,
    "email": _emails,
    "user_id": st.one_of(_text, st.integers(0, 99)),
    "timestamp": _times,
    "properties": st.one_of(_props, _odd),
    "traits": st.one_of(_traits, _odd),
    "idempotency_key": st.one_of(_text, st.none()),
    "extra": _value,
}


@st.composite
def _valid(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["page", "track", "identify", "form", "email"]))
    payload: dict[str, Any] = {"type": kind, "timestamp": draw(st.sampled_from(_GOOD_TIMES))}
    who = draw(st.sets(st.sampled_from(["anonymous_id", "email", "user_id"]), min_size=1))
    if kind == "identify":
        who.add(draw(st.sampled_from(["email", "user_id"])))
    payload.update({name: draw(st.sampled_from(_GOOD[name])) for name in who})
    if kind in ("track", "email"):
        payload["event"] = draw(st.sampled_from(["open", "email_click", "asset_download", "webinar.x:1"]))
    if draw(st.booleans()):
        payload["properties"] = draw(
            st.dictionaries(st.sampled_from(["path", "utm_source", "medium", "campaign", "form"]),
                            st.sampled_from(["/", "/pricing", "google", "cpc", "q2"]), max_size=4)
        )  # fmt: skip
    if kind in ("identify", "form") and draw(st.booleans()):
        payload["traits"] = draw(
            st.dictionaries(st.sampled_from(["first_name", "title", "country", "employees", "technologies", "plan"]),
                            st.sampled_from(["Ada", "DE", "CTO", "pro"]), max_size=3)
        )  # fmt: skip
        if "employees" in payload["traits"]:
            payload["traits"]["employees"] = draw(st.integers(1, 5000))
    if draw(st.booleans()):
        payload["idempotency_key"] = draw(st.sampled_from(["demo-7-1-1", "k" * 200]))
    return payload


_GOOD_TIMES = ["2026-03-01T10:00:00Z", "2026-03-01T10:00:00.123456+02:00", "2026-03-02T20:00:00-05:00"]
_GOOD = {"anonymous_id": ["anon-0001", "a"], "email": ["ada@acme.com", "bo@gmail.com"], "user_id": ["crm-42"]}


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    """Valid payloads, some with a field or two replaced by odd values, dropped or added; now and then not an
    object at all."""
    if draw(st.integers(0, 30)) == 0:
        return draw(_value)
    payload: dict[Any, Any] = draw(_valid())
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        name = draw(st.sampled_from(sorted(_FIELDS)))
        if name in payload and draw(st.integers(0, 3)) == 0:
            del payload[name]
        elif name in ("properties", "traits") and isinstance(payload.get(name), dict) and draw(st.booleans()):
            extra: dict[str, Any] = draw(_props if name == "properties" else _traits)
            payload[name] = {**payload[name], **extra}
        else:
            payload[name] = draw(_FIELDS[name])
    return payload


def _outcome(parse: Any, payload: Any) -> Any:
    try:
        return parse(payload, index=3, now=NOW)
    except InputError as exc:
        return ("error", exc.record, exc.field, exc.reason)
    except ValueError as exc:  # a timestamp out of range after conversion (the precise validator lets it through)
        return ("value error", str(exc))


@settings(max_examples=300, deadline=None)
@given(payloads())
def test_fast_path_agrees_with_the_precise_validator(payload: Any) -> None:
    fast = fast_payload(payload, NOW)
    precise = _outcome(parse_payload_precise, payload)
    if fast is not None:
        assert fast == precise
    assert _outcome(parse_payload, payload) == precise


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "page", "anonymous_id": "anon-1", "timestamp": "2026-03-01T10:00:00.5+01:00",
         "properties": {"path": "/pricing", "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "q2"},
         "idempotency_key": "demo-1"},
        {"type": "form", "anonymous_id": "anon-1", "email": "Ada@Acme.com", "timestamp": "2026-03-01T10:00:00Z",
         "properties": {"path": "/ebook", "form": "asset_download"},
         "traits": {"first_name": "Ada", "employees": 120, "country": "DE", "technologies": ["python"]}},
        {"type": "email", "event": "open", "email": "ada@acme.com", "timestamp": "2026-03-01T10:00:00Z",
         "properties": {}},
        {"type": "identify", "user_id": "crm-42", "timestamp": "2026-03-01T10:00:00-05:00"},
    ],
)  # fmt: skip
def test_plain_payloads_take_the_fast_path(payload: dict[str, Any]) -> None:
    fast = fast_payload(payload, NOW)
    assert fast is not None and fast == parse_payload_precise(payload, index=1, now=NOW)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "page", "anonymous_id": " anon-1", "timestamp": "2026-03-01T10:00:00Z"},  # needs trimming
        {"type": "track", "event": "Asset Download", "email": "a@b.io", "timestamp": "2026-03-01T10:00:00Z"},
        {"type": "form", "anonymous_id": "a", "timestamp": "2026-03-01T10:00:00Z", "traits": {"email": "a@b.io"}},
        {"type": "page", "anonymous_id": "a", "timestamp": "2026-03-01T10:00:00Z", "properties": {"n": {"x": 1}}},
        {"type": "page", "anonymous_id": "a", "timestamp": "2026-03-01T10:00:00Z",
         "properties": {"big": "x" * (MAX_PAYLOAD_CHARS // 6)}},
    ],
)  # fmt: skip
def test_payloads_needing_a_closer_look_take_the_precise_validator(payload: dict[str, Any]) -> None:
    assert fast_payload(payload, NOW) is None
    assert parse_payload(payload, index=1, now=NOW) == parse_payload_precise(payload, index=1, now=NOW)


def test_an_oversized_payload_is_still_rejected_with_its_size() -> None:
    payload = {"type": "page", "anonymous_id": "a", "timestamp": "2026-03-01T10:00:00Z",
               "properties": {"big": "x" * MAX_PAYLOAD_CHARS}}  # fmt: skip
    with pytest.raises(InputError, match=f"at most {MAX_PAYLOAD_CHARS}") as err:
        parse_payload(payload, index=1, now=NOW)
    assert err.value.field == "properties"


_EMAIL_EDGES = ["ada@acme.com", "Ada@acme.com", "ada@acme.com\n", " ada@acme.com", "ada@acme.com ", "ada@acme",
                "a\x00@acme.com", "ada@ACME.COM", "1@2.io", "ada@acme.com\t", "ada+tag@acme-corp.example",
                "é@acme.com", "a" * 310 + "@acme.com", ""]  # fmt: skip
_TRAIT_EDGES = [("first_name", "Ada"), ("first_name", " Ada"), ("first_name", "Ada\n"), ("first_name", "x" * 101),
                ("title", "x" * 200), ("company", "Acme\x00"), ("domain", "acme.com"), ("industry", "é"),
                ("country", "de"), ("employees", "120"), ("seniority", 5)]  # fmt: skip


@pytest.mark.parametrize("email", _EMAIL_EDGES)
@pytest.mark.parametrize("trait", _TRAIT_EDGES)
def test_fast_path_edges_of_emails_and_text_traits(email: str, trait: tuple[str, Any]) -> None:
    """The fast path keeps an email or a text trait as given only when the coercer would: anything to trim or
    lower-case, a NUL, a final newline (which the email pattern's ``$`` lets through) goes the precise way."""
    payload = {"type": "form", "anonymous_id": "a1", "email": email, "timestamp": "2026-03-01T10:00:00+00:00",
               "traits": dict([trait])}  # fmt: skip
    fast = fast_payload(payload, NOW)
    precise = _outcome(parse_payload_precise, payload)
    if fast is not None:
        assert fast == precise
    assert _outcome(parse_payload, payload) == precise


def test_plain_emails_and_text_traits_take_the_fast_path() -> None:
    traits = {"first_name": "Ada", "company": "Acme", "plan": 3}
    payload = {"type": "form", "anonymous_id": "a1", "email": "ada+tag@acme-corp.example",
               "timestamp": "2026-03-01T10:00:00+00:00", "traits": traits}  # fmt: skip
    fast = fast_payload(payload, NOW)
    assert fast is not None and fast == parse_payload_precise(payload, index=1, now=NOW)
    assert fast.email == "ada+tag@acme-corp.example" and fast.traits == traits


_STAMP_TEXTS = ["2026-03-01T10:00:00Z", "2026-03-01T10:00:00.5+00:00", "2026-03-01T10:00:00,123456+00:00",
                "2026-03-01 10:00:00.123456+00:00", "2026-03-01X10:00:00+00:00", "2026-03-01T10:00+00:00",
                "2026-03-01T10:00:00-00:00", "2026-03-01T10:00:00.123456+01:00", "20260301T100000+00:00"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2026, 3, 3), timezones=st.just(UTC)).map(
            datetime.isoformat
        ),
        st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2026, 3, 3), timezones=st.timezones()).map(
            datetime.isoformat
        ),
        st.sampled_from(_STAMP_TEXTS),
    )
)
def test_the_stamp_read_off_the_text_is_the_stored_time(text: str) -> None:
    """The fast path's ``stamp`` (the occurrence time as SQLite stores it, read off the payload's text) is what
    formatting the parsed time gives, whenever it is set; intake stores it instead of formatting."""
    payload = {"type": "page", "anonymous_id": "a1", "timestamp": text}
    fast = fast_payload(payload, NOW)
    if fast is not None and fast.stamp is not None:
        assert fast.stamp == sqlite_time(fast.occurred_at)
    if fast is not None and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00", text):
        assert fast.stamp is not None  # the common shape (UTC isoformat) is read off the text

"""Event payloads: the batch format of event intake, validated with precise errors.

One payload (a JSON object; one per line in a ``.jsonl`` file)::

    {"type": "track", "event": "asset_download", "anonymous_id": "a1b2", "email": "ada@acme.com",
     "user_id": "crm-42", "timestamp": "2024-05-17T09:30:00+02:00",
     "traits": {"first_name": "Ada", "company": "Acme", "employees": 120},
     "properties": {"path": "/ebook", "utm_source": "linkedin", "utm_medium": "paid_social",
                    "utm_campaign": "q2-ebook"},
     "idempotency_key": "evt-000001"}

``type`` is one of identify, track, page, form, email. ``event`` names the activity of track and email events
(``asset_download``, ``email_open``). At least one of anonymous_id / email / user_id is required (identify needs
email or user_id); an email given only as ``traits.email`` counts. ``timestamp`` is ISO 8601 *with* an offset.
Without an ``idempotency_key`` one is derived from who, what, when and the properties, so re-delivered events
are dropped.

Stored event types: page → ``page_view``, form → ``form_submit``, identify → ``identify``, track → the event name,
email → the event name with an ``email_`` prefix (``open`` → ``email_open``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any

from funnelbridge.errors import InputError
from funnelbridge.ingest import coerce as c
from funnelbridge.ingest.traits import TRAIT_COERCERS

__all__ = [
    "EVENT_TYPES",
    "MAX_PAYLOAD_CHARS",
    "Activity",
    "derive_key",
    "fast_payload",
    "parse_payload",
    "parse_payload_precise",
    "stored_type",
    "validate_traits",
]

EVENT_TYPES = ("identify", "track", "page", "form", "email")
MAX_PAYLOAD_CHARS = 64_000
"""Largest JSON size of a payload's properties plus traits."""

_KEYS = {"type", "event", "anonymous_id", "email", "user_id", "traits", "properties", "timestamp", "idempotency_key"}
_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,99}$")
_id_text = c.to_text(200)
_path_text = c.to_text(1000)
_utm = {"source": c.to_text(100), "medium": c.to_text(100), "campaign": c.to_text(200)}
_FUTURE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Activity:
    """A validated event, ready to store."""

    key: str
    kind: str
    type: str
    occurred_at: datetime
    anonymous_id: str | None
    email: str | None
    user_id: str | None
    path: str | None = None
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    stamp: str | None = field(default=None, init=False, compare=False, repr=False)
    """``occurred_at`` as SQLite stores it (:func:`~funnelbridge.store.bulk.sqlite_time`) when the fast path could
    read it off the payload's text (UTC, whole seconds or microseconds); None otherwise. Not part of equality.
    Only the fast path sets it, after construction: no constructor takes it and ``dataclasses.replace`` leaves it
    None (it does not copy ``init=False`` fields), so a stamp never outlives the ``occurred_at`` it was read from."""

    @property
    def identifying(self) -> bool:
        """True when the event says who the person is (email or external id)."""
        return self.email is not None or self.user_id is not None


def stored_type(kind: str, event: str | None) -> str:
    """The ``events.type`` of a payload type plus event name."""
    if kind == "page":
        return "page_view"
    if kind == "form":
        return "form_submit"
    if kind == "identify":
        return "identify"
    assert event is not None
    if kind == "email" and not event.startswith("email_"):
        return f"email_{event}"
    return event


def derive_key(
    kind: str, anonymous_id: str | None, email: str | None, user_id: str | None, type_: str, at: datetime, props: Any
) -> str:
    """A deterministic idempotency key: same person, type, time and properties → same key."""
    body = json.dumps([kind, anonymous_id, email, user_id, type_, at.isoformat(), props], sort_keys=True, default=str)
    return "d:" + hashlib.sha1(body.encode("utf-8", "surrogatepass")).hexdigest()


def _fail(index: int | str, field: str, reason: str) -> InputError:
    return InputError(reason, record=f"payload {index}" if isinstance(index, int) else index, field=field)


def _text(payload: Mapping[str, Any], name: str, coercer: c.Coercer, index: int | str, label: str = "") -> Any:
    raw = payload.get(name)
    if raw is not None and not isinstance(raw, str | int):
        raise _fail(index, label or name, f"expected text, got {type(raw).__name__}")
    try:
        return coercer(raw)
    except c.CoerceError as exc:
        raise _fail(index, label or name, str(exc)) from None


def _timestamp(raw: Any, index: int | str, now: datetime) -> datetime:
    if raw is None:
        raise _fail(index, "timestamp", "missing (ISO 8601 with a time zone, e.g. 2024-05-17T09:30:00+02:00)")
    if not isinstance(raw, str):
        raise _fail(index, "timestamp", f"expected an ISO 8601 text, got {type(raw).__name__}")
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise _fail(index, "timestamp", f"expected ISO 8601 such as 2024-05-17T09:30:00+02:00, got {raw!r}") from None
    if value.tzinfo is None:
        raise _fail(index, "timestamp", f"needs a time zone offset (Z or +02:00), got {raw!r}")
    value = c.to_timestamp(value.tzinfo)(value)
    if value > now + _FUTURE:
        raise _fail(index, "timestamp", f"{raw!r} is more than a day in the future")
    return value  # type: ignore[no-any-return]


def _object(payload: Mapping[str, Any], name: str, index: int | str) -> dict[str, Any] | None:
    raw = payload.get(name)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail(index, name, f"expected an object, got {type(raw).__name__}")
    if not all(isinstance(k, str) for k in raw):
        raise _fail(index, name, "keys must be text")
    return dict(raw)


def _event_name(payload: Mapping[str, Any], kind: str, index: int | str) -> str | None:
    raw = payload.get("event")
    if kind not in ("track", "email"):
        return None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise _fail(index, "event", f"a {kind} event needs an event name such as asset_download")
    if not isinstance(raw, str):
        raise _fail(index, "event", f"expected text, got {type(raw).__name__}")
    name = re.sub(r"[\s-]+", "_", raw.strip().lower())
    if not _NAME.match(name):
        raise _fail(index, "event", f"expected a name of letters, digits and _ (at most 100), got {raw!r}")
    return name


def _size_check(props: dict[str, Any] | None, traits: dict[str, Any] | None, index: int | str) -> None:
    if props is None and traits is None:
        return
    try:
        size = len(json.dumps([props, traits], ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise _fail(index, "properties", f"not JSON-serializable: {exc}") from None
    if size > MAX_PAYLOAD_CHARS:
        raise _fail(index, "properties", f"properties and traits are {size} characters, at most {MAX_PAYLOAD_CHARS}")


def _attribution(props: dict[str, Any] | None, index: int | str) -> dict[str, Any]:
    if not props:
        return {"path": None, "source": None, "medium": None, "campaign": None}
    out = {"path": _text(props, "path", _path_text, index, "properties.path")}
    for name, coercer in _utm.items():
        key = f"utm_{name}" if f"utm_{name}" in props else name
        out[name] = _text(props, key, coercer, index, f"properties.{key}")
    return out


def parse_payload(payload: Any, *, index: int | str, now: datetime) -> Activity:
    """Validate one payload; raises InputError naming the payload (``payload 3``) and the field.

    A plainly valid payload takes :func:`fast_payload`; anything else (and every error) the precise validator,
    :func:`parse_payload_precise` — both give the same activity."""
    activity = fast_payload(payload, now)
    return activity if activity is not None else parse_payload_precise(payload, index=index, now=now)


def parse_payload_precise(payload: Any, *, index: int | str, now: datetime) -> Activity:
    """:func:`parse_payload` by the precise validator alone: every check in turn, each failure with its field."""
    if not isinstance(payload, Mapping):
        reason = getattr(payload, "reason", None) or f"expected a JSON object, got {type(payload).__name__}"
        raise _fail(index, "payload", reason)
    unknown = sorted(str(k) for k in payload if k not in _KEYS)
    if unknown:
        raise _fail(index, unknown[0], f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
    kind = payload.get("type")
    if kind not in EVENT_TYPES:
        raise _fail(index, "type", f"expected one of {', '.join(EVENT_TYPES)}, got {kind!r}")
    ids = {n: _text(payload, n, _id_text, index) for n in ("anonymous_id", "user_id", "idempotency_key")}
    props, traits = _object(payload, "properties", index), _object(payload, "traits", index)
    email = _text(payload, "email", c.to_email, index)
    if email is None and traits and traits.get("email") is not None:  # Segment-style identify: email in traits
        email = _text(traits, "email", c.to_email, index, "traits.email")
    if email is None and ids["user_id"] is None and (kind == "identify" or ids["anonymous_id"] is None):
        need = "email or user_id" if kind == "identify" else "anonymous_id, email or user_id"
        raise _fail(index, "email", f"{kind} events need {need}")
    at = _timestamp(payload.get("timestamp"), index, now)
    _size_check(props, traits, index)
    type_ = stored_type(kind, _event_name(payload, kind, index))
    key = ids["idempotency_key"] or derive_key(kind, ids["anonymous_id"], email, ids["user_id"], type_, at, props)
    traits = validate_traits(traits, index) if traits else None
    return Activity(key, kind, type_, at, ids["anonymous_id"], email, ids["user_id"], **_attribution(props, index),
                    properties=props, traits=traits)  # fmt: skip


def validate_traits(traits: dict[str, Any], index: int | str) -> dict[str, Any]:
    """Coerce the known traits (first_name, employees, country ...); unknown ones are kept as they are."""
    out: dict[str, Any] = {}
    for name, raw in traits.items():
        coercer = TRAIT_COERCERS.get(name)
        try:
            out[name] = coercer(raw) if coercer else raw
        except c.CoerceError as exc:
            raise _fail(index, f"traits.{name}", str(exc)) from None
    return out


# --- the fast path -----------------------------------------------------------------------------------------------
# Plainly valid payloads — the common keys as ASCII text that needs no trimming, an ISO timestamp, flat properties
# and traits — are read with a few type checks; for anything else :func:`fast_payload` answers None and the
# precise validator decides (and words any error). tests/ingest/test_ingest_payload_fast.py checks that both agree.

_KINDS = frozenset(EVENT_TYPES)
_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_.:]{0,99}")  # an event name that lower-casing and _ for - leave alone
_FLAT = (str, int, float, bool, type(None))
_STR = repeat(str)
_SIZE_SLACK = 16  # JSON brackets and separators of the [props, traits] list
_PLAIN_TRAITS = {"first_name": 100, "last_name": 100, "title": 200, "seniority": 50, "phone": 50, "company": 300,
                 "domain": 255, "industry": 100}  # fmt: skip
"""Text traits (``to_text(limit)``): a plain value is kept as it is, as the coercer would return it."""


class _NotPlain(Exception):
    """The payload is not plainly valid: the precise validator takes it."""


def _is_plain(raw: str, limit: int) -> bool:
    """True when ``to_text(limit)`` returns the text ``raw`` unchanged (ASCII, nothing to trim, no NUL, short
    enough); ``raw`` must be a str."""
    return 0 < len(raw) <= limit and raw.isascii() and raw[0] > " " and raw[-1] > " " and "\x00" not in raw


def _plain(raw: Any, limit: int) -> Any:
    """``raw`` when ``to_text(limit)`` returns it unchanged (None, or plain text as :func:`_is_plain` says)."""
    if raw is None or (type(raw) is str and _is_plain(raw, limit)):
        return raw
    raise _NotPlain


def _json_bound(obj: dict[str, Any]) -> int:
    """An upper bound of the JSON size (``ensure_ascii=False``) of a flat object."""
    size = 2
    for key, value in obj.items():
        kind = type(value)
        if kind is str:
            size += 6 * (len(value) + len(key)) + 8
        elif kind is int and -(10**18) < value < 10**18:
            size += 6 * len(key) + 26
        elif kind is list and all(type(v) is str for v in value):
            size += sum(6 * len(v) + 4 for v in value) + 6 * len(key) + 8
        elif kind in _FLAT and kind is not int:
            size += 6 * len(key) + 30
        else:
            raise _NotPlain
    return size


def _fast_object(raw: Any) -> dict[str, Any] | None:
    """A copy of a properties/traits object with text keys, or None when absent."""
    if raw is None:
        return None
    if type(raw) is not dict or not all(map(isinstance, raw, _STR)):
        raise _NotPlain
    return dict(raw)


def _fast_email(raw: Any, traits: dict[str, Any] | None) -> str | None:
    """The normalized email (None when there is none; an email only in traits is not plain)."""
    if raw is None:
        if traits and traits.get("email") is not None:
            raise _NotPlain
        return None
    if type(raw) is not str:
        raise _NotPlain
    if (
        0 < len(raw) <= 320 and raw.isascii() and raw.islower() and raw[0] > " " and raw[-1] > " "
        and "\x00" not in raw and _EMAIL_MATCH(raw)
    ):  # fmt: skip
        return raw  # what to_email returns: nothing to trim or lower-case, and the address matches its pattern
    try:
        email = c.to_email(raw)
    except c.CoerceError:
        raise _NotPlain from None
    if email is None and traits and traits.get("email") is not None:
        raise _NotPlain
    return email  # type: ignore[no-any-return]


_EMAIL_MATCH = c.EMAIL_PATTERN.match  # the pattern to_email checks (its `$` admits a final newline: trimmed above)


def _fast_time(raw: Any, now: datetime) -> tuple[datetime, str | None]:
    """The time of a payload in UTC, and its :func:`_stamp`."""
    if type(raw) is not str:
        raise _NotPlain
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise _NotPlain
        value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _NotPlain from None
    if value > now + _FUTURE:
        raise _NotPlain
    return value, _stamp(text)


def _stamp(text: str) -> str | None:
    """``sqlite_time`` of an ISO text that ``datetime.fromisoformat`` read, taken from the text itself when it is
    ``YYYY-MM-DD?HH:MM:SS[.ffffff]+00:00`` (ASCII); None for any other shape."""
    size = len(text)
    if (size != 32 and size != 25) or not text.endswith("+00:00") or not text.isascii():
        return None
    if text[4] != "-" or text[7] != "-" or text[13] != ":" or text[16] != ":" or not text[17:19].isdigit():
        return None
    if size == 25:
        return f"{text[:10]} {text[11:19]}.000000"
    return f"{text[:10]} {text[11:26]}" if text[19] == "." and text[20:26].isdigit() else None


def _fast_traits(traits: dict[str, Any]) -> dict[str, Any]:
    """:func:`validate_traits` of plain text traits without calling their coercers (they would return them)."""
    out: dict[str, Any] = {}
    for name, raw in traits.items():
        limit = _PLAIN_TRAITS.get(name)
        if limit is not None and type(raw) is str and _is_plain(raw, limit):
            out[name] = raw
            continue
        coercer = TRAIT_COERCERS.get(name)
        try:
            out[name] = coercer(raw) if coercer else raw
        except c.CoerceError:
            raise _NotPlain from None
    return out


def fast_payload(payload: Any, now: datetime) -> Activity | None:
    """The activity of a plainly valid payload, exactly as :func:`parse_payload_precise` gives it; None when the
    payload is not plainly valid (it may still be valid: the precise validator decides)."""
    if type(payload) is not dict or not payload.keys() <= _KEYS:
        return None
    kind = payload.get("type")
    if type(kind) is not str or kind not in _KINDS:
        return None
    try:
        return _fast(payload, kind, now)
    except _NotPlain:
        return None


def _fast(payload: dict[str, Any], kind: str, now: datetime) -> Activity:
    get = payload.get
    anon, user, given_key = get("anonymous_id"), get("user_id"), get("idempotency_key")
    if not (
        (anon is None or (type(anon) is str and _is_plain(anon, 200)))
        and (user is None or (type(user) is str and _is_plain(user, 200)))
        and (given_key is None or (type(given_key) is str and _is_plain(given_key, 200)))
    ):
        raise _NotPlain
    props, traits = _fast_object(get("properties")), _fast_object(get("traits"))
    email = _fast_email(get("email"), traits)
    if email is None and user is None and (kind == "identify" or anon is None):
        raise _NotPlain
    at, stamp = _fast_time(get("timestamp"), now)
    if props is not None or traits is not None:
        bound = (4 if props is None else _json_bound(props)) + (4 if traits is None else _json_bound(traits))
        if bound + _SIZE_SLACK > MAX_PAYLOAD_CHARS:
            raise _NotPlain
    if kind == "page":
        type_ = "page_view"
    elif kind == "track" or kind == "email":
        event = get("event")
        if type(event) is not str or not _PLAIN_NAME_MATCH(event):
            raise _NotPlain
        type_ = stored_type(kind, event)
    else:
        type_ = "form_submit" if kind == "form" else "identify"
    path = source = medium = campaign = None
    if props:
        path = _plain(props.get("path"), 1000)
        source = _plain(props["utm_source"] if "utm_source" in props else props.get("source"), 100)
        medium = _plain(props["utm_medium"] if "utm_medium" in props else props.get("medium"), 100)
        campaign = _plain(props["utm_campaign"] if "utm_campaign" in props else props.get("campaign"), 200)
    key = given_key or derive_key(kind, anon, email, user, type_, at, props)
    act = Activity(key, kind, type_, at, anon, email, user, path, source, medium, campaign, props,
                   _fast_traits(traits) or None if traits else None)  # fmt: skip
    if stamp is not None:
        _SET(act, "stamp", stamp)  # frozen: the one place a stamp is set, from the text ``at`` was read off
    return act


_SET = object.__setattr__


_PLAIN_NAME_MATCH = _PLAIN_NAME.fullmatch

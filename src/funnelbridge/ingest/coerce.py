"""Type coercion of imported values, with reasons a person can act on.

Every coercer takes a raw value (text from a CSV cell, or an already-typed value from Parquet/JSON) and returns the
typed value, ``None`` for an empty cell, or raises :class:`CoerceError` whose message says what was expected and
what was found (``expected a whole number, got "ten"``).

Naive timestamps (no offset) are read in the time zone passed in — the playbook's — and returned in UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from funnelbridge.ingest.free_email import normalize_email

__all__ = [
    "EMAIL_PATTERN",
    "CoerceError",
    "Coercer",
    "to_bool",
    "to_country",
    "to_date",
    "to_decimal",
    "to_email",
    "to_float",
    "to_int",
    "to_json_object",
    "to_list",
    "to_text",
    "to_timestamp",
]

Coercer = Callable[[Any], Any]

_PREVIEW = 40
EMAIL_PATTERN = re.compile(
    r"^[^@\s<>(),;:\"\[\]\\]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)
"""What :func:`to_email` accepts once it has trimmed and lower-cased an address (at most 320 characters): a local
part without spaces, ``@``, brackets or ``,;:"\\``, and a lower-case domain of two or more dot-separated labels.
Match trimmed text only: ``$`` also matches before a final newline."""
_TRUE = {"true", "t", "yes", "y", "1", "on", "x"}
_FALSE = {"false", "f", "no", "n", "0", "off", ""}
_DATE_FORMATS = ("%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d")
_TIME_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y/%m/%d %H:%M:%S")


class CoerceError(ValueError):
    """A value could not be read as the expected type; the message is the reason."""


def _show(raw: Any) -> str:
    text = str(raw)
    if len(text) > _PREVIEW:
        text = f"{text[:_PREVIEW]}… ({len(text)} characters)"
    return json.dumps(text, ensure_ascii=False)


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, float) and raw != raw)


def _clean_text(raw: Any) -> str:
    text = raw if type(raw) is str else str(raw)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise CoerceError("is not valid UTF-8 text (wrong file encoding?)") from None
    if "\x00" in text:
        raise CoerceError("contains a NUL character")
    return text.strip()


def to_text(max_len: int) -> Coercer:
    """Trimmed text of at most ``max_len`` characters."""

    def coerce(raw: Any) -> str | None:
        if raw is None or raw == "" or (type(raw) is not str and _blank(raw)):
            return None
        text = _clean_text(raw)
        if not text:
            return None
        if len(text) > max_len:
            raise CoerceError(f"longer than {max_len} characters (got {len(text)})")
        return text

    return coerce


def to_int(raw: Any) -> int | None:
    """A whole number; ``1,200`` and ``12.0`` are accepted."""
    if _blank(raw):
        return None
    if isinstance(raw, bool):
        raise CoerceError(f"expected a whole number, got {_show(raw)}")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip().replace(",", "").replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CoerceError(f"expected a whole number, got {_show(raw)}") from None
    if not value.is_finite() or value != value.to_integral_value() or abs(value) > 2**62:
        raise CoerceError(f"expected a whole number, got {_show(raw)}")
    return int(value)


def to_decimal(raw: Any) -> Decimal | None:
    """An exact decimal (money): ``1,200.50``, ``$99``, ``99 USD`` are accepted."""
    if _blank(raw):
        return None
    if isinstance(raw, bool):
        raise CoerceError(f"expected a number, got {_show(raw)}")
    text = re.sub(r"[,\s$€£_]|USD|EUR|GBP", "", str(raw).strip())
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CoerceError(f"expected a number, got {_show(raw)}") from None
    if not value.is_finite() or abs(value) >= Decimal(10) ** 16:
        raise CoerceError(f"expected a number below 10^16, got {_show(raw)}")
    return value.quantize(Decimal("0.01"))


def to_float(raw: Any) -> float | None:
    """A finite number."""
    value = to_decimal(raw)
    return None if value is None else float(value)


def to_bool(raw: Any) -> bool | None:
    """true/false, yes/no, y/n, 1/0, on/off, x (a ticked box)."""
    if raw is None or (isinstance(raw, float) and raw != raw):
        return None
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False if text else None
    raise CoerceError(f"expected true or false, got {_show(raw)}")


def _parse_datetime(text: str) -> datetime:
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        pass
    for fmt in _TIME_FORMATS + _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise CoerceError(f"expected a date-time such as 2024-05-17T09:30:00+02:00, got {_show(text)}")


def to_timestamp(zone: tzinfo) -> Coercer:
    """A point in time, returned in UTC. Values without an offset are read in ``zone``."""

    def coerce(raw: Any) -> datetime | None:
        if raw is None or raw == "" or (type(raw) is not str and _blank(raw)):
            return None
        if isinstance(raw, datetime):
            value = raw
        elif isinstance(raw, date):
            value = datetime.combine(raw, time())
        else:
            text = _clean_text(raw)
            if not text:
                return None
            value = _parse_datetime(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise CoerceError(f"date-time out of range, got {_show(raw)}") from None

    return coerce


def to_date(raw: Any) -> date | None:
    """A calendar day: ``2024-05-17``, ``05/17/2024``, ``17.05.2024`` (a date-time keeps its date part)."""
    if _blank(raw):
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = _clean_text(raw)
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 and text[4] == "-" else _parse_datetime(text).date()
    except (ValueError, CoerceError):
        raise CoerceError(f"expected a date such as 2024-05-17, got {_show(raw)}") from None


def to_email(raw: Any) -> str | None:
    """A normalized (trimmed, lower-case) email address."""
    if raw is None or raw == "" or _blank(raw):
        return None
    text = normalize_email(_clean_text(raw))
    if text is None:
        return None
    if len(text) > 320 or not EMAIL_PATTERN.match(text):
        raise CoerceError(f"expected an email address, got {_show(raw)}")
    return text


_COUNTRY_NAMES = {
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "u.s.": "US",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "germany": "DE",
    "deutschland": "DE",
    "france": "FR",
    "netherlands": "NL",
    "the netherlands": "NL",
    "austria": "AT",
    "österreich": "AT",
    "switzerland": "CH",
    "schweiz": "CH",
    "spain": "ES",
    "italy": "IT",
    "canada": "CA",
    "australia": "AU",
    "india": "IN",
    "japan": "JP",
    "brazil": "BR",
    "sweden": "SE",
    "norway": "NO",
    "denmark": "DK",
    "finland": "FI",
    "ireland": "IE",
    "belgium": "BE",
    "poland": "PL",
    "portugal": "PT",
    "mexico": "MX",
    "singapore": "SG",
    "china": "CN",
    "israel": "IL",
    "new zealand": "NZ",
    "south africa": "ZA",
}


def to_country(raw: Any) -> str | None:
    """An ISO 3166-1 alpha-2 code (``de`` → ``DE``); common English country names are translated."""
    if _blank(raw):
        return None
    text = _clean_text(raw)
    if len(text) == 2 and text.isascii() and text.isalpha():
        return text.upper()
    code = _COUNTRY_NAMES.get(text.lower())
    if code is None:
        raise CoerceError(f"expected a two-letter country code such as DE, got {_show(raw)}")
    return code


def to_list(raw: Any) -> list[str] | None:
    """A list of names: a JSON list, or text separated by ``;`` or ``,``."""
    if _blank(raw):
        return None
    if isinstance(raw, list | tuple):
        return [str(v).strip() for v in raw if str(v).strip()]
    text = _clean_text(raw)
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            raise CoerceError(f"expected a JSON list, got {_show(raw)}") from None
        return to_list(value) if isinstance(value, list) else None
    sep = ";" if ";" in text else ","
    return [part.strip() for part in text.split(sep) if part.strip()]


def to_json_object(raw: Any) -> dict[str, Any] | None:
    """A JSON object (properties)."""
    if _blank(raw):
        return None
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(_clean_text(raw))
    except ValueError:
        raise CoerceError(f"expected a JSON object, got {_show(raw)}") from None
    if not isinstance(value, dict):
        raise CoerceError(f"expected a JSON object, got {_show(raw)}")
    return value

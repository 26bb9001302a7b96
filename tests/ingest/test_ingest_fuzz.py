"""Robustness: malformed rows and payloads never crash an import; every bad one is reported with its row, every
good one is stored exactly once (hypothesis)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from funnelbridge.ingest import import_file, ingest_events
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import contacts, events

HEADER = b"Email,First Name,Number of Employees,Create Date,Job Title\n"
_ns = itertools.count()
_names = st.text(st.characters(codec="utf-8", exclude_characters='\x00",\r\n'), max_size=20)
_zones = st.sampled_from(["", "Z", "+02:00", "-05:30"])

BAD_ROWS = {
    "wrong type": lambda e: f"{e},Ann,ten,2026-01-01,VP".encode(),
    "bad email": lambda e: b"no-at-sign,Ann,5,2026-01-01,VP",
    "bad encoding": lambda e: e.encode() + b",\xff\xfeAnn,5,2026-01-01,VP",
    "missing column": lambda e: f"{e},Ann,5".encode(),
    "extra column": lambda e: f"{e},Ann,5,2026-01-01,VP,surplus".encode(),
    "huge field": lambda e: f"{e},Ann,5,2026-01-01,{'x' * 200_000}".encode(),
    "nul": lambda e: f"{e},A\x00nn,5,2026-01-01,VP".encode(),
    "bad time": lambda e: f"{e},Ann,5,2026-13-45T99:00,VP".encode(),
    "bad zone": lambda e: f"{e},Ann,5,2026-01-01T10:00:00+25:00,VP".encode(),
}


@st.composite
def good_row(draw: st.DrawFn, ns: int) -> tuple[str, bytes]:
    email = f"n{ns}u{draw(st.integers(0, 8))}@d{draw(st.integers(0, 2))}.example"
    name = draw(_names).strip()
    employees = draw(st.one_of(st.just(""), st.integers(0, 10**6).map(str), st.just("1,200")))
    created = f"2026-01-{draw(st.integers(1, 28)):02d}T10:00:00{draw(_zones)}"
    quoted = '"' + name.replace('"', '""') + '"'
    return email, f' {email.upper()} ,{quoted},"{employees}",{created},Head of Ops'.encode()


@st.composite
def contact_file(draw: st.DrawFn) -> tuple[bytes, set[str], set[int]]:
    ns = next(_ns)
    lines, good, bad = [HEADER.rstrip(b"\n")], set(), set()
    for row in range(2, 2 + draw(st.integers(1, 25))):
        if draw(st.booleans()):
            email, line = draw(good_row(ns))
            good.add(email)
        else:
            line = BAD_ROWS[draw(st.sampled_from(sorted(BAD_ROWS)))](f"n{ns}bad{row}@x.example")
            bad.add(row)
        lines.append(line)
    return b"\n".join(lines) + b"\n", good, bad


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=contact_file())
def test_malformed_contact_rows(sqlite_rt: Runtime, tmp_path: Path, data: tuple[bytes, set[str], set[int]]) -> None:
    body, good, bad = data
    src = tmp_path / "fuzz.csv"
    src.write_bytes(body)
    summary = import_file(sqlite_rt, "contacts", src, after=False)
    assert {r.row for r in summary.rejections} == bad
    assert all(r.field and r.reason for r in summary.rejections)
    prefix = next(iter(good)).split("u")[0] + "u" if good else "none"
    with sqlite_rt.db.read() as conn:
        stored = set(conn.execute(select(contacts.c.email).where(contacts.c.email.like(f"{prefix}%"))).scalars())
    assert stored == good
    assert summary.inserted + summary.updated + summary.unchanged + summary.duplicates == summary.read - len(bad)


def _valid(ns: int, i: int, draw: st.DrawFn) -> dict[str, Any]:
    zone = draw(st.sampled_from(["Z", "+01:00", "-08:00"]))
    who = draw(st.sampled_from(["email", "anonymous_id", "both"]))
    payload: dict[str, Any] = {
        "type": "track",
        "event": "asset_download",
        "timestamp": f"2026-02-0{1 + i % 9}T10:00:00{zone}",
    }
    if who in ("email", "both"):
        payload["email"] = f"f{ns}p{i % 4}@acme.example"
    if who in ("anonymous_id", "both"):
        payload["anonymous_id"] = f"f{ns}a{i % 3}"
    payload["properties"] = {"i": i % 5, "path": "/x"}
    return payload


BAD_PAYLOADS = {
    "naive time": lambda p: {**p, "timestamp": "2026-02-01T10:00:00"},
    "no time": lambda p: {k: v for k, v in p.items() if k != "timestamp"},
    "bad type": lambda p: {**p, "type": "click"},
    "no who": lambda p: {k: v for k, v in p.items() if k not in ("email", "anonymous_id")},
    "not object": lambda p: [p],
    "unknown key": lambda p: {**p, "colour": "red"},
    "bad email": lambda p: {**p, "email": "nope"},
    "huge": lambda p: {**p, "properties": {"blob": "x" * 70_000}},
    "number time": lambda p: {**p, "timestamp": 1700000000},
    "bad traits": lambda p: {**p, "traits": {"employees": "many"}},
    "properties list": lambda p: {**p, "properties": [1, 2]},
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_malformed_payloads(sqlite_rt: Runtime, data: st.DataObject) -> None:
    ns = next(_ns)
    payloads, bad = [], set()
    for i in range(data.draw(st.integers(1, 30))):
        payload = _valid(ns, i, data.draw)
        if data.draw(st.booleans()):
            payload = BAD_PAYLOADS[data.draw(st.sampled_from(sorted(BAD_PAYLOADS)))](payload)
            bad.add(i + 1)
        payloads.append(payload)
    summary = ingest_events(sqlite_rt, payloads, after=data.draw(st.booleans()))
    assert {r.row for r in summary.rejections} == bad
    good = [p for i, p in enumerate(payloads, 1) if i not in bad]
    distinct = {(p.get("email"), p.get("anonymous_id"), p["timestamp"], p["properties"]["i"]) for p in good}
    assert summary.accepted + summary.duplicates == len(good)
    mine = select(contacts.c.id).where(contacts.c.email.like(f"f{ns}p%"))
    query = select(func.count()).where(events.c.anonymous_id.like(f"f{ns}a%") | events.c.contact_id.in_(mine))
    with sqlite_rt.db.read() as conn:
        stored = conn.execute(query).scalar_one()
    assert stored == summary.accepted <= len(distinct)

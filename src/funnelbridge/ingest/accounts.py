"""Accounts from contacts: matching a person to their company by email domain (free-mail never creates one),
or by an explicit company domain / external id, and applying company attributes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from funnelbridge.ingest.context import ImportContext, Item
from funnelbridge.ingest.free_email import email_domain, is_free_email
from funnelbridge.ingest.newrows import insert_accounts
from funnelbridge.store import accounts as account_repo

__all__ = [
    "ACCOUNT_ATTRIBUTES",
    "AccountCache",
    "account_changes",
    "account_domain",
    "clean_domain",
    "create_accounts",
    "match_account",
    "write_accounts",
]

ACCOUNT_ATTRIBUTES = ("name", "industry", "employees", "country", "technologies", "annual_revenue")
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")


def clean_domain(value: str | None) -> str | None:
    """``https://www.Acme.com/about`` → ``acme.com``; None when it is not a domain."""
    if not value:
        return None
    text = value.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text).split("/", 1)[0].split(":", 1)[0].split("@")[-1]
    text = text.removeprefix("www.").rstrip(".")
    return text if len(text) <= 255 and _DOMAIN.match(text) else None


@dataclass
class AccountCache:
    """Accounts already looked up in this batch."""

    by_domain: dict[str, int] = field(default_factory=dict)
    by_external: dict[str, int] = field(default_factory=dict)
    created: int = 0
    checked: set[str] = field(default_factory=set)  # "d:<domain>" / "x:<external id>" already looked up
    fresh: set[int] = field(default_factory=set)  # accounts created in this batch

    def prefetch(self, conn: Connection, domains: Iterable[str | None], externals: Iterable[str | None]) -> None:
        """Load the accounts behind these domains and external ids in two queries."""
        doms = {d for d in domains if d and f"d:{d}" not in self.checked}
        exts = {x for x in externals if x and f"x:{x}" not in self.checked}
        if doms:
            self.by_domain.update(account_repo.ids_by_domains(conn, doms))
        if exts:
            self.by_external.update(account_repo.ids_by_external_ids(conn, exts))
        self.checked.update({f"d:{d}" for d in doms} | {f"x:{x}" for x in exts})


def _find(conn: Connection, cache: AccountCache, domain: str | None, external: str | None) -> int | None:
    if (domain and f"d:{domain}" not in cache.checked) or (external and f"x:{external}" not in cache.checked):
        cache.prefetch(conn, [domain], [external])
    return (cache.by_external.get(external) if external else None) or (cache.by_domain.get(domain) if domain else None)


def account_domain(email: str | None, domain: str | None) -> str | None:
    """The company domain of a person: the explicit one, else their email's — never a free-mail domain."""
    dom = clean_domain(domain) or email_domain(email)
    return None if dom is None or is_free_email(dom) else dom


def create_accounts(
    conn: Connection, cache: AccountCache, wanted: Iterable[tuple[str | None, str | None, dict[str, Any]]], at: datetime
) -> None:
    """Create, in one insert per set of non-empty columns, the accounts among ``(domain, external id,
    attributes)`` that do not exist yet (attributes of repeated keys are merged, later ones winning)."""
    missing: dict[str, dict[str, Any]] = {}
    found: dict[tuple[str | None, str | None], bool] = {}  # a chunk names each company many times: look once
    for dom, ext, attrs in wanted:
        if dom is None and ext is None:
            continue
        known = found.get((dom, ext))
        if known is None:
            known = found[(dom, ext)] = _find(conn, cache, dom, ext) is not None
        if known:
            continue
        key = f"x:{ext}" if ext else f"d:{dom}"
        row = missing.setdefault(key, {"domain": dom, "external_id": ext, **dict.fromkeys(ACCOUNT_ATTRIBUTES)})
        row.update({k: v for k, v in attrs.items() if v is not None and k in ACCOUNT_ATTRIBUTES})
    rows = [{**r, "name": r["name"] or r["domain"] or r["external_id"], "created_at": at, "updated_at": at}
            for r in missing.values()]  # fmt: skip
    for row, account_id in zip(rows, _insert_grouped(conn, rows), strict=True):
        if row["domain"]:
            cache.by_domain[row["domain"]] = account_id
        if row["external_id"]:
            cache.by_external[row["external_id"]] = account_id
        cache.fresh.add(account_id)
    cache.created += len(rows)


def _insert_grouped(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` with one insert (:func:`~funnelbridge.ingest.newrows.insert_accounts`) per set of non-empty
    columns (an unset column stays SQL NULL: a JSON column given None would store JSON ``null``); the new ids in
    the order of ``rows``."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(k for k, v in row.items() if v is not None), []).append(i)
    ids: dict[int, int] = {}
    for columns, members in groups.items():
        chunk = [{k: rows[i][k] for k in columns} for i in members]
        ids.update(zip(members, insert_accounts(conn, chunk), strict=True))
    return [ids[i] for i in range(len(rows))]


def match_account(
    conn: Connection,
    cache: AccountCache,
    *,
    email: str | None,
    domain: str | None = None,
    external_id: str | None = None,
    name: str | None = None,
    at: datetime,
) -> int | None:
    """The account of a person: by external id, else by company domain, else by (non-free) email domain —
    created when missing (a free-mail domain never creates or matches one)."""
    dom = account_domain(email, domain)
    found = _find(conn, cache, dom, external_id)
    if found is not None or (dom is None and external_id is None):
        return found
    values = {"domain": dom, "external_id": external_id, "name": name or dom, "created_at": at, "updated_at": at}
    account_id = account_repo.insert_account(conn, values)
    cache.created += 1
    cache.fresh.add(account_id)
    if dom:
        cache.by_domain[dom] = account_id
    if external_id:
        cache.by_external[external_id] = account_id
    return account_id


def account_changes(row: Mapping[str, Any] | None, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes that differ from the stored account (empty values never blank a stored one)."""
    out = {}
    for name in ACCOUNT_ATTRIBUTES:
        value = attrs.get(name)
        if value is not None and (row is None or row.get(name) != value):
            out[name] = value
    return out


def write_accounts(ctx: ImportContext, conn: Connection, items: list[Item]) -> set[int]:
    """Upsert one chunk of account rows by external id, else domain (a row needs one of them)."""
    cache = AccountCache()
    for item in items:
        item.record["domain"] = clean_domain(item.record.get("domain"))
    cache.prefetch(conn, (i.record["domain"] for i in items), (i.record.get("external_id") for i in items))
    for item in items:
        rec = item.record
        if rec["domain"] is None and rec.get("external_id") is None:
            ctx.refuse(item, "domain", "an account needs a web domain or an external id")
            continue
        if rec["domain"] is not None and is_free_email(rec["domain"]):
            ctx.refuse(item, "domain", f"{rec['domain']} is a free-mail domain, not a company's")
            continue
        _upsert_account(conn, ctx, cache, rec)
    return set()


def _upsert_account(conn: Connection, ctx: ImportContext, cache: AccountCache, rec: dict[str, Any]) -> None:
    found = _find(conn, cache, rec["domain"], rec.get("external_id"))
    if found is None:
        values = {k: rec[k] for k in ("external_id", "domain", *ACCOUNT_ATTRIBUTES) if rec.get(k) is not None}
        values["name"] = values.get("name") or rec["domain"] or rec.get("external_id")
        at = rec.get("created_at") or ctx.now
        new_id = account_repo.insert_account(conn, {**values, "created_at": at, "updated_at": ctx.now})
        cache.by_domain.update({rec["domain"]: new_id} if rec["domain"] else {})
        cache.by_external.update({rec["external_id"]: new_id} if rec.get("external_id") else {})
        ctx.summary.inserted += 1
        return
    stored = account_repo.account_row(conn, found)
    changes = account_changes(stored, rec)
    for key in ("domain", "external_id"):
        if rec.get(key) is not None and stored is not None and stored[key] != rec[key]:
            changes[key] = rec[key]
    account_repo.update_account(conn, found, changes, ctx.now)
    if changes:
        ctx.summary.updated += 1
    else:
        ctx.summary.unchanged += 1

"""Contact import: upsert by external id or normalized email, account matching by domain, attribution from the
file's source columns, in-file duplicates folded, and a merge when a row's external id and email point at two
different stored contacts (the email's contact is merged into the external id's; undo with ``unmerge``)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from sqlalchemy import Connection

from funnelbridge.ingest.accounts import AccountCache, account_changes, account_domain, create_accounts, match_account
from funnelbridge.ingest.attribution import ContactActivity, Touch, touch_changes
from funnelbridge.ingest.context import ImportContext, Item
from funnelbridge.ingest.history import History, plan_history, stage_map, write_history
from funnelbridge.ingest.identity import IdentityCache, merge_contacts
from funnelbridge.store import accounts as account_repo
from funnelbridge.store import contacts as contact_repo

__all__ = ["write_contacts"]

_PLAIN = ("external_id", "email", "first_name", "last_name", "title", "seniority", "phone", "country")
_FLAGS = ("unsubscribed", "bounced")
_COMPANY = {"company": "name", "industry": "industry", "employees": "employees"}
_COMPANY |= {"annual_revenue": "annual_revenue", "technologies": "technologies"}


def _fold(ctx: ImportContext, items: list[Item]) -> list[Item]:
    """One item per person in the chunk: later rows fill and override earlier ones (non-empty values only)."""
    groups: dict[str, Item] = {}
    aliases: dict[str, str] = {}
    for item in items:
        email, ext = item.record.get("email"), item.record.get("external_id")
        if not email and not ext:
            ctx.refuse(item, "email", "a contact needs an email or an external id")
            continue
        key = aliases.get(f"x:{ext}") or aliases.get(f"e:{email}") or (f"e:{email}" if email else f"x:{ext}")
        for alias in (f"e:{email}" if email else None, f"x:{ext}" if ext else None):
            if alias:
                aliases.setdefault(alias, key)
        if key in groups:
            ctx.summary.duplicates += 1
            first = groups[key]
            merged = {**first.record, **{k: v for k, v in item.record.items() if v is not None}}
            if first.record.get("properties") and item.record.get("properties"):
                merged["properties"] = {**first.record["properties"], **item.record["properties"]}
            groups[key] = Item(first.row, merged, first.raw)
        else:
            groups[key] = item
    return list(groups.values())


def _activity(record: dict[str, Any], at: Any) -> ContactActivity:
    seen = ContactActivity()
    seen.see(at, Touch.of(at, record.get("source"), record.get("medium"), record.get("campaign")), True)
    return seen


def _new_row(
    ctx: ImportContext, record: dict[str, Any], account_id: int | None, history: History | None
) -> dict[str, Any]:
    at = record.get("created_at") or ctx.now
    if history is not None and history.earliest is not None and history.earliest < at:
        at = history.earliest  # a person who entered the funnel then existed then
    touch = Touch.of(at, record.get("source"), record.get("medium"), record.get("campaign"))
    row = {name: record.get(name) for name in _PLAIN}
    row.update({flag: bool(record.get(flag)) for flag in _FLAGS})
    for end in ("first", "last"):
        row[f"{end}_source"] = touch.source if touch else None
        row[f"{end}_medium"] = touch.medium if touch else None
        row[f"{end}_campaign"] = touch.campaign if touch else None
        row[f"{end}_touch_at"] = touch.at if touch else None
    row.update(account_id=account_id, properties=record.get("properties"), version=1)
    row.update(created_at=at, identified_at=at, updated_at=ctx.now)
    return row


def _changes(row: dict[str, Any], record: dict[str, Any], account_id: int | None, ctx: ImportContext) -> dict[str, Any]:
    out = {n: record[n] for n in (*_PLAIN, *_FLAGS) if record.get(n) is not None and record[n] != row[n]}
    if account_id is not None and account_id != row["account_id"]:
        out["account_id"] = account_id
    if record.get("properties"):
        props = {**(row["properties"] or {}), **record["properties"]}
        if props != row["properties"]:
            out["properties"] = props
    at = record.get("created_at")
    if at is not None or record.get("source") or record.get("medium") or record.get("campaign"):
        out.update(touch_changes(row, _activity(record, at or ctx.now)))
    return out


def _account(conn: Connection, ctx: ImportContext, cache: AccountCache, record: dict[str, Any]) -> int | None:
    return match_account(
        conn,
        cache,
        email=record.get("email"),
        domain=record.get("domain"),
        external_id=record.get("account_external_id"),
        name=record.get("company"),
        at=ctx.now,
    )


def _company(record: dict[str, Any]) -> dict[str, Any]:
    return {col: record[key] for key, col in _COMPANY.items() if record.get(key) is not None}


def _update_accounts(conn: Connection, ctx: ImportContext, attrs: dict[int, dict[str, Any]], fresh: set[int]) -> None:
    stored = account_repo.account_rows(conn, set(attrs) - fresh)
    for account_id, row in stored.items():
        account_repo.update_account(conn, account_id, account_changes(row, attrs[account_id]), ctx.now)


def write_contacts(ctx: ImportContext, conn: Connection, items: list[Item]) -> set[int]:
    """Upsert one chunk of contact rows; returns the ids of inserted or changed contacts (when re-scoring)."""
    items, histories = _plan(ctx, _fold(ctx, items))
    people, accounts = IdentityCache(), AccountCache()
    people.prefetch(conn, (i.record.get("email") for i in items), (i.record.get("external_id") for i in items), ())
    wanted = [(account_domain(i.record.get("email"), i.record.get("domain")), i.record.get("account_external_id"),
               _company(i.record)) for i in items]  # fmt: skip
    accounts.prefetch(conn, (w[0] for w in wanted), (w[1] for w in wanted))
    create_accounts(conn, accounts, wanted, ctx.now)
    matched = {_match(conn, ctx, people, i.record) for i in items} - {None}
    stored = contact_repo.contact_rows(conn, matched)  # type: ignore[arg-type]
    inserts: list[dict[str, Any]] = []
    touched: set[int] = set()
    company: dict[int, dict[str, Any]] = {}
    for item in items:
        record = item.record
        account_id = _account(conn, ctx, accounts, record)
        if account_id is not None:
            company.setdefault(account_id, {}).update(_company(record))
        target = _target(people, record)
        if target is None:
            inserts.append(_new_row(ctx, record, account_id, histories.get(item.row)))
            continue
        changes = _changes(stored[target], record, account_id, ctx)
        if changes:
            contact_repo.update_contact(conn, target, changes, ctx.now)
            touched.add(target)
            ctx.summary.updated += 1
        else:
            ctx.summary.unchanged += 1
    _insert_contacts(conn, inserts)
    ctx.summary.inserted += len(inserts)
    ctx.summary.accounts_created += accounts.created
    _update_accounts(conn, ctx, company, accounts.fresh)
    fresh: tuple[dict[str, int], dict[str, int]] = ({}, {})
    if inserts and (ctx.after or histories):
        fresh = (contact_repo.ids_by_emails(conn, (r["email"] for r in inserts)),
                 contact_repo.ids_by_external_ids(conn, (r["external_id"] for r in inserts)))  # fmt: skip
        touched |= set(fresh[0].values()) | set(fresh[1].values()) if ctx.after else set()
    written = _write_histories(ctx, conn, items, histories, people, fresh)
    return touched | written if ctx.after else touched


def _plan(ctx: ImportContext, items: list[Item]) -> tuple[list[Item], dict[int, History]]:
    """Take each row's lifecycle history out of its record (:func:`plan_history`); rows whose history is wrong
    are rejected. Returns the rows kept and the histories by row number."""
    smap = stage_map(ctx.rt.playbook)
    kept: list[Item] = []
    plans: dict[int, History] = {}
    for item in items:
        plan = plan_history(item.record, smap, ctx.now)
        if isinstance(plan, list):
            ctx.reject(item.row, item.raw, plan)
            continue
        if plan is not None:
            plans[item.row] = plan
        kept.append(item)
    return kept, plans


def _write_histories(
    ctx: ImportContext,
    conn: Connection,
    items: list[Item],
    histories: dict[int, History],
    people: IdentityCache,
    fresh: tuple[dict[str, int], dict[str, int]],
) -> set[int]:
    """Write the rows' histories for their contacts that have none yet (:func:`write_history`)."""
    if not histories:
        return set()
    by_contact: dict[int, History] = {}
    for item in items:
        history = histories.get(item.row)
        ext, email = item.record.get("external_id"), item.record.get("email")
        cid = _target(people, item.record) or (fresh[1].get(ext) if ext else None) or fresh[0].get(email or "")
        if history is not None and cid is not None:
            by_contact[cid] = history
    return write_history(conn, ctx.rt.playbook, by_contact, ctx.now)


def _insert_contacts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert new contacts; those without properties without the column, so it stays SQL NULL (a JSON column
    given None stores JSON ``null`` on PostgreSQL)."""
    for bare, run in groupby(rows, key=lambda r: r["properties"] is None):  # runs keep the file's order of ids
        batch = list(run)
        if bare:
            batch = [{k: v for k, v in r.items() if k != "properties"} for r in batch]
        contact_repo.insert_contacts(conn, batch)


def _target(people: IdentityCache, record: dict[str, Any]) -> int | None:
    ext, email = record.get("external_id"), record.get("email")
    return (people.by_external.get(ext) if ext else None) or (people.by_email.get(email) if email else None)


def _match(conn: Connection, ctx: ImportContext, people: IdentityCache, record: dict[str, Any]) -> int | None:
    """The stored contact of a row, merging the email's contact into the external id's when they differ."""
    ext, email = record.get("external_id"), record.get("email")
    by_ext = people.by_external.get(ext) if ext else None
    by_email = people.by_email.get(email) if email else None
    if by_ext is not None and by_email is not None and by_ext != by_email:
        merge_contacts(conn, by_ext, by_email, "import: external id and email of one person", ctx.now)
        ctx.summary.merged += 1
        people.by_email[email] = by_ext  # type: ignore[index]
    return by_ext or by_email

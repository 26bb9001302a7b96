"""Contact import: upsert by external id or normalized email, account matching by domain, attribution from the
file's source columns, in-file duplicates folded, and a merge when a row's external id and email point at two
different stored contacts (the email's contact is merged into the external id's; undo with ``unmerge``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, select

from funnelbridge.ingest.accounts import AccountCache, account_changes, account_domain, create_accounts, match_account
from funnelbridge.ingest.attribution import ContactActivity, Touch, touch_changes
from funnelbridge.ingest.batchmerge import Pair, merge_pairs
from funnelbridge.ingest.context import ImportContext, Item
from funnelbridge.ingest.history import History, plan_history, stage_map, write_history
from funnelbridge.ingest.identity import IdentityCache
from funnelbridge.ingest.newrows import max_id, new_ids
from funnelbridge.store import accounts as account_repo
from funnelbridge.store import contacts as contact_repo
from funnelbridge.store.bulk import batched, sqlite_time
from funnelbridge.store.tables import contacts

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


_NEW = (*_PLAIN, "account_id", "first_source", "first_medium", "first_campaign", "first_touch_at", "last_source",
        "last_medium", "last_campaign", "last_touch_at", *_FLAGS, "properties", "created_at", "identified_at",
        "updated_at", "version")  # fmt: skip
"""The columns of a new contact, in the order of :func:`_new_row`'s tuples."""
_EMAIL, _EXTERNAL = _NEW.index("email"), _NEW.index("external_id")


class _Stamps(dict[datetime, str]):
    """SQLite's text of each time (:func:`~funnelbridge.store.bulk.sqlite_time`), worked out once per value."""

    def __missing__(self, at: datetime) -> str:
        text = self[at] = sqlite_time(at)
        return text


def _new_row(
    ctx: ImportContext, record: dict[str, Any], account_id: int | None, history: History | None, sqlite: _Stamps | None
) -> tuple[Any, ...]:
    """A new contact's values in :data:`_NEW` order (a tuple: a chunk's new contacts are one ``executemany``) — on
    SQLite (``sqlite`` given) as stored: times as text, properties as JSON text (None binds SQL NULL)."""
    at = record.get("created_at") or ctx.now
    if history is not None and history.earliest is not None and history.earliest < at:
        at = history.earliest  # a person who entered the funnel then existed then
    get = record.get
    source, medium, campaign = get("source"), get("medium"), get("campaign")
    props, now, when = get("properties"), ctx.now, at  # type: Any, Any, Any
    if sqlite is not None:
        now, when = sqlite[now], sqlite[at]
        props = None if props is None else json.dumps(props)
    plain = (get("external_id"), get("email"), get("first_name"), get("last_name"), get("title"), get("seniority"),
             get("phone"), get("country"), account_id)  # fmt: skip
    if source or medium or campaign:  # a touch (attribution.Touch.of): first and last at the creation time
        one = (source, medium, campaign, when)
        ends: tuple[Any, ...] = one + one
    else:
        ends = (None,) * 8
    flags = (bool(get("unsubscribed")), bool(get("bounced")))
    return (*plain, *ends, *flags, props, when, when, now, 1)


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


def _account(
    conn: Connection,
    ctx: ImportContext,
    firms: AccountCache,
    record: dict[str, Any],
    domain: str | None,
    ext: str | None,
) -> int | None:
    """The row's account: found in the cache (``create_accounts`` made the missing ones), else matched."""
    found = (firms.by_external.get(ext) if ext else None) or (firms.by_domain.get(domain) if domain else None)
    if found is not None or (domain is None and ext is None):
        return found
    return match_account(
        conn,
        firms,
        email=record.get("email"),
        domain=record.get("domain"),
        external_id=record.get("account_external_id"),
        name=record.get("company"),
        at=ctx.now,
    )


def _wanted(items: list[Item]) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    """Each row's account domain (:func:`~funnelbridge.ingest.accounts.account_domain`, worked out once per email
    domain and explicit domain: it depends on nothing else), account external id and company attributes."""
    domains: dict[tuple[str | None, str | None], str | None] = {}
    out = []
    for item in items:
        record = item.record
        email, given = record.get("email"), record.get("domain")
        key = (email.rpartition("@")[2] if email and "@" in email else None, given)
        dom = domains[key] if key in domains else domains.setdefault(key, account_domain(email, given))
        out.append((dom, record.get("account_external_id"), _company(record)))
    return out


def _company(record: dict[str, Any]) -> dict[str, Any]:
    return {col: record[key] for key, col in _COMPANY.items() if record.get(key) is not None}


def _update_accounts(conn: Connection, ctx: ImportContext, attrs: dict[int, dict[str, Any]], fresh: set[int]) -> None:
    stored = account_repo.account_rows(conn, set(attrs) - fresh)
    for account_id, row in stored.items():
        account_repo.update_account(conn, account_id, account_changes(row, attrs[account_id]), ctx.now)


def write_contacts(ctx: ImportContext, conn: Connection, items: list[Item]) -> set[int]:
    """Upsert one chunk of contact rows set-wise: look-ups in a few ``IN`` queries, new accounts in one insert, new
    contacts in one ``executemany``, changed ones in one per set of changed columns; returns the ids of inserted or
    changed contacts (when re-scoring)."""
    items, histories = _plan(ctx, _fold(ctx, items))
    people, accounts = IdentityCache(), AccountCache()
    people.prefetch(conn, (i.record.get("email") for i in items), (i.record.get("external_id") for i in items), ())
    wanted = _wanted(items)
    accounts.prefetch(conn, (w[0] for w in wanted), (w[1] for w in wanted))
    create_accounts(conn, accounts, wanted, ctx.now)
    pairs: list[Pair] = []
    matched = {_match(ctx, people, i.record, pairs) for i in items} - {None}
    merge_pairs(conn, pairs, _MERGE_REASON, ctx.now)
    stored = _stored_rows(conn, matched)  # type: ignore[arg-type]
    inserts: list[tuple[Any, ...]] = []
    stamps = _Stamps() if conn.dialect.name == "sqlite" else None
    updates: dict[int, dict[str, Any]] = {}
    company: dict[int, dict[str, Any]] = {}
    changed = 0
    for item, (domain, account_ext, attrs) in zip(items, wanted, strict=True):
        record = item.record
        account_id = _account(conn, ctx, accounts, record, domain, account_ext)
        if account_id is not None:
            company.setdefault(account_id, {}).update(attrs)
        target = _target(people, record)
        if target is None:
            inserts.append(_new_row(ctx, record, account_id, histories.get(item.row), stamps))
            continue
        changes = _changes(stored[target], record, account_id, ctx)
        if changes:
            updates.setdefault(target, {}).update(changes)
            changed += 1
    new_ids = _insert_contacts(conn, inserts)
    contact_repo.update_contacts(conn, updates, ctx.now)
    ctx.summary.inserted += len(inserts)
    ctx.summary.updated += changed
    ctx.summary.unchanged += len(items) - len(inserts) - changed
    ctx.summary.accounts_created += accounts.created
    _update_accounts(conn, ctx, company, accounts.fresh)
    fresh: tuple[dict[str, int], dict[str, int]] = ({}, {})
    if inserts and (ctx.after or histories):
        fresh = _fresh_ids(conn, inserts, new_ids)
    written = _write_histories(ctx, conn, items, histories, people, fresh)
    if not ctx.after:
        return set()
    return set(updates) | set(fresh[0].values()) | set(fresh[1].values()) | written


def _plan(ctx: ImportContext, items: list[Item]) -> tuple[list[Item], dict[int, History]]:
    """Take each row's lifecycle history out of its record (:func:`plan_history`); rows whose history is wrong
    are rejected. Returns the rows kept and the histories by row number."""
    smap = stage_map(ctx.rt.playbook, ctx.stages)
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
    """Write the rows' histories for their contacts that have none yet (:func:`write_history`), counted on the
    summary; returns the contacts written."""
    if not histories:
        return set()
    by_contact: dict[int, History] = {}
    for item in items:
        history = histories.get(item.row)
        if history is None:
            continue
        ext, email = item.record.get("external_id"), item.record.get("email")
        cid = _target(people, item.record) or (fresh[1].get(ext) if ext else None) or fresh[0].get(email or "")
        if cid is not None:
            by_contact[cid] = history
    made = set(fresh[0].values()) | set(fresh[1].values())
    done = write_history(conn, ctx.rt.playbook, by_contact, ctx.now, made)
    ctx.summary.histories_written += len(done.written)
    ctx.summary.histories_skipped += len(done.skipped)
    return set(done.written)


_TOUCH = tuple(f"{end}_{part}" for end in ("first", "last") for part in ("source", "medium", "campaign", "touch_at"))
_READ = ("id", *_PLAIN, *_FLAGS, "account_id", "properties", "created_at", "identified_at", *_TOUCH)
_TIMES = frozenset({"created_at", "identified_at", "first_touch_at", "last_touch_at"})


def _stored_rows(conn: Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
    """The columns :func:`_changes` compares, of these contacts, by id. On SQLite read as raw rows (one query per
    5,000 ids, times parsed with ``fromisoformat`` as :class:`~funnelbridge.store.types.UTCDateTime` would, JSON
    with ``json.loads``): SQLAlchemy's per-row result processing cost more than the query."""
    if conn.dialect.name != "sqlite":
        return contact_repo.contact_rows(conn, ids)
    sql = _read_sql(conn)
    times = [i for i, name in enumerate(_READ) if name in _TIMES]
    props, flags = _READ.index("properties"), [_READ.index(f) for f in _FLAGS]
    out: dict[int, dict[str, Any]] = {}
    parsed = _Times()  # an imported contact's four times are mostly one text
    for chunk in batched(sorted(ids), 5000):
        for raw in conn.exec_driver_sql(sql, (json.dumps(chunk),)):
            values = list(raw)
            for i in times:
                if values[i] is not None:
                    values[i] = parsed[values[i]]
            for i in flags:
                values[i] = bool(values[i])
            if values[props] is not None:
                values[props] = json.loads(values[props])
            out[values[0]] = dict(zip(_READ, values, strict=True))
    return out


class _Times(dict[str, datetime]):
    """Stored time texts parsed (as :class:`~funnelbridge.store.types.UTCDateTime` reads them) once per text."""

    def __missing__(self, text: str) -> datetime:
        at = self[text] = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return at


_SQL: dict[str, str] = {}


def _read_sql(conn: Connection) -> str:
    if "read" not in _SQL:
        among = func.json_each(bindparam("among", type_=String)).table_valued("value")
        query = select(*(contacts.c[n] for n in _READ)).where(contacts.c.id.in_(select(among.c.value)))
        _SQL["read"] = str(query.compile(dialect=conn.dialect))
    return _SQL["read"]


def _fresh_ids(
    conn: Connection, inserts: list[tuple[Any, ...]], ids: list[int] | None
) -> tuple[dict[str, int], dict[str, int]]:
    """``({email: id}, {external id: id})`` of the contacts just inserted: from their ids when known (SQLite: the
    range the insert filled, :func:`~funnelbridge.ingest.newrows.new_ids`), else looked up."""
    if ids is None:
        return (contact_repo.ids_by_emails(conn, (r[_EMAIL] for r in inserts)),
                contact_repo.ids_by_external_ids(conn, (r[_EXTERNAL] for r in inserts)))  # fmt: skip
    pairs = list(zip(inserts, ids, strict=True))
    return ({r[_EMAIL]: i for r, i in pairs if r[_EMAIL]}, {r[_EXTERNAL]: i for r, i in pairs if r[_EXTERNAL]})


def _insert_contacts(conn: Connection, rows: list[tuple[Any, ...]]) -> list[int] | None:
    """Insert new contacts in one ``executemany`` (ids in the file's order); their ids when known. On SQLite the
    rows are :func:`_new_row`'s stored values, bound to a once-compiled INSERT. On PostgreSQL those
    without properties go in a second one without the column, so it stays SQL NULL (a JSON column given None
    stores JSON ``null``)."""
    if not rows:
        return []
    if conn.dialect.name == "sqlite":
        before = max_id(conn, contacts)
        conn.exec_driver_sql(_insert_sql(conn), rows)
        return new_ids(conn, contacts, before, len(rows))
    dicts = [dict(zip(_NEW, r, strict=True)) for r in rows]
    contact_repo.insert_contacts(conn, [r for r in dicts if r["properties"] is not None])
    bare = [{k: v for k, v in r.items() if k != "properties"} for r in dicts if r["properties"] is None]
    contact_repo.insert_contacts(conn, bare)
    return None


def _insert_sql(conn: Connection) -> str:
    if "insert" not in _SQL:
        compiled = contacts.insert().compile(dialect=conn.dialect, column_keys=list(_NEW))
        if tuple(compiled.positiontup or ()) != _NEW:
            raise AssertionError(f"unexpected parameter order {compiled.positiontup}")
        _SQL["insert"] = compiled.string
    return _SQL["insert"]


def _target(people: IdentityCache, record: dict[str, Any]) -> int | None:
    ext, email = record.get("external_id"), record.get("email")
    return (people.by_external.get(ext) if ext else None) or (people.by_email.get(email) if email else None)


_MERGE_REASON = "import: external id and email of one person"


def _match(ctx: ImportContext, people: IdentityCache, record: dict[str, Any], pairs: list[Pair]) -> int | None:
    """The stored contact of a row; when its external id and email name two, the email's is to be merged into
    the external id's (added to ``pairs``, merged in order before the chunk reads the stored rows)."""
    ext, email = record.get("external_id"), record.get("email")
    by_ext = people.by_external.get(ext) if ext else None
    by_email = people.by_email.get(email) if email else None
    if by_ext is not None and by_email is not None and by_ext != by_email:
        pairs.append((by_ext, by_email))
        ctx.summary.merged += 1
        people.by_email[email] = by_ext  # type: ignore[index]
    return by_ext or by_email

"""The contacts and accounts one intake batch reads and writes, kept in memory.

Rows are loaded in bulk (one query per table), identity resolution and traits change the in-memory rows in
occurrence order — exactly what storing the events one at a time would do — and :meth:`Book.flush` writes the
changes with one ``executemany`` per set of changed columns: new accounts in one insert, contact updates, account
updates, cookies marked identified. A merge flushes first (it reads and moves stored rows) and reloads both
contacts afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, update

from funnelbridge.ingest.accounts import ACCOUNT_ATTRIBUTES, AccountCache, account_changes, account_domain
from funnelbridge.ingest.identity import IdentityCache, merge_contacts_with_cookies
from funnelbridge.ingest.newrows import insert_accounts
from funnelbridge.ingest.traits import company_traits, contact_changes
from funnelbridge.store import accounts as account_repo
from funnelbridge.store import contacts as contact_repo
from funnelbridge.store.bulk import execute_many
from funnelbridge.store.tables import accounts, contacts, identities

__all__ = ["Book"]

_CONTACT_COLUMNS = tuple(c.name for c in contacts.columns)
_ACCOUNT_COLUMNS = tuple(c.name for c in accounts.columns)
_NEW_CONTACT = {**dict.fromkeys(_CONTACT_COLUMNS), "unsubscribed": False, "bounced": False, "version": 1}
_NEW_ACCOUNT = ("external_id", "domain", *ACCOUNT_ATTRIBUTES, "created_at", "updated_at")


@dataclass
class Book:
    """In-memory contacts and accounts of one batch, written at :meth:`flush` (see the module docstring).

    ``barrier`` is called with the two contacts of a merge after the book is flushed: the batch writes what it
    holds of them too (their events so far, their attribution), so the merge sees them as one-at-a-time intake
    would have left them."""

    conn: Connection
    now: datetime
    people: IdentityCache = field(default_factory=IdentityCache)
    firms: AccountCache = field(default_factory=AccountCache)
    barrier: Callable[[set[int]], None] = lambda contact_ids: None
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    changed: dict[int, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[int, dict[str, Any]] = field(default_factory=dict)
    account_changed: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_accounts: list[int] = field(default_factory=list)  # temporary (negative) ids until flushed
    identified: dict[str, datetime] = field(default_factory=dict)  # cookie -> first identification

    # --- reading ---------------------------------------------------------------------------------------------

    def load(self, contact_ids: Iterable[int]) -> None:
        """Load the rows of these contacts (one query for all not held yet)."""
        missing = {cid for cid in contact_ids if cid not in self.rows}
        if missing:
            self.rows.update(contact_repo.contact_rows(self.conn, missing))

    def row(self, contact_id: int) -> dict[str, Any]:
        if contact_id not in self.rows:
            self.rows[contact_id] = contact_repo.get_contact(self.conn, contact_id)
        return self.rows[contact_id]

    def prefetch_accounts(
        self, domains: Iterable[str | None], rows_of: Iterable[str | None] = (), ids: Iterable[int] = ()
    ) -> None:
        """Look up the accounts of these company domains (one query), and load the rows of those ``rows_of``
        these domains and of the accounts ``ids`` (one more)."""
        self.firms.prefetch(self.conn, domains, [])
        found = (self.firms.by_domain.get(d) for d in rows_of if d)
        self.account_row_of([*ids, *(aid for aid in found if aid is not None)])

    def account_row_of(self, ids: Iterable[int]) -> None:
        missing = {aid for aid in ids if aid not in self.accounts}
        if missing:
            self.accounts.update(account_repo.account_rows(self.conn, missing))

    # --- changing --------------------------------------------------------------------------------------------

    def add(self, contact_id: int, values: Mapping[str, Any]) -> None:
        """A contact just inserted with ``values`` (the other columns take their defaults)."""
        row = _NEW_CONTACT.copy()
        row.update(values)
        row["id"] = contact_id
        self.rows[contact_id] = row

    def change(self, contact_id: int, values: Mapping[str, Any], at: datetime) -> None:
        """Set columns of a contact (``updated_at`` becomes ``at``), written at flush."""
        if values:
            self.row(contact_id).update(values)
            self.changed.setdefault(contact_id, {}).update(values, updated_at=at)

    def mark_identified(self, anonymous_id: str | None, at: datetime) -> None:
        """The cookie's person identified at ``at`` (the first identification stays)."""
        if anonymous_id:
            self.identified.setdefault(anonymous_id, at)

    def apply_traits(self, contact_id: int, traits: Mapping[str, Any]) -> None:
        """What :func:`funnelbridge.ingest.traits.apply_traits` does, on the in-memory rows."""
        row = self.row(contact_id)
        changes = contact_changes(row, traits)
        company = company_traits(traits)
        account_id = row["account_id"]
        if account_id is None or traits.get("domain"):
            account_id = self._match(row["email"], traits.get("domain"), company.get("name"))
            if account_id is not None and account_id != row["account_id"]:
                changes["account_id"] = account_id
        self.change(contact_id, changes, self.now)
        if account_id is not None and company:
            self.account_row_of([account_id])
            stored = self.accounts.get(account_id)
            if stored and stored.get("country"):
                company.pop("country", None)  # a person's country only fills a company's missing one
            diff = account_changes(stored, company)
            if diff and stored is not None:
                stored.update(diff)
                self.account_changed.setdefault(account_id, {}).update(diff, updated_at=self.now)

    def _match(self, email: str | None, domain: str | None, name: str | None) -> int | None:
        """The account of a company domain (never a free-mail one), created when missing (at flush)."""
        dom = account_domain(email, domain)
        if dom is None:
            return None
        if f"d:{dom}" not in self.firms.checked:
            self.prefetch_accounts([dom], [dom])
        found = self.firms.by_domain.get(dom)
        if found is not None:
            return found
        temp = -1 - len(self.new_accounts)
        self.new_accounts.append(temp)
        self.accounts[temp] = {**dict.fromkeys(_ACCOUNT_COLUMNS), "domain": dom, "name": name or dom}
        self.accounts[temp].update(created_at=self.now, updated_at=self.now)
        self.firms.by_domain[dom] = temp
        return temp

    def merge(self, survivor_id: int, merged_id: int, reason: str) -> list[str]:
        """Merge two contacts (:func:`~funnelbridge.ingest.identity.merge_contacts`) after writing what it reads:
        new accounts (a contact may point to one) and the changes of the two contacts. Other contacts' changes
        wait for :meth:`flush` — the merge neither reads nor moves them. Returns the cookies that moved."""
        self._insert_accounts()
        pair = {survivor_id, merged_id}
        _update_many(self.conn, {cid: self.changed.pop(cid) for cid in pair if cid in self.changed}, _contact_update)
        self.barrier(pair)
        _, cookies = merge_contacts_with_cookies(self.conn, survivor_id, merged_id, reason, self.now)
        for cid in (survivor_id, merged_id):
            self.rows.pop(cid, None)
        self.load([survivor_id, merged_id])
        return cookies

    # --- writing ---------------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what changed: new accounts, contact updates, account updates, identified cookies."""
        self._insert_accounts()
        _update_many(self.conn, self.changed, _contact_update)
        _update_many(self.conn, self.account_changed, _account_update, fast=False)
        marks = [{"k_anon": anon, "t_at": at} for anon, at in sorted(self.identified.items())]
        execute_many(self.conn, _MARK_IDENTIFIED, marks)
        self.changed, self.account_changed, self.identified = {}, {}, {}

    def _insert_accounts(self) -> None:
        if not self.new_accounts:
            return
        groups: dict[tuple[str, ...], list[int]] = {}  # by the columns set: unset ones stay SQL NULL, not JSON null
        for temp in self.new_accounts:
            groups.setdefault(tuple(k for k in _NEW_ACCOUNT if self.accounts[temp][k] is not None), []).append(temp)
        real: dict[int, int] = {}
        for columns, temps in groups.items():
            rows = [{k: self.accounts[temp][k] for k in columns} for temp in temps]
            real.update(zip(temps, insert_accounts(self.conn, rows), strict=True))
        for temp, account_id in real.items():
            self.accounts[account_id] = {**self.accounts.pop(temp), "id": account_id}
            self.account_changed.pop(temp, None)
        self.firms.by_domain.update({d: real.get(a, a) for d, a in self.firms.by_domain.items()})
        for contact_id, values in self.changed.items():
            if values.get("account_id") in real:
                values["account_id"] = self.rows[contact_id]["account_id"] = real[values["account_id"]]
        self.firms.created += len(real)
        self.new_accounts = []


def _update_many(
    conn: Connection,
    changed: dict[int, dict[str, Any]],
    statement: Callable[[tuple[str, ...]], Any],
    *,
    fast: bool = True,
) -> None:
    """One executemany per set of changed columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, values in sorted(changed.items()):
        columns = tuple(sorted(values))
        groups.setdefault(columns, []).append({"k_id": row_id, **{f"v_{k}": values[k] for k in columns}})
    for columns, params in groups.items():
        if fast:
            execute_many(conn, statement(columns), params)
        else:
            conn.execute(statement(columns), params)


@cache  # one statement per column set: execute_many compiles each once
def _contact_update(columns: tuple[str, ...]) -> Any:
    values: dict[str, Any] = {k: bindparam(f"v_{k}") for k in columns}
    return (
        update(contacts).where(contacts.c.id == bindparam("k_id")).values({**values, "version": contacts.c.version + 1})
    )


@cache
def _account_update(columns: tuple[str, ...]) -> Any:
    values: dict[str, Any] = {k: bindparam(f"v_{k}") for k in columns}
    return update(accounts).where(accounts.c.id == bindparam("k_id")).values(values)


_MARK_IDENTIFIED = (
    update(identities)
    .where(identities.c.anonymous_id == bindparam("k_anon"), identities.c.identified_at.is_(None))
    .values(identified_at=bindparam("t_at"))
)

"""Traits: what an identify or form event (or a contact row) says about the person and their company.

Contact traits (first_name, last_name, title, seniority, phone, country, unsubscribed, bounced) set the
contact's columns; company traits (company, domain, industry, employees, technologies, annual_revenue) match the
contact to an account (by domain; free-mail never creates one) and set its attributes; any other trait is kept in
``contacts.properties``. Empty values never blank a stored one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from funnelbridge.ingest import coerce as c
from funnelbridge.ingest.accounts import AccountCache, account_changes, match_account
from funnelbridge.store import accounts as account_repo
from funnelbridge.store import contacts as contact_repo

__all__ = ["CONTACT_TRAITS", "TRAIT_COERCERS", "apply_traits", "company_traits", "contact_changes"]

CONTACT_TRAITS = ("first_name", "last_name", "title", "seniority", "phone", "country", "unsubscribed", "bounced")
_COMPANY = {"company": "name", "industry": "industry", "employees": "employees", "technologies": "technologies"}
_COMPANY |= {"annual_revenue": "annual_revenue"}

TRAIT_COERCERS: dict[str, c.Coercer] = {
    "first_name": c.to_text(100),
    "last_name": c.to_text(100),
    "title": c.to_text(200),
    "seniority": c.to_text(50),
    "phone": c.to_text(50),
    "country": c.to_country,
    "unsubscribed": c.to_bool,
    "bounced": c.to_bool,
    "company": c.to_text(300),
    "domain": c.to_text(255),
    "industry": c.to_text(100),
    "employees": c.to_int,
    "technologies": c.to_list,
    "annual_revenue": c.to_decimal,
    "email": c.to_email,
    "created_at": c.to_timestamp(UTC),
}
"""Coercers of the known traits (used when validating payloads)."""

_NOT_PROPERTIES = {*CONTACT_TRAITS, *_COMPANY, "domain", "email", "user_id", "anonymous_id", "created_at"}


def contact_changes(row: Mapping[str, Any], traits: Mapping[str, Any]) -> dict[str, Any]:
    """Columns of the contact that the traits change (pure)."""
    out = {k: traits[k] for k in CONTACT_TRAITS if traits.get(k) is not None and row.get(k) != traits[k]}
    extra = {k: _plain(v) for k, v in traits.items() if k not in _NOT_PROPERTIES and v is not None}
    if extra:
        merged = {**(row.get("properties") or {}), **extra}
        if merged != row.get("properties"):
            out["properties"] = merged
    return out


def company_traits(traits: Mapping[str, Any]) -> dict[str, Any]:
    """Account attributes the traits give (a person's country stands in for a company's missing one)."""
    company = {col: traits[t] for t, col in _COMPANY.items() if traits.get(t) is not None}
    if traits.get("country") and "country" not in company:
        company["country"] = traits["country"]
    return company


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def apply_traits(
    conn: Connection, accounts: AccountCache, contact_id: int, traits: Mapping[str, Any], at: datetime
) -> bool:
    """Apply traits to a contact and its account; True when anything changed."""
    row = contact_repo.get_contact(conn, contact_id)
    changes = contact_changes(row, traits)
    company = company_traits(traits)
    account_id = row["account_id"]
    if account_id is None or traits.get("domain"):
        account_id = match_account(
            conn, accounts, email=row["email"], domain=traits.get("domain"), name=company.get("name"), at=at
        )
        if account_id is not None and account_id != row["account_id"]:
            changes["account_id"] = account_id
    contact_repo.update_contact(conn, contact_id, changes, at)
    if account_id is not None and company:
        stored = account_repo.account_row(conn, account_id)
        if stored and stored.get("country"):
            company.pop("country", None)  # a person's country only fills a company's missing one
        account_repo.update_account(conn, account_id, account_changes(stored, company), at)
    return bool(changes)

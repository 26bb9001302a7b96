"""Column mapping: which input column feeds which field, auto-detected for common CRM exports.

Each import kind has a catalogue of fields (name, type, aliases). A header is matched after normalization
(lower case, runs of non-alphanumerics to ``_``), so ``First Name``, ``first_name`` and ``FirstName`` all map to
``first_name``. Aliases cover HubSpot's and Salesforce's contact, company and deal/opportunity exports. A mapping
file (YAML or JSON, ``{"Input header": "field"}``, ``null`` to ignore a column) overrides the detection. Columns that
map to nothing are kept in ``properties`` (contacts, events) under their normalized header.

A contacts mapping may also carry a ``stages`` section (``{"source stage value": "stage id" | null}``: which
playbook stage a lifecycle stage value means, ``null`` for a value that means none) and ``unmapped_stages``
(``ignore``, the default: a value that maps to no stage writes no stage of its own; ``reject``: its row is
rejected). Both are read into :class:`StageValues`; :func:`funnelbridge.ingest.history.stage_map` checks the
stages against the playbook.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from funnelbridge.errors import InputError

__all__ = [
    "KINDS",
    "ColumnMapping",
    "FieldSpec",
    "Kind",
    "StageValues",
    "UnmappedStages",
    "detect_mapping",
    "load_mapping_file",
    "normalize_header",
]


class Kind(StrEnum):
    ACCOUNTS = "accounts"
    CONTACTS = "contacts"
    EVENTS = "events"
    DEALS = "deals"
    CAMPAIGNS = "campaigns"
    COSTS = "costs"


@dataclass(frozen=True)
class FieldSpec:
    """One importable field: its value type (see :mod:`funnelbridge.ingest.rows`) and the headers that mean it."""

    name: str
    type: str  # text:<n> | int | decimal | float | bool | timestamp | date | email | country | list | json
    aliases: tuple[str, ...] = ()


def _f(name: str, type_: str, *aliases: str) -> FieldSpec:
    return FieldSpec(name, type_, aliases)


_ACCOUNT = (
    _f("external_id", "text:200", "record_id", "company_id", "account_id", "id", "accountid"),
    _f("domain", "text:255", "company_domain_name", "domain_name", "website", "company_domain", "website_url"),
    _f("name", "text:300", "company_name", "account_name", "company", "accountname"),
    _f("industry", "text:100"),
    _f("employees", "int", "number_of_employees", "numberofemployees", "employee_count", "company_size"),
    _f("country", "country", "country_region", "billingcountry", "billing_country"),
    _f("technologies", "list", "tech_stack", "technology", "web_technologies"),
    _f("annual_revenue", "decimal", "annualrevenue", "revenue"),
    _f("created_at", "timestamp", "create_date", "createddate", "created_date", "created"),
)

_CONTACT = (
    _f("external_id", "text:200", "record_id", "contact_id", "lead_id", "id", "contactid", "leadid"),
    _f("email", "email", "email_address", "e_mail", "e_mail_address", "work_email", "business_email"),
    _f("first_name", "text:100", "firstname", "given_name"),
    _f("last_name", "text:100", "lastname", "surname", "family_name"),
    _f("title", "text:200", "job_title", "jobtitle", "position"),
    _f("seniority", "text:50", "job_level", "level"),
    _f("phone", "text:50", "phone_number", "mobile_phone_number", "mobilephone", "mobile"),
    _f("country", "country", "country_region", "mailingcountry", "mailing_country"),
    _f("company", "text:300", "company_name", "account_name", "account_name_2", "companyname"),
    _f("domain", "text:255", "company_domain_name", "website", "company_domain"),
    _f("account_external_id", "text:200", "accountid", "associated_company_id", "company_record_id"),
    _f("industry", "text:100"),
    _f("employees", "int", "number_of_employees", "numberofemployees", "employee_count"),
    _f("annual_revenue", "decimal", "annualrevenue"),
    _f("technologies", "list", "tech_stack"),
    _f("source", "text:100", "original_source", "leadsource", "lead_source", "utm_source", "first_source"),
    _f("medium", "text:100", "utm_medium", "first_medium", "original_source_drill_down_1"),
    _f("campaign", "text:200", "utm_campaign", "first_campaign", "original_source_drill_down_2", "campaign_name"),
    _f("created_at", "timestamp", "create_date", "createddate", "created_date", "created"),
    _f("unsubscribed", "bool", "unsubscribed_from_all_email", "hasoptedoutofemail", "email_opt_out", "opted_out"),
    _f("bounced", "bool", "isemailbounced", "email_bounced", "hard_bounced"),
    _f("lifecycle_stage", "text:100", "lifecyclestage", "status", "lead_status"),
    _f("became_subscriber_at", "timestamp", "became_a_subscriber_date", "hs_lifecyclestage_subscriber_date"),
    _f("became_lead_at", "timestamp", "became_a_lead_date", "hs_lifecyclestage_lead_date"),
    _f(
        "became_mql_at",
        "timestamp",
        "became_a_marketing_qualified_lead_date",
        "hs_lifecyclestage_marketingqualifiedlead_date",
    ),
    _f(
        "became_sql_at",
        "timestamp",
        "became_a_sales_qualified_lead_date",
        "hs_lifecyclestage_salesqualifiedlead_date",
        "converteddate",
        "converted_date",
    ),
    _f("became_opportunity_at", "timestamp", "became_an_opportunity_date", "hs_lifecyclestage_opportunity_date"),
    _f("became_customer_at", "timestamp", "became_a_customer_date", "hs_lifecyclestage_customer_date"),
    _f("became_evangelist_at", "timestamp", "became_an_evangelist_date", "hs_lifecyclestage_evangelist_date"),
    _f("properties", "json"),
)

_EVENT = (
    _f("idempotency_key", "text:200", "event_id", "message_id", "messageid", "id", "key"),
    _f("type", "text:100", "event_type", "kind"),
    _f("event", "text:100", "event_name", "name", "action"),
    _f("email", "email", "email_address", "contact_email"),
    _f("user_id", "text:200", "userid", "contact_external_id", "contact_id", "record_id"),
    _f("anonymous_id", "text:200", "anonymousid", "visitor_id", "cookie_id", "anon_id"),
    _f("occurred_at", "timestamp", "timestamp", "time", "date", "event_time", "created_at", "sent_at"),
    _f("path", "text:1000", "page_path", "url_path", "page"),
    _f("source", "text:100", "utm_source"),
    _f("medium", "text:100", "utm_medium"),
    _f("campaign", "text:200", "utm_campaign", "campaign_key"),
    _f("properties", "json", "props"),
)

_DEAL = (
    _f("external_id", "text:200", "record_id", "deal_id", "opportunity_id", "opportunityid", "id"),
    _f("name", "text:300", "deal_name", "opportunity_name", "opportunityname", "dealname"),
    _f("amount", "decimal", "deal_amount", "value", "amount_in_company_currency"),
    _f("currency", "text:3", "currency_code", "currencyisocode", "deal_currency_code"),
    _f("stage", "text:50", "deal_stage", "stagename", "stage_name", "dealstage"),
    _f("probability", "float", "probability_pct", "deal_probability"),
    _f("expected_close", "date", "close_date", "closedate", "expected_close_date"),
    _f("opened_at", "timestamp", "create_date", "createddate", "created_date", "created_at"),
    _f("closed_at", "timestamp", "closed_at_date", "date_closed", "closed_date"),
    _f("status", "text:10", "deal_status"),
    _f("loss_reason", "text:100", "closed_lost_reason", "lost_reason", "loss_reason_c"),
    _f("competitor", "text:200", "main_competitor"),
    _f("pipeline", "text:100", "deal_pipeline"),
    _f("contact_email", "email", "email", "associated_contact_email"),
    _f("contact_external_id", "text:200", "contact_id", "contactid", "associated_contact_id"),
    _f("account_external_id", "text:200", "account_id", "accountid", "associated_company_id"),
    _f("account_name", "text:300", "account_name", "company_name", "associated_company", "account"),
)

_CAMPAIGN = (
    _f("key", "text:200", "utm_campaign", "campaign_key", "campaign_id", "id"),
    _f("name", "text:300", "campaign_name", "campaign"),
    _f("channel", "text:100", "type", "campaign_type"),
    _f("source", "text:100", "utm_source"),
    _f("medium", "text:100", "utm_medium"),
    _f("started_on", "date", "start_date", "startdate", "start"),
    _f("ended_on", "date", "end_date", "enddate", "end"),
)

_COST = (
    _f("campaign", "text:200", "campaign_key", "utm_campaign", "campaign_id"),
    _f("day", "date", "date", "cost_date"),
    _f("amount", "decimal", "cost", "spend", "actualcost", "actual_cost"),
    _f("currency", "text:3", "currency_code"),
)

KINDS: dict[Kind, tuple[FieldSpec, ...]] = {
    Kind.ACCOUNTS: _ACCOUNT,
    Kind.CONTACTS: _CONTACT,
    Kind.EVENTS: _EVENT,
    Kind.DEALS: _DEAL,
    Kind.CAMPAIGNS: _CAMPAIGN,
    Kind.COSTS: _COST,
}
"""The fields of every import kind."""

_REQUIRED_COLUMNS: dict[Kind, tuple[tuple[str, ...], ...]] = {
    Kind.ACCOUNTS: (("domain", "external_id", "name"),),
    Kind.CONTACTS: (("email", "external_id"),),
    Kind.EVENTS: (("type", "event"), ("occurred_at",), ("email", "user_id", "anonymous_id")),
    Kind.DEALS: (("name", "external_id"), ("amount",)),
    Kind.CAMPAIGNS: (("key",),),
    Kind.COSTS: (("campaign",), ("day",), ("amount",)),
}
"""Per kind, groups of columns of which at least one must be present."""

_SIGNATURES = {
    "hubspot": {"record_id", "lifecycle_stage", "original_source", "create_date", "deal_stage", "contact_owner"},
    "salesforce": {"firstname", "lastname", "leadsource", "stagename", "accountid", "createddate", "opportunity_name"},
}


def normalize_header(header: str) -> str:
    """``"Job Title"`` → ``job_title``; ``"Account.Name"`` → ``account_name``; ``"FirstName"`` → ``firstname``."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


class UnmappedStages(StrEnum):
    """What a lifecycle stage value that maps to no stage does: nothing (``ignore``) or reject its row."""

    IGNORE = "ignore"
    REJECT = "reject"


@dataclass(frozen=True)
class StageValues:
    """A mapping file's stage section: ``(source value, stage id or None)`` pairs, in the file's order, and what
    a value that maps to no stage does."""

    values: tuple[tuple[str, str | None], ...] = ()
    unmapped: UnmappedStages = UnmappedStages.IGNORE


@dataclass(frozen=True)
class ColumnMapping:
    """Which header feeds which field; ``extras`` are kept as properties; ``source_format`` is a guess;
    ``stages`` the mapping file's stage values (contacts)."""

    kind: Kind
    fields: dict[str, str]
    extras: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    source_format: str = "generic"
    specs: dict[str, FieldSpec] = field(default_factory=dict)
    stages: StageValues | None = None

    def describe(self) -> list[tuple[str, str]]:
        """(header, field) pairs for display; extras read ``properties.<name>``."""
        pairs = [(h, f) for h, f in self.fields.items()]
        return pairs + [(h, f"properties.{normalize_header(h) or 'column'}") for h in self.extras]


def _alias_table(kind: Kind) -> dict[str, str]:
    table: dict[str, str] = {}
    for spec in KINDS[kind]:
        for alias in (*spec.aliases, spec.name):
            table.setdefault(alias, spec.name)
    for spec in KINDS[kind]:
        table[spec.name] = spec.name  # a field's own name always wins over another's alias
    return table


def _guess_format(normalized: Sequence[str]) -> str:
    hits = {name: len(sig & set(normalized)) for name, sig in _SIGNATURES.items()}
    best = max(hits, key=lambda k: hits[k])
    return best if hits[best] >= 2 else "generic"


def detect_mapping(
    kind: Kind | str, headers: Sequence[str], override: Mapping[str, Any] | None = None
) -> ColumnMapping:
    """Map ``headers`` to fields of ``kind``: the override first, then a column named as the field, then aliases
    (the first such column wins a field). The override's ``stages`` and ``unmapped_stages`` sections (contacts)
    become the mapping's :class:`StageValues`."""
    kind = _kind(kind)
    specs = {s.name: s for s in KINDS[kind]}
    override, stages = _sections(kind, override or {})
    unknown = sorted(str(t) for t in override.values() if t is not None and t not in specs)
    if unknown:
        raise InputError(
            f"unknown field(s) {', '.join(unknown)}; {kind} fields are: {', '.join(specs)}", field="mapping"
        )
    aliases, taken = _alias_table(kind), set(t for t in override.values() if t)
    exact = {n for h in headers if h not in override and (n := normalize_header(h)) in specs}
    fields, extras, ignored = {}, [], []
    for header in headers:
        if header in override:
            target = override[header]
            if target:
                fields[header] = target
            else:
                ignored.append(header)
            continue
        name = normalize_header(header)
        target = aliases.get(name)
        if target and target not in taken and (target not in exact or name == target):  # a field's own name wins
            fields[header] = target
            taken.add(target)
        else:
            extras.append(header)
    guess = _guess_format([normalize_header(h) for h in headers])
    mapping = ColumnMapping(kind, fields, tuple(extras), tuple(ignored), guess, specs, stages)
    _require_columns(mapping)
    return mapping


_STAGES, _UNMAPPED = "stages", "unmapped_stages"
"""The mapping's sections beside the columns (``stages`` only when it holds an object: else it is a header)."""


def _sections(kind: Kind, override: Mapping[str, Any]) -> tuple[dict[str, str | None], StageValues | None]:
    """Split an override into its column entries and its stage values (checked for shape, not against a
    playbook: :func:`funnelbridge.ingest.history.stage_map` does that)."""
    columns = {k: v for k, v in override.items() if not _is_section(k, v)}
    bad = sorted(str(k) for k, v in columns.items() if not isinstance(k, str) or not (v is None or isinstance(v, str)))
    if bad:
        raise InputError(
            f"mapping of column(s) {', '.join(bad)}: a column maps to a field name or null", field="mapping"
        )
    sections = {k: v for k, v in override.items() if _is_section(k, v)}
    if not sections:
        return columns, None
    if kind is not Kind.CONTACTS:
        raise InputError(
            f"a mapping's {_STAGES}/{_UNMAPPED} sections apply to contacts imports, not {kind}", field=_STAGES
        )
    return columns, StageValues(_stage_pairs(sections.get(_STAGES) or {}), _unmapped(sections.get(_UNMAPPED)))


def _is_section(key: object, value: object) -> bool:
    return key == _UNMAPPED or (key == _STAGES and isinstance(value, Mapping))


def _stage_pairs(section: Mapping[Any, Any]) -> tuple[tuple[str, str | None], ...]:
    for value, stage in section.items():
        if not isinstance(value, str) or not value.strip() or not (stage is None or isinstance(stage, str)):
            raise InputError(
                f"{value!r}: {stage!r}: each entry maps a stage value (text) to a stage id or null",
                field=_STAGES,
            )
    return tuple(section.items())


def _unmapped(value: object) -> UnmappedStages:
    if value is None:
        return UnmappedStages.IGNORE
    try:
        return UnmappedStages(str(value).strip().lower())
    except ValueError:
        raise InputError(
            f"{value!r} is neither {UnmappedStages.IGNORE.value} nor {UnmappedStages.REJECT.value}",
            field=_UNMAPPED,
        ) from None


def _require_columns(mapping: ColumnMapping) -> None:
    mapped = set(mapping.fields.values())
    for group in _REQUIRED_COLUMNS[mapping.kind]:
        if not mapped & set(group):
            names = " or ".join(group)
            raise InputError(
                f"no column maps to {names} (columns: {', '.join(mapping.fields) or 'none'}; use a mapping file)",
                field=group[0],
            )


def _kind(kind: Kind | str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise InputError(
            f"unknown import kind {kind!r} (kinds: {', '.join(k.value for k in Kind)})", field="kind"
        ) from None


def load_mapping_file(path: str | Path) -> dict[str, Any]:
    """Read a mapping file: YAML or JSON object ``{"Input header": "field" | null}``, with optional ``stages``
    and ``unmapped_stages`` sections (see the module docstring; :func:`detect_mapping` checks their shape)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read mapping file: {exc.strerror}", record=str(path)) from None
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str) or _is_section(k, v)) for k, v in data.items()
    ):
        raise InputError(
            'a mapping file holds one object {"Input header": "field" or null}, optionally with a stages: section',
            record=str(path),
        )
    return data

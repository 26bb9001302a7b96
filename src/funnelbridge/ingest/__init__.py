"""Ingestion and identity: CSV/Parquet import, event intake, identity resolution and attribution.

- :func:`import_file` — import accounts, contacts, events, deals, campaigns or costs from CSV/Parquet.
- :func:`ingest_events` — validate and store event payloads (identify, track, page, form, email).
- :func:`merge` / :func:`unmerge` — merge two contacts, and undo a recorded merge.
- :func:`is_free_email` / :data:`FREE_EMAIL_DOMAINS` — the free-mail list shared with the rules.
"""

from funnelbridge.ingest.columns import ColumnMapping, Kind, detect_mapping
from funnelbridge.ingest.csvimport import import_file, preview_mapping
from funnelbridge.ingest.deadletter import Problem, Rejection
from funnelbridge.ingest.events import EVENT_TYPES, Activity, parse_payload
from funnelbridge.ingest.free_email import FREE_EMAIL_DOMAINS, email_domain, is_free_email, normalize_email
from funnelbridge.ingest.identity import MergeResult, merge, unmerge
from funnelbridge.ingest.intake import ingest_events
from funnelbridge.ingest.summary import ImportSummary, IngestSummary, Progress

__all__ = [
    "EVENT_TYPES",
    "FREE_EMAIL_DOMAINS",
    "Activity",
    "ColumnMapping",
    "ImportSummary",
    "IngestSummary",
    "Kind",
    "MergeResult",
    "Problem",
    "Progress",
    "Rejection",
    "detect_mapping",
    "email_domain",
    "import_file",
    "ingest_events",
    "is_free_email",
    "merge",
    "normalize_email",
    "parse_payload",
    "preview_mapping",
    "unmerge",
]

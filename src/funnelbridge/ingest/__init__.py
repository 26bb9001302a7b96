"""Ingestion and identity: CSV/Parquet import, event intake, identity resolution and attribution."""

from funnelbridge.ingest.free_email import FREE_EMAIL_DOMAINS, email_domain, is_free_email, normalize_email

__all__ = ["FREE_EMAIL_DOMAINS", "email_domain", "is_free_email", "normalize_email"]

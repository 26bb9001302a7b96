"""E-mail and web domains: the free-mail list behind ``is_free_email`` and the domain rule behind ``domain_in``.

Both compilers (:mod:`funnelbridge.rules.python`, :mod:`funnelbridge.rules.ibis`) use these definitions, so the
incremental and the batch path agree.
"""

from __future__ import annotations

from funnelbridge.ingest.free_email import FREE_EMAIL_DOMAINS as _INGEST_FREE_EMAIL_DOMAINS

__all__ = ["FREE_EMAIL_DOMAINS", "domain_matches", "email_domain"]

# One list for ingestion (accounts never come from free-mail domains) and both rule compilers.
FREE_EMAIL_DOMAINS: frozenset[str] = _INGEST_FREE_EMAIL_DOMAINS
"""Consumer mail providers: an address at one of them says nothing about the person's company."""


def email_domain(value: str) -> str:
    """The domain of an e-mail address (text after the last ``@``) or of a web domain, lower-cased, no ``www.``."""
    domain = value.rsplit("@", 1)[-1].strip().lower()
    return domain.removeprefix("www.")


def domain_matches(value: str, domains: tuple[str, ...] | list[str]) -> bool:
    """True when the domain of ``value`` is one of ``domains`` or a subdomain of one."""
    domain = email_domain(value)
    for candidate in domains:
        wanted = email_domain(str(candidate))
        if domain == wanted or domain.endswith("." + wanted):
            return True
    return False

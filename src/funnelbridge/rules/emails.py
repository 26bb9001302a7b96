"""E-mail and web domains: the free-mail list behind ``is_free_email`` and the domain rule behind ``domain_in``.

Both compilers (:mod:`funnelbridge.rules.python`, :mod:`funnelbridge.rules.ibis`) use these definitions, so the
incremental and the batch path agree.
"""

from __future__ import annotations

__all__ = ["FREE_EMAIL_DOMAINS", "domain_matches", "email_domain"]

FREE_EMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "gmx.com",
        "web.de",
        "t-online.de",
        "mail.com",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "zoho.com",
        "qq.com",
        "163.com",
        "126.com",
        "free.fr",
        "orange.fr",
        "laposte.net",
        "libero.it",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
    }
)
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

"""Free-mail (consumer) email domains: an address at one of these says nothing about the person's company, so it
never creates or matches an account, and the rule operator ``is_free_email`` is true for it.

The list covers the large international and regional providers, with the country variants of the families that
have them (``yahoo.co.uk``, ``hotmail.fr``, ``outlook.de``, ``gmx.at`` ...). It is one explicit set, so every
compiler of the ``is_free_email`` rule operator can test exact membership and agree with :func:`is_free_email`.
"""

from __future__ import annotations

__all__ = ["FREE_EMAIL_DOMAINS", "FREE_EMAIL_FAMILIES", "email_domain", "is_free_email", "normalize_email"]

_PROVIDERS: frozenset[str] = frozenset(
    {
        # global
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "passport.com",
        "yahoo.com",
        "ymail.com",
        "rocketmail.com",
        "aol.com",
        "aim.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "zoho.com",
        "zohomail.com",
        "mail.com",
        "email.com",
        "usa.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "gmx.at",
        "gmx.ch",
        "yandex.com",
        "yandex.ru",
        "ya.ru",
        "mail.ru",
        "inbox.ru",
        "list.ru",
        "bk.ru",
        "rambler.ru",
        "hey.com",
        "fastmail.com",
        "fastmail.fm",
        "hushmail.com",
        "mailbox.org",
        "posteo.de",
        "posteo.net",
        "disroot.org",
        "runbox.com",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "sohu.com",
        "yeah.net",
        "naver.com",
        "daum.net",
        "hanmail.net",
        "rediffmail.com",
        # Europe
        "web.de",
        "t-online.de",
        "freenet.de",
        "arcor.de",
        "online.de",
        "bluewin.ch",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "libero.it",
        "virgilio.it",
        "tiscali.it",
        "alice.it",
        "seznam.cz",
        "centrum.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "onet.pl",
        "btinternet.com",
        "sky.com",
        "virginmedia.com",
        "ntlworld.com",
        "telenet.be",
        "skynet.be",
        "ziggo.nl",
        "kpnmail.nl",
        "home.nl",
        "planet.nl",
        # Americas / other
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "bellsouth.net",
        "cox.net",
        "charter.net",
        "earthlink.net",
        "juno.com",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
        "bigpond.com",
        "optusnet.com.au",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "mailinator.com",
        "guerrillamail.com",
        "10minutemail.com",
        "yopmail.com",
    }
)
"""Free-mail domains without country variants (lower case)."""

FREE_EMAIL_FAMILIES: dict[str, tuple[str, ...]] = {
    "yahoo": ("co.uk", "fr", "de", "es", "it", "ca", "in", "co.in", "com.au", "com.br", "com.mx", "com.ar", "co.jp",
              "co.id", "com.sg", "com.ph", "ie", "se", "dk", "no", "fi", "nl", "be", "at", "ch", "pl", "gr", "ro"),
    "hotmail": ("co.uk", "fr", "de", "es", "it", "ca", "com.au", "com.br", "com.mx", "com.ar", "co.jp", "nl", "be",
                "ch", "at", "se", "dk", "no", "fi", "gr", "co.za", "co.in"),
    "outlook": ("fr", "de", "es", "it", "com.br", "com.au", "co.uk", "jp", "in", "at", "be", "dk", "ie", "sa", "sk"),
    "live": ("co.uk", "fr", "de", "nl", "it", "ca", "com.au", "com.mx", "com.ar", "be", "at", "ch", "se", "dk", "no",
             "ie", "jp", "cl", "in"),
    "gmx": ("at", "ch", "fr", "es", "it", "co.uk", "us"),
    "aol": ("co.uk", "fr", "de", "it", "es"),
    "ymail": ("co.uk",),
    "msn": ("co.uk",),
}  # fmt: skip
"""Providers with country variants: every ``<family>.<suffix>`` listed here is part of the free-mail list."""

FREE_EMAIL_DOMAINS: frozenset[str] = _PROVIDERS | frozenset(
    f"{family}.{suffix}" for family, suffixes in FREE_EMAIL_FAMILIES.items() for suffix in suffixes
)
"""Every free-mail domain (lower case): exact membership, so a set-membership test (``isin`` in Ibis) and
:func:`is_free_email` agree."""


def normalize_email(email: str | None) -> str | None:
    """Trim and lower-case an address; None (or empty) stays None. Does not validate."""
    if email is None:
        return None
    text = email.strip().lower()
    return text or None


def email_domain(email: str | None) -> str | None:
    """The domain part of an address (lower case), or None when there is none."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return domain or None


def is_free_email(email: str | None) -> bool:
    """True when ``email`` (an address, or a bare domain) is at a free-mail provider. None/empty is False."""
    if not email:
        return False
    domain = email_domain(email) if "@" in email else email.strip().lower().rstrip(".")
    return domain in FREE_EMAIL_DOMAINS

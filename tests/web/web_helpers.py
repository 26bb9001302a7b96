"""Helpers shared by the web tests."""

from __future__ import annotations

import re


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)

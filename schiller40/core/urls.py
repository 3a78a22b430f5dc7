"""Where it is safe to send someone after a form: only paths on this site."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Browsers drop tabs and newlines inside URLs, so "/\t/evil.example" becomes
# "//evil.example" (another host). Remove them before judging the target.
_IGNORED_BY_BROWSERS = re.compile(r"[\t\r\n]")


def safe_redirect_target(target: str | None, fallback: str) -> str:
    """``target`` if it is a path on this site, else ``fallback`` (no open redirect)."""
    if not target:
        return fallback
    cleaned = _IGNORED_BY_BROWSERS.sub("", target)
    parts = urlsplit(cleaned)
    if (
        cleaned.startswith("/")
        and not cleaned.startswith("//")
        and "\\" not in cleaned
        and not parts.scheme
        and not parts.netloc
    ):
        return cleaned
    return fallback

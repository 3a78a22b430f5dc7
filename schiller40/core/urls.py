"""Where it is safe to send someone after a form: only paths on this site."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request

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


def public_base() -> str:
    """The site's address for links that leave the page (feeds, mails, payment returns):
    ``PUBLIC_URL`` when set, else the request's own root; without a request, "" (a path
    alone). Without a trailing slash."""
    public = str(current_app.config.get("PUBLIC_URL") or "")
    if not public and has_request_context():
        public = request.url_root
    return public.rstrip("/")

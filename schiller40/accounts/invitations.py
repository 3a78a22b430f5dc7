"""The secret link of an invitation to a company.

``token = HMAC-SHA256(secret key, "company-invitation:" + nonce)``, URL-safe. The row keeps
the random nonce and the token's SHA-256 digest (to find it by, as ``tokens.py`` finds API
tokens), never the token: the worker makes it again when it composes the mail, as
``links.py`` does for the account's links. So neither the outbox (it holds only the
invitation's id) nor a database dump gives anyone a usable link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

MAX_TOKEN_LENGTH = 100


def new_nonce() -> str:
    return secrets.token_hex(16)


def token_for(nonce: str, secret_key: str) -> str:
    mac = hmac.new(secret_key.encode(), f"company-invitation:{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def plausible(token: str) -> bool:
    """Garbage is refused before any query."""
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH

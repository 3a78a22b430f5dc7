"""The one normal form of an e-mail address.

In ``core`` because both accounts (storing and looking up users) and the log-in lockout in
``core.ratelimit`` (keying its counters) need the same form, and core imports no feature.
"""

from __future__ import annotations


def normalize_email(email: str) -> str:
    """The form under which an address is stored and looked up.

    Addresses are unique case-insensitively: ``Anna@Example.org`` and ``anna@example.org`` are one
    person in practice, whatever RFC 5321 allows for local parts.
    """
    return email.strip().lower()

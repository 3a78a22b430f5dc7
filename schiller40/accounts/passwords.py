"""Password strength: long enough and not one of the passwords attackers try first.

Length beats composition rules (NIST SP 800-63B), so we ask for 10 characters and refuse
well-known, repetitive or personal choices instead of demanding digits and symbols.
"""

from __future__ import annotations

import re
from itertools import pairwise

from flask_babel import lazy_gettext as _l

MIN_LENGTH = 10
MAX_LENGTH = 200

# Frequent entries of public leaked-password lists at 10+ characters, plus German favourites.
COMMON = frozenset(
    {
    "1234567890", "0123456789", "0987654321", "1234512345", "1111111111", "1212121212",
    "1122334455", "1q2w3e4r5t", "1qaz2wsx3edc", "qwertyuiop", "qwertzuiop", "asdfghjkla",
    "asdfghjkl1", "yxcvbnm123", "password12", "password123", "password1234", "passwort12",
    "passwort123", "passwort1234", "iloveyou12", "princess12", "football12", "fussball12",
    "basketball", "baseball12", "1234qwer5678", "abcdefghij", "abcdef1234", "abc1234567",
    "qwerty1234", "qwerty12345", "qwertz1234", "qwertz12345", "letmein123", "welcome123",
    "willkommen", "willkommen1", "willkommen123", "hallo12345", "hallo123456", "sommer2024",
    "sommer2025", "sommer2026", "winter2024", "winter2025", "winter2026", "schiller40",
    "schiller40!", "wolfsburg1", "wolfsburg123", "coworking1", "coworking123", "superman12",
    "administrator", "admin12345", "admin123456", "changeme123", "trustno1234", "monkey1234",
    "dragon1234", "master1234", "starwars12", "pokemon123", "michael123", "daniel1234",
    "thomas1234", "dennis1234", "sebastian1",
    }
)


def weakness(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why this password is too weak, or None if it is acceptable."""
    if len(password) < MIN_LENGTH:
        return str(_l("Use at least %(n)d characters.", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        return str(_l("Use at most %(n)d characters.", n=MAX_LENGTH))
    lowered = password.lower()
    if lowered in COMMON:
        return str(_l("This password is one of the most common ones. Choose another."))
    if len(set(password)) <= 3:
        return str(_l("This password repeats too few characters. Choose another."))
    if _is_sequence(lowered):
        return str(_l("This password is a simple sequence. Choose another."))
    if _too_personal(lowered, email=email, name=name):
        return str(_l("This password is too close to your name or e-mail address."))
    return None


# A personal word must be this long to count (shorter ones, like "Bob", are too common), and
# a password must keep this many characters once every personal word is taken out.
PERSONAL_WORD_MIN = 4
PERSONAL_REST_MIN = 6
_SEPARATORS = re.compile(r"[\s._+\-]+")


def _too_personal(lowered: str, *, email: str, name: str) -> bool:
    """True if little is left of the password once the member's name and address are removed.

    Every personal word is removed, longest first, and what remains is measured. (Measuring
    the password against only the longest personal word refused "anna-rides-bikes" for
    anna.schmidt@... and accepted "Johanna-Berger" for Johanna Berger.) The e-mail local part
    and double-barrelled names count whole and by their parts ("j.bergmann" -> "bergmann").
    """
    local = email.split("@")[0].lower()
    words = {local, *_SEPARATORS.split(local), *_SEPARATORS.split(name.lower())}
    words = {w for w in words if len(w) >= PERSONAL_WORD_MIN}
    rest = lowered
    for word in sorted(words, key=len, reverse=True):
        rest = rest.replace(word, "")
    return rest != lowered and len(rest) < PERSONAL_REST_MIN


def _is_sequence(text: str) -> bool:
    """True for runs like 'abcdefghij', '9876543210' or 'aaaabbbbcc'-free ascending patterns."""
    if not re.fullmatch(r"[a-z0-9]+", text):
        return False
    steps = {ord(b) - ord(a) for a, b in pairwise(text)}
    return steps <= {1} or steps <= {-1}

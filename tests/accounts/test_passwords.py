"""The password checker: long enough, not common, not a pattern, not the member's own name.

Pure function, so no app and no database: these run once, not per backend.
"""

from __future__ import annotations

import pytest

from schiller40.accounts.passwords import COMMON, MAX_LENGTH, MIN_LENGTH, weakness

# Fragments of each refusal message (the English msgids; outside an app context nothing is
# translated), so a test fails if a password is refused for the wrong reason.
TOO_SHORT = "at least 10 characters"
TOO_LONG = "at most 200 characters"
COMMON_ONE = "most common ones"
REPETITIVE = "repeats too few characters"
SEQUENCE = "simple sequence"
PERSONAL = "too close to your name or e-mail"

P200 = ("correct horse battery staple " * 7)[:200]


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        pytest.param("", TOO_SHORT, id="empty"),
        pytest.param("Tr4m-Bus!", TOO_SHORT, id="9-chars"),
        pytest.param("x" * 9, TOO_SHORT, id="9-chars-repetitive-reports-length-first"),
        pytest.param("Tr4m-Bus!k", None, id="10-chars-ok"),
        pytest.param("password123", COMMON_ONE, id="common"),
        pytest.param("PassWord123", COMMON_ONE, id="common-mixed-case"),
        pytest.param("WILLKOMMEN", COMMON_ONE, id="common-german-upper-case"),
        pytest.param("qwertzuiop", COMMON_ONE, id="common-keyboard-row"),
        pytest.param("aaaaaaaaaa", REPETITIVE, id="one-character"),
        pytest.param("abababababab", REPETITIVE, id="two-characters"),
        pytest.param("AaAaAaAaAaAa", REPETITIVE, id="two-characters-mixed-case"),
        pytest.param("abcabcabcabc", REPETITIVE, id="three-characters"),
        pytest.param("abcdefghij", COMMON_ONE, id="alphabet-is-on-the-common-list"),
        pytest.param("bcdefghijk", SEQUENCE, id="ascending-letters"),
        pytest.param("KLMNOPQRSTU", SEQUENCE, id="ascending-upper-case"),
        pytest.param("9876543210", SEQUENCE, id="descending-digits"),
        pytest.param("correct horse battery staple", None, id="passphrase"),
        pytest.param("Straßenbahn fährt um 7", None, id="non-ascii-passphrase"),
        pytest.param(P200, None, id="200-chars-ok"),
        pytest.param(P200 + "!", TOO_LONG, id="201-chars"),
        pytest.param("correct horse " * 50, TOO_LONG, id="700-chars"),
    ],
)
def test_weakness(password, expected):
    reason = weakness(password)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason


def test_length_limits_are_the_documented_ones():
    assert (MIN_LENGTH, MAX_LENGTH) == (10, 200)
    assert len(P200) == 200


def test_every_common_password_is_refused_in_any_case():
    for password in COMMON:
        for variant in (password, password.upper(), password.title()):
            assert weakness(variant) is not None, variant


@pytest.mark.parametrize(
    ("password", "email", "name", "expected"),
    [
        pytest.param("maximilian2026", "maximilian@example.org", "", PERSONAL,
                     id="email-local-part-plus-year"),
        pytest.param("MAXIMILIAN!!", "maximilian@example.org", "", PERSONAL,
                     id="email-local-part-any-case"),
        pytest.param("Bergmann1234", "", "Jana Bergmann", PERSONAL, id="surname-plus-digits"),
        pytest.param("Jana-Bergmann", "", "Jana Bergmann", PERSONAL, id="full-name"),
        pytest.param("janabergmann!", "jb@example.org", "Jana Bergmann", PERSONAL,
                     id="full-name-run-together"),
        pytest.param("anna.schmidt42", "anna.schmidt@example.org", "", PERSONAL,
                     id="whole-local-part-with-dot"),
        # Regression: only the longest personal word was considered, so a full name made of
        # two long words ("johanna" + "berger" leave 7 characters each) was accepted.
        pytest.param("Johanna-Berger", "", "Johanna Berger", PERSONAL,
                     id="full-name-with-long-parts"),
        # Regression: the local part was only matched whole, so "j.bergmann" did not count.
        pytest.param("bergmann2026!", "j.bergmann@example.org", "", PERSONAL,
                     id="surname-from-dotted-email"),
        pytest.param("Lüdenscheidt-2026", "", "Karl Müller-Lüdenscheidt", PERSONAL,
                     id="part-of-double-barrelled-name"),
        # Enough besides the name: a passphrase that happens to contain it is fine.
        pytest.param("maximilian rides the tram", "maximilian@example.org", "", None,
                     id="name-inside-a-passphrase"),
        # Regression: the leftover was measured against the *longest* personal word, not the
        # one found, so a short first name in a good password was refused whenever the e-mail
        # local part was long.
        pytest.param("anna-rides-bikes", "anna.schmidt@example.org", "Anna Schmidt", None,
                     id="short-name-long-email"),
        # Words shorter than 4 characters are too common to count as personal.
        pytest.param("bob-likes-tea", "bob@example.org", "Bob Li", None, id="short-names-ignored"),
        pytest.param("Tr4m-Bus!k", "", "", None, id="no-personal-data"),
    ],
)
def test_close_to_name_or_email(password, email, name, expected):
    reason = weakness(password, email=email, name=name)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason


def test_personal_check_needs_the_personal_data():
    """The same password is fine for someone else: the refusal is about the person."""
    assert weakness("maximilian2026", email="maximilian@example.org") is not None
    assert weakness("maximilian2026", email="jana@example.org", name="Jana Berg") is None


def test_production_hashes_passwords_with_scrypt(monkeypatch):
    """The suite lowers the hash cost for speed (conftest); the shipped default is scrypt."""
    from pathlib import Path

    from schiller40.accounts import models

    source = Path(models.__file__).read_text(encoding="utf-8")
    assert 'PASSWORD_HASH_METHOD = "scrypt"' in source
    monkeypatch.setattr(models, "PASSWORD_HASH_METHOD", "scrypt")
    assert models.hash_password("correct horse battery").startswith("scrypt:")

"""Checks shared by the booking mail tests: one message as the SMTP server received it."""

from __future__ import annotations

import html as html_module
import re
from email.message import EmailMessage
from html.parser import HTMLParser

from flask_babel import force_locale, gettext

from schiller40.extensions import db

from ..mailbox import body


def tr(msgid: str, locale: str, **values) -> str:
    """The translation the member should read (values are filled in as the app fills them)."""
    with force_locale(locale):
        return gettext(msgid, **values)


def set_locale(user, locale: str) -> None:
    user.locale = locale
    db.session.commit()


VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}


class _Balance(HTMLParser):
    """Every element closed, in order (void elements aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


def well_formed(html: str) -> None:
    parser = _Balance()
    parser.feed(html)
    parser.close()
    assert parser.open == [], f"left open: {parser.open}"


def readable(message: EmailMessage, *, to: str, locale: str, subject: str,
             says: list[str], link: str | None = None) -> tuple[str, str]:
    """Addressed to ``to``, with ``subject``, greeting in ``locale``; the plain text and the
    HTML (as read: tags removed, entities decoded) both say each of ``says``, and both link
    to ``link``. Answers (text, html)."""
    assert message["To"].addresses[0].addr_spec == to
    assert message["Subject"] == subject
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = body(message), body(message, "html")
    # Greeting in the reader's language: "Hallo" / "Hello".
    greeting = "Hallo" if locale == "de" else "Hello"
    assert text.startswith(greeting) and f"<p>{greeting}" in html
    for leftover in ("{{", "}}", "{%", "%}", "%(", "{#"):
        assert leftover not in text, f"template syntax {leftover!r} left in the text body"
        assert leftover not in html, f"template syntax {leftover!r} left in the HTML body"
    plain_html = html_module.unescape(html)
    # What a reader sees of the HTML: the tags removed, the entities decoded.
    seen = html_module.unescape(re.sub(r"<[^>]+>", "", html))
    flat_text, flat_html = " ".join(text.split()), " ".join(seen.split())
    for phrase in says:
        phrase = " ".join(phrase.split())
        assert phrase in flat_text, f"{phrase!r} not in the text body:\n{text}"
        assert phrase in flat_html, f"{phrase!r} not in the HTML body:\n{html}"
    assert html.lstrip().startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    well_formed(html)
    assert f'<html lang="{locale}">' in html
    if link is not None:
        assert link in text
        assert f'href="{link}' in plain_html
    return text, html


def time_text(start, end, locale: str) -> str:
    """A booking's time as the mails show it, in ``locale``."""
    from schiller40.templating import time_range

    with force_locale(locale):
        return time_range(start, end)


def money_text(cents: int, locale: str) -> str:
    from schiller40.core.money import money

    with force_locale(locale):
        return money(cents)

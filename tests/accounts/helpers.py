"""Helpers for the account page and privacy tests: a logged-in browser, paying on the
simulated checkout, messages as the page shows them in either language."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_babel import force_locale, gettext, ngettext

from tests.factories import PASSWORD
from tests.html import page


def norm(text: str) -> str:
    """Whitespace as the page reader sees it (no-break spaces in amounts included)."""
    return " ".join(text.split())


def tr(msgid: str, locale: str = "de", **values) -> str:
    """A message as the page shows it in that language (whatever the translators wrote)."""
    with force_locale(locale):
        return norm(gettext(msgid, **values))


def trn(singular: str, plural: str, n: int, locale: str = "de", **values) -> str:
    with force_locale(locale):
        return norm(ngettext(singular, plural, n, **values))


def text_of(response) -> str:
    return norm(page(response).text)


def browser(app, user, password: str = PASSWORD, language: str | None = None):
    """A client logged in as ``user`` (a browser of its own, with its own cookies)."""
    client = app.test_client()
    if language:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.data[:300]
    return client


def pay(member, booking_id: int) -> None:
    """Pay now, pay on the simulated checkout, come back: the whole round as a browser."""
    response = member.post(f"/bookings/{booking_id}/pay")
    assert response.status_code == 303, response.data[:300]
    checkout = urlsplit(response.headers["Location"]).path
    back = member.post(checkout, data={"action": "pay"})
    assert back.status_code == 303
    assert member.get(back.headers["Location"]).status_code == 302


def mail_link(message, prefix: str) -> str:
    """The path of the one link starting with ``prefix`` ("/account/verify/") in a mail's
    text body, as a member would click it: the same link must be in the HTML body too."""
    import re

    from tests.mailbox import body

    found = re.findall(r"https?://\S+", body(message))
    links = [u for u in found if urlsplit(u).path.startswith(prefix)]
    assert len(links) == 1, found
    assert links[0] in body(message, "html").replace("&amp;", "&")
    return urlsplit(links[0]).path

"""Helpers of the staff calendar, block and approval tests (the shared ones, such as
``book_hours``, ``fresh`` and ``tr``, are in tests/helpers.py)."""

from __future__ import annotations

from flask.testing import FlaskClient

from schiller40.extensions import db
from tests.html import page

WEEK = "2026-W48"  # the frozen clock's week (tests/helpers.py: MON to SUN)


def errors_of(response, field_id: str) -> list[str]:
    """The error messages tied to a field (its aria-describedby error list)."""
    html = page(response)
    box = html.by_id(f"{field_id}-error")
    if box is None:
        return []
    return [li.text for li in html.elements if li.tag == "li" and li in _children(html, box)]


def _children(html, box):
    start = html.elements.index(box)
    out = []
    for element in html.elements[start + 1:]:
        if element.tag == "ul":
            break
        out.append(element)
    return out


def flashes(client: FlaskClient, response) -> str:
    """Follow a redirect and read the status messages shown."""
    assert response.status_code in (302, 303), response.data[:500]
    shown = client.get(response.headers["Location"])
    html = page(shown)
    return " ".join(" ".join(p.text.split()) for p in html.find_all("p")
                    if (p.attrs.get("class") or "").startswith("flash"))


def in_english(user) -> None:
    """A logged-in user's saved language wins over the cookie: switch theirs to English."""
    user.locale = "en"
    db.session.commit()

"""The embedded default writes mail to a folder, readable at /dev/mail; never in production
or while SMTP is configured."""

from __future__ import annotations

import pytest

from schiller40.extensions import db
from schiller40.mail.backends import FolderBackend
from schiller40.worker.delivery import deliver
from tests.helpers import TUE, at, book


@pytest.fixture
def app_config(tmp_path):
    return {"MAIL_BACKEND": "folder", "MAIL_FOLDER": str(tmp_path / "mail")}


def test_messages_are_written_to_the_folder_and_shown(app, client, place, clock, tmp_path):
    outcome = book(place.member, clock, resource_slug="studio", start=at(TUE, 10),
                   end=at(TUE, 11))
    db.session.commit()
    assert deliver(db.session, worker="w", clock=clock,
                   backend=FolderBackend(app.config["MAIL_FOLDER"])).sent == 1
    [eml] = list((tmp_path / "mail").glob("*.eml"))
    listing = client.get("/dev/mail/").get_data(as_text=True)
    assert place.member.email in listing and eml.name in listing
    shown = client.get(f"/dev/mail/{eml.name}").get_data(as_text=True)
    assert f"/bookings/{outcome.bookings[0].id}" in shown
    html = client.get(f"/dev/mail/{eml.name}/html")
    assert html.status_code == 200 and html.content_type.startswith("text/html")
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]
    ics = client.get(f"/dev/mail/{eml.name}/attachments/0")
    assert ics.content_type.startswith("text/calendar")
    assert b"METHOD:REQUEST" in ics.data


def test_newest_first_also_with_ten_or_more_mails_in_a_second(client, place, tmp_path):
    """Issue 17: the list sorted the names as text, so within one second mail 10 came
    after mail 9 and 100 after 99."""
    folder = tmp_path / "mail"
    folder.mkdir()
    names = [f"20261123T080000-{n}.eml" for n in (8, 9, 10, 11, 99, 100)]
    names += ["20261123T075959-120.eml", "20261123T080001-7.eml"]
    for name in names:
        (folder / name).write_bytes(b"Subject: hello\r\nTo: a@example.org\r\n\r\nhi\r\n")
    listing = client.get("/dev/mail/").get_data(as_text=True)
    order = sorted(names, key=listing.index)
    assert order == [
        "20261123T080001-7.eml", "20261123T080000-100.eml", "20261123T080000-99.eml",
        "20261123T080000-11.eml", "20261123T080000-10.eml", "20261123T080000-9.eml",
        "20261123T080000-8.eml", "20261123T075959-120.eml",
    ]


@pytest.mark.parametrize("name", ["../secret_key", "x.eml", "20261123T080000-1.eml",
                                  "20261123T080000-1.eml%00"])
def test_unknown_or_malformed_names_are_404(client, place, name):
    assert client.get(f"/dev/mail/{name}").status_code == 404


def test_an_empty_folder_says_so(client, place):
    response = client.get("/dev/mail/")
    assert response.status_code == 200
    assert "Noch keine Mail" in response.get_data(as_text=True)


def test_not_available_when_smtp_is_used(app, client, place):
    app.config["MAIL_PROVIDER"] = "smtp"
    assert client.get("/dev/mail/").status_code == 404


def test_only_from_the_machine_itself_or_for_staff(app, client, place):
    from tests.factories import PASSWORD

    remote = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/dev/mail/", environ_base=remote).status_code == 404
    staff = app.test_client()
    assert staff.post("/login", data={"email": place.staff.email, "password": PASSWORD},
                      environ_base=remote).status_code == 302
    assert staff.get("/dev/mail/", environ_base=remote).status_code == 200

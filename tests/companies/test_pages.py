"""The company pages: founding one from the account, the manager's team page (caps, use,
invitations, removal), the invitation mail and its link, leaving; the staff's pages."""

from __future__ import annotations

from sqlalchemy import select

from schiller40.accounts.models import Company, CompanyInvitation, User
from schiller40.extensions import db
from tests.helpers import browser, fresh, log_in, mail_link, text_of, tr
from tests.mailbox import body

from ..mail.helpers import run_tick

COMPANY = {"name": "Wolfsbyte", "legal_name": "Wolfsbyte GmbH", "street": "Schillerstr. 40",
           "postal_code": "38440", "city": "Wolfsburg", "country": "DE",
           "vat_id": "DE136695976", "invoice_email": "rechnung@wolfsbyte.example",
           "leitweg_id": ""}


def found(app, member) -> tuple:
    mia = browser(app, member)
    answer = mia.post("/company/new", data=COMPANY)
    assert answer.status_code == 302, text_of(answer)
    return mia, db.session.scalars(select(Company)).one()


def test_a_member_without_company_is_offered_to_found_one(app, place):
    mia = browser(app, place.member)
    page = text_of(mia.get("/company"))
    assert tr("You belong to no company: you book on your own membership's included "
              "credit.") in page
    assert tr("Set up a company or join one") in text_of(mia.get("/account"))


def test_a_bad_vat_id_is_shown_beside_its_field_and_nothing_is_made(app, place):
    mia = browser(app, place.member)
    answer = mia.post("/company/new", data={**COMPANY, "vat_id": "DE136695977"})
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.get_data(as_text=True)
    assert tr("This VAT ID's check digits are wrong. Please check the number.") in text_of(
        answer)
    assert db.session.scalars(select(Company)).all() == []


def test_invite_by_mail_accept_set_caps_and_remove(app, client, factory, place, clock, inbox):
    ina = factory.user(tier=place.tier, email="ina@example.org", name="Ina Invited")
    db.session.commit()
    mia, company = found(app, place.member)
    page = text_of(mia.get("/company"))
    assert tr("You manage this company.") in page
    assert "Wolfsbyte GmbH" in page and "DE136695976" in page

    assert mia.post("/company/invite", data={"email": "Ina@Example.org"}).status_code == 302
    run_tick(clock)
    message = inbox.only()
    assert message["To"].addresses[0].addr_spec == "ina@example.org"
    assert "Wolfsbyte" in message["Subject"] and message["Content-Language"] == "de"
    link = mail_link(message, "/company/join/")
    assert fresh(CompanyInvitation, 1).digest not in body(message)

    # Not logged in: the page says how to accept; the link stays usable.
    anonymous = app.test_client()
    assert tr("Log in") in text_of(anonymous.get(link))
    assert anonymous.get(link).headers["Referrer-Policy"] == "no-referrer"
    # Logged in with another address: refused, nothing changes.
    assert mia.post(link).status_code == 302
    assert fresh(User, place.member.id).company_id == company.id
    assert fresh(User, ina.id).company_id is None

    log_in(client, ina)
    assert tr("Join %(company)s", company="Wolfsbyte") in text_of(client.get(link))
    assert client.post(link).headers["Location"].endswith("/company")
    assert fresh(User, ina.id).company_id == company.id
    assert tr("You are a member of this company.") in text_of(client.get("/company"))
    assert client.get(link).status_code == 400  # once only

    # The manager sets Ina's caps and sees the team; Ina may not.
    answer = mia.post(f"/company/members/{ina.id}/caps",
                      data={f"m{ina.id}-cap_desk_days": "2", f"m{ina.id}-cap_studio_hours": ""})
    assert answer.status_code == 302
    assert fresh(User, ina.id).company_cap_desk_days == 2
    page = text_of(mia.get("/company"))
    assert "Ina Invited" in page and tr("Desk days used") in page
    assert client.post(f"/company/members/{place.member.id}/caps",
                       data={f"m{place.member.id}-cap_desk_days": "0"}).status_code == 403
    assert client.get("/company/details").status_code == 403

    mia.post(f"/company/members/{ina.id}/remove")
    assert fresh(User, ina.id).company_id is None


def test_the_page_in_english(app, factory, place):
    place.member.locale = "en"
    db.session.commit()
    mia, _company = found(app, place.member)
    page = text_of(mia.get("/company"))
    assert "You manage this company." in page and "Invite a member" in page


def test_leaving_keeps_the_last_manager_of_a_team(app, factory, place):
    mia, company = found(app, place.member)
    ina = factory.user(tier=place.tier)
    ina.join_company(db.session.get(Company, company.id))
    db.session.commit()
    mia.post("/company/leave")
    assert fresh(User, place.member.id).company_id == company.id
    ina_browser = browser(app, ina)
    ina_browser.post("/company/leave")
    assert fresh(User, ina.id).company_id is None


def test_staff_edit_billing_data_and_managers(app, factory, place):
    company = factory.company(name="Alpha")
    ina = factory.user(tier=place.tier, name="Ina")
    ina.join_company(company)
    db.session.commit()
    staff = browser(app, place.staff)
    assert "Alpha" in text_of(staff.get("/staff/companies"))
    bad = staff.post(f"/staff/companies/{company.id}",
                     data={**COMPANY, "name": "Alpha", "leitweg_id": "04011000-1234512345-07"})
    assert bad.status_code == 422
    assert tr("This Leitweg-ID's check digits are wrong. Please check it.") in text_of(bad)
    good = staff.post(f"/staff/companies/{company.id}",
                      data={**COMPANY, "name": "Alpha", "leitweg_id": "04011000-1234512345-06"})
    assert good.status_code == 302
    assert fresh(Company, company.id).leitweg_id == "04011000-1234512345-06"
    staff.post(f"/staff/companies/{company.id}/members/{ina.id}/manager", data={"manager": "1"})
    assert fresh(User, ina.id).is_company_manager
    assert staff.post("/staff/companies/new", data={**COMPANY, "name": "Gamma"}).status_code == 302

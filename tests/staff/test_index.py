"""The staff start page: staff only; members and strangers do not learn it exists."""

from __future__ import annotations

from tests.html import page


def test_staff_see_the_staff_start_page_and_the_nav_link(staff_browser):
    response = staff_browser.get("/staff/")
    assert response.status_code == 200
    html = page(response)
    assert html.find_all("h1")[0].text == "Mitarbeitende"
    assert any(a.attrs.get("href") == "/staff/" for a in html.find_all("a"))


def test_a_member_gets_404_and_no_nav_link(member_browser):
    assert member_browser.get("/staff/").status_code == 404
    html = page(member_browser.get("/"))
    assert not any(a.attrs.get("href") == "/staff/" for a in html.find_all("a"))


def test_a_stranger_is_sent_to_log_in(client):
    response = client.get("/staff/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]

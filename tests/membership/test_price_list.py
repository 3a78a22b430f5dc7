"""The public price list: the page ``/tarife`` and ``GET /api/v1/tiers``, for visitors.

Both show the active tiers in ``position`` order, never an inactive one, with the monthly fee,
the credit included each month, the kinds the tier may book and the prices beyond the credit.
The German page is checked through ``tr``/``trn``, so it holds before and after the
catalogue has the new strings.
"""

from __future__ import annotations

from flask.testing import FlaskClient
from flask_babel import force_locale

from schiller40.core.money import money
from schiller40.membership.models import SignupMode
from schiller40.models import ResourceKind
from tests.api.openapi_check import check
from tests.factories import Factory
from tests.helpers import log_in, norm, text_of, tr, trn
from tests.html import page
from tests.test_demo import seed


def tiers(factory: Factory):
    """Three tiers out of creation order (position decides), and one inactive tier."""
    late = factory.tier(slug="resident", name="Resident", position=2, monthly_price_cents=22900)
    early = factory.tier(
        slug="flex", name="Flex", position=1, description="Acht Tage im Monat.",
        monthly_price_cents=8900, included_desk_days=8, included_studio_hours=2,
        booking_horizon_days=30, max_future_bookings=10,
        signup_mode=SignupMode.SELF_SERVICE, notice_days=14,
    )
    free = factory.tier(
        slug="day-pass", name="Tagespass", position=0, monthly_price_cents=0,
        included_desk_days=0, included_studio_hours=0,
        prices={ResourceKind.DESK: (None, 900, 1500)}, signup_mode=SignupMode.SELF_SERVICE,
    )
    gone = factory.tier(slug="old", name="Altvertrag", position=0, is_active=False)
    return free, early, late, gone


def amount(cents: int, locale: str) -> str:
    with force_locale(locale):
        return norm(money(cents))


def english(client: FlaskClient) -> None:
    client.post("/language", data={"lang": "en", "next": "/"})


def test_the_page_lists_active_tiers_in_order_without_log_in(client, factory):
    *_, gone = tiers(factory)
    response = client.get("/tarife")
    assert response.status_code == 200
    html = page(response)
    headings = [h.text for h in html.find_all("h2") if h.attrs.get("id", "").startswith("tier-")]
    assert headings == ["Tagespass", "Flex", "Resident"]
    assert gone.name not in text_of(response)
    [h1] = html.find_all("h1")
    assert h1.text == tr("Prices and tiers")


def test_the_page_shows_prices_and_included_credit_in_german(client, factory):
    tiers(factory)
    response = client.get("/tarife")
    text = text_of(response)
    section = page(response).by_id("tier-flex")
    assert section is not None
    assert "Acht Tage im Monat." in text
    assert amount(8900, "de") in text
    assert trn("%(num)d desk day", "%(num)d desk days", 8) in text
    assert trn("%(num)d studio hour", "%(num)d studio hours", 2) in text
    assert trn("%(num)d day", "%(num)d days", 30) in text
    assert tr("at most %(n)d at a time", n=10) in text
    assert tr("All prices are gross, including %(vat)d %% VAT.", vat=19) in text
    for cents in (700, 1200, 3500):
        assert amount(cents, "de") in text
    # A tier without a fee says so; units not sold say so too.
    assert tr("no monthly fee") in text
    assert tr("not sold") in text


def test_each_price_has_its_unit_as_row_header_and_its_kind_as_caption(client, factory):
    tiers(factory)
    html = page(client.get("/tarife"))
    tables = html.find_all("table")
    # Tagespass: desks; Flex and Resident: desks, studios, rooms.
    assert len(tables) == 1 + 3 + 3
    captions = [c.text for c in html.find_all("caption")]
    assert captions[0].startswith(tr("Desks"))
    row_headers = [th.text for th in html.find_all("th", scope="row")]
    assert row_headers[:3] == [tr("per hour"), tr("per half day"), tr("per day")]
    assert [th.text for th in html.find_all("th", scope="col")][:2] == [tr("Unit"), tr("Price")]


def test_the_page_in_english(client, factory):
    tiers(factory)
    english(client)
    response = client.get("/tarife")
    text = text_of(response)
    assert page(response).find_all("html")[0].attrs["lang"] == "en"
    assert "Prices and tiers" in text
    assert amount(8900, "en") in text and amount(1500, "en") in text
    assert "8 desk days" in text and "2 studio hours" in text
    assert "no monthly fee" in text
    assert "How to become a member" in text


def test_the_page_ends_with_how_to_join_and_links(client, factory):
    tiers(factory)
    html = page(client.get("/tarife"))
    links = {a.attrs.get("href") for a in html.find_all("a")}
    assert {"/register", "/resources"} <= links
    assert html.by_id("join-heading").text == tr("How to become a member")


def test_the_navigation_and_the_start_page_link_to_it(client, factory):
    for path in ("/", "/resources"):
        hrefs = [a.attrs.get("href") for a in page(client.get(path)).find_all("a")]
        assert "/tarife" in hrefs, path
    start = [a.attrs.get("href") for a in page(client.get("/")).find_all("a")]
    assert start.count("/tarife") == 2  # the navigation and the start page's own link


def test_a_member_sees_the_same_page(client, factory):
    free, *_ = tiers(factory)
    member = factory.user(tier=free)
    log_in(client, member)
    response = client.get("/tarife")
    assert response.status_code == 200
    assert "Tagespass" in text_of(response)


def test_without_tiers_the_page_says_so(client, factory):
    response = client.get("/tarife")
    assert response.status_code == 200
    assert tr("No tiers are offered at the moment. Please ask the Schiller40 team.") in (
        text_of(response)
    )


def test_the_api_lists_active_tiers_without_a_token(client, factory):
    tiers(factory)
    response = client.get("/api/v1/tiers")
    assert response.status_code == 200
    body = response.get_json()
    check("GET", "/api/v1/tiers", 200, body)
    assert body["currency"] == "EUR"
    assert body["vat_percent"] == 19
    assert body["prices_include_vat"] is True
    assert [t["slug"] for t in body["tiers"]] == ["day-pass", "flex", "resident"]
    flex = body["tiers"][1]
    assert flex == {
        "slug": "flex", "name": "Flex", "description": "Acht Tage im Monat.",
        "monthly_price_cents": 8900,
        "included": {"desk_days": 8, "studio_hours": 2},
        "booking_horizon_days": 30, "max_future_bookings": 10,
        "signup_mode": "self_service", "notice_days": 14,
        "kinds": [
            {"kind": "desk", "price_hour_cents": None, "price_half_day_cents": 700,
             "price_day_cents": 1200},
            {"kind": "studio", "price_hour_cents": 3500, "price_half_day_cents": None,
             "price_day_cents": None},
            {"kind": "room", "price_hour_cents": 1200, "price_half_day_cents": None,
             "price_day_cents": None},
        ],
    }
    assert body["tiers"][0]["kinds"] == [{"kind": "desk", "price_hour_cents": None,
                                          "price_half_day_cents": 900,
                                          "price_day_cents": 1500}]


def test_the_api_without_tiers(client, factory):
    body = client.get("/api/v1/tiers").get_json()
    check("GET", "/api/v1/tiers", 200, body)
    assert body["tiers"] == []


def test_the_demo_tiers_render(cli, client, factory):
    seed(cli)
    response = client.get("/tarife")
    assert response.status_code == 200
    text = text_of(response)
    html = page(response)
    headings = [h.text for h in html.find_all("h2") if h.attrs.get("id", "").startswith("tier-")]
    assert headings == ["Tagespass", "Flex", "Resident", "Startup"]
    assert amount(22900, "de") in text
    body = client.get("/api/v1/tiers").get_json()
    check("GET", "/api/v1/tiers", 200, body)
    assert [t["slug"] for t in body["tiers"]] == ["day-pass", "flex", "resident", "startup"]


def tier_section(html, slug: str) -> str:
    [section] = html.find_all("section", **{"aria-labelledby": f"tier-{slug}"})
    return section.text


def test_each_tier_says_its_notice_and_how_to_get_it(client, factory):
    tiers(factory)
    factory.tier(slug="studio-pro", name="Studio Pro", position=3,
                 signup_mode=SignupMode.ON_REQUEST, notice_days=90)
    html = page(client.get("/tarife"))
    day_pass, flex = tier_section(html, "day-pass"), tier_section(html, "flex")
    studio, resident = tier_section(html, "studio-pro"), tier_section(html, "resident")
    assert tr("Online bookable") in day_pass and tr("Online bookable") in flex
    assert tr("to the end of any month") in day_pass
    assert trn("to the end of a month, %(num)d day's notice",
               "to the end of a month, %(num)d days' notice", 14) in flex
    assert tr("on request") in studio
    assert trn("to the end of a month, %(num)d day's notice",
               "to the end of a month, %(num)d days' notice", 90) in studio
    assert tr("only through the team") in resident  # the default


def test_how_to_join_names_the_real_way(client, factory):
    tiers(factory)
    html = page(client.get("/tarife"))
    [join] = html.find_all("section", **{"aria-labelledby": "join-heading"})
    assert "team assigns it" not in join.text and "Team trägt" not in join.text
    assert "/register" in {a.attrs.get("href") for a in html.find_all("a")}
    member = factory.user()
    log_in(client, member)
    hrefs = {a.attrs.get("href") for a in page(client.get("/tarife")).find_all("a")}
    assert "/account/membership" in hrefs and "/register" not in hrefs

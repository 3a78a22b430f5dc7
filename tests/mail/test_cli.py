"""`flask --app schiller40 tick` and `worker` as an operator runs them."""

from __future__ import annotations

from tests.helpers import TUE, at, book


def test_tick_delivers_and_reports_one_line(cli, place, clock, inbox):
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    result = cli("tick")
    assert result.exit_code == 0, result.output
    assert "outbox: 1 sent" in result.output and "expire_holds 0" in result.output
    assert len(inbox.messages) == 1
    again = cli("tick")
    assert again.exit_code == 0 and "outbox: 0 sent" in again.output


def test_tick_exits_1_when_a_delivery_failed(cli, place, clock, inbox):
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    inbox.refuse("451 4.3.0 later")
    result = cli("tick")
    assert result.exit_code == 1
    assert "1 to retry" in result.output


def test_worker_refuses_a_bad_interval(cli, place):
    for bad in ("0", "-1", "soon"):
        result = cli("worker", "--interval", bad)
        assert result.exit_code == 2, result.output
        assert "--interval" in result.output

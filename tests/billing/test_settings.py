"""The monthly fees' settings are checked at start-up: a bad value stops the app with a clear
message instead of failing on the 1st of the month."""

from __future__ import annotations

import pytest

from schiller40 import create_app
from schiller40.billing.settings import from_config
from schiller40.settings import ConfigError


def app_with(**settings):
    return create_app({"ENV_NAME": "testing", "DATABASE_URL": "sqlite://", **settings})


@pytest.mark.parametrize(("name", "value"), [
    ("DUNNING_GRACE_DAYS", 7),  # the retry on day 7 must fall within the grace
    ("DUNNING_GRACE_DAYS", "14"),
    ("DUNNING_END_DAYS", 0),
    ("BILLING_NOTICE_DAYS", 15),
    ("SEPA_CREDITOR_ID", "DE98ZZZ09999999990"),  # wrong check digits
    ("SEPA_CREDITOR_ID", "not an id"),
])
def test_bad_values_stop_the_start(name, value):
    with pytest.raises(ConfigError) as exc_info:
        app_with(**{name: value})
    assert f"SCHILLER40_{name}" in str(exc_info.value)


def test_good_values_are_used():
    app = app_with(DUNNING_GRACE_DAYS=10, DUNNING_END_DAYS=60, BILLING_NOTICE_DAYS=3,
                   SEPA_CREDITOR_ID="de98 zzz0 9999 9999 99")
    assert app.config["SEPA_CREDITOR_ID"] == "DE98ZZZ09999999999"
    settings = from_config(app.config)
    assert (settings.policy.grace_days, settings.policy.end_days, settings.notice_days) == (
        10, 60, 3)
    assert settings.creditor_id == "DE98ZZZ09999999999"
    assert from_config(app_with().config).creditor_id is None

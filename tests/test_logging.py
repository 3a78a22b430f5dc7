"""Log lines: JSON that parses, with the request id the response carried, no secrets."""

from __future__ import annotations

import json
import logging

import pytest

from config import ProductionConfig, TestingConfig
from schiller40 import create_app
from schiller40.core import logs
from schiller40.extensions import db
from schiller40.settings import ConfigError
from schiller40.worker.runner import tick

FEED_TOKEN = "Zq8vK2mP4xR7tY1wN5bH3jL6cF9dG0sA"
RESET_TOKEN = "Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4f.Xy7"


@pytest.fixture
def app_config():
    # An unhandled error becomes the 500 page, as in production.
    return {"PROPAGATE_EXCEPTIONS": False}


def json_lines(caplog, logger: str | None = None) -> list[dict]:
    formatter = logs.JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records]
    return [line for line in lines if logger is None or line["logger"] == logger]


def test_every_request_logs_one_json_line_with_its_request_id(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/resources?date=2026-11-24")
    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    [line] = json_lines(caplog, "schiller40.access")
    assert line["request_id"] == request_id
    assert line["method"] == "GET"
    assert line["path"] == "/resources"  # no query string
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert line["timestamp"].endswith("Z")
    assert line["message"] == "GET /resources 200"
    assert "2026-11-24" not in json.dumps(line)


def test_an_incoming_request_id_is_kept(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/resources", headers={"X-Request-ID": "proxy-1234abcd"})
    assert response.headers["X-Request-ID"] == "proxy-1234abcd"
    [line] = json_lines(caplog, "schiller40.access")
    assert line["request_id"] == "proxy-1234abcd"


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        (f"/feeds/{FEED_TOKEN}.ics", "/feeds/[redacted].ics"),
        (f"/feeds/{FEED_TOKEN}.ics?token={FEED_TOKEN}", "/feeds/[redacted].ics"),
        (f"/account/reset/{RESET_TOKEN}", "/account/reset/[redacted]"),
        (f"/account/verify/{RESET_TOKEN}", "/account/verify/[redacted]"),
        (f"/somewhere/{FEED_TOKEN}/else?x={RESET_TOKEN}", "/somewhere/[redacted]/else"),
    ],
)
def test_tokens_never_reach_the_log(client, caplog, url, logged):
    caplog.set_level(logging.DEBUG)
    client.get(url)
    [line] = json_lines(caplog, "schiller40.access")
    assert line["path"] == logged
    everything = caplog.text + "".join(json.dumps(x) for x in json_lines(caplog))
    assert FEED_TOKEN not in everything
    assert RESET_TOKEN not in everything


def test_plain_paths_are_left_alone():
    assert logs.redact_path("/staff/bookings/123/edit") == "/staff/bookings/123/edit"
    assert logs.redact_path("/resources/desk-a1") == "/resources/desk-a1"
    assert logs.redact_path("/account/reset") == "/account/reset"


def test_an_unhandled_error_logs_the_id_shown_on_the_500_page(app, client, caplog):
    def boom():
        raise RuntimeError("kaboom")

    app.add_url_rule(f"/test/boom/{FEED_TOKEN}", "boom", boom)
    caplog.set_level(logging.INFO)
    response = client.get(f"/test/boom/{FEED_TOKEN}")
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert request_id in response.get_data(as_text=True)  # the page shows it
    errors = [line for line in json_lines(caplog) if line["level"] == "ERROR"]
    assert errors, "the error was not logged"
    first = errors[0]
    assert first["request_id"] == request_id
    assert first["logger"] == "schiller40.errors"
    assert "RuntimeError: kaboom" in first["exc_info"]
    assert first["path"] == "/test/boom/[redacted]"
    [access] = json_lines(caplog, "schiller40.access")
    assert access["request_id"] == request_id and access["status"] == 500
    assert FEED_TOKEN not in caplog.text


def test_worker_lines_name_the_worker_not_a_request(app, clock, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("schiller40.worker.jobs").info("outside a pass")
    tick(clock=clock, worker="host:1:abc")
    logging.getLogger("schiller40.worker.jobs").info("after the pass")
    lines = json_lines(caplog)
    assert all("request_id" not in line for line in lines)
    assert all("worker" not in line for line in lines if line["message"].endswith("pass"))


def test_a_line_logged_during_a_pass_carries_the_worker(app, clock, caplog, monkeypatch):
    from schiller40.worker import jobs

    def talkative(session, ctx):
        logging.getLogger("schiller40.worker.jobs").warning("job says hello")
        return 0

    monkeypatch.setattr(jobs, "PERIODIC", [("talkative", talkative)])
    caplog.set_level(logging.INFO)
    tick(clock=clock, worker="host:1:abc")
    [line] = [x for x in json_lines(caplog) if x["message"] == "job says hello"]
    assert line["worker"] == "host:1:abc"
    assert "request_id" not in line


def test_log_format_defaults_and_validation(database_url):
    assert ProductionConfig.LOG_FORMAT == "json"
    assert TestingConfig.LOG_FORMAT == "text"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        create_app({"ENV_NAME": "testing", "DATABASE_URL": database_url, "LOG_FORMAT": "xml"})


@pytest.mark.parametrize(("kind", "cls"), [("json", logs.JsonFormatter),
                                            ("text", logs.TextFormatter)])
def test_the_app_installs_a_root_handler_when_the_host_has_none(
    database_url, monkeypatch, kind, cls
):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    level = root.level
    try:
        create_app({"ENV_NAME": "testing", "DATABASE_URL": database_url, "LOG_FORMAT": kind})
        [handler] = root.handlers
        assert isinstance(handler.formatter, cls)
        record = logging.LogRecord("schiller40.x", logging.INFO, __file__, 1, "hi %s",
                                   ("there",), None)
        text = handler.format(record)
        if kind == "json":
            assert json.loads(text)["message"] == "hi there"
        else:
            assert text.endswith("INFO schiller40.x: hi there")
    finally:
        root.setLevel(level)


def test_text_format_shows_the_request_id(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/resources")
    [record] = [r for r in caplog.records if r.name == "schiller40.access"]
    line = logs.TextFormatter().format(record)
    assert f"[{response.headers['X-Request-ID']}]" in line


def test_the_development_servers_request_lines_are_redacted_too(app, caplog):
    caplog.set_level(logging.INFO)
    line = f"\x1b[33mGET /feeds/{FEED_TOKEN}.ics?x={RESET_TOKEN} HTTP/1.1\x1b[0m"
    logging.getLogger("werkzeug").info('"%s" %s %s', line, "404", "-")
    [record] = [r for r in caplog.records if r.name == "werkzeug"]
    assert record.getMessage() == '"\x1b[33mGET /feeds/[redacted].ics HTTP/1.1\x1b[0m" 404 -'


def test_sql_errors_are_logged_without_their_parameters(app):
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["hide_parameters"] is True
    assert db.engine.hide_parameters is True

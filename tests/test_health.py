"""/healthz and /readyz: what a load balancer and monitoring read."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from schiller40.core import outbox
from schiller40.extensions import db


def test_healthz_answers_without_the_database(app, client, monkeypatch):
    def broken(*args, **kwargs):
        raise AssertionError("healthz must not touch the database")

    monkeypatch.setattr(db.session, "connection", broken)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert "no-store" in response.headers["Cache-Control"]


def test_readyz_reports_database_migrations_and_the_outbox(app, client, clock):
    outbox.enqueue(db.session, topic="mail.booking_confirmed", now=clock(),
                   payload={"booking_ids": []})
    db.session.commit()
    clock.advance(timedelta(minutes=5))
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ready" and body["database"] == "ok"
    assert body["migrations"] >= "0006"
    assert body["outbox"] == {"due": 1, "oldest_due_seconds": 300, "failed": 0}


def test_readyz_is_503_while_the_schema_is_behind(app, client):
    head = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    db.session.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    db.session.commit()
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json["migrations"] == "outdated"
        assert response.headers["Retry-After"] == "30"
    finally:
        db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        db.session.commit()


def test_readyz_is_503_when_the_database_is_unreachable(smtp_server, tmp_path, clock):
    from schiller40 import create_app

    unreachable = create_app({
        "ENV_NAME": "testing",
        "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        **smtp_server.config(),
    }, clock=clock)
    response = unreachable.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}
    assert response.headers["Retry-After"] == "10"

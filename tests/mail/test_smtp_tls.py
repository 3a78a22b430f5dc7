"""SMTP as production uses it: STARTTLS or implicit TLS with a verified certificate, and a
log-in. The server here is aiosmtpd with a certificate from a throwaway CA (trustme), which
the app trusts through SCHILLER40_SMTP_CA_FILE."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from schiller40.core.outbox import OutboxStatus
from schiller40.extensions import db
from schiller40.worker.delivery import deliver
from tests.helpers import TUE, at, book

from ..mailbox import Inbox, _Handler, body, free_port
from .test_outbox import rows

USER, PASSWORD = "buchung@schiller40.example", "smtp-secret-2026"
# aiosmtpd warns when AUTH does not require STARTTLS; with implicit TLS the whole connection
# is encrypted, and with STARTTLS it is required before anything else.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    # handled=False: aiosmtpd answers the refusal (535) itself.
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> tuple[trustme.CA, str]:
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, str(path)


def _server(ca, *, implicit: bool) -> tuple[Controller, Inbox, int]:
    authority, _path = ca
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    inbox, port = Inbox(), free_port()
    options = {"authenticator": _authenticator, "auth_required": True}
    if implicit:
        # The whole connection is TLS; aiosmtpd only counts STARTTLS as such for AUTH.
        controller = Controller(_Handler(inbox), hostname="127.0.0.1", port=port,
                                ssl_context=server_context, server_hostname="127.0.0.1",
                                auth_require_tls=False, **options)
    else:
        controller = Controller(_Handler(inbox), hostname="127.0.0.1", port=port,
                                tls_context=server_context, require_starttls=True, **options)
    controller.start()
    return controller, inbox, port


@pytest.fixture(params=["starttls", "tls"])
def tls_server(request, ca) -> Iterator[tuple[str, Inbox, int]]:
    controller, inbox, port = _server(ca, implicit=request.param == "tls")
    yield request.param, inbox, port
    controller.stop()


def send_one(app, place, clock, *, security, port, ca_file, password=PASSWORD) -> None:
    app.config.update(SMTP_SECURITY=security, SMTP_PORT=port, SMTP_USER=USER,
                      SMTP_PASSWORD=password, SMTP_CA_FILE=ca_file)
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    db.session.commit()


def test_mail_goes_out_over_tls_with_a_log_in(app, place, clock, tls_server, ca):
    security, inbox, port = tls_server
    send_one(app, place, clock, security=security, port=port, ca_file=ca[1])
    report = deliver(db.session, worker="w", clock=clock)
    assert report.sent == 1, report
    message = inbox.wait_for(1)[0]
    assert "/bookings/" in body(message)
    assert rows()[0].status is OutboxStatus.SENT


def test_a_wrong_smtp_password_costs_no_try(app, place, clock, tls_server, ca):
    security, inbox, port = tls_server
    send_one(app, place, clock, security=security, port=port, ca_file=ca[1],
             password="rotated-meanwhile")
    report = deliver(db.session, worker="w", clock=clock)
    assert report.server_error and "535" in report.server_error
    [row] = rows()
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 0)
    assert inbox.messages == []


def test_an_untrusted_certificate_is_refused(app, place, clock, tls_server):
    security, inbox, port = tls_server
    send_one(app, place, clock, security=security, port=port, ca_file="")
    report = deliver(db.session, worker="w", clock=clock)
    assert report.server_error and "CERTIFICATE_VERIFY_FAILED" in report.server_error
    assert inbox.messages == []

"""``/dev/mail``: the mail the embedded default "sent", for a developer to read.

Only while mail goes to the folder backend and never in production (there SMTP is
required), and only from the machine itself or for staff. The pages read the ``.eml`` files
the folder backend wrote, so what is shown is exactly what an SMTP server would have received.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")
_NAME = re.compile(r"[0-9]{8}T[0-9]{6}-[0-9]{1,12}\.eml")
SHOWN = 200


def enabled() -> bool:
    config = current_app.config
    return config["MAIL_PROVIDER"] == "folder" and config["ENV_NAME"] != "production"


LOOPBACK = ("127.0.0.1", "::1")


@bp.before_request
def only_on_the_embedded_default() -> None:
    """The folder holds working links (password resets): readable from the machine itself,
    as a developer running ``scripts/serve`` is, or by staff; not by anyone on the network
    when the dev server listens on all interfaces."""
    if not enabled():
        abort(404)
    staff = current_user.is_authenticated and current_user.is_staff
    if request.remote_addr not in LOOPBACK and not staff:
        abort(404)


def _folder() -> Path:
    return Path(current_app.config["MAIL_FOLDER"])


def _read(name: str) -> EmailMessage:
    if not _NAME.fullmatch(name):
        abort(404)
    path = _folder() / name
    if not path.is_file():
        abort(404)
    message = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def _newest_first(name: str) -> tuple[str, int]:
    """Sort key of a file name "<sent, to the second>-<outbox id>.eml": by the time sent,
    then by the outbox id as a number. Sorted as text, the tenth mail of a batch (id 10)
    came before the ninth (issue 17)."""
    stamp, _, number = name.removesuffix(".eml").partition("-")
    return stamp, int(number)


@bp.get("/")
def index() -> str:
    folder = _folder()
    names = sorted((p.name for p in folder.glob("*.eml") if _NAME.fullmatch(p.name)),
                   key=_newest_first, reverse=True) if folder.is_dir() else []
    messages = [(name, _read(name)) for name in names[:SHOWN]]
    return render_template("mail/dev_index.html", messages=messages, total=len(names),
                           folder=folder)


@bp.get("/<name>")
def show(name: str) -> str:
    message = _read(name)
    text = message.get_body(preferencelist=("plain",))
    attachments = [
        (i, part.get_filename() or f"attachment-{i}", part.get_content_type())
        for i, part in enumerate(message.iter_attachments())
    ]
    return render_template(
        "mail/dev_show.html", name=name, message=message,
        text=str(text.get_content()) if text is not None else "", attachments=attachments,
    )


@bp.get("/<name>/html")
def html(name: str) -> Response:
    part = _read(name).get_body(preferencelist=("html",))
    if part is None:
        abort(404)
    response = Response(str(part.get_content()), content_type="text/html; charset=utf-8")
    # The mail's own HTML: no scripts, nothing loaded from elsewhere.
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    return response


@bp.get("/<name>/attachments/<int:index>")
def attachment(name: str, index: int) -> Response:
    parts = list(_read(name).iter_attachments())
    if not 0 <= index < len(parts):
        abort(404)
    part = parts[index]
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    response = Response(data, content_type=part.get_content_type())
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", part.get_filename() or f"attachment-{index}")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

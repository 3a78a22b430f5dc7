"""Messages about a company account: the invitation to join one.

The link is made here, when the mail is composed (``accounts.invitations``): the outbox
holds only the invitation's id and the database only the token's digest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts import invitations
from ..accounts.models import CompanyInvitation, User
from .catalog import message
from .compose import Mail, Recipient, can_receive, render


@message("mail.company_invitation")
def company_invitation(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """To the invited address: who invites to which company, and the link to accept. Nothing
    once the invitation was accepted, withdrawn or ran out. In the language of the address's
    account if it has one, else in the inviting manager's."""
    invitation_id = payload.get("invitation_id")
    invitation = (session.get(CompanyInvitation, invitation_id)
                  if isinstance(invitation_id, int) else None)
    if invitation is None or not invitation.is_open(now):
        return None
    account = session.scalar(select(User).where(User.email == invitation.email))
    if account is not None and not can_receive(account):
        return None
    inviter = invitation.invited_by
    to: User | Recipient = account if account is not None else Recipient(
        name=invitation.email, email=invitation.email,
        locale=inviter.locale if inviter is not None else
        str(current_app.config.get("BABEL_DEFAULT_LOCALE") or "de"),
    )
    token = invitations.token_for(invitation.nonce, current_app.config["SECRET_KEY"])
    return render(
        "company_invitation",
        to=to,
        company=invitation.company,
        inviter=inviter.name if inviter is not None and not inviter.is_deleted else None,
        has_account=account is not None,
        link=url_for("company.invitation", token=token, _external=True),
        expires_at=invitation.expires_at,
        subject=lambda: _("Invitation to join %(company)s at Schiller40",
                          company=invitation.company.name),
    )

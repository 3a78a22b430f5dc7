"""``/api/v1/companies/me``: the caller's company (billing data, their role), its members
with their caps and this month's use (managers only), and a member's caps (managers only).

Only the caller's own company has an address here, so a member of another company cannot
even name it; a member of no company gets 404, a member who does not manage theirs 403
(``not_manager``) for the manager's routes.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from ..accounts import companies
from ..accounts.models import Company, User
from ..core.clock import now
from ..errors import NotFound
from ..extensions import db
from ..members.team import MemberUse, team_use
from . import schemas
from .auth import token_required
from .blueprint import bp
from .parsing import json_body


def _company_json(company: Company, user: User) -> dict[str, Any]:
    return {
        "id": company.id,
        "name": company.name,
        "legal_name": company.legal_name,
        "address": {"street": company.street, "postal_code": company.postal_code,
                    "city": company.city, "country": company.country},
        "vat_id": company.vat_id,
        "invoice_email": company.invoice_email,
        "leitweg_id": company.leitweg_id,
        "default_cap_desk_days": company.member_cap_desk_days,
        "default_cap_studio_hours": company.member_cap_studio_hours,
        "role": "manager" if user.is_company_manager else "member",
    }


def _member_json(row: MemberUse) -> dict[str, Any]:
    m = row.member
    return {
        "id": m.id,
        "name": m.name,
        "email": m.email,
        "role": "manager" if m.is_company_manager else "member",
        "cap_desk_days": m.company_cap_desk_days,
        "cap_studio_hours": m.company_cap_studio_hours,
        "effective_cap_desk_days": m.cap_desk_days(),
        "effective_cap_studio_hours": m.cap_studio_hours(),
        "used_desk_days": float(row.desk_days),
        "used_studio_hours": float(row.studio_hours),
    }


def _my_company_id() -> int:
    user = g.api_user
    if user.company_id is None:
        raise NotFound()
    return int(user.company_id)


@bp.get("/companies/me")
@token_required
def my_company() -> Response:
    company_id = _my_company_id()
    company = db.session.get(Company, company_id)
    return jsonify({"company": _company_json(company, g.api_user)})


@bp.get("/companies/me/members")
@token_required
def my_company_members() -> Response:
    team = team_use(db.session, actor=g.api_user, company_id=_my_company_id(), now=now())
    return jsonify({"month": team.month.strftime("%Y-%m"),
                    "members": [_member_json(r) for r in team.rows]})


@bp.patch("/companies/me/members/<id:member_id>")
@token_required
def update_company_member(member_id: int) -> Response:
    body = json_body(schemas.MemberCapsUpdate)
    given = body.model_fields_set
    company_id = _my_company_id()
    companies.set_member_caps(
        db.session, actor=g.api_user, company_id=company_id, member_id=member_id,
        cap_desk_days=body.cap_desk_days if "cap_desk_days" in given else companies.KEEP,
        cap_studio_hours=(body.cap_studio_hours if "cap_studio_hours" in given
                          else companies.KEEP),
        now=now(),
    )
    team = team_use(db.session, actor=g.api_user, company_id=company_id, now=now())
    [row] = [r for r in team.rows if r.member.id == member_id]
    return jsonify({"member": _member_json(row)})

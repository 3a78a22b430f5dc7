"""Staff's company pages: every company, a new one, and one company's billing data and
managers. Which company a member belongs to stays on the member's record
(``members.py``: "Change company…"); the team's use and caps are on the company's own page
for its managers."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..accounts import companies
from ..accounts.company_forms import CompanyDetailsForm
from ..accounts.models import Company
from ..core.clock import now
from ..core.forms import apply_field_errors
from ..errors import DomainError, NotFound
from ..extensions import db
from ..members import directory
from . import bp, section, staff_required

section(
    _l("Companies"),
    "staff.companies",
    _l("Startup teams: billing data (legal name, address, VAT ID, Leitweg-ID) and who "
       "manages each."),
    order=25,
)


@bp.get("/companies", endpoint="companies")
@staff_required
def companies_list() -> str:
    return render_template("staff/companies.html", companies=directory.companies(db.session))


@bp.route("/companies/new", methods=["GET", "POST"])
@staff_required
def company_new() -> str | tuple[str, int] | Response:
    form = CompanyDetailsForm()
    if form.validate_on_submit():
        try:
            company = companies.create_company(db.session, actor=current_user,
                                               details=form.details(), now=now())
        except DomainError as exc:
            apply_field_errors(form, exc)
        else:
            flash(_("The company %(name)s is set up.", name=company.name), "success")
            return redirect(url_for("staff.company", company_id=company.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("staff/company.html", form=form, company=None), status


@bp.route("/companies/<id:company_id>", methods=["GET", "POST"])
@staff_required
def company(company_id: int) -> str | tuple[str, int] | Response:
    found = db.session.get(Company, company_id)
    if found is None:
        raise NotFound()
    form = CompanyDetailsForm(obj=found if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            companies.update_company(db.session, actor=current_user, company_id=found.id,
                                     details=form.details(), now=now())
        except DomainError as exc:
            if exc.status == 404:
                raise
            apply_field_errors(form, exc)
        else:
            flash(_("The company's details have been saved."), "success")
            return redirect(url_for("staff.company", company_id=company_id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("staff/company.html", form=form, company=found), status


@bp.post("/companies/<id:company_id>/members/<id:member_id>/manager")
@staff_required
def company_manager(company_id: int, member_id: int) -> Response:
    manager = request.form.get("manager") == "1"
    try:
        member = companies.set_manager(db.session, actor=current_user, company_id=company_id,
                                       member_id=member_id, manager=manager, now=now())
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
    else:
        if manager:
            flash(_("%(name)s manages the company now.", name=member.name), "success")
        else:
            flash(_("%(name)s no longer manages the company.", name=member.name), "success")
    return redirect(url_for("staff.company", company_id=company_id) + "#managers")

"""The front desk's money: open amounts (bookings on invoice, manual charges billed later),
recording a bank transfer, manual charges, and who may pay on invoice.

Views parse the form, call one service (``payments.desk``, ``accounts.admin``) and render.
Bookings paid at the desk are made from the calendar's booking form (``calendar.py``).
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from ..accounts import admin
from ..accounts.models import User
from ..booking.settings import current_settings
from ..core.clock import now
from ..core.forms import MoneyField, apply_field_errors, no_nul
from ..core.money import money
from ..errors import DomainError, NotFound
from ..extensions import db
from ..members import directory
from ..payments import desk
from ..payments.errors import PaymentError
from ..payments.models import PaymentMethod
from . import bp, section, staff_required
from .payment_labels import CHARGE_CHOICES, METHOD_LABELS, payment_state

section(
    _l("Front desk: payments"),
    "staff.desk_index",
    _l("Open amounts on invoice, bank transfers received, and payments taken at the desk."),
    order=25,
)


class ChargeForm(FlaskForm):
    description = StringField(
        _l("What is charged"),
        validators=[DataRequired(_l("Please describe the charge.")),
                    Length(max=desk.DESCRIPTION_MAX), no_nul],
        description=_l("For example: 20 pages printed in colour, 3D printer 2 hours."),
    )
    amount = MoneyField(
        _l("Amount incl. VAT (€)"),
        validators=[InputRequired(_l("Please enter an amount in euros, e.g. 12,50."))],
    )
    vat_percent = SelectField(_l("VAT rate"), validators=[DataRequired()])
    method = SelectField(
        _l("Payment"), choices=CHARGE_CHOICES, default=PaymentMethod.DESK_CASH.value,
        validators=[DataRequired()],
    )
    to_company = BooleanField(_l("Bill the member's company instead of the member"))


class InvoicePermissionForm(FlaskForm):
    member_allowed = BooleanField(_l("This member may pay on invoice (bank transfer)"))
    company_allowed = BooleanField(_l("The member's company may pay on invoice"))


class TransferForm(FlaskForm):
    reference = StringField(
        _l("Transfer reference (optional)"),
        validators=[Optional(), Length(max=desk.REFERENCE_MAX), no_nul],
    )


def _member(member_id: int) -> User:
    member = directory.get_member(db.session, member_id)
    if member is None:
        raise NotFound()
    return member


def _vat_choices() -> list[SelectChoice]:
    standard = current_settings().policy.vat_percent
    return [
        SelectChoice(str(rate), _("%(percent)s %% (standard rate)", percent=rate)
                     if rate == standard else _("%(percent)s %%", percent=rate))
        for rate in desk.vat_rates(standard)
    ]


def _member_form(
    person: User, form: FlaskForm, *, title: str, fields: list[str], submit: str,
    status: int = 200, intro: str | None = None,
) -> tuple[str, int]:
    return render_template(
        "staff/member_form.html", member=person, form=form, title=title, fields=fields,
        submit=submit, intro=intro,
    ), status


@bp.get("/desk")
@staff_required
def desk_index() -> str:
    """Who owes what since when (on invoice), and the latest payments taken at the desk."""
    return render_template(
        "staff/desk.html", open=desk.open_amounts(db.session),
        recent=desk.recent_desk_payments(db.session),
        method_labels=METHOD_LABELS, state=payment_state,
    )


@bp.post("/desk/payments/<id:payment_id>/transfer")
@staff_required
def record_transfer(payment_id: int) -> Response:
    form = TransferForm()
    if not form.validate_on_submit():
        flash(_("The transfer could not be recorded: %(error)s",
                error=" ".join(e for errors in form.errors.values() for e in errors)), "error")
        return redirect(url_for("staff.desk_index"))
    try:
        payment = desk.record_transfer(
            db.session, actor=current_user, payment_id=payment_id,
            reference=form.reference.data or "", now=now(),
        )
    except PaymentError as error:
        if error.status == 404:
            raise
        flash(error.message, "info" if error.code == "already_settled" else "error")
    else:
        flash(_("Transfer of %(amount)s recorded for payment no. %(id)s.",
                amount=money(payment.amount_cents), id=payment.id), "success")
    return redirect(url_for("staff.desk_index"))


@bp.route("/desk/members/<id:member_id>/charge", methods=["GET", "POST"])
@staff_required
def add_charge(member_id: int) -> Response | tuple[str, int]:
    person = _member(member_id)
    form = ChargeForm()
    form.vat_percent.choices = _vat_choices()
    if request.method == "GET":
        form.vat_percent.data = str(current_settings().policy.vat_percent)
    fields = ["description", "amount", "vat_percent", "method"]
    if person.company is not None:
        fields.append("to_company")
    status = 200
    if form.validate_on_submit():
        settings = current_settings()
        try:
            charge = desk.add_charge(
                db.session, actor=current_user, member_id=person.id,
                description=form.description.data or "", gross_cents=form.amount.data or 0,
                vat_percent=int(form.vat_percent.data),
                standard_vat_percent=settings.policy.vat_percent,
                method=PaymentMethod(form.method.data), to_company=bool(form.to_company.data),
                currency=settings.currency, now=now(),
            )
        except DomainError as error:
            if error.status == 404:
                raise
            apply_field_errors(form, error)
            status = 422
        else:
            flash(_("Charged %(amount)s for “%(what)s” (%(method)s).",
                    amount=money(charge.gross_cents), what=charge.description,
                    method=METHOD_LABELS[charge.payment.method]), "success")
            return redirect(url_for("staff.member", member_id=person.id, _anchor="payments"))
    elif request.method == "POST":
        status = 422
    return _member_form(
        person, form, title=_("Add a charge"), fields=fields, submit=_("Add the charge"),
        status=status,
        intro=_("Paid now at the desk: a receipt goes to the member by e-mail. Billed later: "
                "the amount is listed as open until the bank transfer is recorded (only for "
                "members or companies allowed to pay on invoice)."),
    )


@bp.route("/desk/members/<id:member_id>/invoice", methods=["GET", "POST"])
@staff_required
def invoice_permission(member_id: int) -> Response | tuple[str, int]:
    person = _member(member_id)
    form = InvoicePermissionForm()
    if request.method == "GET":
        form.member_allowed.data = person.may_pay_on_invoice
        form.company_allowed.data = bool(person.company and person.company.may_pay_on_invoice)
    fields = ["member_allowed"] + (["company_allowed"] if person.company is not None else [])
    if form.validate_on_submit():
        updated = admin.set_invoice_permission(
            db.session, actor=current_user, member_id=person.id,
            member_allowed=bool(form.member_allowed.data),
            company_allowed=bool(form.company_allowed.data) if person.company else None,
            now=now(),
        )
        flash(_("Payment on invoice for %(name)s: %(state)s.", name=updated.name,
                state=_("allowed") if updated.pays_on_invoice else _("not allowed")),
              "success")
        return redirect(url_for("staff.member", member_id=person.id, _anchor="payments"))
    return _member_form(
        person, form, title=_("Payment on invoice"), fields=fields, submit=_("Save"),
        status=422 if request.method == "POST" else 200,
        intro=_("Members (or companies) allowed to pay on invoice can be booked for at the "
                "desk “on invoice”, and manual charges can be billed to them later."),
    )

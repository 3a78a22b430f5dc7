"""The forms of the company pages (the member's ``/company`` and the staff's
``/staff/companies``), shared here because view modules never import each other. They check
only the shape; the service checks the values (VAT ID, Leitweg-ID, the e-mail address) and
its refusal is put beside the field it names."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..core.forms import no_nul
from .companies import CAP_MAX, CompanyDetails


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _text(label: Any, limit: int, *, required: Any = None, **kw: Any) -> StringField:
    validators = [DataRequired(required)] if required else [Optional()]
    return StringField(label, filters=[strip],
                       validators=[*validators, Length(max=limit), no_nul], **kw)


class CompanyDetailsForm(FlaskForm):
    name = _text(_l("Company name"), 200, required=_l("Please enter the company's name."),
                 description=_l("As your team calls itself; shown to the other members."),
                 render_kw={"autocomplete": "organization"})
    legal_name = _text(_l("Legal name (optional)"), 200,
                       description=_l("As on invoices, e.g. “Wolfsbyte GmbH”. Empty: the "
                                      "company name."))
    street = _text(_l("Street and number"), 200, render_kw={"autocomplete": "address-line1"})
    postal_code = _text(_l("Postal code"), 16, render_kw={"autocomplete": "postal-code"})
    city = _text(_l("City"), 100, render_kw={"autocomplete": "address-level2"})
    country = _text(_l("Country code"), 2, required=_l("Please enter the country code."),
                    default="DE", description=_l("Two letters, e.g. DE."),
                    render_kw={"autocomplete": "country"})
    vat_id = _text(_l("VAT ID (optional)"), 40,
                   description=_l("With the country code, e.g. DE123456789."))
    invoice_email = EmailField(
        _l("E-mail address for invoices"), filters=[strip],
        validators=[Optional(), Length(max=254), no_nul],
        render_kw={"autocomplete": "email"},
    )
    leitweg_id = _text(_l("Leitweg-ID (optional)"), 46,
                       description=_l("Only for public-sector buyers that receive "
                                      "e-invoices (XRechnung), e.g. 04011000-1234512345-06."))

    def details(self) -> CompanyDetails:
        return CompanyDetails(**{name: self[name].data or "" for name in (
            "name", "legal_name", "street", "postal_code", "city", "country", "vat_id",
            "invoice_email", "leitweg_id")})


class InviteForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"), filters=[strip],
        validators=[DataRequired(_l("Please enter an e-mail address.")), Length(max=254),
                    no_nul],
        description=_l("We send a link to join the company. It works once, for 14 days."),
        render_kw={"autocomplete": "off"},
    )


def _cap(label: Any) -> IntegerField:
    return IntegerField(
        label, validators=[Optional(), NumberRange(0, CAP_MAX, _l(
            "Please enter a whole number from 0 to %(max)d, or nothing.", max=CAP_MAX))],
        render_kw={"min": 0, "max": CAP_MAX, "inputmode": "numeric"},
    )


class CapsForm(FlaskForm):
    cap_desk_days = _cap(_l("Desk days per month"))
    cap_studio_hours = _cap(_l("Studio hours per month"))

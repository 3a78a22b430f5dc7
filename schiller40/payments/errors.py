"""The payment use cases' one error, and the answer when the gateway cannot be reached."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from ..errors import DomainError


class PaymentError(DomainError):
    code = "payment_error"
    status = 409

    def __init__(self, code: str, status: int, message: Any, **kwargs: Any) -> None:
        self.code = code
        self.status = status
        super().__init__(str(message), **kwargs)


def unavailable() -> PaymentError:
    error = PaymentError(
        "payment_unavailable", 503,
        _l("The payment service cannot be reached right now, so your reservation was "
           "released. Please try again in a few minutes."),
    )
    error.headers = {"Retry-After": "60"}
    return error


def not_payable() -> PaymentError:
    return PaymentError("not_payable", 409, _l("This booking is not waiting for payment."))

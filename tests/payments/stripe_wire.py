"""The wire protocol the fake Stripe server speaks: Stripe's bracket-encoded form parameters,
its validation helpers and its error body. Shared by :mod:`stripe_server` (payments) and
:mod:`stripe_billing` (customers, prices, Checkout for subscriptions) and
:mod:`stripe_invoicing` (subscriptions, invoices, the billing cycle).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_ALNUM = string.ascii_letters + string.digits
_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")

Params = dict[str, Any]

class ApiError(Exception):
    """A Stripe error response; raised anywhere in a handler, turned into JSON by the app."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": {"type": type_, "message": message}}
        if param is not None:
            self.body["error"]["param"] = param
        if code is not None:
            self.body["error"]["code"] = code


class ControlError(RuntimeError):
    """A test control was asked for something Stripe could not do (e.g. pay an expired session)."""


@dataclass(frozen=True)
class LoggedRequest:
    """One API request as the server saw it, for assertions like "retried with the same key"."""

    method: str
    path: str
    idempotency_key: str | None
    status: int
    replayed: bool = False


# --- parameters -------------------------------------------------------------------------------

def parse_params(pairs: Iterable[tuple[str, str]]) -> Params:
    """Turn Stripe's bracket notation into nested dicts.

    ``a[b][c]=1`` becomes ``{"a": {"b": {"c": "1"}}}`` and ``a[]=x`` appends to a list. Numeric
    segments (``line_items[0]``, what the SDK sends) stay dict keys here: only the handler knows
    whether a field is an array or a hash such as ``metadata[7]``; see :func:`_as_list`.
    """
    root: Params = {}
    for key, value in pairs:
        match = _KEY_RE.match(key)
        if not match:
            raise ApiError(400, f"Invalid parameter name: {key}", param=key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                if not last or not isinstance(node, list):
                    raise ApiError(400, f"Invalid array parameter: {key}", param=key)
                node.append(value)
                break
            if not isinstance(node, dict):
                raise ApiError(400, f"Conflicting parameter: {key}", param=key)
            if last:
                if part in node:
                    raise ApiError(400, f"Duplicate parameter: {key}", param=key)
                node[part] = value
            else:
                default: Any = [] if parts[i + 1] == "" else {}
                node = node.setdefault(part, default)
    return root


def _as_list(value: Any, param: str) -> list[Any]:
    """An array parameter, whether sent as ``x[]=`` or (like the SDK) as ``x[0]=``, ``x[1]=``."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and all(k.isdigit() for k in value):
        indexes = sorted(value, key=int)
        if [int(k) for k in indexes] == list(range(len(indexes))):
            return [value[k] for k in indexes]
    raise ApiError(400, f"Invalid array: {param}", param=param)


def _reject_unknown(params: Params, allowed: Iterable[str], prefix: str = "") -> None:
    """Refuse parameters we don't model, as Stripe refuses unknown ones: a typo or an
    unsupported option must fail the test, not be silently ignored."""
    for key in params:
        if key not in allowed:
            name = f"{prefix}[{key}]" if prefix else key
            raise ApiError(400, f"Received unknown parameter: {name}", param=name)


def _required(params: Params, key: str, param: str) -> Any:
    if key not in params or params[key] == "":
        raise ApiError(400, f"Missing required param: {param}.", param=param,
                       code="parameter_missing")
    return params[key]


def _string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid string: {param}", param=param)
    return value


def _integer(value: Any, param: str, *, minimum: int | None = None) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise ApiError(400, f"Invalid integer: {value!r}", param=param,
                       code="parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        what = "positive integer" if minimum == 1 else f"integer >= {minimum}"
        raise ApiError(400, f"Invalid {what}: {param}", param=param,
                       code="parameter_invalid_integer")
    return number


def _metadata(value: Any, param: str) -> dict[str, str]:
    """Stripe's limits: 50 keys, keys up to 40 characters, values up to 500; "" means empty."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ApiError(400, f"Invalid object: {param}", param=param)
    if len(value) > 50:
        raise ApiError(400, "Metadata can have at most 50 keys.", param=param)
    for key, item in value.items():
        if len(key) > 40 or len(item) > 500:
            raise ApiError(400, f"Metadata key or value too long: {key}", param=f"{param}[{key}]")
    return dict(value)


def _choice(value: Any, options: Iterable[str], param: str) -> str:
    options = tuple(options)
    if value not in options:
        raise ApiError(400, f"Invalid {param}: must be one of {', '.join(options)}",
                       param=param, code="parameter_invalid_string")
    return value


def _new_id(prefix: str) -> str:
    return f"{prefix}_test_{''.join(secrets.choice(_ALNUM) for _ in range(24))}"

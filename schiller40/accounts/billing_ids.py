"""The identifiers on a company's invoices, checked and put in one normal form (pure: no
database, no Flask).

- **VAT ID** (USt-IdNr.): any EU member state's, checked with ``python-stdnum`` for format
  and check digits (``stdnum.eu.vat``; German ones go through ``stdnum.de.vat``), stored
  compact: country prefix and number, no spaces or dots (``DE136695976``). Whether the
  tax office knows the number (VIES) is not asked: that needs the network.
- **Leitweg-ID**: the routing id of a German public-sector buyer for e-invoices
  (XRechnung, KoSIT's "Formatspezifikation Leitweg-ID"):
  ``Grobadressierung[-Feinadressierung]-Prüfziffer``. The coarse part is 2 to 12 digits,
  the optional fine part up to 30 letters and digits, the check is two digits by ISO/IEC
  7064 MOD 97-10 over the id without hyphens, letters counted A=10 … Z=35: the whole number
  modulo 97 must be 1. Stored upper-case, with its hyphens.
"""

from __future__ import annotations

import re

from stdnum.de import vat as de_vat
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

LEITWEG = re.compile(r"^(?P<coarse>[0-9]{2,12})(?:-(?P<fine>[0-9A-Z]{1,30}))?-(?P<check>[0-9]{2})$")
LEITWEG_MAX = 46  # 12 + 1 + 30 + 1 + 2
VAT_ID_MAX = 20


class BadId(ValueError):
    """The id is not valid; ``reason`` says how ("format" or "checksum")."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def normalize_vat_id(text: str) -> str:
    """The compact VAT ID (``DE136695976``), or ``BadId``."""
    raw = (text or "").strip()
    if not raw or len(raw) > 40:
        raise BadId("format")
    try:
        compact = eu_vat.compact(raw)
        if compact.startswith("DE"):
            # The German rule, by name: nine digits, the first not zero, ISO 7064 MOD 11,10.
            return "DE" + de_vat.validate(compact[2:])
        return str(eu_vat.validate(compact))
    except ValidationError as exc:
        reason = "checksum" if type(exc).__name__ == "InvalidChecksum" else "format"
        raise BadId(reason) from exc


def _mod97_digits(text: str) -> int:
    """The id's characters as one number: digits stay, A=10 … Z=35."""
    return int("".join(str(int(ch, 36)) for ch in text))


def leitweg_check_digits(without_check: str) -> str:
    """The two check digits for ``Grobadressierung[-Feinadressierung]`` (ISO 7064 MOD 97-10)."""
    body = without_check.replace("-", "").upper()
    return f"{98 - (_mod97_digits(body) * 100) % 97:02d}"


def normalize_leitweg_id(text: str) -> str:
    """The Leitweg-ID upper-case (``04011000-1234512345-06``), or ``BadId``."""
    value = (text or "").strip().upper()
    if len(value) > LEITWEG_MAX:
        raise BadId("format")
    match = LEITWEG.fullmatch(value)
    if match is None:
        raise BadId("format")
    if _mod97_digits(value.replace("-", "")) % 97 != 1:
        raise BadId("checksum")
    return value

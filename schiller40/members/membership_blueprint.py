"""The ``membership`` blueprint: one URL space (``/account/membership…``) served by two
modules of routes, one per use case — choosing or asking for a tier
(``membership_pages``), and changing or cancelling it (``membership_change_pages``). A
module of routes imports no other, so the blueprint they share lives here.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("membership", __name__)

"""The staff start page: the areas, each with what is waiting in it."""

from __future__ import annotations

from flask import render_template

from . import SECTIONS, bp, staff_required


@bp.get("/")
@staff_required
def index() -> str:
    return render_template("staff/index.html", sections=SECTIONS)

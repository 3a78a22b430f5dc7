"""The public addresses of a calendar feed (the account page and the API show them)."""

from __future__ import annotations

from flask import current_app, url_for

from ..core.urls import public_base
from . import tokens


def feed_url(feed) -> str:
    token = tokens.token_for(feed, current_app.config["SECRET_KEY"])
    return f"{public_base()}{url_for('feeds.feed', token=token)}"


def webcal_url(url: str) -> str:
    return "webcal://" + url.split("://", 1)[1]

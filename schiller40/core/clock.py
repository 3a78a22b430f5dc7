"""The app's notion of "now", injectable per app so tests can freeze or move time.

Only the HTTP and CLI layers call ``now()``; they pass the value down to services, which never
read a clock themselves.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app


def now() -> datetime:
    return current_app.extensions["schiller40.clock"]()

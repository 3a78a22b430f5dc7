"""No database connection crosses a ``fork()``.

gunicorn with ``preload_app`` builds the app in its master and forks the workers from it.
A pooled connection the master opened (the automatic migration of the development settings
does; any start-up code might) would be inherited by every worker: one socket to the
database for several processes, which then read each other's answers, fail with
``EMPTY_QUERY``/``INTRANS`` errors, and commit each other's work. So, twice over:

- ``close_pooled_connections`` runs at the end of ``create_app``: whatever start-up work
  opened is closed in the process that opened it, before anyone forks;
- ``forget_inherited_connections`` runs in every forked child (gunicorn's ``post_fork``
  hook in ``gunicorn.conf.py``, and ``os.register_at_fork`` for any other server or
  configuration): every engine gets a new, empty pool. ``close=False`` leaves the parent's
  connections alone; closing them from the child would end the parent's sessions.
"""

from __future__ import annotations

import os
import weakref

from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from ..extensions import db

# Every engine of every app built in this process (weak: an app that is gone is not kept).
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _engines_of(app: Flask) -> list[Engine]:
    """The app's engines whose pools can be emptied: an in-memory SQLite database
    (``sqlite://``, kept in one connection by a static or per-thread pool) lives only in
    its connection, so closing that would drop every table; such a database belongs to one
    process anyway and cannot be shared across a fork."""
    with app.app_context():
        return [
            engine for engine in db.engines.values()
            if not isinstance(engine.pool, StaticPool | SingletonThreadPool)
        ]


def track(app: Flask) -> None:
    """Remember ``app``'s engines, so a forked child can give them fresh pools."""
    _engines.update(_engines_of(app))


def close_pooled_connections(app: Flask) -> None:
    """Close every connection ``app``'s pools hold (after start-up work, before a fork)."""
    for engine in _engines_of(app):
        engine.dispose()


def forget_inherited_connections() -> None:
    """In a forked child: new, empty pools for every engine, the parent's untouched."""
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=forget_inherited_connections)

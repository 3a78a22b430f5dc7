"""Extensions, created unbound and bound to an app in ``create_app`` (app factory pattern)."""

from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .core.ratelimit import AppLimiter, request_key

# Deterministic constraint names: Alembic needs them to alter or drop constraints later, and
# SQLite's batch mode can only recreate tables whose constraints have names.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Rate limits per account (signed in or by API token), else per client address; storage, switch
# and the limits themselves come from config (RATELIMIT_*), see core/ratelimit.py.
limiter = AppLimiter(key_func=request_key)

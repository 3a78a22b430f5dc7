"""Users and the companies (startup teams) they may belong to."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..core.columns import enum_column
from ..core.time import UTCDateTime, to_local
from ..extensions import db

if TYPE_CHECKING:
    from ..membership.models import Induction, Membership


class Role(enum.StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    ADMIN = "admin"


# werkzeug's default (scrypt, deliberately slow). The test suite lowers it once at start,
# because thousands of log-ins at production cost would dominate its run time.
PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105  (a method name, not a password)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_HASH_METHOD)


class Company(db.Model):
    __tablename__ = "company"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Members share the included credit of all their memberships; these caps (per member per
    # month) keep one person from using up the team's pool. None means no cap.
    member_cap_desk_days: Mapped[int | None]
    member_cap_studio_hours: Mapped[int | None]
    # Staff allowed the company to pay by bank transfer on invoice (bookings made for its
    # members at the desk, manual charges billed to it); set on the staff member page.
    may_pay_on_invoice: Mapped[bool] = mapped_column(default=False)

    members: Mapped[list[User]] = relationship(back_populates="company")

    def __repr__(self) -> str:
        return f"<Company {self.name!r}>"


class User(UserMixin, db.Model):
    __tablename__ = "user"
    # The unique index on email is only case-insensitive if every writer lowercases; the
    # CHECK makes the database hold every writer (scripts, psql) to that.
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored normalised (see normalize_email), so a plain unique index is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"), default=Role.MEMBER)
    locale: Mapped[str] = mapped_column(String(8), default="de")
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("company.id", ondelete="SET NULL"), index=True
    )
    # A deactivated user cannot log in; their bookings and audit trail stay intact.
    is_active_account: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the member erased the account: the row stays as an anonymous stub (no name,
    # address or password) because kept bookings and payments point at it.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the member proved the address is theirs (the link in the registration mail).
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Staff allowed this member to pay by bank transfer on invoice (see ``pays_on_invoice``).
    may_pay_on_invoice: Mapped[bool] = mapped_column(default=False)

    company: Mapped[Company | None] = relationship(back_populates="members")
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", order_by="Membership.valid_from.desc()"
    )
    inductions: Mapped[list[Induction]] = relationship(
        back_populates="user", foreign_keys="Induction.user_id"
    )

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"

    def get_id(self) -> str:
        """What the session and the "stay logged in" cookie remember: the account and a digest
        of its password hash. A new password (changed, or reset after "forgot your
        password?") changes the digest, so every other browser logged in with the old one is
        logged out; the user loader refuses a stale or bare id."""
        return f"{self.id}:{self.session_fingerprint()}"

    def session_fingerprint(self) -> str:
        # The hash is salted and never leaves the database; its digest in a (signed) cookie
        # gives nothing to test a guessed password against.
        return hashlib.sha256(f"session:{self.password_hash}".encode()).hexdigest()[:16]

    # Flask-Login reads this to refuse log-ins and drop sessions of deactivated accounts.
    @property
    def is_active(self) -> bool:
        return self.is_active_account

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def pays_on_invoice(self) -> bool:
        """Whether staff may book for this member "on invoice": allowed for the member, or
        for the company they belong to."""
        return self.may_pay_on_invoice or bool(
            self.company is not None and self.company.may_pay_on_invoice
        )

    def set_password(self, password: str) -> None:
        self.password_hash = hash_password(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def active_membership(self, on: datetime) -> Membership | None:
        """The membership in force on an instant (by local date), if any."""
        day = to_local(on).date()
        for membership in self.memberships:
            if membership.is_valid_on(day):
                return membership
        return None


class ApiToken(db.Model):
    """A bearer token for the JSON API.

    Only a SHA-256 digest of the token is stored: the token is 256 random bits, so a plain
    hash suffices (no salt or slow hash needed), and a database dump reveals nothing usable.
    """

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

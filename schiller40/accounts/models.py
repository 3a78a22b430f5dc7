"""Users and the companies (startup teams) they may belong to."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, false
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


def _name_as_legal_name(context: Any) -> str:
    """A company made with a name only (staff's member form, the demo) is billed under it."""
    return str(context.get_current_parameters()["name"])


class Company(db.Model):
    """A startup team: its members share the included credit of all their memberships, and
    it is billed under its legal name and address.

    Managers (``User.is_company_manager``) invite and remove members and set each member's
    monthly cap; staff may do all of that too. The company's payment method is the billing
    package's to add (``schiller40/billing/``): a column or a row of its own beside these,
    managed on the company page's "Payment method" section (``templates/company/index.html``).
    """

    __tablename__ = "company"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The default cap per member per month on the shared credit, for members without their
    # own (``User.company_cap_*``); it keeps one person from using up the team's pool.
    # None means no cap.
    member_cap_desk_days: Mapped[int | None]
    member_cap_studio_hours: Mapped[int | None]
    # Billing: what invoices are addressed with. Companies from before migration 0008 have
    # only their name (taken as the legal name) until someone completes the rest.
    legal_name: Mapped[str] = mapped_column(String(200), default=_name_as_legal_name)
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="DE", server_default="DE")
    # Compact (``DE136695976``), checked by ``billing_ids.normalize_vat_id``.
    vat_id: Mapped[str | None] = mapped_column(String(20))
    invoice_email: Mapped[str | None] = mapped_column(String(254))
    # A public-sector buyer's routing id for e-invoices (XRechnung), ``billing_ids``.
    leitweg_id: Mapped[str | None] = mapped_column(String(46))
    # Staff allowed the company to pay by bank transfer on invoice (bookings made for its
    # members at the desk, manual charges billed to it); set on the staff member page.
    may_pay_on_invoice: Mapped[bool] = mapped_column(default=False)

    members: Mapped[list[User]] = relationship(back_populates="company", order_by="User.name")
    invitations: Mapped[list[CompanyInvitation]] = relationship(
        back_populates="company", order_by="CompanyInvitation.created_at.desc()",
        cascade="all, delete-orphan", passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<Company {self.name!r}>"

    @property
    def managers(self) -> list[User]:
        return [m for m in self.members if m.is_company_manager]

    @property
    def billing_complete(self) -> bool:
        """Everything an invoice needs: legal name, address and where to send it."""
        return all((self.legal_name, self.street, self.postal_code, self.city,
                    self.invoice_email))

    def open_invitations(self, now: datetime) -> list[CompanyInvitation]:
        return [i for i in self.invitations if i.is_open(now)]


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
    # One column: a member belongs to at most one company, by the schema itself.
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("company.id", ondelete="SET NULL"), index=True
    )
    # The member's place in the company (meaningless without one; ``leave_company`` clears
    # them with it): manages it, and their own monthly caps on the shared credit (None: the
    # company's default, ``Company.member_cap_*``).
    company_manager: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Column CHECKs (not table ones): migration 0008 adds them in place on SQLite too.
    company_cap_desk_days: Mapped[int | None] = mapped_column(
        CheckConstraint("company_cap_desk_days >= 0", name="company_cap_desk_days")
    )
    company_cap_studio_hours: Mapped[int | None] = mapped_column(
        CheckConstraint("company_cap_studio_hours >= 0", name="company_cap_studio_hours")
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
    def is_company_manager(self) -> bool:
        return self.company_id is not None and self.company_manager

    def can_manage(self, company: Company) -> bool:
        """May manage this company: its manager, or staff."""
        return self.is_staff or (self.is_company_manager and self.company_id == company.id)

    def _cap(self, own: int | None, default: str) -> int | None:
        if self.company is None:
            return None
        return own if own is not None else getattr(self.company, default)

    def cap_desk_days(self) -> int | None:
        """The member's monthly cap in desk days on the company's shared credit: their own,
        else the company's default (None: no cap)."""
        return self._cap(self.company_cap_desk_days, "member_cap_desk_days")

    def cap_studio_hours(self) -> int | None:
        """As ``cap_desk_days``, in studio hours."""
        return self._cap(self.company_cap_studio_hours, "member_cap_studio_hours")

    def join_company(self, company: Company, *, manager: bool = False) -> None:
        """Become a member of ``company`` (leaving any other), with the company's caps."""
        self.leave_company()
        self.company = company
        self.company_manager = manager

    def leave_company(self) -> None:
        """Belong to no company. Bookings stay the member's own."""
        self.company = None
        self.company_manager = False
        self.company_cap_desk_days = None
        self.company_cap_studio_hours = None

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


class CompanyInvitation(db.Model):
    """An invitation to join a company, sent by e-mail.

    The link's token is never stored: it is an HMAC of the row's random ``nonce``
    (``invitations.py``) under the app's secret key, made again when the worker composes the
    mail; the row keeps only the token's SHA-256 digest to find the invitation by (as
    ``ApiToken`` does). A database dump gives nobody a usable link. It works once
    (``accepted_at``), until ``expires_at``, and not after it was withdrawn.
    """

    __tablename__ = "company_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("company.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))  # normalised (core.emails)
    # Random, and useless without the secret key: the token is HMAC(secret key, nonce).
    nonce: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the token
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    company: Mapped[Company] = relationship(back_populates="invitations")
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    def is_open(self, now: datetime) -> bool:
        return self.accepted_at is None and self.withdrawn_at is None and now < self.expires_at

    def state(self, now: datetime) -> str:
        """"open", "accepted", "withdrawn" or "expired"."""
        if self.accepted_at is not None:
            return "accepted"
        if self.withdrawn_at is not None:
            return "withdrawn"
        return "open" if now < self.expires_at else "expired"

    def accept(self, user: User, now: datetime) -> None:
        self.accepted_at = now
        self.accepted_by_id = user.id

    def withdraw(self, now: datetime) -> None:
        self.withdrawn_at = now

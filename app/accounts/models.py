from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.ids import utcnow
from app.extensions import db


class Role(StrEnum):
    consumer = "consumer"
    employee = "employee"
    reseller = "reseller"
    hr_admin = "hr_admin"
    approver = "approver"
    finance = "finance"
    ops = "ops"
    #: Customer service (客服): the service console, after-sales cases, voiding banned batches.
    service = "service"
    admin = "admin"


class OrgKind(StrEnum):
    reseller = "reseller"
    enterprise = "enterprise"


class Organization(db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    #: Frozen by ops (risk control): its members can sign in and look, but not buy or redeem.
    frozen_at: Mapped[datetime | None]
    frozen_reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list["User"]] = relationship(back_populates="organization", order_by="User.id")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased; the login name. None only for an employee known by phone alone.
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    #: Mainland mobile number (11 digits); also a login name. Set for employees imported with a phone.
    phone: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80), default="")
    #: argon2id hash (argon2-cffi); never the password.
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(20), default=Role.consumer)
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    #: Preferred UI language; None follows the browser / the default (zh_CN).
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    active: Mapped[bool] = mapped_column(default=True)
    #: Every session carries the version it was opened under; bumping it ends all of the user's sessions.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Frozen by ops (risk control): can sign in and see what it owns, cannot buy, claim, reveal or redeem.
    frozen_at: Mapped[datetime | None]
    frozen_reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization | None] = relationship(back_populates="members")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


class TokenPurpose(StrEnum):
    #: A first password for an account created without one (an employee, an HR admin, a staff member).
    activation = "activation"
    #: A new password for someone who forgot theirs.
    password_reset = "password_reset"


class AccountToken(db.Model):
    """A single-use, expiring link that lets its holder set the user's password (activation or reset)."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(20))
    #: SHA-256 of the token in the link; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime]
    #: Set once, by the compare-and-set that consumes the token (or kills it when a sibling is used).
    used_at: Mapped[datetime | None]
    #: Who made the link; None for a reset the user asked for, or the command line.
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
class TotpCredential(db.Model):
    """A user's TOTP secret (RFC 6238), sealed by the vault; usable once confirmed with a code."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    #: The vault data key the secret is sealed under; the seal is bound to the user id.
    key_id: Mapped[int]
    secret: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: The last 30-second time step a code was accepted for: a code of that step or an earlier one is a replay.
    last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: None while the enrolment waits for its first code.
    confirmed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(db.Model):
    """One single-use recovery code; only its SHA-256 is stored (the codes are 80 random bits)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None]

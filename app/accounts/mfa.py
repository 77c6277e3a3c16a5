"""The TOTP second factor (RFC 6238, pyotp): enrolment, verification with replay protection, recovery codes.

Services take the user and the client's IP (for the audit); nothing here reads the request."""

import hashlib
import secrets
from datetime import UTC, datetime

import pyotp
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts import signin
from app.accounts.models import RecoveryCode, Role, TotpCredential, User
from app.core import vault
from app.core.audit import audit
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db

#: Roles that may not reach their portal without a second factor.
MFA_ROLES = frozenset({Role.ops, Role.finance, Role.service, Role.admin})
RECOVERY_CODES = 10
ISSUER = "Quanyi"


class MfaRefused(ValidationError):
    pass


def requires_mfa(user: User) -> bool:
    return user.role in MFA_ROLES


def _credential(user: User) -> TotpCredential | None:
    return db.session.get(TotpCredential, user.id)


def has_totp(user: User) -> bool:
    cred = _credential(user)
    return cred is not None and cred.confirmed_at is not None


def owed_step(user: User) -> str | None:
    """What a new session of `user` owes before any portal opens: "verify", "enrol" or nothing."""
    if has_totp(user):
        return "verify"
    return "enrol" if requires_mfa(user) else None


def _context(user: User) -> str:
    return f"totp:{user.id}"


def _secret(user: User, cred: TotpCredential) -> str:
    return vault.open_bound(_context(user), cred.key_id, cred.secret).decode()


def pending_secret(user: User) -> str:
    """The secret of the enrolment under way (one is started if none is): shown as QR code and text."""
    cred = _credential(user)
    if cred is not None and cred.confirmed_at is not None:
        raise MfaRefused(_l("Two-step verification is already set up."))
    if cred is None:
        secret = pyotp.random_base32()
        key_id, blob = vault.seal_bound(_context(user), secret.encode())
        db.session.add(TotpCredential(user_id=user.id, key_id=key_id, secret=blob))
        db.session.commit()
        return secret
    return _secret(user, cred)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email or user.phone or str(user.id), issuer_name=ISSUER)


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").replace(" ", "").encode()).hexdigest()


def _new_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(10)  # 80 bits
        codes.append("-".join(raw[i:i + 5] for i in range(0, 20, 5)))
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash(raw)))
    return codes


def _step_of(secret: str, code: str) -> int | None:
    """The time step `code` belongs to (now, or one step either side for clock drift), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(datetime.now(UTC))
    for step in (now_step, now_step - 1, now_step + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _accept_step(user: User, step: int) -> bool:
    """Record `step` as used, unless it (or a later one) was: compare-and-set, so a replay loses."""
    done = db.session.execute(sa.update(TotpCredential)
                              .where(TotpCredential.user_id == user.id, TotpCredential.last_step < step)
                              .values(last_step=step).execution_options(synchronize_session=False))
    return done.rowcount == 1


def confirm_enrolment(user: User, code: str, ip: str | None) -> list[str]:
    """Confirm the enrolment with a first code; the recovery codes, to be shown once."""
    cred = _credential(user)
    if cred is None or cred.confirmed_at is not None:
        raise MfaRefused(_l("Start the set-up again."))
    step = _step_of(_secret(user, cred), code or "")
    if step is None or not _accept_step(user, step):
        audit(user.id, "auth.mfa_failed", "user", user.id, ip=ip, during="enrolment")
        signin.fail_second_step(user, ip)
        raise MfaRefused(_l("That code is not right. Enter the current 6-digit code from your app."))
    cred.confirmed_at = utcnow()
    codes = _new_codes(user)
    audit(user.id, "auth.mfa_enrolled", "user", user.id, ip=ip)
    db.session.commit()
    return codes


def verify(user: User, code: str, ip: str | None, *, step_up: bool = False) -> str:
    """Check a 6-digit code or a recovery code: "totp" or "recovery", else MfaRefused (counted as a failed
    sign-in; the account may lock)."""
    cred = _credential(user)
    if cred is None or cred.confirmed_at is None:
        raise MfaRefused(_l("Two-step verification is not set up."))
    if signin.locked(user, ip):
        raise MfaRefused(_l("Too many failed attempts. Try again later."))
    code = (code or "").strip()
    step = _step_of(_secret(user, cred), code)
    if step is not None and _accept_step(user, step):
        audit(user.id, "auth.step_up" if step_up else "auth.mfa_verified", "user", user.id, ip=ip)
        db.session.commit()
        return "totp"
    if step is None and _use_recovery(user, code):
        audit(user.id, "auth.recovery_code_used", "user", user.id, ip=ip, step_up=step_up)
        db.session.commit()
        return "recovery"
    audit(user.id, "auth.mfa_failed", "user", user.id, ip=ip, step_up=step_up, replay=step is not None)
    signin.fail_second_step(user, ip)
    raise MfaRefused(_l("That code is not right, or was used already. Enter the current 6-digit code."))


def _use_recovery(user: User, code: str) -> bool:
    if len(code) < 16:
        return False
    done = db.session.execute(sa.update(RecoveryCode)
                              .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(code),
                                     RecoveryCode.used_at.is_(None))
                              .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return done.rowcount == 1


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)
                             .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))


def remove(user: User) -> None:
    """Forget the user's TOTP secret and recovery codes (caller commits and ends the sessions)."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(sa.delete(TotpCredential).where(TotpCredential.user_id == user.id))


def enrolled_ids(user_ids) -> set[int]:
    """Which of these users have a confirmed second factor (one query, for a list page)."""
    ids = list(user_ids)
    if not ids:
        return set()
    return set(db.session.scalars(sa.select(TotpCredential.user_id).where(TotpCredential.user_id.in_(ids),
                                                                          TotpCredential.confirmed_at.is_not(None))))

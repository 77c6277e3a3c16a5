"""Freezing an account (a consumer, any user) or a whole reseller organization, with a reason; ops do it by hand
and a review rejection may do it too. A frozen account can sign in and look, and every door that moves goods or
money refuses it (the engine blocks every point but sign-up and sign-in)."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Organization, User
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise ValidationError(_l("Give a reason of at most 200 characters."), field="reason")
    return reason


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_l("Account not found."))
    return user


def _org(org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        raise NotFound(_l("Account not found."))
    return org


def freeze_user(actor: User, user_id: int, reason: str, commit: bool = True) -> User:
    reason = _reason(reason)
    user = _user(user_id)
    if user.id == actor.id:
        raise ValidationError(_l("You cannot freeze your own account."))
    db.session.execute(sa.update(User).where(User.id == user.id).values(frozen_at=utcnow(), frozen_reason=reason))
    audit(actor.id, "risk.freeze", "user", user.id, reason=reason)
    if commit:
        db.session.commit()
    db.session.refresh(user)
    return user


def unfreeze_user(actor: User, user_id: int, reason: str) -> User:
    reason = _reason(reason)
    user = _user(user_id)
    db.session.execute(sa.update(User).where(User.id == user.id).values(frozen_at=None, frozen_reason=None))
    audit(actor.id, "risk.unfreeze", "user", user.id, reason=reason)
    db.session.commit()
    db.session.refresh(user)
    return user


def freeze_organization(actor: User, org_id: int, reason: str) -> Organization:
    reason = _reason(reason)
    org = _org(org_id)
    db.session.execute(sa.update(Organization).where(Organization.id == org.id)
                       .values(frozen_at=utcnow(), frozen_reason=reason))
    audit(actor.id, "risk.freeze", "organization", org.id, reason=reason)
    db.session.commit()
    db.session.refresh(org)
    return org


def unfreeze_organization(actor: User, org_id: int, reason: str) -> Organization:
    reason = _reason(reason)
    org = _org(org_id)
    db.session.execute(sa.update(Organization).where(Organization.id == org.id)
                       .values(frozen_at=None, frozen_reason=None))
    audit(actor.id, "risk.unfreeze", "organization", org.id, reason=reason)
    db.session.commit()
    db.session.refresh(org)
    return org


def is_frozen(user: User | None) -> bool:
    """For pages: the account or its organization is frozen (they say so and hide what would be refused)."""
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    if user.frozen_at is not None:
        return True
    return user.organization_id is not None and user.organization is not None \
        and user.organization.frozen_at is not None


def find(q: str, limit: int = 20) -> tuple[list[User], list[Organization]]:
    """Accounts by id, email or mobile number (an email or number in part, too) and organizations by id or
    name, for the console's freeze search."""
    q = (q or "").strip()
    if not q:
        return [], []
    users = sa.select(User).order_by(User.id).limit(limit)
    orgs = sa.select(Organization).order_by(Organization.id).limit(limit)
    if q.isdigit() and len(q) < 11:
        users, orgs = users.where(User.id == int(q)), orgs.where(Organization.id == int(q))
    else:
        like = q.lower()
        users = users.where(sa.or_(User.email.contains(like, autoescape=True), User.phone.contains(q, autoescape=True)))
        orgs = orgs.where(Organization.name.contains(q, autoescape=True))
    return list(db.session.scalars(users)), list(db.session.scalars(orgs))


def frozen(limit: int = 200) -> tuple[list[User], list[Organization]]:
    """The accounts and organizations frozen now, the latest first."""
    return (list(db.session.scalars(sa.select(User).where(User.frozen_at.is_not(None))
                                    .order_by(User.frozen_at.desc(), User.id).limit(limit))),
            list(db.session.scalars(sa.select(Organization).where(Organization.frozen_at.is_not(None))
                                    .order_by(Organization.frozen_at.desc(), Organization.id).limit(limit))))


def account(user_id: int) -> User:
    return _user(user_id)


def organization(org_id: int) -> Organization:
    return _org(org_id)
